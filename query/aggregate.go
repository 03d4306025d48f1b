package query

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cohortnet/cohortnet/query/sdc"
)

// Measures of an [AggregateRequest].
const (
	MeasurePersons = "persons" // distinct persons
	MeasureEvents  = "events"  // rows
)

// DefaultMinCell is the smallest count released (DESIGN.md: 11).
const DefaultMinCell = 11

// MaxCells caps the cells of one answer: disclosure control audits every
// suppressed cell with linear programs, which grows quickly with the table.
const MaxCells = 2000

// GroupColumns lists, per table, the columns an aggregate may group or
// filter by. Columns ending in _year are derived from the table's date
// (X_date) in datasets with dates and read as is (X_year) in safe-harbor
// datasets; datasets with day offsets only cannot answer them.
var GroupColumns = map[string][]string{
	"person":               {"gender", "year_of_birth", "race", "ethnicity", "state", "zip3"},
	"visit_occurrence":     {"visit_type", "visit_start_year"},
	"condition_occurrence": {"condition_vocabulary", "condition_code", "condition_start_year"},
	"drug_exposure":        {"drug_vocabulary", "drug_code", "drug_exposure_start_year"},
	"measurement":          {"measurement_vocabulary", "measurement_code", "unit", "measurement_year"},
	"procedure_occurrence": {"procedure_vocabulary", "procedure_code", "procedure_year"},
	"adverse_event":        {"drug_code", "event_code", "serious", "outcome", "source", "onset_year"},
}

// Filter keeps rows whose column equals the value (compared as text).
type Filter struct {
	Column string `json:"column"`
	Value  string `json:"value"`
}

// AggregateRequest is a structured aggregate question sent to every
// institution: never SQL.
type AggregateRequest struct {
	ID        string   `json:"id"`
	Requester string   `json:"requester"` // peer id
	Table     string   `json:"table"`
	Filters   []Filter `json:"filters,omitempty"`
	// GroupBy has one or two columns of [GroupColumns].
	GroupBy []string `json:"group_by"`
	// Measure is [MeasurePersons] (default) or [MeasureEvents].
	Measure string `json:"measure,omitempty"`
	// MinCell asks for a larger minimum cell than the node's (never smaller).
	MinCell int64 `json:"min_cell,omitempty"`
	// Epsilon asks for Laplace noise with this privacy budget (persons only).
	Epsilon float64 `json:"epsilon,omitempty"`
}

func (r AggregateRequest) measure() string {
	if r.Measure == "" {
		return MeasurePersons
	}
	return r.Measure
}

// Validate checks the request against the allowed tables and columns.
func (r AggregateRequest) Validate() error {
	allowed, ok := GroupColumns[r.Table]
	if !ok {
		return fmt.Errorf("query: aggregate: table %q cannot be aggregated", r.Table)
	}
	if len(r.GroupBy) < 1 || len(r.GroupBy) > 2 {
		return fmt.Errorf("query: aggregate: group by one or two columns, not %d", len(r.GroupBy))
	}
	for _, c := range r.GroupBy {
		if !slices.Contains(allowed, c) {
			return fmt.Errorf("query: aggregate: cannot group %s by %q (allowed: %s)", r.Table, c, strings.Join(allowed, ", "))
		}
	}
	if len(r.GroupBy) == 2 && r.GroupBy[0] == r.GroupBy[1] {
		return fmt.Errorf("query: aggregate: group column %s twice", r.GroupBy[0])
	}
	for _, f := range r.Filters {
		if !slices.Contains(allowed, f.Column) {
			return fmt.Errorf("query: aggregate: cannot filter %s by %q", r.Table, f.Column)
		}
	}
	switch r.measure() {
	case MeasurePersons:
	case MeasureEvents:
		if r.Epsilon > 0 {
			return fmt.Errorf("query: aggregate: noise needs measure persons (one person's events are unbounded)")
		}
	default:
		return fmt.Errorf("query: aggregate: unknown measure %q", r.Measure)
	}
	if r.Epsilon < 0 || r.MinCell < 0 {
		return fmt.Errorf("query: aggregate: negative epsilon or min cell")
	}
	return nil
}

