package deid

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"sort"

	"github.com/cohortnet/cohortnet/deid/internal/idset"
)

// LossMetric names the information-loss measure [Search] minimizes: Sweeney's
// precision (the mean over quasi-identifiers of level/(height-1)), with
// every suppressed record counted as fully generalized.
const LossMetric = "precision (mean of level/(height-1) over quasi-identifiers; suppressed records count 1)"

// ErrKUnreachable is returned when no generalization reaches k (and l) with
// at most the allowed suppression. The user should lower k, raise the
// suppression limit or give coarser hierarchies.
var ErrKUnreachable = errors.New("k-anonymity cannot be reached")

// Attribute is one quasi-identifier of a [Problem]: the hierarchy and each
// record's value (absent values are null: they form their own group at every
// level below the top one).
type Attribute struct {
	Name      string
	Hierarchy *Hierarchy
}

// Problem is a k-anonymity task over records whose quasi-identifier values
// are added with [Problem.Add]. Identical records are stored once with a
// count, so memory grows with the number of distinct combinations.
type Problem struct {
	Attrs          []Attribute
	K              int
	MaxSuppression float64 // share of records, 0..1
	L              int     // distinct l-diversity of the sensitive value when > 1

	dims    []dim
	index   idset.Table // tuple hash -> tuple number (see tupleHash)
	tuples  []int32     // len(dims)+1 ids per tuple (last: sensitive)
	counts  []int64
	n       int64
	sens    map[string]int32
	scratch []int32
}

type dim struct {
	values map[string]int32 // original value -> id (0 is null)
	labels []string         // by id
	gen    [][]int32        // gen[level][id] -> label id at that level (built by prepare)
	glabel [][]string       // glabel[level][label id]
	card   []int            // labels per level
}

// Add records one record's values (one per attribute, in order; nil for
// null) and its sensitive value (ignored unless L > 1). It returns the number
// of the record's tuple, for [Result.Released] and [Result.Value].
func (p *Problem) Add(values []*string, sensitive string) int32 {
	if p.dims == nil {
		p.dims = make([]dim, len(values))
		for i := range p.dims {
			p.dims[i] = dim{values: map[string]int32{}, labels: []string{""}}
		}
		p.sens = map[string]int32{}
		p.scratch = make([]int32, len(p.dims)+1)
	}
	ids := p.scratch
	clear(ids)
	for i, v := range values {
		if v == nil {
			continue
		}
		d := &p.dims[i]
		id, ok := d.values[*v]
		if !ok {
			id = int32(len(d.labels))
			d.values[*v] = id
			d.labels = append(d.labels, *v)
		}
		ids[i] = id
	}
	if p.L > 1 {
		id, ok := p.sens[sensitive]
		if !ok {
			id = int32(len(p.sens))
			p.sens[sensitive] = id
		}
		ids[len(ids)-1] = id
	}
	h := tupleHash(ids)
	t, ok := p.findTuple(h, ids)
	if !ok {
		t = int32(len(p.counts))
		p.index.Insert(h, t)
		p.tuples = append(p.tuples, ids...)
		p.counts = append(p.counts, 0)
	}
	p.counts[t]++
	p.n++
	return t
}

// tupleHash mixes a tuple's ids into a non-zero 64-bit hash.
func tupleHash(ids []int32) uint64 {
	h := uint64(len(ids))
	for _, id := range ids {
		h ^= uint64(uint32(id))
		h *= 0xff51afd7ed558ccd
		h ^= h >> 33
	}
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	if h == 0 {
		h = 1
	}
	return h
}

// findTuple returns the number of the tuple ids with hash h, if present.
func (p *Problem) findTuple(h uint64, ids []int32) (int32, bool) {
	if len(p.index.Hashes) == 0 {
		return 0, false
	}
	mask := uint64(len(p.index.Hashes) - 1)
	stride := len(ids)
	for i := h & mask; ; i = (i + 1) & mask {
		switch p.index.Hashes[i] {
		case 0:
			return 0, false
		case h:
			t := p.index.Vals[i]
			if slices.Equal(p.tuples[int(t)*stride:int(t+1)*stride], ids) {
				return t, true
			}
		}
	}
}

