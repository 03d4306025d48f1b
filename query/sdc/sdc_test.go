package sdc

import (
	"math"
	"math/rand/v2"
	"testing"
)

// enumerate finds, by trying every integer assignment of the suppressed
// cells consistent with what is released, the smallest and largest value of
// each suppressed cell and sum. Cells in no released sum are unbounded.
// This is the test's own computation, independent of the linear program.
func enumerate(p Problem, pt Pattern) (lo, hi []float64) {
	lo = make([]float64, len(p.Cells)+len(p.Sums))
	hi = make([]float64, len(p.Cells)+len(p.Sums))
	for i := range lo {
		lo[i], hi[i] = math.Inf(1), math.Inf(-1)
	}
	var sup []int
	bound := map[int]int64{}
	for i, s := range pt.Cells {
		if !s {
			continue
		}
		sup = append(sup, i)
		b := int64(-1)
		for j, cells := range p.Sums {
			if pt.Sums[j] {
				continue
			}
			for _, c := range cells {
				if c == i && (b < 0 || p.SumValue(j) < b) {
					b = p.SumValue(j)
				}
			}
		}
		bound[i] = b
	}
	for _, i := range sup {
		if bound[i] < 0 {
			lo[i], hi[i] = 0, math.Inf(1)
		}
	}
	val := make([]int64, len(p.Cells))
	copy(val, p.Cells)
	assigned := make([]bool, len(p.Cells))
	for i := range p.Cells {
		assigned[i] = !pt.Cells[i]
	}
	ok := func(final bool) bool {
		for j, cells := range p.Sums {
			if pt.Sums[j] {
				continue
			}
			var s int64
			all := true
			for _, c := range cells {
				if assigned[c] {
					s += val[c]
				} else {
					all = false
				}
			}
			if s > p.SumValue(j) || (all || final) && s != p.SumValue(j) {
				return false
			}
		}
		return true
	}
	var rec func(k int)
	rec = func(k int) {
		if k == len(sup) {
			if !ok(true) {
				return
			}
			for _, i := range sup {
				lo[i] = math.Min(lo[i], float64(val[i]))
				hi[i] = math.Max(hi[i], float64(val[i]))
			}
			for j, cells := range p.Sums {
				if pt.Sums[j] {
					var s int64
					for _, c := range cells {
						s += val[c]
					}
					lo[len(p.Cells)+j] = math.Min(lo[len(p.Cells)+j], float64(s))
					hi[len(p.Cells)+j] = math.Max(hi[len(p.Cells)+j], float64(s))
				}
			}
			return
		}
		i := sup[k]
		if bound[i] < 0 {
			rec(k + 1) // unbounded: its value does not matter to the others
			return
		}
		for v := int64(0); v <= bound[i]; v++ {
			val[i], assigned[i] = v, true
			if ok(false) {
				rec(k + 1)
			}
			assigned[i] = false
		}
		val[i] = p.Cells[i]
	}
	rec(0)
	return lo, hi
}

// protectedByEnumeration is the test's own protection check.
func protectedByEnumeration(p Problem, pt Pattern, min int64) bool {
	lo, hi := enumerate(p, pt)
	for i, s := range pt.Cells {
		if s && hi[i]-lo[i] < float64(min) {
			return false
		}
	}
	for j, s := range pt.Sums {
		k := len(p.Cells) + j
		if s && hi[k]-lo[k] < float64(min) {
			return false
		}
	}
	return true
}

func randomTables() []struct {
	name string
	p    Problem
} {
	r := rand.New(rand.NewPCG(42, 1))
	var out []struct {
		name string
		p    Problem
	}
	shapes := [][2]int{{1, 4}, {4, 1}, {2, 2}, {2, 3}, {3, 3}, {3, 2}}
	for k := range 36 {
		sh := shapes[k%len(shapes)]
		cells := make([]int64, sh[0]*sh[1])
		for i := range cells {
			if r.IntN(3) == 0 {
				cells[i] = int64(1 + r.IntN(4)) // small: 1..4
			} else {
				cells[i] = int64(r.IntN(16))
			}
		}
		out = append(out, struct {
			name string
			p    Problem
		}{name: string(rune('a'+k%26)) + "-" + string(rune('0'+sh[0])) + "x" + string(rune('0'+sh[1])), p: Grid(cells, sh[0], sh[1])})
	}
	return out
}

