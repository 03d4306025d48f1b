package deid

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"gopkg.in/yaml.v3"

	"github.com/cohortnet/cohortnet/deid/source"
	"github.com/cohortnet/cohortnet/internal/datadir"
)

// TablePolicyFormat is the value of [TablePolicy.Format].
const TablePolicyFormat = "cohortnet-deid-table-policy/1"

// TablePolicy is the policy of `deid table`: one plain table where each row
// is a record. Every column of the table must be named, with one of keep,
// drop, pseudonymize, generalize (a quasi-identifier) or sensitive (kept;
// checked for l-diversity).
type TablePolicy struct {
	Format         string               `yaml:"format"`
	K              int                  `yaml:"k"`
	MaxSuppression float64              `yaml:"max_suppression"`
	L              int                  `yaml:"l,omitempty"`
	Columns        map[string]Transform `yaml:"columns"`
	// Hierarchies maps a quasi-identifier to an ARX hierarchy CSV file. A
	// quasi-identifier without one has two levels: the value and "*".
	Hierarchies map[string]string `yaml:"hierarchies,omitempty"`
}

// ParseTablePolicy reads a table policy (YAML, unknown fields are errors).
func ParseTablePolicy(data []byte) (*TablePolicy, error) {
	var p TablePolicy
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil && !errors.Is(err, io.EOF) {
		return nil, policyErr("%s", yamlError(err))
	}
	if p.Format == "" {
		p.Format = TablePolicyFormat
	}
	if p.Format != TablePolicyFormat {
		return nil, policyErr("format %q: want %q", p.Format, TablePolicyFormat)
	}
	if err := p.validate(); err != nil {
		return nil, err
	}
	return &p, nil
}

func (p *TablePolicy) validate() error {
	if p.K < 0 || p.K > 1_000_000 {
		return policyErr("k %d: use 0 (off) to 1000000", p.K)
	}
	if !(p.MaxSuppression >= 0 && p.MaxSuppression <= 1) {
		return policyErr("max_suppression %v: use a share between 0 and 1", p.MaxSuppression)
	}
	if len(p.Columns) == 0 {
		return policyErr("columns: name every column of the table with keep, drop, pseudonymize, generalize or sensitive")
	}
	sens := 0
	for _, c := range sortedKeys(p.Columns) {
		switch p.Columns[c] {
		case Keep, Drop, Pseudonymize, Generalize:
		case Sensitive:
			sens++
		default:
			return policyErr("column %s: transform %q: use keep, drop, pseudonymize, generalize or sensitive", c, p.Columns[c])
		}
	}
	if sens > 1 {
		return policyErr("more than one sensitive column (l-diversity takes one)")
	}
	if p.L > 1 && sens == 0 {
		return policyErr("l %d needs a sensitive column", p.L)
	}
	for q := range p.Hierarchies {
		if p.Columns[q] != Generalize {
			return policyErr("hierarchy for %q, which is not a generalized column", q)
		}
	}
	return nil
}

// TableConfig says how to run `deid table`.
type TableConfig struct {
	Policy *TablePolicy
	// Key pseudonymizes columns (required, at least 16 bytes).
	Key []byte
	// Hierarchies override the policy's hierarchy files.
	Hierarchies  map[string]*Hierarchy
	RowGroupRows int
	RowsPerFile  int
	Logger       *slog.Logger
}

