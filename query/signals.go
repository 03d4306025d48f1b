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

// Sources of adverse-event counts: the method that fills each pair's 2×2
// table. [SignalConfig.Source] names one; counts and federated answers say
// which one they used, and counts of different methods are never pooled.
const (
	// SourceReports counts recorded adverse events: adverse_event rows with
	// source = 'report' (FHIR AdverseEvent, FAERS), one unit per person.
	SourceReports = "reports"
	// SourceExposures is the cohort method DESIGN.md and issue 8 define,
	// over drug_exposure and condition_occurrence: exposed persons indexed
	// at their first exposure against unexposed persons indexed at days
	// sampled from the exposed ones' (see [Engine.Counts]). Right on real
	// dates; on expert-mode datasets it overstates disproportionality (see
	// [WarnExposuresShifted]).
	SourceExposures = "exposures"
	// SourceSelfControlled compares each exposed person's risk window after
	// their first exposure with their own control windows, over
	// drug_exposure and condition_occurrence (see [Engine.Counts]). Only
	// days within one person's record are compared, so per-person date
	// shifts do not change it: the method for expert-mode datasets.
	SourceSelfControlled = "self-controlled"
)

// Sources lists the sources [SignalConfig.Source] accepts.
var Sources = []string{SourceReports, SourceExposures, SourceSelfControlled}

