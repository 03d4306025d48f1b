package query

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/cohortnet/cohortnet/query/ae"
)

// Sources of adverse-event counts.
const (
	// SourceReports counts recorded adverse events: adverse_event rows with
	// source = 'report' (FHIR AdverseEvent, FAERS), one unit per person.
	SourceReports = "reports"
	// SourceExposures counts events after exposures: drug_exposure and
	// condition_occurrence, as DESIGN.md defines it (see [Engine.Counts]).
	SourceExposures = "exposures"
)

// SignalConfig selects what [Engine.Counts] counts. The zero value counts
// reports over every local dataset.
type SignalConfig struct {
	// Source is [SourceReports] (default) or [SourceExposures].
	Source string `json:"source,omitempty"`
	// Window is the risk window in days after the index; 0 means 30.
	Window int `json:"window,omitempty"`
	// Seed seeds the sampling of the unexposed persons' index dates; 0
	// means 1. The same seed gives the same counts.
	Seed uint64 `json:"seed,omitempty"`
	// Datasets restricts the counts to these dataset names; nil means all.
	Datasets []string `json:"datasets,omitempty"`
	// OwnOnly restricts the counts to datasets this node published.
	OwnOnly bool `json:"own_only,omitempty"`
	// Quarter ("2017Q2") restricts reports to events with onset in that
	// calendar quarter; datasets without calendar dates are skipped.
	Quarter string `json:"quarter,omitempty"`
}

// quarterRange parses "YYYYQn" into its first day and the next quarter's.
func quarterRange(q string) (string, string, error) {
	var y, n int
	if _, err := fmt.Sscanf(q, "%4dQ%1d", &y, &n); err != nil || n < 1 || n > 4 || len(q) != 6 {
		return "", "", fmt.Errorf("query: signals: quarter %q: use YYYYQn, e.g. 2017Q2", q)
	}
	start := fmt.Sprintf("%04d-%02d-01", y, 3*(n-1)+1)
	if n == 4 {
		return start, fmt.Sprintf("%04d-01-01", y+1), nil
	}
	return start, fmt.Sprintf("%04d-%02d-01", y, 3*n+1), nil
}

// Quarters lists the calendar quarters ("2017Q2") in which the selected
// datasets with calendar dates have reported adverse events, in order.
func (e *Engine) Quarters(ctx context.Context, cfg SignalConfig) ([]string, error) {
	ds, err := e.selectDatasets(cfg)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, d := range ds {
		if _, ok := d.Tables["adverse_event"]; !ok || d.Union() != UnionDates {
			continue
		}
		q := "SELECT DISTINCT year(onset_date)::VARCHAR || 'Q' || quarter(onset_date)::VARCHAR FROM " +
			quoteIdent(d.Schema()) + ".adverse_event WHERE onset_date IS NOT NULL AND source = 'report'"
		if err := e.queryTrusted(ctx, q, func(rows *sql.Rows) error {
			var s string
			err := rows.Scan(&s)
			seen[s] = true
			return err
		}); err != nil {
			return nil, fmt.Errorf("query: quarters of %s: %w", d.Name, err)
		}
	}
	return sortedKeys(seen), nil
}

func (c SignalConfig) window() int {
	if c.Window > 0 {
		return c.Window
	}
	return 30
}

func (c SignalConfig) seed() uint64 {
	if c.Seed != 0 {
		return c.Seed
	}
	return 1
}

// Pair names a drug–event pair by codes.
type Pair struct {
	Drug  string `json:"drug"`
	Event string `json:"event"`
}

// pairCell is one pair's counts in one dataset: a, and a + c.
type pairCell struct{ a, event int64 }

// Counts are the adverse-event counts of one or more datasets, from which
// every pair's 2×2 margins (a, a + b, a + c, N) follow.
type Counts struct {
	// N is the number of units (persons) counted.
	N int64
	// Drug is a + b per drug: units with the drug (reports) or exposed.
	Drug map[string]int64
	// Event is a + c per event for reports, where it does not depend on the
	// drug; empty for exposures.
	Event map[string]int64
	// cells hold a and a + c of pairs seen in some unit.
	cells map[Pair]pairCell
	// Names maps drug and event codes to a display name.
	Names map[string]string
	// Skipped lists datasets left out, with why.
	Skipped []string
}

func newCounts() *Counts {
	return &Counts{Drug: map[string]int64{}, Event: map[string]int64{}, cells: map[Pair]pairCell{}, Names: map[string]string{}}
}

