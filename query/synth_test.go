package query

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/cohortnet/cohortnet/deid/source"
	"github.com/cohortnet/cohortnet/internal/synth"
)

// cdmRenames are the identified columns whose de-identified names differ;
// a test stand-in for de-identification (which is not this package's).
var cdmRenames = map[string]string{"source_person_id": "person_id", "source_visit_id": "visit_occurrence_id"}

// exportToParquet writes the export's tables as Parquet in dir, with the
// pseudonym column names, and returns the dataset (expert layout: dates).
func exportToParquet(t testing.TB, exp source.Export, dir, name, inst string) Dataset {
	t.Helper()
	return exportCollect(t, exp, dir, name, inst, nil)
}

// exportCollect is exportToParquet that also keeps, in fx when not nil, the
// persons, drug exposures and conditions for counting in Go.
func exportCollect(t testing.TB, exp source.Export, dir, name, inst string, fx *fixture) Dataset {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ds := Dataset{Name: name, Institution: inst, Manifest: "bafy-" + strings.ReplaceAll(name, "/", "-"), Mode: ModeExpert, Own: true, Tables: map[string][]string{}}
	for _, table := range exp.Tables() {
		if table == "note" {
			continue
		}
		rr, err := exp.Read(t.Context(), table)
		if err != nil {
			t.Fatal(err)
		}
		var fields []arrow.Field
		for _, f := range rr.Schema().Fields() {
			if n, ok := cdmRenames[f.Name]; ok {
				f.Name = n
			}
			fields = append(fields, f)
		}
		schema := arrow.NewSchema(fields, nil)
		path := filepath.Join(dir, table+".parquet")
		fh, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		fw, err := pqarrow.NewFileWriter(schema, fh, parquet.NewWriterProperties(), pqarrow.DefaultWriterProps())
		if err != nil {
			t.Fatal(err)
		}
		for rr.Next() {
			rec := rr.RecordBatch()
			if fx != nil {
				collectRows(t, fx, table, rec)
			}
			out := array.NewRecordBatch(schema, rec.Columns(), rec.NumRows())
			if err := fw.Write(out); err != nil {
				t.Fatal(err)
			}
			out.Release()
		}
		if err := rr.Err(); err != nil {
			t.Fatalf("read %s: %v", table, err)
		}
		rr.Release()
		if err := fw.Close(); err != nil {
			t.Fatal(err)
		}
		ds.Tables[table] = []string{path}
	}
	return ds
}

// collectRows appends a record batch's rows to fx.
func collectRows(t testing.TB, fx *fixture, table string, rec arrow.RecordBatch) {
	col := func(name string) arrow.Array {
		idx := rec.Schema().FieldIndices(name)
		if len(idx) == 0 {
			t.Fatalf("%s has no column %s", table, name)
		}
		return rec.Column(idx[0])
	}
	str := func(a arrow.Array, i int) string { return a.(*array.String).Value(i) }
	date := func(a arrow.Array, i int) (time.Time, bool) {
		if a.IsNull(i) {
			return time.Time{}, false
		}
		return a.(*array.Date32).Value(i).ToTime(), true
	}
	switch table {
	case "person":
		ids := col("source_person_id")
		for i := range int(rec.NumRows()) {
			fx.persons = append(fx.persons, fxPerson{id: str(ids, i)})
		}
	case "drug_exposure":
		p, c, d := col("source_person_id"), col("drug_code"), col("drug_exposure_start_date")
		for i := range int(rec.NumRows()) {
			if day, ok := date(d, i); ok && !p.IsNull(i) && !c.IsNull(i) {
				fx.drugs = append(fx.drugs, fxDrug{str(p, i), str(c, i), day})
			}
		}
	case "condition_occurrence":
		p, c, d := col("source_person_id"), col("condition_code"), col("condition_start_date")
		for i := range int(rec.NumRows()) {
			if day, ok := date(d, i); ok && !p.IsNull(i) && !c.IsNull(i) {
				fx.conds = append(fx.conds, fxCond{str(p, i), str(c, i), day})
			}
		}
	}
}