// RunTable de-identifies the single table of exp (a "table" export) into out
// as out/table/part-NNNN.parquet with policy.yaml and deid-report.json. It
// reads the table twice: once for the quasi-identifiers, once to write.
func RunTable(ctx context.Context, exp source.Export, out string, cfg TableConfig) (*Report, error) {
	if len(cfg.Key) < 16 {
		return nil, ErrNoKey
	}
	pol := cfg.Policy
	if pol == nil {
		return nil, policyErr("deid table needs a policy")
	}
	if err := pol.validate(); err != nil {
		return nil, err
	}
	tables := exp.Tables()
	if len(tables) != 1 {
		return nil, fmt.Errorf("deid table: the input has %d tables, want one", len(tables))
	}
	table := tables[0]
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.RowGroupRows <= 0 {
		cfg.RowGroupRows = DefaultRowGroupRows
	}
	if cfg.RowsPerFile <= 0 {
		cfg.RowsPerFile = DefaultRowsPerFile
	}
	cfg.RowsPerFile = max(cfg.RowsPerFile/cfg.RowGroupRows, 1) * cfg.RowGroupRows
	if _, err := os.Lstat(out); err == nil {
		return nil, fmt.Errorf("deid: %s: %w", out, ErrOutputExists)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("deid: %w", err)
	}

	// Pass 1: the schema, the quasi-identifiers and the sensitive value of every row.
	rd, err := exp.Read(ctx, table)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", table, err)
	}
	schema := rd.Schema()
	var qis []string
	sensCol := ""
	for _, f := range schema.Fields() {
		tr, ok := pol.Columns[f.Name]
		if !ok {
			rd.Release()
			return nil, policyErr("column %q of the table is not in the policy (name every column)", f.Name)
		}
		if tr == Generalize {
			qis = append(qis, f.Name)
		}
		if tr == Sensitive {
			sensCol = f.Name
		}
	}
	for _, c := range sortedKeys(pol.Columns) {
		if schema.FieldIndices(c) == nil {
			rd.Release()
			return nil, policyErr("unknown column %q: the table has %s", c, strings.Join(fieldNames(schema), ", "))
		}
	}
	prob := &Problem{K: pol.K, MaxSuppression: pol.MaxSuppression, L: pol.L}
	hier := map[string]*Hierarchy{}
	for _, q := range qis {
		h := cfg.Hierarchies[q]
		if h == nil && pol.Hierarchies[q] != "" {
			if h, err = LoadHierarchy(pol.Hierarchies[q]); err != nil {
				rd.Release()
				return nil, err
			}
		}
		hier[q] = h
	}
	var tuples []int32
	values := make([][]string, len(qis))
	seen := make([]map[string]bool, len(qis))
	for i := range seen {
		seen[i] = map[string]bool{}
	}
	var rowsIn int64
	vals := make([]*string, len(qis))
	for rd.Next() {
		if err := ctx.Err(); err != nil {
			rd.Release()
			return nil, err
		}
		rec := rd.RecordBatch()
		idx := make([]int, len(qis))
		for i, q := range qis {
			idx[i] = schema.FieldIndices(q)[0]
		}
		si := -1
		if sensCol != "" {
			si = schema.FieldIndices(sensCol)[0]
		}
		for r := 0; r < int(rec.NumRows()); r++ {
			rowsIn++
			for i := range qis {
				col := rec.Column(idx[i])
				if col.IsNull(r) {
					vals[i] = nil
					continue
				}
				v := col.ValueStr(r)
				vals[i] = &v
				if hier[qis[i]] == nil && !seen[i][v] {
					seen[i][v] = true
					values[i] = append(values[i], v)
				}
			}
			sens := ""
			if si >= 0 && !rec.Column(si).IsNull(r) {
				sens = rec.Column(si).ValueStr(r)
			}
			tuples = append(tuples, prob.Add(vals, sens))
		}
	}
	err = rd.Err()
	rd.Release()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", table, err)
	}
	for i, q := range qis {
		h := hier[q]
		if h == nil {
			var rows [][]string
			for _, v := range values[i] {
				rows = append(rows, []string{v, "*"})
			}
			h = &Hierarchy{levels: map[string][]string{}, height: 2}
			for _, r := range rows {
				h.levels[r[0]] = r
				h.order = append(h.order, r[0])
			}
		}
		prob.Attrs = append(prob.Attrs, Attribute{Name: q, Hierarchy: h})
	}
	rep := &Report{Format: ReportFormat, Mode: Expert, ReferenceDate: "", KeyFingerprint: datadir.Fingerprint(cfg.Key),
		Source: SourceInfo{Format: exp.Format(), Layout: exp.Layout()}, Tables: map[string]*TableReport{}, Files: []FileEntry{}}
	var res *Result
	if len(qis) > 0 {
		if res, err = prob.Search(); err != nil {
			return nil, fmt.Errorf("deid table: k-anonymity: %w", err)
		}
		kr := &KReport{KRequested: pol.K, KAchieved: res.KAchieved, QuasiIdentifiers: qis, Levels: map[string]int{},
			Heights: map[string]int{}, LossMetric: LossMetric, Loss: round6(res.Loss), MaxSuppression: pol.MaxSuppression,
			Classes: res.Classes, ClassSizes: res.ClassSizes, NodesTotal: res.NodesTotal, NodesEvaluated: res.Evaluated}
		for i, q := range qis {
			kr.Levels[q] = res.Levels[i]
			kr.Heights[q] = prob.Attrs[i].Hierarchy.Height()
		}
		rep.KAnonymity = kr
		risk := res.Risk
		for _, rp := range []*RiskPair{&risk.Prosecutor, &risk.Journalist, &risk.Marketer} {
			rp.Highest, rp.Average = round6(rp.Highest), round6(rp.Average)
		}
		rep.Risk = &risk
		rep.Suppressed.KAnonymity = res.Suppressed
		if pol.L > 1 {
			rep.LDiversity = &LReport{Sensitive: sensCol, LRequested: pol.L, LAchieved: res.LAchieved}
		}
		log.Info("deid table: k-anonymity", "k", res.KAchieved, "suppressed", res.Suppressed)
	}

	// Pass 2: write.
	ds, err := newDataset(out)
	if err != nil {
		return nil, err
	}
	defer ds.cleanup()
	var fields []arrow.Field
	var srcIdx []int
	var trs []Transform
	tr := &TableReport{RowsIn: rowsIn, Columns: map[string]Transform{}}
	rep.Tables[table] = tr
	for i, f := range schema.Fields() {
		t := pol.Columns[f.Name]
		tr.Columns[f.Name] = t
		if t == Drop {
			continue
		}
		typ := f.Type
		if t == Pseudonymize || t == Generalize {
			typ = arrow.BinaryTypes.String
		}
		fields = append(fields, arrow.Field{Name: f.Name, Type: typ, Nullable: true})
		srcIdx = append(srcIdx, i)
		trs = append(trs, t)
	}
	w, err := newTableWriter(ds.tmp, table, arrow.NewSchema(fields, nil), cfg.RowGroupRows, cfg.RowsPerFile)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			w.abort()
		}
	}()
	k := newKeyed(cfg.Key)
	rd, err = exp.Read(ctx, table)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", table, err)
	}
	defer rd.Release()
	row := 0
	for rd.Next() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		rec := rd.RecordBatch()
		if !rec.Schema().Equal(schema) {
			return nil, fmt.Errorf("read %s: the table changed between reads", table)
		}
		for r := 0; r < int(rec.NumRows()); r, row = r+1, row+1 {
			if row >= len(tuples) {
				return nil, fmt.Errorf("read %s: the table grew between reads", table)
			}
			t := tuples[row]
			if res != nil && !res.Kept(t) {
				continue
			}
			for ci, si := range srcIdx {
				b := w.bld.Field(ci)
				col := rec.Column(si)
				switch trs[ci] {
				case Generalize:
					qi := slices.Index(qis, fields[ci].Name)
					v, ok := res.Value(t, qi)
					appendStr(b, v, !ok)
				case Pseudonymize:
					if col.IsNull(r) {
						b.AppendNull()
					} else {
						appendStr(b, k.pseudonym("table:"+fields[ci].Name, col.ValueStr(r)), false)
					}
				default:
					if col.IsNull(r) {
						b.AppendNull()
					} else if err := appendCopy(b, col, r); err != nil {
						return nil, fmt.Errorf("%s row %d column %s: %w", table, row+1, fields[ci].Name, err)
					}
				}
			}
			if err := w.rowDone(); err != nil {
				return nil, err
			}
		}
	}
	if err := rd.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", table, err)
	}
	files, err := w.close()
	if err != nil {
		return nil, err
	}
	ok = true
	tr.RowsOut = w.totalRows
	rep.Files = files
	rep.Summary = Summary{Persons: w.totalRows, Conditions: []CodeCount{}, Drugs: []CodeCount{}}
	polBytes, err := yamlMarshal(pol)
	if err != nil {
		return nil, err
	}
	if err := ds.commit(ctx, polBytes, rep); err != nil {
		return nil, err
	}
	return rep, nil
}

