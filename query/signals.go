package query

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/cohortnet/cohortnet/query/ae"
)

// Sources of adverse-event counts.
const (
	// SourceReports counts recorded adverse events: adverse_event rows with
	// source = 'report' (FHIR AdverseEvent, FAERS), one unit per person.
	SourceReports = "reports"
	// SourceExposures counts events after first exposures against the same
	// persons' control windows: drug_exposure and condition_occurrence (see
	// [Engine.Counts]).
	SourceExposures = "exposures"
)

// SignalConfig selects what [Engine.Counts] counts. The zero value counts
// reports over every local dataset.
type SignalConfig struct {
	// Source is [SourceReports] (default) or [SourceExposures].
	Source string `json:"source,omitempty"`
	// Window is the risk window in days after the index; 0 means 30.
	Window int `json:"window,omitempty"`
	// Seed is ignored: exposures are counted self-controlled, with no
	// sampled index dates (see [Engine.Counts]). It stays so that requests
	// from older clients decode.
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
	// SelfControlled is true for exposure counts: each drug's table counts
	// its exposed persons' risk windows and their [ControlWindows] control
	// windows, so a pair's N is (1 + ControlWindows) × (a + b), not N.
	SelfControlled bool
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
	if c.SelfControlled {
		return cl.a, c.Drug[p.Drug], cl.event, (1 + ControlWindows) * c.Drug[p.Drug]
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
	c.SelfControlled = c.SelfControlled || o.SelfControlled
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
// Exposures are counted self-controlled: every exposed person is their own
// comparator, so only days within one person's record are compared and the
// answer is the same whether dates are real (limited), shifted per person
// (expert) or days since the first record (safe-harbor with intervals). For
// each drug, a person's index is the day of their first exposure to it. The
// person counts if they are in the person table and their first record of
// any kind (visit, condition, drug, measurement, procedure, adverse event or
// note) is on or before day −2·Window+1, so that the control window before
// the exposure lies in observed time. Each such person contributes three
// windows of Window days: the risk window, days 1 to Window after the index
// (an event on the index day is more often the reason for the drug than its
// effect), and two control windows, days −2·Window+1 to −Window (a gap of
// Window days before the exposure leaves out the complaints that lead to
// prescribing) and days Window+1 to 2·Window. A condition of the event code
// starting in a window marks it. So a counts risk windows with the event, b
// those without, c control windows with the event, d those without: a + b
// is the drug's persons and N = (1 + [ControlWindows]) × (a + b) for each
// pair ([Counts.Margins]); Counts.N stays the number of persons. A window
// after the person's last record counts as one without the event.
//
// No index dates are drawn, so the answer does not depend on
// [SignalConfig.Seed]. Unexposed persons indexed at calendar days drawn from
// the exposed, which cohortnet did before, compare like with like only on
// real dates: under expert mode's per-person shifts a drawn day lands up to
// two years from the person's own calendar, and a background risk that
// varies over calendar time (seasons, a drug's uptake years) inflated the
// PRRs of synth's planted pairs about twofold.
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

// recordColumns are the date columns (without the _date or _day suffix)
// that mark a person's records, per table: a person is observed from the
// earliest of them.
var recordColumns = []struct{ table, col string }{
	{"visit_occurrence", "visit_start"}, {"condition_occurrence", "condition_start"},
	{"drug_exposure", "drug_exposure_start"}, {"measurement", "measurement"},
	{"procedure_occurrence", "procedure"}, {"adverse_event", "onset"}, {"note", "note"},
}

// ControlWindows is the number of control windows each exposed person
// contributes in the exposure-based comparison (one before the exposure, one
// after the risk window): the drug's 2×2 table has (1 + ControlWindows) ×
// (a + b) units.
const ControlWindows = 2

func (e *Engine) exposureCounts(ctx context.Context, d Dataset, cfg SignalConfig) (*Counts, error) {
	c := newCounts()
	c.Event = map[string]int64{} // a + c depends on the drug: kept per pair
	c.SelfControlled = true
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

	// first[person] = the day of the person's first record of any kind;
	// only persons of the person table are counted.
	var parts []string
	for _, rc := range recordColumns {
		if _, ok := d.Tables[rc.table]; ok {
			day := dayExpr(d, rc.col)
			parts = append(parts, "SELECT person_id, min("+day+") AS day FROM "+s+"."+rc.table+" WHERE person_id IS NOT NULL AND "+day+" IS NOT NULL GROUP BY ALL")
		}
	}
	first := map[string]int64{}
	if err := e.queryTrusted(ctx, "SELECT p.person_id, min(r.day) FROM (SELECT DISTINCT person_id FROM "+s+".person WHERE person_id IS NOT NULL) p JOIN ("+
		strings.Join(parts, " UNION ALL ")+") r USING (person_id) GROUP BY ALL", func(rows *sql.Rows) error {
		var p string
		var day int64
		err := rows.Scan(&p, &day)
		first[p] = day
		return err
	}); err != nil {
		return fail(err)
	}
	if err := e.queryTrusted(ctx, "SELECT count(DISTINCT person_id) FROM "+s+".person WHERE person_id IS NOT NULL", func(rows *sql.Rows) error {
		return rows.Scan(&c.N)
	}); err != nil {
		return fail(err)
	}
	// index[drug][person] = the day of the first exposure
	index := map[string]map[string]int64{}
	if err := e.queryTrusted(ctx, "SELECT drug_code, person_id, min("+drugDay+") FROM "+s+".drug_exposure WHERE person_id IS NOT NULL AND drug_code IS NOT NULL AND "+drugDay+" IS NOT NULL GROUP BY ALL", func(rows *sql.Rows) error {
		var dr, p string
		var day int64
		if err := rows.Scan(&dr, &p, &day); err != nil {
			return err
		}
		if index[dr] == nil {
			index[dr] = map[string]int64{}
		}
		index[dr][p] = day
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

	w := int64(cfg.window())
	hit := map[string]bool{}
	// eventsIn calls add once per event code starting in [from, to].
	eventsIn := func(p string, from, to int64, add func(code string)) {
		clear(hit)
		for _, ev := range events[p] {
			if ev.day >= from && ev.day <= to && !hit[ev.code] {
				hit[ev.code] = true
				add(ev.code)
			}
		}
	}
	for dr, exposed := range index {
		var persons int64
		for p, at := range exposed {
			// Counted only when observed through the control window
			// before the exposure (and in the person table: an exposure of
			// a person suppressed by de-identification is not counted).
			f, ok := first[p]
			if !ok || f > at-2*w+1 {
				continue
			}
			persons++
			eventsIn(p, at+1, at+w, func(code string) {
				cl := c.cells[Pair{dr, code}]
				c.cells[Pair{dr, code}] = pairCell{cl.a + 1, cl.event + 1}
			})
			for _, from := range []int64{at - 2*w + 1, at + w + 1} {
				eventsIn(p, from, from+w-1, func(code string) {
					cl := c.cells[Pair{dr, code}]
					c.cells[Pair{dr, code}] = pairCell{cl.a, cl.event + 1}
				})
			}
		}
		if persons > 0 {
			c.Drug[dr] = persons
		}
	}
	return c, nil
}
