package ae

import "math"

// GammaQuantile returns x with P(X ≤ x) = p for X ~ Gamma(shape, rate).
// It inverts the regularized lower incomplete gamma function by bisection
// on a bracket found by doubling, to a relative precision of 1e-12.
func GammaQuantile(p, shape, rate float64) float64 {
	if p <= 0 {
		return 0
	}
	if p >= 1 {
		return math.Inf(1)
	}
	lo, hi := 0.0, math.Max(shape, 1)
	for GammaP(shape, hi) < p {
		lo, hi = hi, hi*2
	}
	for range 200 {
		mid := (lo + hi) / 2
		if GammaP(shape, mid) < p {
			lo = mid
		} else {
			hi = mid
		}
		if hi-lo <= 1e-12*hi {
			break
		}
	}
	return (lo + hi) / 2 / rate
}

// GammaP is the regularized lower incomplete gamma function P(s, x): a
// series for x < s + 1, a continued fraction (modified Lentz) otherwise, as
// in Numerical Recipes §6.2.
func GammaP(s, x float64) float64 {
	if x <= 0 {
		return 0
	}
	lg, _ := math.Lgamma(s)
	if x < s+1 {
		sum, term := 1/s, 1/s
		for n := 1; n < 1000; n++ {
			term *= x / (s + float64(n))
			sum += term
			if math.Abs(term) < math.Abs(sum)*1e-16 {
				break
			}
		}
		return sum * math.Exp(-x+s*math.Log(x)-lg)
	}
	const tiny = 1e-300
	b := x + 1 - s
	c := 1 / tiny
	d := 1 / b
	h := d
	for i := 1; i < 1000; i++ {
		an := -float64(i) * (float64(i) - s)
		b += 2
		d = an*d + b
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = b + an/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		del := d * c
		h *= del
		if math.Abs(del-1) < 1e-16 {
			break
		}
	}
	return 1 - math.Exp(-x+s*math.Log(x)-lg)*h
}