// appendCopy appends value r of col to a builder of the same type.
func appendCopy(b array.Builder, col arrow.Array, r int) error {
	switch a := col.(type) {
	case *array.String:
		b.(*array.StringBuilder).Append(a.Value(r))
	case *array.Int64:
		b.(*array.Int64Builder).Append(a.Value(r))
	case *array.Int32:
		b.(*array.Int32Builder).Append(a.Value(r))
	case *array.Float64:
		b.(*array.Float64Builder).Append(a.Value(r))
	case *array.Boolean:
		b.(*array.BooleanBuilder).Append(a.Value(r))
	case *array.Date32:
		b.(*array.Date32Builder).Append(a.Value(r))
	default:
		return b.AppendValueFromString(col.ValueStr(r))
	}
	return nil
}

func fieldNames(s *arrow.Schema) []string {
	var n []string
	for _, f := range s.Fields() {
		n = append(n, f.Name)
	}
	return n
}

func yamlMarshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("deid: encode policy: %w", err)
	}
	enc.Close()
	return b.Bytes(), nil
}

// dataset is an output directory being written: a temporary directory
// beside out, renamed into place by commit.
type dataset struct {
	out, tmp string
	done     bool
}

func newDataset(out string) (*dataset, error) {
	parent := filepath.Dir(out)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, fmt.Errorf("deid: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(out)+".tmp-")
	if err != nil {
		return nil, fmt.Errorf("deid: %w", err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("deid: %w", err)
	}
	return &dataset{out: out, tmp: tmp}, nil
}

// commit writes policy.yaml and deid-report.json, syncs and renames the
// directory into place.
func (d *dataset) commit(ctx context.Context, policy []byte, rep *Report) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := datadir.WriteFileAtomic(filepath.Join(d.tmp, PolicyFile), policy, 0o644); err != nil {
		return fmt.Errorf("deid: write policy: %w", err)
	}
	b, err := rep.Marshal()
	if err != nil {
		return fmt.Errorf("deid: encode report: %w", err)
	}
	if err := datadir.WriteFileAtomic(filepath.Join(d.tmp, ReportFile), b, 0o644); err != nil {
		return fmt.Errorf("deid: write report: %w", err)
	}
	if err := syncDir(d.tmp); err != nil {
		return fmt.Errorf("deid: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := os.Rename(d.tmp, d.out); err != nil {
		return fmt.Errorf("deid: move the dataset into place: %w", err)
	}
	d.done = true
	return syncDir(filepath.Dir(d.out))
}

func (d *dataset) cleanup() {
	if !d.done {
		os.RemoveAll(d.tmp)
	}
}
