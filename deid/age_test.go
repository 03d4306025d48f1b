package deid

import (
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/cohortnet/cohortnet/deid/source"
	"github.com/cohortnet/cohortnet/internal/sampledata"
)

// TestFAERSYearOfBirthFromAge de-identifies the real FAERS sample, whose
// cases have ages but no birth dates: every case with an age gets the year
// of its event (or the reference year) minus its whole years of age, ages
// that may reach 90 top-coded in safe-harbor mode, and the report says the
// year is approximate.
func TestFAERSYearOfBirthFromAge(t *testing.T) {
	dir := sampledata.Dir(t, "faers-2017q2")
	exp, err := source.Open(dir, source.FormatAuto)
	if err != nil {
		t.Fatal(err)
	}
	defer exp.Close()
	// what the adapter hands over: each case's age and earliest event date
	age := map[string]float64{}
	var order []string
	for _, row := range readSource(t, exp, source.Person) {
		id := row["source_person_id"].(string)
		order = append(order, id)
		if a, ok := row["age_years"].(float64); ok {
			age[id] = a
		}
	}
	event := map[string]int32{}
	for _, row := range readSource(t, exp, source.AdverseEvent) {
		id := row["source_person_id"].(string)
		if d, ok := row["onset_date"].(int32); ok {
			if old, had := event[id]; !had || d < old {
				event[id] = d
			}
		}
	}
	if len(age) < 50 || len(event) < 30 {
		t.Fatalf("sample has %d ages and %d event dates", len(age), len(event))
	}
	var want []int32 // safe-harbor years of birth, -1 for null
	for _, id := range order {
		a, ok := age[id]
		if !ok {
			want = append(want, -1)
			continue
		}
		y := int32(2026)
		if d, ok := event[id]; ok {
			y = yearOf(d)
		}
		yob := y - int32(math.Floor(a))
		if 2026-yob+1 >= 90 {
			yob = 2026 - 90
		}
		want = append(want, yob)
	}

	out := filepath.Join(t.TempDir(), "out")
	rep, err := Run(t.Context(), exp, out, Config{Policy: Preset(SafeHarbor, false, "2026-01-01"), Key: testKey, SurrogateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	var got []int32
	for _, row := range readTable(t, out, source.Person) {
		if y, ok := row["year_of_birth"].(int32); ok {
			got = append(got, y)
		} else {
			got = append(got, -1)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("years of birth, in case order:\n got %v\nwant %v", got, want)
	}
	pr := rep.Tables[source.Person]
	if pr.Columns["year_of_birth"] != YearFromAge || pr.Notes["year_of_birth"] == "" {
		t.Errorf("report says year_of_birth is %q (%q), want %q with a note", pr.Columns["year_of_birth"], pr.Notes["year_of_birth"], YearFromAge)
	}

	// expert mode: the years come from the shifted event dates, and the
	// report keeps the note whatever k-anonymity does to the column
	out = filepath.Join(t.TempDir(), "expert")
	pol := Preset(Expert, false, "2026-01-01")
	pol.KAnonymity.K = 2
	pol.KAnonymity.MaxSuppression = 0.5
	rep, err = Run(t.Context(), exp, out, Config{Policy: pol, Key: testKey})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, row := range readTable(t, out, source.Person) {
		if _, ok := row["year_of_birth"].(int32); ok {
			n++
		}
	}
	if n == 0 || rep.Tables[source.Person].Notes["year_of_birth"] == "" {
		t.Errorf("expert mode: %d years of birth, note %q", n, rep.Tables[source.Person].Notes["year_of_birth"])
	}
}

// readSource reads a table of an export into rows of column name to value
// (string, int32 day number for dates, float64, bool; nil for null).
func readSource(t testing.TB, exp source.Export, table string) []map[string]any {
	t.Helper()
	rd, err := exp.Read(t.Context(), table)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Release()
	var rows []map[string]any
	for rd.Next() {
		rec := rd.RecordBatch()
		for i := 0; i < int(rec.NumRows()); i++ {
			row := map[string]any{}
			for j, f := range rec.Schema().Fields() {
				switch a := rec.Column(j).(type) {
				case *array.String:
					if !a.IsNull(i) {
						row[f.Name] = a.Value(i)
					}
				case *array.Date32:
					if !a.IsNull(i) {
						row[f.Name] = int32(a.Value(i))
					}
				case *array.Float64:
					if !a.IsNull(i) {
						row[f.Name] = a.Value(i)
					}
				}
			}
			rows = append(rows, row)
		}
	}
	if err := rd.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}