// TestSuppressionProtects: for every suppressed cell and total, the range
// of values it could take given everything released in the table (cells,
// row, column and grand totals), found by enumeration, is at least the
// minimum wide; and the linear program finds the same ranges.
func TestSuppressionProtects(t *testing.T) {
	const min = 5
	for _, tt := range randomTables() {
		t.Run(tt.name, func(t *testing.T) {
			pt, err := Suppress(tt.p, min, 0)
			if err != nil {
				t.Fatalf("unprotectable %v: %v", tt.p.Cells, err)
			}
			for i, v := range tt.p.Cells {
				if v > 0 && v < min && !pt.Cells[i] {
					t.Fatalf("small cell %d = %d released", i, v)
				}
			}
			if !protectedByEnumeration(tt.p, pt, min) {
				t.Errorf("cells %v, suppressed %v: some value pinned to less than %d", tt.p.Cells, pt.Cells, min)
			}
			b, err := Feasible(tt.p, pt)
			if err != nil {
				t.Fatal(err)
			}
			lo, hi := enumerate(tt.p, pt)
			for i, s := range pt.Cells {
				if s && (b.Cells[i].Lo != lo[i] || b.Cells[i].Hi != hi[i]) {
					t.Errorf("cell %d: LP [%g, %g], enumeration [%g, %g]", i, b.Cells[i].Lo, b.Cells[i].Hi, lo[i], hi[i])
				}
			}
		})
	}
}

// TestSuppressionMinimal: on small tables, no more cells are suppressed
// than the fewest that protect, found by trying every subset.
func TestSuppressionMinimal(t *testing.T) {
	const min = 5
	for _, tt := range randomTables() {
		t.Run(tt.name, func(t *testing.T) {
			pt, err := Suppress(tt.p, min, 0)
			if err != nil {
				t.Skip(err)
			}
			primary := clonePattern(pt)
			for j := range primary.Sums {
				primary.Sums[j] = small(tt.p.SumValue(j), min)
			}
			var free []int
			for i := range primary.Cells {
				if !primary.Primary[i] {
					primary.Cells[i] = false
					free = append(free, i)
				}
			}
			fewest := -1
			for k := 0; k <= len(free) && fewest < 0; k++ {
				combinations(len(free), k, func(idx []int) bool {
					trial := clonePattern(primary)
					for _, x := range idx {
						trial.Cells[free[x]] = true
					}
					if protectedByEnumeration(tt.p, trial, min) {
						fewest = k
						return false
					}
					return true
				})
			}
			if fewest < 0 {
				// No set of cells protects: totals must have gone too.
				extra := false
				for j, s := range pt.Sums {
					extra = extra || s && !small(tt.p.SumValue(j), min)
				}
				if !extra {
					t.Errorf("cells %v: no cell pattern protects, yet no total was suppressed", tt.p.Cells)
				}
				return
			}
			got := pt.Suppressed() - (primary.Suppressed())
			if got != fewest {
				t.Errorf("cells %v: %d secondary suppressions, fewest possible %d", tt.p.Cells, got, fewest)
			}
		})
	}
}

