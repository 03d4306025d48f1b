package deid

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/cohortnet/cohortnet/deid/scrub"
	"github.com/cohortnet/cohortnet/deid/source"
	"github.com/cohortnet/cohortnet/internal/datadir"
)

// Config says how to run de-identification. The zero value with a Key runs
// the expert preset.
type Config struct {
	// Policy to apply. If nil, the expert preset with the reference date
	// 2026-01-01 (see [Preset]).
	Policy *Policy
	// Key is the institution's de-identification secret (required, at least
	// 16 bytes): see datadir.Dir.Secret.
	Key []byte
	// SurrogateDir holds the surrogate-id mappings of safe-harbor mode
	// (<data>/deid). Required in safe-harbor mode.
	SurrogateDir string
	// OptOut lists source patient ids whose records never enter the output.
	OptOut []string
	// Hierarchies of quasi-identifiers; a quasi-identifier missing here uses
	// the file the policy names or else a built-in hierarchy.
	Hierarchies map[string]*Hierarchy
	// RowGroupRows and RowsPerFile cut the output; zero means
	// [DefaultRowGroupRows] and [DefaultRowsPerFile].
	RowGroupRows int
	RowsPerFile  int
	// Progress, if set, is called now and then with the table being written
	// and the rows read from it so far.
	Progress func(table string, rows int64)
	// Logger; if nil, log lines are discarded.
	Logger *slog.Logger
}

// DefaultReferenceDate is the reference date of [Config] without a policy.
const DefaultReferenceDate = "2026-01-01"

// Output file names beside the table folders.
const (
	PolicyFile = "policy.yaml"
	ReportFile = "deid-report.json"
)

// ErrNoKey is returned when no de-identification key was given.
var ErrNoKey = errors.New("no de-identification key (run `cohortnet init` or pass --key-file)")

// ErrOutputExists is returned when the output directory already exists; the
// user should remove it or choose another.
var ErrOutputExists = errors.New("output directory already exists")

type run struct {
	cfg        Config
	pol        *Policy
	exp        source.Export
	keyed      *keyed
	refDays    int32
	optOut     map[string]bool
	index      *personIndex
	persons    []person
	attrs      []personAttrs // beside persons until the person table is written
	personIDs  *surrogateStore
	visitIDs   *surrogateStore
	hasNotes   bool
	customHier map[string]bool
	cats       catalog
	idents     *identFile // identifiers for scrubbing notes (nil without notes)
	progressMu sync.Mutex
	kres       *Result
	qis        []string
	report     *Report
	tables     map[string]*TableReport
	scrubber   *scrub.Scrubber
	conds      codeCounter
	drugs      codeCounter
	years      yearRange
	fromAge    int64 // persons whose year of birth comes from age_years
	log        *slog.Logger
}