// Hash is the sha256 of the request's JSON encoding, hex.
func (r AggregateRequest) Hash() string {
	b, _ := json.Marshal(r)
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// Cell is one released count; Value is nil when suppressed, and Suppressed
// says why ("small" for primary, "complementary" for secondary).
type Cell struct {
	Group      []string `json:"group"`
	Value      *int64   `json:"value"`
	Suppressed string   `json:"suppressed,omitempty"`
}

// AggregateAnswer is one institution's signed answer.
type AggregateAnswer struct {
	Request     string       `json:"request"` // [AggregateRequest.Hash]
	RequestID   string       `json:"request_id"`
	Institution string       `json:"institution"`
	Peer        string       `json:"peer"`
	Datasets    []DatasetRef `json:"datasets"`
	GroupBy     []string     `json:"group_by"`
	Measure     string       `json:"measure"`
	// Cells are every combination of the group values seen.
	Cells []Cell `json:"cells"`
	// Margins are the totals per value of each group column (two columns
	// only); Group has the value at the column's position and "" elsewhere.
	Margins []Cell  `json:"margins,omitempty"`
	Total   Cell    `json:"total"`
	MinCell int64   `json:"min_cell"`
	Epsilon float64 `json:"epsilon,omitempty"`
	// Skipped lists own datasets that could not answer, with why.
	Skipped   []string  `json:"skipped,omitempty"`
	Created   time.Time `json:"created"`
	Signature []byte    `json:"signature,omitempty"`
}

// answerDomain separates answer signatures from every other signature
// made with a node key.
const answerDomain = "cohortnet/aggregate-answer/v1\n"

func (a *AggregateAnswer) signedBytes() ([]byte, error) {
	c := *a
	c.Signature = nil
	b, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	return append([]byte(answerDomain), b...), nil
}

// Sign signs the answer with the node key.
func (a *AggregateAnswer) Sign(key crypto.PrivKey) error {
	b, err := a.signedBytes()
	if err != nil {
		return fmt.Errorf("query: sign answer: %w", err)
	}
	a.Signature, err = key.Sign(b)
	if err != nil {
		return fmt.Errorf("query: sign answer: %w", err)
	}
	return nil
}

// ErrBadSignature is returned for an answer whose signature does not verify
// against its peer id; drop the answer.
var ErrBadSignature = errors.New("query: answer signature does not verify")

// Verify checks the signature against the answer's peer id.
func (a *AggregateAnswer) Verify() error {
	id, err := peer.Decode(a.Peer)
	if err != nil {
		return fmt.Errorf("query: verify answer from %s: %w", a.Institution, err)
	}
	pub, err := id.ExtractPublicKey()
	if err != nil {
		return fmt.Errorf("query: verify answer from %s: %w", a.Institution, err)
	}
	b, err := a.signedBytes()
	if err != nil {
		return err
	}
	ok, err := pub.Verify(b, a.Signature)
	if err != nil || !ok {
		return fmt.Errorf("%w (from %s)", ErrBadSignature, a.Institution)
	}
	return nil
}

// Release is what the ledger's release entry records of an answer.
type Release struct {
	Dataset   string    `json:"dataset"` // manifest CID
	Requester string    `json:"requester"`
	Query     string    `json:"query"`  // request hash
	Result    string    `json:"result"` // sha256 of the signed answer
	Epsilon   float64   `json:"epsilon,omitempty"`
	Time      time.Time `json:"time"`
}

// ReleaseLog records releases and reports privacy budget spent. The ledger
// implements it (release entries); [MemoryReleases] is an in-memory one.
type ReleaseLog interface {
	Spent(ctx context.Context, requester, dataset string) (float64, error)
	Record(ctx context.Context, r Release) error
}

// MemoryReleases is an in-memory [ReleaseLog], for a single process (tests,
// the demo) until the ledger holds release entries.
type MemoryReleases struct {
	mu       sync.Mutex
	Releases []Release
}

// Spent sums the epsilon released to requester from dataset.
func (m *MemoryReleases) Spent(_ context.Context, requester, dataset string) (float64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var s float64
	for _, r := range m.Releases {
		if r.Requester == requester && r.Dataset == dataset {
			s += r.Epsilon
		}
	}
	return s, nil
}

// Record appends r.
func (m *MemoryReleases) Record(_ context.Context, r Release) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.Releases = append(m.Releases, r)
	return nil
}

