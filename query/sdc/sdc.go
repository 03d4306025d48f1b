// Package sdc is statistical disclosure control for the count tables that
// federated aggregates release: primary suppression of small cells,
// secondary suppression so that no suppressed cell can be narrowed down from
// the totals released beside it, the audit that computes how far each
// suppressed value can be pinned down, and Laplace noise with a privacy
// budget.
//
// It knows nothing of SQL, datasets or the network: a table is a list of
// counts and the sums of some of them that are released too (row, column
// and grand totals).
package sdc

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/optimize/convex/lp"
)

// Problem is a table of counts and the sums of cells released with it.
type Problem struct {
	// Cells are the counts.
	Cells []int64
	// Sums lists, for each released total, the indexes of the cells it adds.
	Sums [][]int
}

// SumValue is the value of sum j.
func (p Problem) SumValue(j int) int64 {
	var v int64
	for _, i := range p.Sums[j] {
		v += p.Cells[i]
	}
	return v
}

// Grid is the Problem of an r × c table with its row totals, column totals
// and grand total (cell (i, j) is index i*c + j). A table with one column
// (c = 1) releases only the grand total, since its row totals would be its
// cells.
func Grid(cells []int64, r, c int) Problem {
	p := Problem{Cells: cells}
	if c > 1 && r > 1 {
		for i := range r {
			var row []int
			for j := range c {
				row = append(row, i*c+j)
			}
			p.Sums = append(p.Sums, row)
		}
		for j := range c {
			var col []int
			for i := range r {
				col = append(col, i*c+j)
			}
			p.Sums = append(p.Sums, col)
		}
	}
	all := make([]int, len(cells))
	for i := range all {
		all[i] = i
	}
	p.Sums = append(p.Sums, all)
	return p
}

// Pattern says what is suppressed.
type Pattern struct {
	Cells []bool // suppressed cells
	Sums  []bool // suppressed sums
	// Primary marks the cells suppressed for being small; the other
	// suppressed cells are secondary.
	Primary []bool
}

// Suppressed counts the suppressed cells.
func (pt Pattern) Suppressed() int {
	n := 0
	for _, s := range pt.Cells {
		if s {
			n++
		}
	}
	return n
}

// small is the primary rule: a count of 1 to min−1.
func small(v, min int64) bool { return v > 0 && v < min }

// ErrUnprotectable is returned when even suppressing every cell and total
// leaves a suppressed value narrower than the minimum; the answer must be
// refused.
var ErrUnprotectable = errors.New("sdc: the table cannot be protected by cell suppression")

// Suppress suppresses every cell and sum from 1 to min−1 (primary), then
// further cells (secondary) such that every suppressed value's feasible
// range, given all that is released, is at least min wide.
//
// On small tables (at most [ExhaustiveCells] cells) the fewest secondary
// cells are found exhaustively (among equally few, the smallest total),
// while the search stays within budget candidate patterns (0 means 5000);
// beyond that a greedy search adds cells (and, when suppressing every cell
// is not enough, totals: a small total can follow from the others) and then
// drops the cells that are not needed. Larger tables use a line rule (in
// every released total, the suppressed cells other than the largest must
// add up to min or more) and then repair whatever the audit ([Feasible])
// still finds exposed; that is protective but not guaranteed minimal.
func Suppress(p Problem, min int64, budget int) (Pattern, error) {
	if budget <= 0 {
		budget = 5000
	}
	pt := Pattern{Cells: make([]bool, len(p.Cells)), Sums: make([]bool, len(p.Sums)), Primary: make([]bool, len(p.Cells))}
	for i, v := range p.Cells {
		if small(v, min) {
			pt.Cells[i], pt.Primary[i] = true, true
		}
	}
	for j := range p.Sums {
		pt.Sums[j] = small(p.SumValue(j), min)
	}
	if len(p.Cells) > ExhaustiveCells {
		return large(p, pt, min)
	}
	ok, err := Protected(p, pt, min)
	if err != nil || ok {
		return pt, err
	}
	var cand []int
	for i := range p.Cells {
		if !pt.Cells[i] {
			cand = append(cand, i)
		}
	}
	// Exhaustive: sets of k candidates, k = 1, 2, ... while affordable.
	tried := 0
	for k := 1; k <= len(cand); k++ {
		n := binom(len(cand), k)
		if tried+n > budget {
			break
		}
		tried += n
		var best []int
		bestCost := int64(math.MaxInt64)
		var err error
		combinations(len(cand), k, func(idx []int) bool {
			trial := clonePattern(pt)
			var cost int64
			for _, x := range idx {
				trial.Cells[cand[x]] = true
				cost += p.Cells[cand[x]]
			}
			if cost >= bestCost {
				return true
			}
			var ok bool
			ok, err = Protected(p, trial, min)
			if err != nil {
				return false
			}
			if ok {
				best = nil
				for _, x := range idx {
					best = append(best, cand[x])
				}
				bestCost = cost
			}
			return true
		})
		if err != nil {
			return pt, err
		}
		if best != nil {
			for _, i := range best {
				pt.Cells[i] = true
			}
			return pt, nil
		}
	}
	return greedy(p, pt, min)
}