// prepare maps every value to its label at every level.
func (p *Problem) prepare() error {
	if p.dims != nil && len(p.dims) != len(p.Attrs) {
		return fmt.Errorf("k-anonymity: records have %d values, %d attributes declared", len(p.dims), len(p.Attrs))
	}
	if p.dims == nil {
		p.dims = make([]dim, len(p.Attrs))
		for i := range p.dims {
			p.dims[i] = dim{values: map[string]int32{}, labels: []string{""}}
		}
	}
	for i := range p.dims {
		d := &p.dims[i]
		h := p.Attrs[i].Hierarchy
		if h == nil || h.Height() < 1 {
			return fmt.Errorf("k-anonymity: quasi-identifier %s has no hierarchy", p.Attrs[i].Name)
		}
		d.gen = make([][]int32, h.Height())
		d.glabel = make([][]string, h.Height())
		d.card = make([]int, h.Height())
		for lv := 0; lv < h.Height(); lv++ {
			ids := map[string]int32{}
			d.gen[lv] = make([]int32, len(d.labels))
			d.glabel[lv] = []string{""}
			for id := 1; id < len(d.labels); id++ {
				lab, ok := h.Generalize(d.labels[id], lv)
				if !ok {
					return fmt.Errorf("%w: hierarchy of %s misses the value %q", ErrHierarchy, p.Attrs[i].Name, d.labels[id])
				}
				g, ok := ids[lab]
				if !ok {
					g = int32(len(d.glabel[lv]))
					ids[lab] = g
					d.glabel[lv] = append(d.glabel[lv], lab)
				}
				d.gen[lv][id] = g
			}
			if lv == h.Height()-1 && h.Height() > 1 {
				// the top level joins nulls with everything else
				d.gen[lv][0] = d.gen[lv][min(1, len(d.labels)-1)]
			}
			d.card[lv] = len(d.glabel[lv])
		}
	}
	return nil
}

// node is a transformation: one level per attribute.
type node []int

// eval is the outcome of one transformation.
type eval struct {
	suppressed int64
	classes    int
	minClass   int64
	minL       int
	sizes      map[string]int64
}

// evaluate groups the records under transformation n.
func (p *Problem) evaluate(n node, withSizes bool) eval {
	nd := len(p.dims)
	stride := nd + 1
	// mixed-radix key; prepare checked it fits in 64 bits
	key := func(t int) uint64 {
		var k uint64
		for i := 0; i < nd; i++ {
			d := &p.dims[i]
			k = k*uint64(d.card[n[i]]) + uint64(d.gen[n[i]][p.tuples[t*stride+i]])
		}
		return k
	}
	sizes := make(map[uint64]int64, len(p.counts)/2+1)
	for t := range p.counts {
		sizes[key(t)] += p.counts[t]
	}
	var distinct map[uint64]int
	if p.L > 1 {
		pairs := map[[2]uint64]bool{}
		distinct = map[uint64]int{}
		for t := range p.counts {
			k := key(t)
			pk := [2]uint64{k, uint64(p.tuples[t*stride+nd])}
			if !pairs[pk] {
				pairs[pk] = true
				distinct[k]++
			}
		}
	}
	e := eval{minClass: math.MaxInt64, minL: math.MaxInt}
	if withSizes {
		e.sizes = map[string]int64{}
	}
	for k, s := range sizes {
		if s < int64(p.K) || (p.L > 1 && distinct[k] < p.L) {
			e.suppressed += s
			continue
		}
		e.classes++
		e.minClass = min(e.minClass, s)
		if p.L > 1 {
			e.minL = min(e.minL, distinct[k])
		}
		if withSizes {
			e.sizes[classBucket(s)]++
		}
	}
	return e
}

func (p *Problem) limit() int64 {
	return int64(math.Floor(p.MaxSuppression*float64(p.n) + 1e-9))
}

// precision is the generalization part of the loss of n.
func (p *Problem) precision(n node) float64 {
	if len(n) == 0 {
		return 0
	}
	var s float64
	for i, lv := range n {
		if h := p.Attrs[i].Hierarchy.Height(); h > 1 {
			s += float64(lv) / float64(h-1)
		}
	}
	return s / float64(len(n))
}

// loss is the information loss of n given its suppressed records.
func (p *Problem) loss(n node, suppressed int64) float64 {
	if p.n == 0 {
		return p.precision(n)
	}
	prec := p.precision(n)
	return (prec*float64(p.n-suppressed) + float64(suppressed)) / float64(p.n)
}

// lattice lists every transformation.
func (p *Problem) lattice() []node {
	nodes := []node{{}}
	for _, a := range p.Attrs {
		var next []node
		for _, n := range nodes {
			for lv := 0; lv < a.Hierarchy.Height(); lv++ {
				next = append(next, append(slices.Clone(n), lv))
			}
		}
		nodes = next
	}
	return nodes
}