// SignalConfig selects what [Engine.Counts] counts. The zero value counts
// reports over every local dataset.
type SignalConfig struct {
	// Source is the counting method: [SourceReports] (also for ""),
	// [SourceExposures] or [SourceSelfControlled].
	Source string `json:"source,omitempty"`
	// Window is the risk window in days after the index; 0 means 30.
	Window int `json:"window,omitempty"`
	// Seed seeds the sampling of the unexposed persons' index days
	// ([SourceExposures]); 0 means 1. The same seed gives the same counts;
	// the other sources draw nothing and ignore it.
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

// Method returns the counting method c names: its Source, "" meaning
// [SourceReports]; an error names a source that is none of [Sources].
func (c SignalConfig) Method() (string, error) {
	switch c.Source {
	case "":
		return SourceReports, nil
	case SourceReports, SourceExposures, SourceSelfControlled:
		return c.Source, nil
	}
	return "", fmt.Errorf("query: signals: unknown source %q (use %s)", c.Source, strings.Join(Sources, ", "))
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
	// Method is the source the counts were made by: [SourceReports],
	// [SourceExposures] or [SourceSelfControlled]. It fixes what a pair's
	// N is (see [Counts.Margins]).
	Method string
	// N is the number of persons counted.
	N int64
	// Drug is a + b per drug: persons with the drug (reports), exposed
	// persons (exposures), or exposed persons counted, one risk window each
	// (self-controlled).
	Drug map[string]int64
	// Event is a + c per event for reports, where it does not depend on the
	// drug; empty for the exposure methods, which keep a + c per pair.
	Event map[string]int64
	// cells hold a and a + c of pairs seen in some unit.
	cells map[Pair]pairCell
	// Names maps drug and event codes to a display name.
	Names map[string]string
	// Skipped lists datasets left out, with why.
	Skipped []string
	// Warnings say why the counts may mislead, one line per dataset
	// naming it (see [WarnExposuresShifted]).
	Warnings []string
}

func newCounts(method string) *Counts {
	return &Counts{Method: method, Drug: map[string]int64{}, Event: map[string]int64{}, cells: map[Pair]pairCell{}, Names: map[string]string{}}
}

// Margins returns the pair's released counts (a, a + b, a + c, N).
func (c *Counts) Margins(p Pair) (a, drug, event, n int64) {
	cl, ok := c.cells[p]
	if !ok {
		cl = pairCell{0, c.Event[p.Event]}
	}
	return cl.a, c.Drug[p.Drug], cl.event, tableN(c.Method, c.N, c.Drug[p.Drug])
}

// tableN is a pair's table total N under method, from the persons counted
// (n) and the drug's a + b: the persons for reports and exposures, and
// 1 + [ControlWindows] windows per exposed person for self-controlled.
func tableN(method string, n, drug int64) int64 {
	if method == SourceSelfControlled {
		return (1 + ControlWindows) * drug
	}
	return n
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

// Add adds another dataset's counts, made by the same method (units of
// different datasets are different persons).
func (c *Counts) Add(o *Counts) {
	if c.Method != o.Method {
		panic("query: add " + o.Method + " counts to " + c.Method + " counts")
	}
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
	c.Warnings = append(c.Warnings, o.Warnings...)
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
	// Warning, when set, says why the counts behind the signal may mislead
	// (the counts' Warnings, or the pooled answers', joined by "; ").
	Warning string `json:"warning,omitempty"`
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
		out = append(out, Signal{Pair: p, DrugName: c.Names["drug:"+p.Drug], EventName: c.Names["event:"+p.Event], Stats: ae.Compute(t),
			Warning: strings.Join(c.Warnings, "; ")})
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
// table; for the exposure methods, no person, drug_exposure or
// condition_occurrence table, or safe-harbor years without day-level dates)
// are listed in Skipped.
//
// cfg.Source picks the method. Reports count persons with an adverse_event
// row of source 'report' per drug, event and pair.
//
// The two exposure methods read the same days: for each drug, a person's
// index is the day of their first exposure to it, and a condition of the
// event code starting in a window of Window days marks that window once
// (the risk window is days 1 to Window after the index: an event on the
// index day is more often the reason for the drug than its effect). Only
// persons of the person table count (an exposure of a person suppressed by
// de-identification does not). They differ in what b, c and d are:
//
// Exposures (the cohort method of DESIGN.md): every other person of the
// person table gets an index day drawn from the exposed ones' (persons in
// id order, draws from a PCG seeded with the seed and the FNV-1a hash of
// the drug code, so the counts are reproducible); a = exposed with the
// event in the risk window, b = exposed without, c = unexposed with the
// event in the same days after their drawn index, d = unexposed without;
// N is the persons. Drawn days are calendar days, so this compares like
// with like only on real dates: over an expert-mode dataset, whose dates
// are shifted by a secret offset per person, or a safe-harbor dataset with
// intervals, whose days count from each person's first record, Warnings
// says so ([WarnExposuresShifted]).
//
// Self-controlled: every exposed person is their own comparator. They count
// if their first record of any kind (visit, condition, drug, measurement,
// procedure, adverse event or note) is on or before day −2·Window+1, so
// that the control window before the exposure lies in observed time. Each
// contributes the risk window and [ControlWindows] control windows, days
// −2·Window+1 to −Window (a gap of Window days before the exposure leaves
// out the complaints that lead to prescribing) and Window+1 to 2·Window:
// a = risk windows with the event, b = those without, c = control windows
// with the event, d = those without, so N = (1 + ControlWindows) × (a + b)
// ([Counts.Margins]) while Counts.N stays the persons. A window after the
// person's last record counts as one without the event. Nothing is drawn,
// and limited, expert and safe-harbor-with-intervals datasets give the same
// answer for the same records.
func (e *Engine) Counts(ctx context.Context, cfg SignalConfig) (*Counts, error) {
	method, err := cfg.Method()
	if err != nil {
		return nil, err
	}
	ds, err := e.selectDatasets(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.Quarter != "" && method != SourceReports {
		return nil, fmt.Errorf("query: signals: by quarter needs source reports")
	}
	total := newCounts(method)
	for _, d := range ds {
		var c *Counts
		if method == SourceReports {
			c, err = e.reportCounts(ctx, d, cfg.Quarter)
		} else {
			c, err = e.exposureCounts(ctx, d, method, cfg)
		}
		if err != nil {
			return nil, err
		}
		total.Add(c)
	}
	return total, nil
}

func (e *Engine) reportCounts(ctx context.Context, d Dataset, quarter string) (*Counts, error) {
	c := newCounts(SourceReports)
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