// ExhaustiveCells is the largest table [Suppress] searches exhaustively.
const ExhaustiveCells = 12

// large protects a table too big for the exhaustive search: the line rule,
// then rounds of audit and repair.
func large(p Problem, pt Pattern, min int64) (Pattern, error) {
	// smallest returns the unsuppressed cell of cells with the smallest
	// positive count (a zero adds no uncertainty), else any unsuppressed
	// cell, else -1.
	smallest := func(cells []int) int {
		best := -1
		for _, i := range cells {
			if pt.Cells[i] {
				continue
			}
			switch {
			case best < 0:
				best = i
			case p.Cells[best] == 0 && p.Cells[i] > 0:
				best = i
			case p.Cells[i] > 0 && p.Cells[i] < p.Cells[best]:
				best = i
			}
		}
		return best
	}
	for changed := true; changed; {
		changed = false
		for j, cells := range p.Sums {
			if pt.Sums[j] {
				continue
			}
			var total, largest int64
			n := 0
			for _, i := range cells {
				if pt.Cells[i] {
					total += p.Cells[i]
					largest = max(largest, p.Cells[i])
					n++
				}
			}
			if n == 0 || total-largest >= min {
				continue
			}
			if i := smallest(cells); i >= 0 {
				pt.Cells[i] = true
				changed = true
			}
		}
	}
	for range len(p.Cells) + len(p.Sums) + 1 {
		b, err := Feasible(p, pt)
		if err != nil {
			return pt, err
		}
		added := false
		exposedCell := func(i int) bool { return pt.Cells[i] && b.Cells[i].Width() < float64(min) }
		for i := range p.Cells {
			if !exposedCell(i) {
				continue
			}
			for j, cells := range p.Sums {
				if pt.Sums[j] || !slices.Contains(cells, i) {
					continue
				}
				if k := smallest(cells); k >= 0 {
					pt.Cells[k] = true
					added = true
					break
				}
			}
		}
		for j, r := range b.Sums {
			if r.Suppressed && r.Width() < float64(min) {
				if k := smallest(p.Sums[j]); k >= 0 {
					pt.Cells[k] = true
					added = true
				}
			}
		}
		if added {
			continue
		}
		exposed := false
		for i := range p.Cells {
			exposed = exposed || exposedCell(i)
		}
		for _, r := range b.Sums {
			exposed = exposed || r.Suppressed && r.Width() < float64(min)
		}
		if !exposed {
			return pt, nil
		}
		// Every cell of the exposed lines is suppressed: the totals give
		// them away; suppress the smallest released total but the grand one.
		best := -1
		for j := range len(p.Sums) - 1 {
			if !pt.Sums[j] && (best < 0 || p.SumValue(j) < p.SumValue(best)) {
				best = j
			}
		}
		if best < 0 {
			return pt, ErrUnprotectable
		}
		pt.Sums[best] = true
	}
	return pt, ErrUnprotectable
}