var _ ReleaseLog = (*MemoryReleases)(nil)

// Answerer answers aggregate requests for one node from the datasets it
// published itself. The zero values of MinCell and EpsilonLimit work.
type Answerer struct {
	Engine      *Engine
	Key         crypto.PrivKey // the node key: signs answers, names the peer
	Institution string
	Releases    ReleaseLog
	// MinCell is the node's smallest released count; zero means
	// [DefaultMinCell]. A request may only raise it.
	MinCell int64
	// EpsilonLimit is the privacy budget per requester and dataset; zero
	// means 1.
	EpsilonLimit float64
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// yearSource is how a dataset provides a _year column of a date column
// ("condition_start_year" from condition_start_date or _year), or "".
func yearSource(d Dataset, col string) string {
	base := strings.TrimSuffix(col, "_year")
	switch d.Union() {
	case UnionDates:
		return "year(" + quoteIdent(base+"_date") + ")"
	case UnionYears:
		return quoteIdent(base + "_year")
	}
	return ""
}

// Answer answers req: own datasets only, disclosure control applied
// (primary and secondary suppression; noise when asked for), signed, and
// recorded as a release per dataset.
func (a *Answerer) Answer(ctx context.Context, req AggregateRequest) (*AggregateAnswer, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	if a.Key == nil {
		return nil, fmt.Errorf("query: aggregate: no node key to sign with")
	}
	id, err := peer.IDFromPrivateKey(a.Key)
	if err != nil {
		return nil, fmt.Errorf("query: aggregate: %w", err)
	}
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	minCell := max(a.MinCell, req.MinCell)
	if minCell == 0 {
		minCell = DefaultMinCell
	}
	ans := &AggregateAnswer{
		Request: req.Hash(), RequestID: req.ID, Institution: a.Institution, Peer: id.String(),
		GroupBy: req.GroupBy, Measure: req.measure(), MinCell: minCell, Epsilon: req.Epsilon,
		Created: now().UTC().Truncate(time.Second),
	}
	// The union of the own datasets that can answer.
	var parts []string
	var used []Dataset
	cols := append(slices.Clone(req.GroupBy), filterColumns(req)...)
	for _, d := range a.Engine.datasets {
		if !d.Own {
			continue
		}
		if _, ok := d.Tables[req.Table]; !ok {
			continue
		}
		have, err := a.Engine.columns(ctx, d.Schema(), req.Table)
		if err != nil {
			return nil, fmt.Errorf("query: aggregate: %w", err)
		}
		var sel []string
		missing := ""
		for _, c := range uniq(cols) {
			expr, src := quoteIdent(c), c
			if strings.HasSuffix(c, "_year") {
				expr = yearSource(d, c)
				src = strings.TrimSuffix(c, "_year") + map[string]string{UnionDates: "_date", UnionYears: "_year"}[d.Union()]
			}
			if expr == "" || !have[src] {
				missing = c
				break
			}
			sel = append(sel, fmt.Sprintf("CAST(%s AS VARCHAR) AS %s", expr, quoteIdent(c)))
		}
		if !have["person_id"] && missing == "" {
			missing = "person_id"
		}
		if missing != "" {
			ans.Skipped = append(ans.Skipped, d.Name+": no column "+missing+" in "+req.Table)
			continue
		}
		sel = append(sel, "person_id")
		parts = append(parts, fmt.Sprintf("SELECT %s FROM %s.%s", strings.Join(sel, ", "), quoteIdent(d.Schema()), quoteIdent(req.Table)))
		used = append(used, d)
		ans.Datasets = append(ans.Datasets, DatasetRef{Name: d.Name, Institution: d.Institution, Manifest: d.Manifest})
	}
	if len(used) == 0 {
		return nil, fmt.Errorf("query: aggregate: %s has no own dataset with table %s that can answer", a.Institution, req.Table)
	}
	if req.Epsilon > 0 {
		if err := a.checkBudget(ctx, req, used); err != nil {
			return nil, err
		}
	}
	measure := "count(DISTINCT person_id)"
	if req.measure() == MeasureEvents {
		measure = "count(*)"
	}
	var where []string
	var args []any
	for _, f := range req.Filters {
		where = append(where, quoteIdent(f.Column)+" = ?")
		args = append(args, f.Value)
	}
	q := "SELECT "
	for _, g := range req.GroupBy {
		q += "coalesce(" + quoteIdent(g) + ", '(null)'), "
	}
	q += measure + " FROM (" + strings.Join(parts, " UNION ALL ") + ")"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " GROUP BY ALL"
	counts := map[[2]string]int64{}
	vals := [2]map[string]bool{{}, {}}
	err = a.Engine.queryTrusted(ctx, q, func(rows *sql.Rows) error {
		var k [2]string
		var n int64
		dst := []any{&k[0]}
		if len(req.GroupBy) == 2 {
			dst = append(dst, &k[1])
		}
		if err := rows.Scan(append(dst, &n)...); err != nil {
			return err
		}
		counts[k] = n
		vals[0][k[0]] = true
		vals[1][k[1]] = true
		return nil
	}, args...)
	if err != nil {
		return nil, fmt.Errorf("query: aggregate %s: %w", req.Table, err)
	}
	rowVals, colVals := sortedKeys(vals[0]), sortedKeys(vals[1])
	if n := len(rowVals) * len(colVals); n > MaxCells {
		return nil, fmt.Errorf("query: aggregate: %d cells, more than %d: filter or group more coarsely", n, MaxCells)
	}
	cells := make([]int64, 0, len(rowVals)*len(colVals))
	for _, r := range rowVals {
		for _, c := range colVals {
			cells = append(cells, counts[[2]string{r, c}])
		}
	}
	if req.Epsilon > 0 {
		// One person is in at most every cell once.
		if cells, err = sdc.Laplace(cells, req.Epsilon, int64(len(cells)), 1); err != nil {
			return nil, err
		}
	}
	prob := sdc.Grid(cells, len(rowVals), len(colVals))
	pat, err := sdc.Suppress(prob, minCell, 0)
	if err != nil {
		return nil, fmt.Errorf("query: aggregate: %w", err)
	}
	release := func(group []string, v int64, supp bool, primary bool) Cell {
		c := Cell{Group: group}
		switch {
		case !supp:
			c.Value = &v
		case primary:
			c.Suppressed = "small"
		default:
			c.Suppressed = "complementary"
		}
		return c
	}
	for i, r := range rowVals {
		for j, c := range colVals {
			k := i*len(colVals) + j
			g := []string{r}
			if len(req.GroupBy) == 2 {
				g = append(g, c)
			}
			ans.Cells = append(ans.Cells, release(g, cells[k], pat.Cells[k], pat.Primary[k]))
		}
	}
	for j := range prob.Sums {
		v := prob.SumValue(j)
		small := v > 0 && v < minCell
		if j == len(prob.Sums)-1 {
			ans.Total = release(nil, v, pat.Sums[j], small)
			continue
		}
		// Grid orders row totals, then column totals.
		g := []string{"", ""}
		if j < len(rowVals) {
			g[0] = rowVals[j]
		} else {
			g[1] = colVals[j-len(rowVals)]
		}
		ans.Margins = append(ans.Margins, release(g, v, pat.Sums[j], small))
	}
	if err := ans.Sign(a.Key); err != nil {
		return nil, err
	}
	if a.Releases != nil {
		b, _ := json.Marshal(ans)
		sum := sha256.Sum256(b)
		for _, d := range used {
			if err := a.Releases.Record(ctx, Release{Dataset: d.Manifest, Requester: req.Requester, Query: ans.Request,
				Result: hex.EncodeToString(sum[:]), Epsilon: req.Epsilon, Time: ans.Created}); err != nil {
				return nil, fmt.Errorf("query: aggregate: record release: %w", err)
			}
		}
	}
	return ans, nil
}

func (a *Answerer) checkBudget(ctx context.Context, req AggregateRequest, used []Dataset) error {
	if a.Releases == nil {
		return fmt.Errorf("query: aggregate: noise asked for but no release log to account the budget")
	}
	b := &sdc.Budget{Limit: a.EpsilonLimit}
	var ids []string
	for _, d := range used {
		s, err := a.Releases.Spent(ctx, req.Requester, d.Manifest)
		if err != nil {
			return fmt.Errorf("query: aggregate: budget: %w", err)
		}
		b.Add(req.Requester, d.Manifest, s)
		ids = append(ids, d.Manifest)
	}
	return b.Charge(req.Requester, ids, req.Epsilon)
}

func filterColumns(r AggregateRequest) []string {
	var out []string
	for _, f := range r.Filters {
		out = append(out, f.Column)
	}
	return out
}

func uniq(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// Combined is the requester's view of the answers to one request.
type Combined struct {
	GroupBy []string `json:"group_by"`
	// Cells sum the released values per group; where a site suppressed a
	// cell the sum is a lower bound.
	Cells []CombinedCell `json:"cells"`
	// Answered lists the institutions whose verified answers are included;
	// Missing the expected ones that did not answer (in time); Rejected
	// answers that failed verification, with why.
	Answered []string `json:"answered"`
	Missing  []string `json:"missing,omitempty"`
	Rejected []string `json:"rejected,omitempty"`
	// Suppressed counts suppressed cells per institution.
	Suppressed map[string]int `json:"suppressed,omitempty"`
}

// CombinedCell is one group's pooled count.
type CombinedCell struct {
	Group      []string `json:"group"`
	Value      int64    `json:"value"`
	LowerBound bool     `json:"lower_bound,omitempty"`
	// SuppressedBy lists the institutions that suppressed this cell.
	SuppressedBy []string `json:"suppressed_by,omitempty"`
}

// Combine verifies and pools answers to req. expected lists the
// institutions asked; those without an answer are reported missing.
func Combine(req AggregateRequest, expected []string, answers []*AggregateAnswer) Combined {
	out := Combined{GroupBy: req.GroupBy, Suppressed: map[string]int{}}
	cells := map[string]*CombinedCell{}
	answered := map[string]bool{}
	for _, a := range answers {
		if a == nil {
			continue
		}
		if a.Request != req.Hash() {
			out.Rejected = append(out.Rejected, a.Institution+": answers another request")
			continue
		}
		if err := a.Verify(); err != nil {
			out.Rejected = append(out.Rejected, a.Institution+": "+err.Error())
			continue
		}
		if answered[a.Institution] {
			out.Rejected = append(out.Rejected, a.Institution+": a second answer")
			continue
		}
		answered[a.Institution] = true
		out.Answered = append(out.Answered, a.Institution)
		for _, c := range a.Cells {
			k := strings.Join(c.Group, "\x00")
			cc := cells[k]
			if cc == nil {
				cc = &CombinedCell{Group: c.Group}
				cells[k] = cc
			}
			if c.Value == nil {
				cc.LowerBound = true
				cc.SuppressedBy = append(cc.SuppressedBy, a.Institution)
				out.Suppressed[a.Institution]++
				continue
			}
			cc.Value += *c.Value
		}
	}
	for _, inst := range expected {
		if !answered[inst] {
			out.Missing = append(out.Missing, inst)
		}
	}
	for _, k := range sortedKeys(cells) {
		out.Cells = append(out.Cells, *cells[k])
	}
	sort.Strings(out.Answered)
	return out
}

// peerIDOf is the peer id string of a node key.
func peerIDOf(key crypto.PrivKey) (string, error) {
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return "", err
	}
	return id.String(), nil
}

// columns lists the columns of schema.table.
func (e *Engine) columns(ctx context.Context, schema, table string) (map[string]bool, error) {
	out := map[string]bool{}
	err := e.queryTrusted(ctx, "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ?", func(rows *sql.Rows) error {
		var c string
		if err := rows.Scan(&c); err != nil {
			return err
		}
		out[c] = true
		return nil
	}, schema, table)
	return out, err
}
