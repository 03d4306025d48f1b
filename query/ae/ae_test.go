package ae

import (
	"math"
	"testing"
)

func near(got, want, tol float64) bool {
	return math.Abs(got-want) <= tol*math.Max(1, math.Abs(want))
}

// TestKnownAnswers checks worked 2×2 tables against the published formulas,
// evaluated independently (by hand and with Python's math module, the
// arithmetic shown for the first table):
//   - PRR and its 95% CI, SE(ln PRR) = sqrt(1/a − 1/(a+b) + 1/c − 1/(c+d)),
//     and the Yates-corrected chi-square: Evans, Waller & Davis,
//     Pharmacoepidemiol Drug Saf 2001;10:483–486.
//   - ROR = ad/bc with SE(ln ROR) = sqrt(1/a + 1/b + 1/c + 1/d): van
//     Puijenbroek et al., Pharmacoepidemiol Drug Saf 2002;11:3–10.
//   - IC = log2((a + 0.5)/(E + 0.5)), E = (a+b)(a+c)/N, and its closed-form
//     IC025 ≈ IC − 3.3(a+0.5)^−1/2 − 2(a+0.5)^−3/2: Norén, Hopstadius &
//     Bate, Stat Methods Med Res 2013;22(1):57–69.
func TestKnownAnswers(t *testing.T) {
	tests := []struct {
		name                     string
		t                        Table
		prr, prrLo, prrHi, chi   float64
		ror, rorLo, rorHi, e, ic float64
		icApprox                 float64
		flags                    Flags
	}{
		{
			// PRR = (10/100)/(20/1000) = 5; SE = sqrt(.1−.01+.05−.001) = .372827;
			// chi² = 1100·(|9800−1800| − 550)²/(100·1000·30·1070) = 19.0195;
			// ROR = 9800/1800 = 5.4444; E = 100·30/1100 = 2.7273; IC = log2(10.5/3.2273).
			name: "a=10", t: Table{10, 90, 20, 980},
			prr: 5, prrLo: 2.4077924844639846, prrHi: 10.382954578232859, chi: 19.019548286604362,
			ror: 5.444444444444445, rorLo: 2.4729339459337676, rorHi: 11.986561694210282,
			e: 2.727272727272727, ic: 1.7020019219113756, icApprox: 0.6248175836045815,
			flags: Flags{Evans: true, EMA: true, ROR025: true, IC025: true},
		},
		{
			// Three cases: Evans' rule holds, the EMA's needs five.
			name: "a=3", t: Table{3, 47, 100, 9850},
			prr: 5.97, prrLo: 1.9590064883895402, prrHi: 18.19335474958006, chi: 7.769393933491939,
			ror: 6.287234042553192, rorLo: 1.9248973247041068, rorHi: 20.53580281842625,
			e: 0.515, ic: 1.7858751946471525, icApprox: -0.28349042130333346,
			flags: Flags{Evans: true, EMA: false, ROR025: true, IC025: false},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Compute(tt.t)
			for _, c := range []struct {
				what      string
				got, want float64
			}{
				{"PRR", s.PRR, tt.prr}, {"PRR low", s.PRRLow, tt.prrLo}, {"PRR high", s.PRRHigh, tt.prrHi},
				{"chi²", s.ChiSq, tt.chi}, {"ROR", s.ROR, tt.ror}, {"ROR low", s.RORLow, tt.rorLo},
				{"ROR high", s.RORHigh, tt.rorHi}, {"E", s.Expected, tt.e}, {"IC", s.IC, tt.ic},
			} {
				if !near(c.got, c.want, 1e-9) {
					t.Errorf("%s = %.12g, want %.12g", c.what, c.got, c.want)
				}
			}
			// The exact credibility limit and Norén's closed form agree to
			// within the approximation's accuracy.
			if !near(s.IC025, tt.icApprox, 0.08) {
				t.Errorf("IC025 = %g, closed form %g", s.IC025, tt.icApprox)
			}
			if s.IC025 >= s.IC || s.IC975 <= s.IC {
				t.Errorf("IC interval [%g, %g] does not hold IC %g", s.IC025, s.IC975, s.IC)
			}
			if s.Flags != tt.flags {
				t.Errorf("flags %+v, want %+v", s.Flags, tt.flags)
			}
		})
	}
}

func TestZeroCellCorrection(t *testing.T) {
	s := Compute(Table{A: 4, B: 0, C: 10, D: 1000})
	if !s.Corrected {
		t.Fatal("not corrected")
	}
	// (4.5/5)/(10.5/1011)
	if want := (4.5 / 5) / (10.5 / 1011); !near(s.PRR, want, 1e-12) {
		t.Errorf("PRR %g, want %g", s.PRR, want)
	}
	if want := 4.5 * 1000.5 / (0.5 * 10.5); !near(s.ROR, want, 1e-12) {
		t.Errorf("ROR %g, want %g", s.ROR, want)
	}
	// IC uses the raw counts: E = 4·14/1014.
	if want := math.Log2(4.5 / (4.0*14/1014 + 0.5)); !near(s.IC, want, 1e-12) {
		t.Errorf("IC %g, want %g", s.IC, want)
	}
	if z := Compute(Table{}); z.PRR != 0 || z.Flags.Any() {
		t.Errorf("empty table: %+v", z)
	}
}

// TestGammaQuantile checks the quantiles against chi-square tables
// (χ²_k = Gamma(k/2, rate 1/2)); values from NIST/SEMATECH e-Handbook of
// Statistical Methods, table 1.3.6.7.4 (lower-tail 0.025 and upper 0.975).
func TestGammaQuantile(t *testing.T) {
	tests := []struct {
		df   float64
		p    float64
		want float64
	}{
		{1, 0.025, 0.001}, {2, 0.025, 0.051}, {5, 0.025, 0.831}, {10, 0.025, 3.247}, {30, 0.025, 16.791},
		{1, 0.975, 5.024}, {2, 0.975, 7.378}, {5, 0.975, 12.833}, {10, 0.975, 20.483}, {30, 0.975, 46.979},
	}
	for _, tt := range tests {
		if got := GammaQuantile(tt.p, tt.df/2, 0.5); math.Abs(got-tt.want) > 0.0006 {
			t.Errorf("χ²(%g) quantile %g = %.4f, want %.3f", tt.df, tt.p, got, tt.want)
		}
	}
	// Exponential: Gamma(1, λ) quantile is −ln(1−p)/λ.
	for _, p := range []float64{0.01, 0.5, 0.99} {
		if got, want := GammaQuantile(p, 1, 2), -math.Log(1-p)/2; !near(got, want, 1e-9) {
			t.Errorf("exponential quantile %g: %g, want %g", p, got, want)
		}
	}
}

func TestPool(t *testing.T) {
	rs := []Release{
		Suppress("a", 12, 100, 40, 5000, 11),
		Suppress("b", 4, 60, 30, 3000, 11), // a suppressed
		Suppress("c", 20, 200, 50, 8000, 11),
	}
	p := Pool(rs)
	if p.A != 32 || p.Drug != 360 || p.Event != 120 || p.N != 16000 || p.Suppressed != 1 || !p.LowerBound || p.Sites != 3 {
		t.Errorf("pooled %+v", p)
	}
	tb := p.Table()
	if tb != (Table{32, 328, 88, 15552}) {
		t.Errorf("table %+v", tb)
	}
	if _, err := FromMargins(5, 3, 10, 100); err == nil {
		t.Error("a > drug total accepted")
	}
}