// Margins returns the pair's released counts (a, a + b, a + c, N).
func (c *Counts) Margins(p Pair) (a, drug, event, n int64) {
	cl, ok := c.cells[p]
	if !ok {
		cl = pairCell{0, c.Event[p.Event]}
	}
	return cl.a, c.Drug[p.Drug], cl.event, c.N
}

// Pairs returns the pairs with a ≥ 1, sorted.
func (c *Counts) Pairs() []Pair {
	var ps []Pair
	for p, cl := range c.cells {
		if cl.a > 0 {
			ps = append(ps, p)
		}
	}
	slices.SortFunc(ps, func(x, y Pair) int {
		return cmp.Or(strings.Compare(x.Drug, y.Drug), strings.Compare(x.Event, y.Event))
	})
	return ps
}

// Add adds another dataset's counts (units of different datasets are
// different persons).
func (c *Counts) Add(o *Counts) {
	c.N += o.N
	for k, v := range o.Drug {
		c.Drug[k] += v
	}
	// A pair absent from one side still has its event total there.
	for p := range o.cells {
		if _, ok := c.cells[p]; !ok {
			c.cells[p] = pairCell{0, c.Event[p.Event]}
		}
	}
	for p, cl := range c.cells {
		ocl, ok := o.cells[p]
		if !ok {
			ocl = pairCell{0, o.Event[p.Event]}
		}
		c.cells[p] = pairCell{cl.a + ocl.a, cl.event + ocl.event}
	}
	for k, v := range o.Event {
		c.Event[k] += v
	}
	for k, v := range o.Names {
		if _, ok := c.Names[k]; !ok {
			c.Names[k] = v
		}
	}
	c.Skipped = append(c.Skipped, o.Skipped...)
}

// Signal is one pair's statistics.
type Signal struct {
	// Period is the quarter the counts cover, when split by quarter.
	Period string `json:"period,omitempty"`
	Pair
	DrugName  string `json:"drug_name,omitempty"`
	EventName string `json:"event_name,omitempty"`
	ae.Stats
	// LowerBound is true when suppressed cells make a a lower bound;
	// SitesSuppressed is how many sites suppressed a.
	LowerBound      bool `json:"lower_bound,omitempty"`
	SitesSuppressed int  `json:"sites_suppressed,omitempty"`
}

// Signals computes the statistics of every pair in c with a ≥ minCount,
// optionally only for one drug and/or event code, ordered by IC025
// (highest first).
func Signals(c *Counts, minCount int64, drug, event string) []Signal {
	var out []Signal
	for _, p := range c.Pairs() {
		if drug != "" && p.Drug != drug || event != "" && p.Event != event {
			continue
		}
		a, d, ev, n := c.Margins(p)
		if a < minCount {
			continue
		}
		t, err := ae.FromMargins(a, d, ev, n)
		if err != nil {
			continue // cannot happen for counts made here
		}
		out = append(out, Signal{Pair: p, DrugName: c.Names["drug:"+p.Drug], EventName: c.Names["event:"+p.Event], Stats: ae.Compute(t)})
	}
	sortSignals(out)
	return out
}

func sortSignals(s []Signal) {
	slices.SortStableFunc(s, func(x, y Signal) int {
		return cmp.Or(cmp.Compare(y.IC025, x.IC025), strings.Compare(x.Drug, y.Drug), strings.Compare(x.Event, y.Event))
	})
}

// selectDatasets returns the datasets cfg selects.
func (e *Engine) selectDatasets(cfg SignalConfig) ([]Dataset, error) {
	var out []Dataset
	for _, d := range e.datasets {
		if cfg.OwnOnly && !d.Own {
			continue
		}
		if cfg.Datasets != nil && !slices.Contains(cfg.Datasets, d.Name) {
			continue
		}
		out = append(out, d)
	}
	for _, name := range cfg.Datasets {
		if !slices.ContainsFunc(e.datasets, func(d Dataset) bool { return d.Name == name }) {
			return nil, fmt.Errorf("query: signals: no local dataset %s", name)
		}
	}
	return out, nil
}

