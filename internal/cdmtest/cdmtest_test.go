package cdmtest

import (
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/cohortnet/cohortnet/deid"
	"github.com/cohortnet/cohortnet/deid/source"
	"github.com/cohortnet/cohortnet/internal/synth"
)

// conditionDays reads person_id and condition_start_date of a dataset's
// condition_occurrence: the sorted days of each person's conditions.
func conditionDays(t *testing.T, ds Dataset) map[string][]int32 {
	t.Helper()
	out := map[string][]int32{}
	if len(ds.Tables["condition_occurrence"]) == 0 {
		t.Fatalf("%s: no condition_occurrence files", ds.Mode)
	}
	for _, path := range ds.Tables["condition_occurrence"] {
		if !filepath.IsAbs(path) {
			t.Errorf("%s is not absolute", path)
		}
		pf, err := file.OpenParquetFile(path, false)
		if err != nil {
			t.Fatal(err)
		}
		fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: 4096}, memory.DefaultAllocator)
		if err != nil {
			t.Fatal(err)
		}
		rr, err := fr.GetRecordReader(t.Context(), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		for rr.Next() {
			rec := rr.RecordBatch()
			col := func(name string) arrow.Array {
				idx := rec.Schema().FieldIndices(name)
				if len(idx) == 0 {
					t.Fatalf("%s: no column %s", ds.Mode, name)
				}
				return rec.Column(idx[0])
			}
			ids, days := col("person_id").(*array.String), col("condition_start_date").(*array.Date32)
			for i := range int(rec.NumRows()) {
				if !days.IsNull(i) {
					out[ids.Value(i)] = append(out[ids.Value(i)], int32(days.Value(i)))
				}
			}
		}
		rr.Release()
		pf.Close()
	}
	for _, days := range out {
		slices.Sort(days)
	}
	return out
}

// TestDeidentifyShiftsPerPerson: the same export de-identified in limited
// and expert mode has the same pseudonyms (same key), real dates in limited
// mode, and in expert mode every person's dates moved by one offset of their
// own, never zero, at most 365 days, not the same for everyone.
func TestDeidentifyShiftsPerPerson(t *testing.T) {
	root := t.TempDir()
	export := filepath.Join(root, "export")
	truth := Export(t, export, synth.Config{Patients: 200, Seed: 3, Institution: "hospital-t"})
	if len(truth.Signals) == 0 {
		t.Error("no planted signals in truth.json")
	}
	limited := Deidentify(t, export, source.FormatSyntheaCSV, filepath.Join(root, "limited"), deid.Limited, false)
	expert := Deidentify(t, export, source.FormatSyntheaCSV, filepath.Join(root, "expert"), deid.Expert, false)
	for _, ds := range []Dataset{limited, expert} {
		for _, table := range []string{"person", "drug_exposure", "condition_occurrence", "visit_occurrence"} {
			if len(ds.Tables[table]) == 0 {
				t.Errorf("%s: no %s files", ds.Mode, table)
			}
		}
	}
	real, shifted := conditionDays(t, limited), conditionDays(t, expert)
	offsets := map[int32]bool{}
	compared := 0
	for p, sd := range shifted {
		rd, ok := real[p]
		if !ok || len(rd) != len(sd) {
			t.Fatalf("person's conditions: %d in expert mode, %d in limited mode", len(sd), len(rd))
		}
		// a shift keeps the order of a person's days
		off := sd[0] - rd[0]
		for i := range sd {
			if sd[i]-rd[i] != off {
				t.Fatalf("one person's dates moved by %d and %d days", off, sd[i]-rd[i])
			}
		}
		if off == 0 || off < -365 || off > 365 {
			t.Errorf("offset %d days", off)
		}
		offsets[off] = true
		compared++
	}
	if compared < 100 || len(offsets) < compared/4 {
		t.Errorf("%d persons compared, %d distinct offsets", compared, len(offsets))
	}
	// limited mode keeps real dates: all within synth's default years
	lo, hi := time.Date(2014, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, days := range real {
		for _, d := range days {
			if at := time.Unix(int64(d)*86400, 0).UTC(); at.Before(lo) || !at.Before(hi) {
				t.Fatalf("limited mode date %s outside synth's years", at.Format(time.DateOnly))
			}
		}
	}
}
