package query

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

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

// TestSynthPlantedSignals: three institutions' synthetic exports, counted by
// exposures, flag every planted signal of truth.json; the flag rate on the
// other pairs is reported.
func TestSynthPlantedSignals(t *testing.T) {
	root := t.TempDir()
	var ds []Dataset
	var truth synth.Truth
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
		ds = append(ds, exportToParquet(t, exp, filepath.Join(root, "store", inst), inst+"/synth", inst))
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
		if !s.Flags.Evans || !s.Flags.IC025 {
			t.Errorf("planted %v (%s → %s) not flagged: a=%d PRR=%.2f χ²=%.1f IC025=%.2f", p, s.DrugName, s.EventName, s.A, s.PRR, s.ChiSq, s.IC025)
		}
	}
	var rates []string
	for _, rule := range []string{"evans", "ema", "ror025", "ic025"} {
		rates = append(rates, fmt.Sprintf("%s %d/%d", rule, otherFlagged[rule], others))
	}
	t.Logf("pairs with a ≥ 3 and no planted effect flagged: %s", strings.Join(rates, ", "))
	if others == 0 || otherFlagged["ic025"]*5 > others {
		t.Errorf("IC025 flags %d of %d pairs without a planted effect", otherFlagged["ic025"], others)
	}
}
