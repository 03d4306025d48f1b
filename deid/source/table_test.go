package source

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

const surveyCSV = "id;name;dob;score;smoker;note\n" +
	"1;Ann Lee;2001-02-03;1.5;true;\"has; semicolon\"\n" +
	"2;Bob Ray;1999-12-31;2;false;\n" +
	"3;;;;;plain\n"

// A plain table keeps its columns and types; the delimiter is sniffed.
func TestPlainTableCSVAndParquet(t *testing.T) {
	dir := t.TempDir()
	csvPath := filepath.Join(dir, "survey.csv")
	if err := os.WriteFile(csvPath, []byte(surveyCSV), 0o644); err != nil {
		t.Fatal(err)
	}
	f, l, err := Detect(csvPath)
	if err != nil || f != FormatTable || l != LayoutCSV {
		t.Fatalf("Detect = %s %s %v", f, l, err)
	}
	e := openT(t, csvPath, FormatAuto)
	if got := e.Tables(); len(got) != 1 || got[0] != FormatTable {
		t.Fatalf("Tables() = %v", got)
	}
	rr, err := e.Read(t.Context(), FormatTable)
	if err != nil {
		t.Fatal(err)
	}
	wantTypes := []arrow.DataType{arrow.PrimitiveTypes.Int64, arrow.BinaryTypes.String, arrow.FixedWidthTypes.Date32,
		arrow.PrimitiveTypes.Float64, arrow.FixedWidthTypes.Boolean, arrow.BinaryTypes.String}
	for i, f := range rr.Schema().Fields() {
		if !arrow.TypeEqual(f.Type, wantTypes[i]) {
			t.Errorf("column %s: %s, want %s", f.Name, f.Type, wantTypes[i])
		}
	}
	pqPath := filepath.Join(dir, "survey.parquet")
	out, err := os.Create(pqPath)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pqarrow.NewFileWriter(rr.Schema(), out, parquet.NewWriterProperties(), pqarrow.DefaultWriterProps())
	if err != nil {
		t.Fatal(err)
	}
	for rr.Next() {
		if err := w.Write(rr.RecordBatch()); err != nil {
			t.Fatal(err)
		}
	}
	if err := rr.Err(); err != nil {
		t.Fatal(err)
	}
	rr.Release()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	for _, path := range []string{csvPath, pqPath} {
		t.Run(filepath.Ext(path), func(t *testing.T) {
			e := openT(t, path, FormatTable)
			rows := readTable(t, e, FormatTable)
			if len(rows) != 3 {
				t.Fatalf("%d rows, want 3", len(rows))
			}
			checkRow(t, rows[0], row{"id": int64(1), "name": "Ann Lee", "dob": "2001-02-03", "score": 1.5, "smoker": true, "note": "has; semicolon"})
			checkRow(t, rows[2], row{"id": int64(3), "name": nil, "dob": nil, "score": nil, "note": "plain"})
			s, err := Inspect(t.Context(), e)
			if err != nil {
				t.Fatal(err)
			}
			if s.Tables[FormatTable] != 3 {
				t.Errorf("Inspect tables = %v", s.Tables)
			}
			for _, want := range []string{"table.id", "table.name", "table.dob"} {
				if !contains(s.Identifiers, want) {
					t.Errorf("Identifiers %v lack %s", s.Identifiers, want)
				}
			}
		})
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// A later row that does not fit the inferred type stops with its line and column.
func TestPlainTableTypeChange(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.csv")
	os.WriteFile(path, []byte("a,b\n1,x\n2,y\nthree,z\n"), 0o644)
	// Inferring over the default 1000 rows sees "three": a string column.
	if err := firstErr(t, path, FormatTable, FormatTable); err != nil {
		t.Fatalf("inferring over all rows: %v", err)
	}
	e, err := OpenTable(path, TableConfig{InferRows: 2})
	if err != nil {
		t.Fatal(err)
	}
	rr, err := e.Read(t.Context(), FormatTable)
	if err != nil {
		t.Fatal(err)
	}
	defer rr.Release()
	for rr.Next() {
	}
	var pe *ParseError
	if !errors.As(rr.Err(), &pe) || !errors.Is(pe, ErrBadValue) || pe.Line != 4 || pe.Field != "a" {
		t.Errorf("error %v, want bad value at line 4 field a", rr.Err())
	}
}

func TestInspectSummary(t *testing.T) {
	e := openT(t, sharedData(t, "synthea-csv-27"), FormatAuto)
	s, err := Inspect(t.Context(), e)
	if err != nil {
		t.Fatal(err)
	}
	if s.Format != FormatSyntheaCSV || s.Layout != LayoutSynthea30 {
		t.Errorf("format %s %s", s.Format, s.Layout)
	}
	if s.Tables[Person] != 27 || s.Tables[Measurement] != 599 {
		t.Errorf("tables %v", s.Tables)
	}
	if s.Unmapped["observation not numeric"] != 391 {
		t.Errorf("unmapped %v", s.Unmapped)
	}
	// Synthea CSV has SSNs but no MRN, phone or email.
	if !contains(s.Identifiers, "person.ssn") || contains(s.Identifiers, "person.mrn") || contains(s.Identifiers, "person.phone") {
		t.Errorf("identifiers %v", s.Identifiers)
	}
}