func nodeKey(n node) string {
	b := make([]byte, len(n))
	for i, v := range n {
		b[i] = byte(v)
	}
	return string(b)
}

func leq(a, b node) bool {
	for i := range a {
		if a[i] > b[i] {
			return false
		}
	}
	return true
}

// Result is the transformation [Search] chose.
type Result struct {
	p          *Problem
	Levels     []int
	Loss       float64
	Suppressed int64 // records suppressed
	Released   int64
	KAchieved  int
	LAchieved  int
	Classes    int
	ClassSizes map[string]int64
	Risk       Risk
	NodesTotal int
	Evaluated  int
	keep       []bool // by tuple
}

// dropTuples frees the records' tuples once no [Result.Kept] or
// [Result.Value] will be asked; the levels and counts stay.
func (r *Result) dropTuples() {
	r.p.tuples, r.p.counts, r.p.index, r.keep = nil, nil, idset.Table{}, nil
}

// Kept reports whether the records of tuple t are released.
func (r *Result) Kept(t int32) bool { return r.keep[t] }

// Value returns the generalized value of attribute i for tuple t, and false
// for null.
func (r *Result) Value(t int32, i int) (string, bool) {
	d := &r.p.dims[i]
	id := r.p.tuples[int(t)*(len(r.p.dims)+1)+i]
	lv := r.Levels[i]
	if id == 0 && lv < len(d.gen)-1 {
		return "", false
	}
	return d.glabel[lv][d.gen[lv][id]], true
}

// Search finds the transformation with the least [LossMetric] that makes the
// records k-anonymous (and distinct l-diverse) after suppressing at most
// MaxSuppression of them, over the whole lattice of level combinations. It
// first settles which transformations are anonymous, evaluating few of them:
// anonymity is monotone (a transformation above an anonymous one is
// anonymous, one below a non-anonymous one is not), so every evaluation
// settles a whole cone of the lattice. Then it walks the anonymous ones by
// their generalization-only loss, a lower bound of the full loss, and stops
// when the bound passes the best loss found.
func (p *Problem) Search() (*Result, error) {
	if err := p.prepare(); err != nil {
		return nil, err
	}
	if p.K < 1 {
		p.K = 1
	}
	var bitsNeeded int
	for _, d := range p.dims {
		bitsNeeded += bits.Len(uint(d.card[0]))
	}
	if bitsNeeded > 63 {
		return nil, fmt.Errorf("k-anonymity: %d quasi-identifiers with so many values do not fit the search (use fewer or coarser ones)", len(p.dims))
	}
	nodes := p.lattice()
	limit := p.limit()
	const (
		unknown = iota
		anon
		notAnon
	)
	status := make([]int, len(nodes))
	cache := map[int]eval{}
	evaluated := 0
	ev := func(i int) eval {
		if e, ok := cache[i]; ok {
			return e
		}
		evaluated++
		e := p.evaluate(nodes[i], false)
		cache[i] = e
		return e
	}
	height := func(n node) int {
		s := 0
		for _, v := range n {
			s += v
		}
		return s
	}
	// Phase 1: settle anonymity as ARX's Flash does: take the lowest
	// unsettled transformation, walk a path of unsettled successors up
	// from it, and binary-search the path for its lowest anonymous node;
	// every answer settles a cone (successors of an anonymous node are
	// anonymous, predecessors of a non-anonymous one are not).
	index := map[string]int{}
	for i, n := range nodes {
		index[nodeKey(n)] = i
	}
	settle := func(i int) {
		e := ev(i)
		if e.suppressed <= limit {
			for j, m := range nodes {
				if status[j] == unknown && leq(nodes[i], m) {
					status[j] = anon
				}
			}
		} else {
			for j, m := range nodes {
				if status[j] == unknown && leq(m, nodes[i]) {
					status[j] = notAnon
				}
			}
		}
	}
	byHeight := make([]int, len(nodes))
	for i := range byHeight {
		byHeight[i] = i
	}
	sort.SliceStable(byHeight, func(a, b int) bool { return height(nodes[byHeight[a]]) < height(nodes[byHeight[b]]) })
	for _, start := range byHeight {
		if status[start] != unknown {
			continue
		}
		path := []int{start}
		for cur := nodes[start]; ; {
			next := -1
			for d := range cur {
				if cur[d]+1 < p.Attrs[d].Hierarchy.Height() {
					up := slices.Clone(cur)
					up[d]++
					if j := index[nodeKey(up)]; status[j] == unknown {
						next = j
						break
					}
				}
			}
			if next < 0 {
				break
			}
			path = append(path, next)
			cur = nodes[next]
		}
		lo, hi := 0, len(path)-1
		for lo <= hi {
			mid := (lo + hi) / 2
			if status[path[mid]] == unknown {
				settle(path[mid])
			}
			if status[path[mid]] == anon {
				hi = mid - 1
			} else {
				lo = mid + 1
			}
		}
	}
	// Phase 2: the least loss among the anonymous transformations.
	var cands []int
	for i := range nodes {
		if status[i] == anon {
			cands = append(cands, i)
		}
	}
	if len(cands) == 0 {
		return nil, fmt.Errorf("%w: k=%d with at most %.4g of %d records suppressed, even with every quasi-identifier fully generalized", ErrKUnreachable, p.K, p.MaxSuppression, p.n)
	}
	sort.SliceStable(cands, func(a, b int) bool {
		return p.precision(nodes[cands[a]]) < p.precision(nodes[cands[b]])
	})
	best, bestLoss := -1, math.Inf(1)
	for _, i := range cands {
		if p.precision(nodes[i]) > bestLoss+1e-12 {
			break
		}
		e := ev(i)
		l := p.loss(nodes[i], e.suppressed)
		if best < 0 || l < bestLoss-1e-12 || (math.Abs(l-bestLoss) <= 1e-12 && better(nodes[i], nodes[best])) {
			best, bestLoss = i, l
		}
	}
	n := nodes[best]
	e := p.evaluate(n, true)
	r := &Result{p: p, Levels: slices.Clone(n), Loss: bestLoss, Suppressed: e.suppressed, Released: p.n - e.suppressed,
		Classes: e.classes, ClassSizes: e.sizes, NodesTotal: len(nodes), Evaluated: evaluated}
	if e.classes > 0 {
		r.KAchieved = int(e.minClass)
		if p.L > 1 {
			r.LAchieved = e.minL
		}
		hi := 1 / float64(e.minClass)
		avg := float64(e.classes) / float64(r.Released)
		r.Risk = Risk{Prosecutor: RiskPair{hi, avg}, Journalist: RiskPair{hi, avg}, Marketer: RiskPair{avg, avg}, Model: RiskModelSample}
	}
	r.keep = p.keepers(n)
	return r, nil
}