// Counts counts adverse events over the selected datasets, each separately,
// and adds them up. Datasets that cannot be counted (no adverse_event
// table; for exposures, no drug_exposure or condition_occurrence, or
// safe-harbor years without day-level dates) are listed in Skipped.
//
// Exposures follow DESIGN.md: for each drug, exposed persons are indexed at
// their first exposure; every other person of the dataset (the person
// table) gets an index date drawn from the exposed ones' (persons sorted by
// id, draws from a PCG seeded with the seed and the drug code, so the
// result is reproducible); a counts exposed persons with a condition of the
// event code starting 1 to Window days after the index (an event on the
// index day is more often the reason for the drug than its effect), b the
// other exposed, c the unexposed with the event in the same window after their
// index, d the other unexposed.
func (e *Engine) Counts(ctx context.Context, cfg SignalConfig) (*Counts, error) {
	ds, err := e.selectDatasets(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.Quarter != "" && cfg.Source == SourceExposures {
		return nil, fmt.Errorf("query: signals: by quarter needs source reports")
	}
	total := newCounts()
	for _, d := range ds {
		var c *Counts
		switch cfg.Source {
		case SourceReports, "":
			c, err = e.reportCounts(ctx, d, cfg.Quarter)
		case SourceExposures:
			c, err = e.exposureCounts(ctx, d, cfg)
		default:
			return nil, fmt.Errorf("query: signals: unknown source %q (use reports or exposures)", cfg.Source)
		}
		if err != nil {
			return nil, err
		}
		total.Add(c)
	}
	return total, nil
}

func (e *Engine) reportCounts(ctx context.Context, d Dataset, quarter string) (*Counts, error) {
	c := newCounts()
	if _, ok := d.Tables["adverse_event"]; !ok {
		c.Skipped = append(c.Skipped, d.Name+": no adverse_event table")
		return c, nil
	}
	t := quoteIdent(d.Schema()) + ".adverse_event"
	when := ""
	if quarter != "" {
		if d.Union() != UnionDates {
			c.Skipped = append(c.Skipped, d.Name+": no calendar dates to split by quarter")
			return c, nil
		}
		start, end, err := quarterRange(quarter)
		if err != nil {
			return nil, err
		}
		when = fmt.Sprintf(" AND onset_date >= DATE '%s' AND onset_date < DATE '%s'", start, end)
	}
	q := `WITH r AS (
	  SELECT DISTINCT person_id AS p, drug_code AS dr, event_code AS ev FROM ` + t + `
	  WHERE source = 'report' AND person_id IS NOT NULL AND drug_code IS NOT NULL AND event_code IS NOT NULL` + when + `)
	SELECT dr, ev, grouping(dr)::INTEGER, grouping(ev)::INTEGER, count(DISTINCT p)
	FROM r GROUP BY GROUPING SETS ((dr, ev), (dr), (ev), ())`
	var pairs []Pair
	var as []int64
	err := e.queryTrusted(ctx, q, func(rows *sql.Rows) error {
		var dr, ev sql.NullString
		var gd, ge int
		var n int64
		if err := rows.Scan(&dr, &ev, &gd, &ge, &n); err != nil {
			return err
		}
		switch {
		case gd == 1 && ge == 1:
			c.N = n
		case ge == 1:
			c.Drug[dr.String] = n
		case gd == 1:
			c.Event[ev.String] = n
		default:
			pairs = append(pairs, Pair{dr.String, ev.String})
			as = append(as, n)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("query: count reports in %s: %w", d.Name, err)
	}
	for i, p := range pairs {
		c.cells[p] = pairCell{as[i], c.Event[p.Event]}
	}
	err = e.names(ctx, c, `SELECT 'drug:' || drug_code, min(drug_name) FROM `+t+` WHERE drug_code IS NOT NULL GROUP BY drug_code
		UNION ALL SELECT 'event:' || event_code, min(event_name) FROM `+t+` WHERE event_code IS NOT NULL GROUP BY event_code`)
	if err != nil {
		return nil, fmt.Errorf("query: count reports in %s: %w", d.Name, err)
	}
	return c, nil
}

func (e *Engine) names(ctx context.Context, c *Counts, q string) error {
	return e.queryTrusted(ctx, q, func(rows *sql.Rows) error {
		var k string
		var v sql.NullString
		if err := rows.Scan(&k, &v); err != nil {
			return err
		}
		if v.Valid {
			c.Names[k] = v.String
		}
		return nil
	})
}

// dayExpr is the SQL for a table's day number of a date column ("drug_exposure_start"),
// or "" when the dataset has only years.
func dayExpr(d Dataset, col string) string {
	switch d.Union() {
	case UnionDays:
		return col + "_day"
	case UnionDates:
		return "date_diff('day', DATE '1970-01-01', " + col + "_date)"
	}
	return ""
}

type dayEvent struct {
	code string
	day  int64
}

func (e *Engine) exposureCounts(ctx context.Context, d Dataset, cfg SignalConfig) (*Counts, error) {
	c := newCounts()
	c.Event = map[string]int64{} // a + c depends on the drug: kept per pair
	for _, t := range []string{"person", "drug_exposure", "condition_occurrence"} {
		if _, ok := d.Tables[t]; !ok {
			c.Skipped = append(c.Skipped, d.Name+": no "+t+" table")
			return c, nil
		}
	}
	drugDay, condDay := dayExpr(d, "drug_exposure_start"), dayExpr(d, "condition_start")
	if drugDay == "" {
		c.Skipped = append(c.Skipped, d.Name+": safe-harbor years only, no day-level dates (publish with --intervals for exposure signals)")
		return c, nil
	}
	s := quoteIdent(d.Schema())
	fail := func(err error) (*Counts, error) {
		return nil, fmt.Errorf("query: count exposures in %s: %w", d.Name, err)
	}

	var persons []string
	if err := e.queryTrusted(ctx, "SELECT DISTINCT person_id FROM "+s+".person WHERE person_id IS NOT NULL ORDER BY 1", func(rows *sql.Rows) error {
		var p string
		err := rows.Scan(&p)
		persons = append(persons, p)
		return err
	}); err != nil {
		return fail(err)
	}
	// first[drug][person] = index day
	first := map[string]map[string]int64{}
	if err := e.queryTrusted(ctx, "SELECT drug_code, person_id, min("+drugDay+") FROM "+s+".drug_exposure WHERE person_id IS NOT NULL AND drug_code IS NOT NULL AND "+drugDay+" IS NOT NULL GROUP BY ALL", func(rows *sql.Rows) error {
		var dr, p string
		var day int64
		if err := rows.Scan(&dr, &p, &day); err != nil {
			return err
		}
		if first[dr] == nil {
			first[dr] = map[string]int64{}
		}
		first[dr][p] = day
		return nil
	}); err != nil {
		return fail(err)
	}
	events := map[string][]dayEvent{}
	if err := e.queryTrusted(ctx, "SELECT person_id, condition_code, "+condDay+" FROM "+s+".condition_occurrence WHERE person_id IS NOT NULL AND condition_code IS NOT NULL AND "+condDay+" IS NOT NULL", func(rows *sql.Rows) error {
		var p, code string
		var day int64
		if err := rows.Scan(&p, &code, &day); err != nil {
			return err
		}
		events[p] = append(events[p], dayEvent{code, day})
		return nil
	}); err != nil {
		return fail(err)
	}
	if err := e.names(ctx, c, "SELECT 'drug:' || drug_code, min(drug_name) FROM "+s+".drug_exposure WHERE drug_code IS NOT NULL GROUP BY drug_code"+
		" UNION ALL SELECT 'event:' || condition_code, min(condition_name) FROM "+s+".condition_occurrence WHERE condition_code IS NOT NULL GROUP BY condition_code"); err != nil {
		return fail(err)
	}

	c.N = int64(len(persons))
	window := int64(cfg.window())
	hit := map[string]bool{}
	// eventsIn counts, once per person, each event code starting in the
	// window (index, index + window] after index.
	eventsIn := func(p string, index int64, add func(code string)) {
		clear(hit)
		for _, ev := range events[p] {
			if ev.day > index && ev.day <= index+window && !hit[ev.code] {
				hit[ev.code] = true
				add(ev.code)
			}
		}
	}
	for _, dr := range sortedKeys(first) {
		exposed := first[dr]
		// The exposed persons' index days, in person order, to draw from.
		var pool []int64
		for _, p := range sortedKeys(exposed) {
			pool = append(pool, exposed[p])
		}
		var inPerson int64
		h := fnv.New64a()
		h.Write([]byte(dr))
		r := rand.New(rand.NewPCG(cfg.seed(), h.Sum64()))
		for _, p := range persons {
			if index, ok := exposed[p]; ok {
				inPerson++
				eventsIn(p, index, func(code string) {
					cl := c.cells[Pair{dr, code}]
					c.cells[Pair{dr, code}] = pairCell{cl.a + 1, cl.event + 1}
				})
				continue
			}
			index := pool[r.IntN(len(pool))]
			eventsIn(p, index, func(code string) {
				cl := c.cells[Pair{dr, code}]
				c.cells[Pair{dr, code}] = pairCell{cl.a, cl.event + 1}
			})
		}
		// The population is the person table: an exposure of a person not
		// in it (e.g. suppressed by de-identification) is not counted.
		c.Drug[dr] = inPerson
	}
	return c, nil
}