// greedy adds, one at a time, the cell (or, when the cells alone cannot
// protect, the total) that leaves the fewest suppressed values exposed
// (ties: the smallest count), then drops secondary cells (largest first)
// that protection does not need.
func greedy(p Problem, pt Pattern, min int64) (Pattern, error) {
	for {
		exposed, err := countExposed(p, pt, min)
		if err != nil {
			return pt, err
		}
		if exposed == 0 {
			break
		}
		best, bestExp, bestVal := -1, math.MaxInt, int64(math.MaxInt64)
		try := func(k int, v int64, flip func(Pattern)) error {
			trial := clonePattern(pt)
			flip(trial)
			e, err := countExposed(p, trial, min)
			if err != nil {
				return err
			}
			if e < bestExp || e == bestExp && v < bestVal {
				best, bestExp, bestVal = k, e, v
			}
			return nil
		}
		for i := range p.Cells {
			if !pt.Cells[i] {
				if err := try(i, p.Cells[i], func(t Pattern) { t.Cells[i] = true }); err != nil {
					return pt, err
				}
			}
		}
		if best < 0 { // every cell is suppressed: suppress totals too
			for j := range p.Sums {
				if !pt.Sums[j] {
					if err := try(len(p.Cells)+j, p.SumValue(j), func(t Pattern) { t.Sums[j] = true }); err != nil {
						return pt, err
					}
				}
			}
		}
		switch {
		case best < 0:
			return pt, ErrUnprotectable
		case best < len(p.Cells):
			pt.Cells[best] = true
		default:
			pt.Sums[best-len(p.Cells)] = true
		}
	}
	var secondary []int
	for i, s := range pt.Cells {
		if s && !pt.Primary[i] {
			secondary = append(secondary, i)
		}
	}
	slices.SortFunc(secondary, func(a, b int) int { return int(p.Cells[b] - p.Cells[a]) })
	for _, i := range secondary {
		pt.Cells[i] = false
		if ok, err := Protected(p, pt, min); err != nil || !ok {
			pt.Cells[i] = true
			if err != nil {
				return pt, err
			}
		}
	}
	return pt, nil
}

func clonePattern(pt Pattern) Pattern {
	return Pattern{Cells: slices.Clone(pt.Cells), Sums: slices.Clone(pt.Sums), Primary: slices.Clone(pt.Primary)}
}

// Protected reports whether every suppressed cell and sum can take values
// over a range at least min wide, given everything released.
func Protected(p Problem, pt Pattern, min int64) (bool, error) {
	n, err := countExposed(p, pt, min)
	return n == 0, err
}

func countExposed(p Problem, pt Pattern, min int64) (int, error) {
	r, err := Feasible(p, pt)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, x := range append(r.Cells, r.Sums...) {
		if x.Suppressed && x.Width() < float64(min) {
			n++
		}
	}
	return n, nil
}

// Range is the set of values a suppressed item can take.
type Range struct {
	Suppressed bool
	Lo, Hi     float64 // Hi is +Inf when unbounded
}

// Width is Hi − Lo.
func (r Range) Width() float64 { return r.Hi - r.Lo }

// Bounds are the feasible ranges of the suppressed cells and sums (the
// ranges of items not suppressed are zero values).
type Bounds struct {
	Cells, Sums []Range
}

