package ae_test

import (
	"fmt"

	"github.com/cohortnet/cohortnet/query/ae"
)

// The worked table of TestKnownAnswers. IC025 is the exact gamma quantile:
// 2(E + 0.5)·μ follows χ² with 2(a + 0.5) = 21 degrees of freedom, whose
// 2.5% point 10.283 gives μ = 1.593 and log2 μ = 0.67.
func ExampleCompute() {
	// 10 of 100 persons on the drug had the event, 20 of 1000 others.
	s := ae.Compute(ae.Table{A: 10, B: 90, C: 20, D: 980})
	fmt.Printf("PRR %.2f (%.2f–%.2f), chi² %.1f\n", s.PRR, s.PRRLow, s.PRRHigh, s.ChiSq)
	fmt.Printf("ROR %.2f (%.2f–%.2f)\n", s.ROR, s.RORLow, s.RORHigh)
	fmt.Printf("IC %.2f, IC025 %.2f\n", s.IC, s.IC025)
	fmt.Printf("%+v\n", s.Flags)
	// Output:
	// PRR 5.00 (2.41–10.38), chi² 19.0
	// ROR 5.44 (2.47–11.99)
	// IC 1.70, IC025 0.67
	// {Evans:true EMA:true ROR025:true IC025:true}
}
