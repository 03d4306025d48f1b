package ae

// Release is what one institution releases for a drug–event pair: a, the
// drug's total a + b, the event's total a + c and the grand total N. A value
// below the institution's minimum cell size is suppressed (nil).
type Release struct {
	Site  string `json:"site"`
	A     *int64 `json:"a"`
	Drug  *int64 `json:"drug"`
	Event *int64 `json:"event"`
	N     *int64 `json:"n"`
}

// Suppress makes the release of the exact counts (a, drug, event, n),
// suppressing every value below min.
func Suppress(site string, a, drug, event, n, min int64) Release {
	keep := func(v int64) *int64 {
		if v < min && v != 0 || v < 0 {
			return nil
		}
		return &v
	}
	return Release{Site: site, A: keep(a), Drug: keep(drug), Event: keep(event), N: keep(n)}
}

// Pooled are counts summed over institutions. Where a site suppressed a
// value it counts as zero, so the sums are lower bounds; Suppressed says
// how many sites suppressed a, and LowerBound whether any value is one.
type Pooled struct {
	A, Drug, Event, N int64
	Sites             int
	Suppressed        int
	LowerBound        bool
}

// Pool sums releases.
func Pool(rs []Release) Pooled {
	var p Pooled
	add := func(dst *int64, v *int64) {
		if v == nil {
			p.LowerBound = true
			return
		}
		*dst += *v
	}
	for _, r := range rs {
		p.Sites++
		if r.A == nil {
			p.Suppressed++
		}
		add(&p.A, r.A)
		add(&p.Drug, r.Drug)
		add(&p.Event, r.Event)
		add(&p.N, r.N)
	}
	return p
}

// Table builds the pooled 2×2 table, clamping where suppressed margins
// would make a cell negative.
func (p Pooled) Table() Table {
	drug, event := max(p.Drug, p.A), max(p.Event, p.A)
	n := max(p.N, drug+event-p.A)
	t, _ := FromMargins(p.A, drug, event, n)
	return t
}