// better breaks ties between equally lossy transformations: fewer levels in
// total, then the lexicographically smaller.
func better(a, b node) bool {
	sa, sb := 0, 0
	for i := range a {
		sa += a[i]
		sb += b[i]
	}
	if sa != sb {
		return sa < sb
	}
	return slices.Compare(a, b) < 0
}

// keepers says per tuple whether it is released under n.
func (p *Problem) keepers(n node) []bool {
	nd := len(p.dims)
	stride := nd + 1
	key := func(t int) uint64 {
		var k uint64
		for i := 0; i < nd; i++ {
			d := &p.dims[i]
			k = k*uint64(d.card[n[i]]) + uint64(d.gen[n[i]][p.tuples[t*stride+i]])
		}
		return k
	}
	sizes := map[uint64]int64{}
	distinct := map[uint64]map[int32]bool{}
	for t := range p.counts {
		k := key(t)
		sizes[k] += p.counts[t]
		if p.L > 1 {
			if distinct[k] == nil {
				distinct[k] = map[int32]bool{}
			}
			distinct[k][p.tuples[t*stride+nd]] = true
		}
	}
	keep := make([]bool, len(p.counts))
	for t := range p.counts {
		k := key(t)
		keep[t] = sizes[k] >= int64(p.K) && (p.L <= 1 || len(distinct[k]) >= p.L)
	}
	return keep
}

// BruteForce evaluates every transformation and returns the least loss of an
// anonymous one; it exists so tests can check [Problem.Search].
func (p *Problem) BruteForce() (float64, []int, error) {
	if err := p.prepare(); err != nil {
		return 0, nil, err
	}
	if p.K < 1 {
		p.K = 1
	}
	best, bestLoss := node(nil), math.Inf(1)
	for _, n := range p.lattice() {
		e := p.evaluate(n, false)
		if e.suppressed > p.limit() {
			continue
		}
		if l := p.loss(n, e.suppressed); l < bestLoss-1e-12 || (math.Abs(l-bestLoss) <= 1e-12 && better(n, best)) {
			best, bestLoss = n, l
		}
	}
	if best == nil {
		return 0, nil, ErrKUnreachable
	}
	return bestLoss, best, nil
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
