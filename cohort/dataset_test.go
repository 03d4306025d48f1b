package cohort

import (
	"cmp"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/cohortnet/cohortnet/internal/sampledata"
)

func readCSV(t testing.TB, path string) []map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]string
	for _, r := range recs[1:] {
		m := map[string]string{}
		for i, h := range recs[0] {
			m[h] = r[i]
		}
		out = append(out, m)
	}
	return out
}

// pseudonym stands in for deid's keyed pseudonyms in test datasets.
func pseudonym(id string) string {
	s := sha256.Sum256([]byte("test pseudonym\x00" + id))
	return hex.EncodeToString(s[:8])
}

func writeParquet(t testing.TB, path string, rec arrow.RecordBatch) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pqarrow.NewFileWriter(rec.Schema(), f, parquet.NewWriterProperties(), pqarrow.DefaultWriterProps())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// writeDataset writes a small de-identified dataset folder as package deid
// lays it out, from the real Synthea sample (27 patients): person and
// condition_occurrence Parquet files, policy.yaml and a deid-report.json per
// the report contract. It returns the folder.
func writeDataset(t testing.TB, mode string) string {
	t.Helper()
	src := filepath.Join(sampledata.Dir(t), "synthea-csv-27")
	out := t.TempDir()
	mem := memory.DefaultAllocator

	patients := readCSV(t, filepath.Join(src, "patients.csv"))
	pb := array.NewRecordBuilder(mem, arrow.NewSchema([]arrow.Field{
		{Name: "person_id", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "gender", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "year_of_birth", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "state", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil))
	defer pb.Release()
	yearMin, yearMax := int64(9999), int64(0)
	for _, p := range patients {
		y, err := strconv.Atoi(p["BIRTHDATE"][:4])
		if err != nil {
			t.Fatal(err)
		}
		yearMin, yearMax = min(yearMin, int64(y)), max(yearMax, int64(y))
		pb.Field(0).(*array.StringBuilder).Append(pseudonym(p["Id"]))
		pb.Field(1).(*array.StringBuilder).Append(p["GENDER"])
		pb.Field(2).(*array.Int32Builder).Append(int32(y))
		pb.Field(3).(*array.StringBuilder).Append(p["STATE"])
	}
	person := pb.NewRecordBatch()
	defer person.Release()

	conds := readCSV(t, filepath.Join(src, "conditions.csv"))
	cb := array.NewRecordBuilder(mem, arrow.NewSchema([]arrow.Field{
		{Name: "person_id", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "condition_vocabulary", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "condition_code", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "condition_name", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "condition_start_date", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
	}, nil))
	defer cb.Release()
	type key struct{ code, name string }
	persons := map[key]map[string]bool{}
	for _, c := range conds {
		start, err := time.Parse(time.DateOnly, c["START"])
		if err != nil {
			t.Fatal(err)
		}
		d := arrow.Date32FromTime(start)
		cb.Field(0).(*array.StringBuilder).Append(pseudonym(c["PATIENT"]))
		cb.Field(1).(*array.StringBuilder).Append("SNOMED")
		cb.Field(2).(*array.StringBuilder).Append(c["CODE"])
		cb.Field(3).(*array.StringBuilder).Append(c["DESCRIPTION"])
		cb.Field(4).(*array.Date32Builder).Append(d)
		k := key{c["CODE"], c["DESCRIPTION"]}
		if persons[k] == nil {
			persons[k] = map[string]bool{}
		}
		persons[k][c["PATIENT"]] = true
	}
	cond := cb.NewRecordBatch()
	defer cond.Release()

	writeParquet(t, filepath.Join(out, "person", "part-0000.parquet"), person)
	writeParquet(t, filepath.Join(out, "condition_occurrence", "part-0000.parquet"), cond)
	if err := os.WriteFile(filepath.Join(out, PolicyName), []byte("mode: "+mode+"\nk: 11\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	var top []map[string]any
	for k, ps := range persons {
		if len(ps) >= 11 {
			top = append(top, map[string]any{"vocabulary": "SNOMED", "code": k.code, "name": k.name, "count": len(ps)})
		}
	}
	// One small count slipped in: publication must leave it out.
	top = append(top, map[string]any{"vocabulary": "SNOMED", "code": "195662009", "name": "Acute viral pharyngitis (disorder)", "count": 3})
	slices.SortFunc(top, func(a, b map[string]any) int {
		return cmp.Or(cmp.Compare(b["count"].(int), a["count"].(int)), cmp.Compare(a["code"].(string), b["code"].(string)))
	})
	fileEntry := func(rel, table string, rec arrow.RecordBatch) map[string]any {
		b, err := os.ReadFile(filepath.Join(out, filepath.FromSlash(rel)))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		var cols []string
		for _, f := range rec.Schema().Fields() {
			cols = append(cols, f.Name)
		}
		return map[string]any{"path": rel, "table": table, "sha256": hex.EncodeToString(sum[:]),
			"bytes": len(b), "rows": rec.NumRows(), "columns": cols}
	}
	report := map[string]any{
		"format": ReportFormat, "mode": mode, "intervals": false, "reference_date": "2026-01-01",
		"key_fingerprint": "0123abcd0123abcd",
		"source":          map[string]any{"format": "synthea-csv", "layout": "v3.0"},
		"tables": map[string]any{
			"person":               map[string]any{"rows_in": len(patients), "rows_out": len(patients), "columns": map[string]string{"person_id": "pseudonymize"}},
			"condition_occurrence": map[string]any{"rows_in": len(conds), "rows_out": len(conds), "columns": map[string]string{}},
		},
		"files": []any{
			fileEntry("condition_occurrence/part-0000.parquet", "condition_occurrence", cond),
			fileEntry("person/part-0000.parquet", "person", person),
		},
		"suppressed":   map[string]int{"opt_out": 0, "k_anonymity": 0},
		"k_anonymity":  map[string]any{"k_requested": 11, "k_achieved": 12, "quasi_identifiers": []string{"year_of_birth"}},
		"l_diversity":  nil,
		"risk":         map[string]any{"prosecutor": map[string]float64{"highest": 0.0833, "average": 0.01}, "journalist": map[string]float64{"highest": 0.05, "average": 0.01}, "marketer": map[string]float64{"highest": 0.01, "average": 0.01}},
		"summary":      map[string]any{"persons": len(patients), "year_min": yearMin, "year_max": yearMax, "conditions": top, "drugs": []any{}},
		"future_field": "deid may add fields; cohort ignores them",
	}
	b, err := json.MarshalIndent(report, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, ReportName), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}