// Feasible computes, by linear programming over the released values (cells
// and sums not suppressed), the smallest and largest value each suppressed
// item can take, all counts being non-negative. The bounds are rounded
// inwards to integers.
func Feasible(p Problem, pt Pattern) (Bounds, error) {
	out := Bounds{Cells: make([]Range, len(p.Cells)), Sums: make([]Range, len(p.Sums))}
	// Unknowns: suppressed cells, then suppressed sums.
	varOf := map[[2]int]int{} // {0, i} cell, {1, j} sum
	var vars [][2]int
	for i, s := range pt.Cells {
		if s {
			varOf[[2]int{0, i}] = len(vars)
			vars = append(vars, [2]int{0, i})
		}
	}
	for j, s := range pt.Sums {
		if s {
			varOf[[2]int{1, j}] = len(vars)
			vars = append(vars, [2]int{1, j})
		}
	}
	if len(vars) == 0 {
		return out, nil
	}
	// One equation per sum: Σ suppressed cells (− the sum if suppressed) =
	// (released sum or 0) − Σ released cells.
	var rows [][]float64
	var rhs []float64
	for j, cells := range p.Sums {
		row := make([]float64, len(vars))
		b := 0.0
		if pt.Sums[j] {
			row[varOf[[2]int{1, j}]] = -1
		} else {
			b = float64(p.SumValue(j))
		}
		for _, i := range cells {
			if pt.Cells[i] {
				row[varOf[[2]int{0, i}]] += 1
			} else {
				b -= float64(p.Cells[i])
			}
		}
		rows = append(rows, row)
		rhs = append(rhs, b)
	}
	rows, rhs = independentRows(rows, rhs)
	// Variables in no equation are free above.
	used := make([]bool, len(vars))
	for _, row := range rows {
		for k, a := range row {
			if a != 0 {
				used[k] = true
			}
		}
	}
	var cols []int
	for k, u := range used {
		if u {
			cols = append(cols, k)
		}
	}
	set := func(k int, r Range) {
		r.Suppressed = true
		if v := vars[k]; v[0] == 0 {
			out.Cells[v[1]] = r
		} else {
			out.Sums[v[1]] = r
		}
	}
	for k, u := range used {
		if !u {
			set(k, Range{Lo: 0, Hi: math.Inf(1)})
		}
	}
	if len(cols) == 0 {
		return out, nil
	}
	A := mat.NewDense(len(rows), len(cols), nil)
	for r, row := range rows {
		for c, k := range cols {
			A.Set(r, c, row[k])
		}
	}
	for c, k := range cols {
		obj := make([]float64, len(cols))
		obj[c] = 1
		lo, _, err := lp.Simplex(obj, A, rhs, 1e-10, nil)
		if err != nil {
			return out, fmt.Errorf("sdc: lower bound: %w", err)
		}
		obj[c] = -1
		hi := math.Inf(1)
		negHi, _, err := lp.Simplex(obj, A, rhs, 1e-10, nil)
		switch {
		case errors.Is(err, lp.ErrUnbounded):
		case err != nil:
			return out, fmt.Errorf("sdc: upper bound: %w", err)
		default:
			hi = math.Floor(-negHi + 1e-6)
		}
		set(k, Range{Lo: math.Ceil(lo - 1e-6), Hi: hi})
	}
	return out, nil
}

// independentRows keeps a maximal linearly independent subset of the
// equations (Gaussian elimination with partial pivoting), so the program has
// full row rank; equations that reduce to 0 = 0 are dropped. Rows are
// flipped so every right-hand side is non-negative.
func independentRows(rows [][]float64, rhs []float64) ([][]float64, []float64) {
	var keptRows [][]float64
	var keptRHS []float64
	var basis [][]float64 // reduced rows, with pivot columns
	var pivots []int
	for r, row := range rows {
		red := slices.Clone(row)
		for bi, b := range basis {
			pc := pivots[bi]
			if f := red[pc] / b[pc]; f != 0 {
				for k := range red {
					red[k] -= f * b[k]
				}
			}
		}
		pc, best := -1, 1e-9
		for k, v := range red {
			if math.Abs(v) > best {
				pc, best = k, math.Abs(v)
			}
		}
		if pc < 0 {
			continue // dependent (consistent, as the values are real)
		}
		basis = append(basis, red)
		pivots = append(pivots, pc)
		row, b := slices.Clone(row), rhs[r]
		if b < 0 {
			for k := range row {
				row[k] = -row[k]
			}
			b = -b
		}
		keptRows = append(keptRows, row)
		keptRHS = append(keptRHS, b)
	}
	return keptRows, keptRHS
}

func binom(n, k int) int {
	r := 1
	for i := 1; i <= k; i++ {
		r = r * (n - k + i) / i
		if r > 1<<30 {
			return 1 << 30
		}
	}
	return r
}

// combinations calls fn with each k-subset of 0..n−1 (as sorted indexes)
// until fn returns false.
func combinations(n, k int, fn func([]int) bool) {
	idx := make([]int, k)
	for i := range idx {
		idx[i] = i
	}
	for {
		if !fn(idx) {
			return
		}
		i := k - 1
		for i >= 0 && idx[i] == n-k+i {
			i--
		}
		if i < 0 {
			return
		}
		idx[i]++
		for j := i + 1; j < k; j++ {
			idx[j] = idx[j-1] + 1
		}
	}
}
