// Package ae computes disproportionality statistics of adverse events from
// 2×2 tables: PRR with its 95% confidence interval and the Yates-corrected
// chi-square (Evans et al. 2001), the reporting odds ratio with its 95%
// interval (van Puijenbroek et al. 2002), and the information component with
// its lower 95% credibility limit (Norén et al. 2013), plus the four flag
// rules cohortnet reports, and the pooling of counts released by several
// institutions.
//
// It is pure arithmetic over counts: it neither reads data nor decides what
// counts as exposed or as a report (package query does that).
package ae

import (
	"fmt"
	"math"
)

// Table is a drug–event 2×2 table:
//
//	              event   no event
//	drug            A        B
//	no drug         C        D
type Table struct {
	A, B, C, D int64
}

// N is the table's total.
func (t Table) N() int64 { return t.A + t.B + t.C + t.D }

// FromMargins builds the table from what institutions release: a, the
// drug's total a + b, the event's total a + c, and the grand total N.
func FromMargins(a, drug, event, n int64) (Table, error) {
	t := Table{A: a, B: drug - a, C: event - a, D: n - drug - event + a}
	if a < 0 || t.B < 0 || t.C < 0 || t.D < 0 {
		return Table{}, fmt.Errorf("ae: inconsistent counts a=%d drug=%d event=%d n=%d", a, drug, event, n)
	}
	return t, nil
}

// z975 is the 97.5th percentile of the standard normal distribution.
const z975 = 1.959963984540054

// Stats are a table's statistics and flags.
type Stats struct {
	Table
	// PRR is the proportional reporting ratio (a/(a+b)) / (c/(c+d)), with
	// its 95% confidence interval from the standard error of ln PRR.
	PRR, PRRLow, PRRHigh float64
	// ChiSq is Pearson's chi-square with Yates' continuity correction,
	// from the raw counts.
	ChiSq float64
	// ROR is the reporting odds ratio ad/bc with its 95% confidence interval.
	ROR, RORLow, RORHigh float64
	// Expected is E = (a+b)(a+c)/N; IC = log2((a+0.5)/(E+0.5)); IC025 and
	// IC975 are the 2.5% and 97.5% quantiles of its posterior (Norén 2013).
	Expected, IC, IC025, IC975 float64
	// Corrected is true when a cell was zero and 0.5 was added to every
	// cell for PRR and ROR.
	Corrected bool
	Flags     Flags
}

// Flags are the signal rules.
type Flags struct {
	// Evans: PRR ≥ 2, chi-square ≥ 4 and a ≥ 3 (Evans et al. 2001).
	Evans bool `json:"evans"`
	// EMA: the lower 95% limit of PRR ≥ 1 and a ≥ 5, as Candore et al.
	// 2015 describe the EMA's rule.
	EMA bool `json:"ema"`
	// ROR025: the lower 95% limit of ROR > 1.
	ROR025 bool `json:"ror025"`
	// IC025: the lower 95% limit of IC > 0.
	IC025 bool `json:"ic025"`
}

// Any reports whether any rule flags the pair.
func (f Flags) Any() bool { return f.Evans || f.EMA || f.ROR025 || f.IC025 }

// Compute returns the statistics of t. A table whose total is zero has all
// statistics zero.
func Compute(t Table) Stats {
	s := Stats{Table: t}
	if t.N() <= 0 {
		return s
	}
	a, b, c, d := float64(t.A), float64(t.B), float64(t.C), float64(t.D)
	n := a + b + c + d

	// Yates-corrected chi-square from the raw counts.
	if den := (a + b) * (c + d) * (a + c) * (b + d); den > 0 {
		x := math.Max(0, math.Abs(a*d-b*c)-n/2)
		s.ChiSq = n * x * x / den
	}

	// PRR and ROR, with 0.5 added to every cell when one is zero.
	pa, pb, pc, pd := a, b, c, d
	if t.A == 0 || t.B == 0 || t.C == 0 || t.D == 0 {
		pa, pb, pc, pd = a+0.5, b+0.5, c+0.5, d+0.5
		s.Corrected = true
	}
	s.PRR = (pa / (pa + pb)) / (pc / (pc + pd))
	se := math.Sqrt(1/pa - 1/(pa+pb) + 1/pc - 1/(pc+pd))
	s.PRRLow = math.Exp(math.Log(s.PRR) - z975*se)
	s.PRRHigh = math.Exp(math.Log(s.PRR) + z975*se)
	s.ROR = (pa * pd) / (pb * pc)
	se = math.Sqrt(1/pa + 1/pb + 1/pc + 1/pd)
	s.RORLow = math.Exp(math.Log(s.ROR) - z975*se)
	s.RORHigh = math.Exp(math.Log(s.ROR) + z975*se)

	// IC with the raw counts: the posterior of the observed-to-expected
	// ratio is Gamma(shape a + 0.5, rate E + 0.5) (Norén et al. 2013).
	s.Expected = (a + b) * (a + c) / n
	s.IC = math.Log2((a + 0.5) / (s.Expected + 0.5))
	s.IC025 = math.Log2(GammaQuantile(0.025, a+0.5, s.Expected+0.5))
	s.IC975 = math.Log2(GammaQuantile(0.975, a+0.5, s.Expected+0.5))

	s.Flags = Flags{
		Evans:  s.PRR >= 2 && s.ChiSq >= 4 && t.A >= 3,
		EMA:    s.PRRLow >= 1 && t.A >= 5,
		ROR025: s.RORLow > 1,
		IC025:  s.IC025 > 0,
	}
	return s
}