// TestSynthPlantedSignals: three institutions' synthetic exports, counted by
// exposures, flag every planted signal of truth.json; the flag rate on the
// other pairs is reported.
func TestSynthPlantedSignals(t *testing.T) {
	root := t.TempDir()
	var ds []Dataset
	var truth synth.Truth
	var fxs []*fixture
	for i, inst := range []string{"hospital-a", "hospital-b", "hospital-c"} {
		out := filepath.Join(root, "export", inst)
		if _, err := synth.Generate(t.Context(), synth.Config{Patients: 1500, Seed: int64(10 + i), Out: out, Institution: inst}); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(out, "truth.json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &truth); err != nil {
			t.Fatal(err)
		}
		exp, err := source.Open(out, source.FormatSyntheaCSV)
		if err != nil {
			t.Fatal(err)
		}
		fx := &fixture{}
		ds = append(ds, exportCollect(t, exp, filepath.Join(root, "store", inst), inst+"/synth", inst, fx))
		fxs = append(fxs, fx)
		exp.Close()
	}
	e, err := Open(t.Context(), Config{Threads: 2, MemoryLimit: 512 << 20}, ds)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	c, err := e.Counts(t.Context(), SignalConfig{Source: SourceExposures, Window: synth.WindowDays})
	if err != nil {
		t.Fatal(err)
	}
	// Independent computations on the same data. The exposure margins of
	// the planted pairs and of some others, counted in Go from the export's
	// rows (exposureOracle); and a researcher's pooled SQL through the
	// sandbox against distinct persons per condition counted in Go.
	epochDay := func(_ string, d time.Time) int64 { return d.Unix() / 86400 }
	checkPairs := []Pair{}
	for _, s := range truth.Signals {
		checkPairs = append(checkPairs, Pair{s.Drug, s.Event})
	}
	for _, p := range c.Pairs()[:min(5, len(c.Pairs()))] {
		checkPairs = append(checkPairs, p)
	}
	for _, p := range checkPairs {
		var wa, wd, we, wn int64
		for _, fx := range fxs {
			a, d, ev, n := exposureOracle(fx, epochDay, p.Drug, p.Event, synth.WindowDays, 1)
			wa, wd, we, wn = wa+a, wd+d, we+ev, wn+n
		}
		a, d, ev, n := c.Margins(p)
		if a != wa || d != wd || ev != we || n != wn {
			t.Errorf("%v: engine (%d, %d, %d, %d), Go (%d, %d, %d, %d)", p, a, d, ev, n, wa, wd, we, wn)
		}
	}
	rows, err := e.Query(t.Context(), "SELECT condition_code, count(DISTINCT (source_dataset, person_id)) FROM cohorts.condition_occurrence GROUP BY 1", Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for rows.Next() {
		got[rows.Values()[0].(string)] = rows.Values()[1].(int64)
	}
	rows.Close()
	want := map[string]map[string]bool{}
	for i, fx := range fxs {
		for _, cd := range fx.conds {
			if want[cd.code] == nil {
				want[cd.code] = map[string]bool{}
			}
			want[cd.code][fmt.Sprint(i, cd.person)] = true
		}
	}
	if len(got) < 10 {
		t.Errorf("only %d condition codes", len(got))
	}
	for code, n := range got {
		if int64(len(want[code])) != n {
			t.Errorf("condition %s: %d persons by SQL, %d in Go", code, n, len(want[code]))
		}
	}

	sig := Signals(c, 3, "", "")
	planted := map[Pair]bool{}
	for _, s := range truth.Signals {
		planted[Pair{s.Drug, s.Event}] = true
	}
	flagged := map[Pair]Signal{}
	others, otherFlagged := 0, map[string]int{}
	for _, s := range sig {
		if planted[s.Pair] {
			flagged[s.Pair] = s
			continue
		}
		others++
		for rule, on := range map[string]bool{"evans": s.Flags.Evans, "ema": s.Flags.EMA, "ror025": s.Flags.ROR025, "ic025": s.Flags.IC025} {
			if on {
				otherFlagged[rule]++
			}
		}
	}
	for p := range planted {
		s, ok := flagged[p]
		if !ok {
			t.Errorf("planted %v not among the pairs with a ≥ 3", p)
			continue
		}
		t.Logf("planted %s → %s: a=%d PRR=%.2f (%.2f–%.2f) χ²=%.1f IC025=%.2f", s.DrugName, s.EventName, s.A, s.PRR, s.PRRLow, s.PRRHigh, s.ChiSq, s.IC025)
		if !s.Flags.Evans || !s.Flags.IC025 {
			t.Errorf("planted %v (%s → %s) not flagged: a=%d PRR=%.2f χ²=%.1f IC025=%.2f", p, s.DrugName, s.EventName, s.A, s.PRR, s.ChiSq, s.IC025)
		}
	}
	var rates []string
	for _, rule := range []string{"evans", "ema", "ror025", "ic025"} {
		rates = append(rates, fmt.Sprintf("%s %d/%d", rule, otherFlagged[rule], others))
	}
	t.Logf("pairs with a ≥ 3 and no planted effect flagged: %s", strings.Join(rates, ", "))
	if others == 0 || otherFlagged["ic025"]*3 > others {
		t.Errorf("IC025 flags %d of %d pairs without a planted effect", otherFlagged["ic025"], others)
	}
}