func TestGridKnown(t *testing.T) {
	// 2×2 with one small cell: the whole table must go (any one released
	// cell gives the rest through the totals).
	p := Grid([]int64{3, 20, 30, 40}, 2, 2)
	pt, err := Suppress(p, 5, 0)
	if err != nil {
		t.Fatal(err)
	}
	if pt.Suppressed() != 4 {
		t.Errorf("2×2 with a small cell: suppressed %v", pt.Cells)
	}
	// One dimension with a grand total: a second cell, the smallest, goes.
	p = Grid([]int64{2, 30, 9, 40}, 4, 1)
	pt, err = Suppress(p, 5, 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := []bool{true, false, true, false}; !equal(pt.Cells, want) {
		t.Errorf("1-D: suppressed %v, want %v", pt.Cells, want)
	}
}

func equal(a, b []bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestBudget(t *testing.T) {
	b := &Budget{Limit: 1}
	if err := b.Charge("r1", []string{"d1", "d2"}, 0.6); err != nil {
		t.Fatal(err)
	}
	if err := b.Charge("r1", []string{"d2"}, 0.5); err == nil {
		t.Fatal("overspent d2")
	}
	if err := b.Charge("r2", []string{"d2"}, 0.5); err != nil {
		t.Fatalf("another requester's budget: %v", err)
	}
	if err := b.Charge("r1", []string{"d1", "d3"}, 0.5); err == nil || b.Spent("r1", "d3") != 0 {
		t.Fatalf("partial charge: err %v, d3 spent %g", err, b.Spent("r1", "d3"))
	}
}

// TestLaplace: the noise is centred on the count and its spread matches
// the scale l0·lInf/ε (mean absolute deviation of Laplace(b) is b).
func TestLaplace(t *testing.T) {
	const n = 4000
	counts := make([]int64, n)
	for i := range counts {
		counts[i] = 1000
	}
	noisy, err := Laplace(counts, 0.5, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	var sum, mad float64
	for _, v := range noisy {
		sum += float64(v - 1000)
		mad += math.Abs(float64(v - 1000))
	}
	if mean := sum / n; math.Abs(mean) > 0.3 {
		t.Errorf("mean noise %g", mean)
	}
	if m := mad / n; m < 1.7 || m > 2.3 {
		t.Errorf("mean absolute noise %g, want about 2", m)
	}
	if _, err := Laplace(counts, 0, 1, 1); err == nil {
		t.Error("epsilon 0 accepted")
	}
}

// TestLargeTables: tables too big for the exhaustive search are still
// protected, by the audit's linear programs and, for one dimension, by the
// closed form: with only the grand total released, a suppressed cell can
// be anything from 0 to the sum of the suppressed cells.
func TestLargeTables(t *testing.T) {
	const min = 11
	r := rand.New(rand.NewPCG(5, 6))
	for _, sh := range [][2]int{{40, 1}, {8, 5}, {12, 6}, {5, 3}} {
		cells := make([]int64, sh[0]*sh[1])
		for i := range cells {
			cells[i] = int64(r.IntN(60))
			if r.IntN(4) == 0 {
				cells[i] = int64(1 + r.IntN(10))
			}
		}
		p := Grid(cells, sh[0], sh[1])
		pt, err := Suppress(p, min, 0)
		if err != nil {
			t.Fatalf("%v: %v", sh, err)
		}
		b, err := Feasible(p, pt)
		if err != nil {
			t.Fatal(err)
		}
		var suppSum int64
		for i, s := range pt.Cells {
			if s {
				suppSum += cells[i]
			}
		}
		for i, s := range pt.Cells {
			if small(cells[i], min) && !s {
				t.Errorf("%v: small cell %d released", sh, i)
			}
			if !s {
				continue
			}
			if b.Cells[i].Width() < min {
				t.Errorf("%v: cell %d = %d pinned to [%g, %g]", sh, i, cells[i], b.Cells[i].Lo, b.Cells[i].Hi)
			}
			if sh[1] == 1 && (b.Cells[i].Lo != 0 || b.Cells[i].Hi != float64(suppSum)) {
				t.Errorf("%v: cell %d range [%g, %g], closed form [0, %d]", sh, i, b.Cells[i].Lo, b.Cells[i].Hi, suppSum)
			}
		}
		t.Logf("%d×%d: %d of %d cells suppressed", sh[0], sh[1], pt.Suppressed(), len(cells))
	}
}