// Run de-identifies exp into the dataset directory out, which must not exist:
// everything is written into a temporary directory beside it and renamed into
// place only when complete, so a failure or a cancelled ctx leaves nothing.
func Run(ctx context.Context, exp source.Export, out string, cfg Config) (*Report, error) {
	if len(cfg.Key) < 16 {
		return nil, ErrNoKey
	}
	pol := cfg.Policy
	if pol == nil {
		pol = Preset(Expert, false, DefaultReferenceDate)
	}
	if err := pol.Validate(); err != nil {
		return nil, err
	}
	if _, err := os.Lstat(out); err == nil {
		return nil, fmt.Errorf("deid: %s: %w", out, ErrOutputExists)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("deid: %w", err)
	}
	ref, _ := pol.referenceTime()
	r := &run{
		cfg: cfg, pol: pol, exp: exp, keyed: newKeyed(cfg.Key),
		refDays: daysOf(int32(ref.Year()), int32(ref.Month()), int32(ref.Day())),
		optOut:  map[string]bool{}, index: newPersonIndex(), customHier: map[string]bool{},
		tables: map[string]*TableReport{}, log: cfg.Logger,
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	for _, id := range cfg.OptOut {
		r.optOut[strings.TrimSpace(id)] = true
	}
	if r.cfg.RowGroupRows <= 0 {
		r.cfg.RowGroupRows = DefaultRowGroupRows
	}
	if r.cfg.RowsPerFile <= 0 {
		r.cfg.RowsPerFile = DefaultRowsPerFile
	}
	r.cfg.RowsPerFile = max(r.cfg.RowsPerFile/r.cfg.RowGroupRows, 1) * r.cfg.RowGroupRows
	r.report = &Report{
		Format: ReportFormat, Mode: pol.Mode, Intervals: pol.Intervals, ReferenceDate: pol.ReferenceDate,
		KeyFingerprint: datadir.Fingerprint(cfg.Key),
		Source:         SourceInfo{Format: exp.Format(), Layout: exp.Layout()},
		Tables:         r.tables, Files: []FileEntry{},
	}
	if !slices.Contains(exp.Tables(), source.Person) {
		return nil, fmt.Errorf("deid: the export has no person table")
	}
	r.hasNotes = slices.Contains(exp.Tables(), source.Note) && pol.Tables[source.Note]["note_text"] != Drop
	if r.hasNotes {
		r.scrubber = scrub.New(scrub.Config{})
	}
	if pol.Mode == SafeHarbor {
		if cfg.SurrogateDir == "" {
			return nil, fmt.Errorf("deid: safe-harbor mode needs the data directory's %s folder for surrogate ids", datadir.DeidDir)
		}
		var err error
		if r.personIDs, err = openSurrogates(cfg.SurrogateDir, personDomain); err != nil {
			return nil, err
		}
		defer r.personIDs.close()
		if r.visitIDs, err = openSurrogates(cfg.SurrogateDir, visitDomain); err != nil {
			return nil, err
		}
		defer r.visitIDs.close()
	}

	ds, err := newDataset(out)
	if err != nil {
		return nil, err
	}
	defer ds.cleanup()
	tmp := ds.tmp
	if r.hasNotes {
		if r.idents, err = newIdentFile(filepath.Dir(out)); err != nil {
			return nil, err
		}
		defer r.idents.close()
	}

	r.tables[source.Person] = &TableReport{Columns: map[string]Transform{}}
	start := time.Now()
	if err := r.readPersons(ctx); err != nil {
		return nil, err
	}
	r.log.Info("deid: persons read", "persons", len(r.persons), "opted_out", r.report.Suppressed.OptOut, "seconds", since(start))
	if r.fromAge > 0 {
		if err := r.deriveYob(ctx); err != nil {
			return nil, err
		}
	}
	if pol.Intervals {
		if err := r.firstRecords(ctx); err != nil {
			return nil, err
		}
	}
	if r.visitIDs != nil && slices.Contains(exp.Tables(), source.Visit) {
		if err := r.registerVisits(ctx); err != nil {
			return nil, err
		}
	}
	if pol.kEnabled() {
		start := time.Now()
		if err := r.anonymize(); err != nil {
			return nil, err
		}
		r.log.Info("deid: k-anonymity searched", "seconds", since(start))
	}
	start = time.Now()
	if err := r.writePersons(ctx, tmp); err != nil {
		return nil, err
	}
	r.log.Info("deid: table written", "table", source.Person, "rows", r.tables[source.Person].RowsOut, "seconds", since(start))
	// what only the person table needed goes, before the big tables come
	r.attrs = nil
	if r.kres != nil {
		r.kres.dropTuples()
	}
	if err := r.writeTables(ctx, tmp); err != nil {
		return nil, err
	}
	if u := exp.Unmapped(); len(u) > 0 {
		r.report.Source.Unmapped = u
	}
	r.report.Summary.Conditions = r.conds.top(TopCodes)
	r.report.Summary.Drugs = r.drugs.top(TopCodes)
	r.report.Summary.YearMin, r.report.Summary.YearMax = r.years.min, r.years.max
	for _, p := range r.persons {
		if p.status == kept {
			r.report.Summary.Persons++
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	polBytes, err := pol.Marshal()
	if err != nil {
		return nil, fmt.Errorf("deid: encode policy: %w", err)
	}
	if r.personIDs != nil {
		// saved before the dataset appears, so its ids are never lost
		if err := r.personIDs.save(); err != nil {
			return nil, err
		}
		if err := r.visitIDs.save(); err != nil {
			return nil, err
		}
	}
	if err := ds.commit(ctx, polBytes, r.report); err != nil {
		return nil, err
	}
	return r.report, nil
}

// registerVisits gives every visit of a released person in the visit table
// its surrogate before the tables are written (see surrogateStore).
func (r *run) registerVisits(ctx context.Context) error {
	start := time.Now()
	err := r.visitIDs.register(func(add func(string) error) error {
		rd, err := r.exp.Read(ctx, source.Visit)
		if err != nil {
			return fmt.Errorf("read %s: %w", source.Visit, err)
		}
		defer rd.Release()
		for rd.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			c := newCols(rd.RecordBatch())
			pids, err1 := c.str("source_person_id")
			vids, err2 := c.str("source_visit_id")
			if err := errors.Join(err1, err2); err != nil || pids == nil || vids == nil {
				return fmt.Errorf("read %s: no usable source_person_id and source_visit_id columns", source.Visit)
			}
			for i := 0; i < int(c.rec.NumRows()); i++ {
				v := sv(vids, i)
				if v == "" {
					continue
				}
				if pi, ok := r.index.lookup(sv(pids, i), r.persons); !ok || r.persons[pi].status != kept {
					continue
				}
				if err := add(v); err != nil {
					return err
				}
			}
		}
		if err := rd.Err(); err != nil {
			return fmt.Errorf("read %s: %w", source.Visit, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	r.log.Info("deid: visit surrogates registered", "visits", r.visitIDs.n, "seconds", since(start))
	return nil
}

// firstRecords finds each person's first record date across the tables
// other than person (safe-harbor intervals); a person without any record
// counts from the birth date.
func (r *run) firstRecords(ctx context.Context) error {
	for _, t := range r.exp.Tables() {
		if t == source.Person || source.Schema(t) == nil {
			continue
		}
		rd, err := r.exp.Read(ctx, t)
		if err != nil {
			return fmt.Errorf("read %s: %w", t, err)
		}
		var dateCols []string
		for _, f := range source.Schema(t).Fields() {
			if arrow.TypeEqual(f.Type, arrow.FixedWidthTypes.Date32) {
				dateCols = append(dateCols, f.Name)
			}
		}
		for rd.Next() {
			if err := ctx.Err(); err != nil {
				rd.Release()
				return err
			}
			c := newCols(rd.RecordBatch())
			ids, err := c.str("source_person_id")
			if err != nil || ids == nil {
				rd.Release()
				return fmt.Errorf("read %s: no usable source_person_id column", t)
			}
			for _, name := range dateCols {
				a, err := c.date(name)
				if err != nil {
					rd.Release()
					return fmt.Errorf("read %s: %w", t, err)
				}
				for i := 0; i < int(c.rec.NumRows()); i++ {
					d, ok := dv(a, i)
					if !ok {
						continue
					}
					pi, ok := r.index.lookup(sv(ids, i), r.persons)
					if !ok {
						continue
					}
					p := &r.persons[pi]
					if !p.hasFirst || d < p.first {
						p.first, p.hasFirst = d, true
					}
				}
			}
		}
		err = rd.Err()
		rd.Release()
		if err != nil {
			return fmt.Errorf("read %s: %w", t, err)
		}
	}
	for i := range r.persons {
		p := &r.persons[i]
		if !p.hasFirst && p.hasBirth {
			p.first, p.hasFirst = p.birth, true
		}
	}
	return nil
}

// anonymize runs the k-anonymity search over the persons not opted out and
// marks the suppressed ones.
func (r *run) anonymize() error {
	ka := r.pol.KAnonymity
	prob := &Problem{K: ka.K, MaxSuppression: ka.MaxSuppression}
	for _, q := range ka.QuasiIdentifiers {
		if p := r.pol.Tables[source.Person][q]; p == Drop {
			continue
		}
		h := r.cfg.Hierarchies[q]
		if h == nil && ka.Hierarchies[q] != "" {
			var err error
			if h, err = LoadHierarchy(ka.Hierarchies[q]); err != nil {
				return err
			}
		}
		if h != nil {
			r.customHier[q] = true
		}
		r.qis = append(r.qis, q)
		prob.Attrs = append(prob.Attrs, Attribute{Name: q, Hierarchy: h})
	}
	vals := make([]*string, len(r.qis))
	seen := make([]map[string]bool, len(r.qis))
	for i := range seen {
		seen[i] = map[string]bool{}
	}
	var order [][]string = make([][]string, len(r.qis))
	for pi := range r.persons {
		p := &r.persons[pi]
		if p.status != kept {
			continue
		}
		for i, q := range r.qis {
			vals[i] = r.qiValue(p, &r.attrs[pi], q)
			if vals[i] != nil && !seen[i][*vals[i]] {
				seen[i][*vals[i]] = true
				order[i] = append(order[i], *vals[i])
			}
		}
		r.attrs[pi].tuple = prob.Add(vals, "")
	}
	for i := range prob.Attrs {
		if prob.Attrs[i].Hierarchy == nil {
			slices.Sort(order[i])
			prob.Attrs[i].Hierarchy = builtinHierarchy(r.qis[i], order[i])
		}
	}
	res, err := prob.Search()
	if err != nil {
		return fmt.Errorf("deid: k-anonymity: %w", err)
	}
	r.kres = res
	for pi := range r.persons {
		p := &r.persons[pi]
		if p.status == kept && !res.Kept(r.attrs[pi].tuple) {
			p.status = kSuppressed
			r.report.Suppressed.KAnonymity++
		}
	}
	kr := &KReport{KRequested: ka.K, KAchieved: res.KAchieved, QuasiIdentifiers: slices.Clone(r.qis),
		Levels: map[string]int{}, Heights: map[string]int{}, LossMetric: LossMetric, Loss: round6(res.Loss),
		MaxSuppression: ka.MaxSuppression, Classes: res.Classes, ClassSizes: res.ClassSizes,
		NodesTotal: res.NodesTotal, NodesEvaluated: res.Evaluated}
	for i, q := range r.qis {
		kr.Levels[q] = res.Levels[i]
		kr.Heights[q] = prob.Attrs[i].Hierarchy.Height()
	}
	r.report.KAnonymity = kr
	risk := res.Risk
	for _, rp := range []*RiskPair{&risk.Prosecutor, &risk.Journalist, &risk.Marketer} {
		rp.Highest, rp.Average = round6(rp.Highest), round6(rp.Average)
	}
	r.report.Risk = &risk
	r.log.Info("deid: k-anonymity", "k", res.KAchieved, "suppressed", res.Suppressed, "evaluated", res.Evaluated, "nodes", res.NodesTotal)
	return nil
}

// since is the time since start in seconds, rounded for a log line.
func since(start time.Time) float64 {
	return math.Round(time.Since(start).Seconds()*1000) / 1000
}

func round6(f float64) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'g', 6, 64), 64)
	return v
}

// qiOut returns the generalized output of quasi-identifier q for p: the
// value, whether it is null, and whether q is generalized at all.
func (r *run) qiOut(a *personAttrs, q string) (string, bool, bool) {
	if r.kres == nil {
		return "", false, false
	}
	i := slices.Index(r.qis, q)
	if i < 0 {
		return "", false, false
	}
	if r.kres.Levels[i] == 0 {
		return "", false, false
	}
	v, ok := r.kres.Value(a.tuple, i)
	if !ok || v == "*" {
		return "", true, true
	}
	return v, false, true
}

// leadingInt parses the integer a band label starts with ("1980-1984").
func leadingInt(s string) (int32, bool) {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	v, err := strconv.Atoi(s[:i])
	if err != nil {
		return 0, false
	}
	return int32(v), true
}

// progress reports rows read to cfg.Progress, one call at a time.
func (r *run) progress(table string, rows int64) {
	if r.cfg.Progress == nil {
		return
	}
	r.progressMu.Lock()
	defer r.progressMu.Unlock()
	r.cfg.Progress(table, rows)
}

// yearRange is the range of calendar years published.
type yearRange struct{ min, max int32 }

func (yr *yearRange) note(y int32) {
	if yr.min == 0 || y < yr.min {
		yr.min = y
	}
	if y > yr.max {
		yr.max = y
	}
}

// join widens yr to cover o.
func (yr *yearRange) join(o yearRange) {
	if o.min != 0 {
		yr.note(o.min)
		yr.note(o.max)
	}
}

// noteOf notes the year of a published date value of column c.
func (yr *yearRange) noteOf(c outColumn, v int32) {
	if c.tr == Year {
		yr.note(v)
	} else {
		yr.note(yearOf(v))
	}
}

// dateValue applies a date transform for person p. ok false means null.
func (r *run) dateValue(tr Transform, p *person, d int32) (int32, bool) {
	switch tr {
	case Keep:
		return d, true
	case Shift:
		d += p.shift
		if p.topCoded && (yearOf(d) < p.yob || yearOf(d) > yearOf(r.refDays)) {
			// before the top-coded year of birth, or after the reference
			// year, the date would show the person older than the top
			// code: dropped
			return 0, false
		}
		return d, true
	case Year:
		y := yearOf(d)
		if p.topCoded {
			// no year may imply an age above the top code
			y = max(y, p.yob)
			y = min(y, yearOf(r.refDays))
		}
		return y, true
	case Day:
		if !p.hasFirst {
			return 0, false
		}
		return d - p.first, true
	}
	return 0, false
}

// writePersons writes the person table.
func (r *run) writePersons(ctx context.Context, root string) error {
	tr := r.tables[source.Person]
	spec := r.outColumns(source.Person, tr)
	w, err := newTableWriter(root, source.Person, outSchema(spec), r.cfg.RowGroupRows, r.cfg.RowsPerFile)
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			w.abort()
		}
	}()
	for pi := range r.persons {
		if pi%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		p := &r.persons[pi]
		if p.status != kept {
			continue
		}
		for ci, c := range spec {
			b := w.bld.Field(ci)
			r.personValue(b, c, p, &r.attrs[pi])
		}
		if err := w.rowDone(); err != nil {
			return err
		}
	}
	files, err := w.close()
	if err != nil {
		return err
	}
	ok = true
	tr.RowsOut = w.totalRows
	r.report.Files = append(r.report.Files, files...)
	return nil
}

func appendStr(b array.Builder, s string, null bool) {
	if null || s == "" {
		b.AppendNull()
		return
	}
	b.(*array.StringBuilder).Append(s)
}

func (r *run) personValue(b array.Builder, c outColumn, p *person, a *personAttrs) {
	switch c.name {
	case "person_id":
		appendID(b, p)
	case "gender", "race", "ethnicity":
		v := r.cats.str(map[string]uint32{"gender": a.gender, "race": a.race, "ethnicity": a.eth}[c.name])
		if g, null, gen := r.qiOut(a, c.name); gen {
			v = g
			appendStr(b, v, null)
			return
		}
		appendStr(b, v, false)
	case "year_of_birth":
		yb := b.(*array.Int32Builder)
		if !p.hasYob {
			yb.AppendNull()
			return
		}
		if g, null, gen := r.qiOut(a, c.name); gen {
			if v, ok := leadingInt(g); ok && !null {
				yb.Append(v)
			} else {
				yb.AppendNull()
			}
			return
		}
		yb.Append(p.yob)
	case "birth_date":
		db := b.(*array.Date32Builder)
		if !p.hasBirth {
			db.AppendNull()
			return
		}
		db.Append(arrow.Date32(p.birth))
	case "zip3":
		if g, null, gen := r.qiOut(a, c.name); gen {
			if !r.customHier["zip3"] || null {
				b.AppendNull() // built-in: zip3 generalized to the state column
				return
			}
			appendStr(b, g, false)
			return
		}
		appendStr(b, r.cats.str(a.zip3), false)
	case "state":
		if r.kres != nil && !r.customHier["zip3"] {
			if i := slices.Index(r.qis, "zip3"); i >= 0 && r.kres.Levels[i] >= 2 {
				b.AppendNull()
				return
			}
		}
		appendStr(b, r.cats.str(a.state), false)
	case "city":
		appendStr(b, r.cats.str(a.city), false)
	case "zip":
		appendStr(b, r.cats.str(a.zip5), false)
	default:
		if c.isDate {
			if !a.hasDeath {
				b.AppendNull()
				return
			}
			v, ok := r.dateValue(c.tr, p, a.death)
			appendDate(b, c, v, ok)
			if ok && c.tr != Day {
				r.years.noteOf(c, v)
			}
			return
		}
		b.AppendNull()
	}
}

func appendDate(b array.Builder, c outColumn, v int32, ok bool) {
	if !ok {
		b.AppendNull()
		return
	}
	switch bb := b.(type) {
	case *array.Date32Builder:
		bb.Append(arrow.Date32(v))
	case *array.Int32Builder:
		bb.Append(v)
	}
}

// outColumn is a column that is written, with its transform.
type outColumn struct {
	column
	tr Transform
}

// outColumns lists the written columns of a table and records them in tr.
func (r *run) outColumns(table string, tr *TableReport) []outColumn {
	var out []outColumn
	for _, c := range columns(r.pol.Mode, r.pol.Intervals, table) {
		t := r.pol.transform(table, c)
		tr.Columns[c.name] = t
		if t == Drop {
			continue
		}
		if c.isDate {
			n, typ, _, _ := dateOut(r.pol.Mode, r.pol.Intervals, c.src)
			if c.name == "birth_date" {
				n, typ = c.name, arrow.FixedWidthTypes.Date32
			}
			if t == Shift || t == Keep {
				typ = arrow.FixedWidthTypes.Date32
			}
			c.name, c.typ = n, typ
		}
		if table == source.Person && c.name == "year_of_birth" && r.fromAge > 0 {
			tr.Columns[c.name] = YearFromAge
			if tr.Notes == nil {
				tr.Notes = map[string]string{}
			}
			tr.Notes[c.name] = ageNote(r.fromAge)
		}
		if q := slices.Index(r.qis, c.name); q >= 0 && r.kres != nil && r.kres.Levels[q] > 0 {
			tr.Columns[c.name] = Generalize
		}
		out = append(out, outColumn{column: c, tr: t})
	}
	return out
}

func outSchema(spec []outColumn) *arrow.Schema {
	fields := make([]arrow.Field, len(spec))
	for i, c := range spec {
		fields[i] = arrow.Field{Name: c.name, Type: c.typ, Nullable: true}
	}
	return arrow.NewSchema(fields, nil)
}
