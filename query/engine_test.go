package query

import (
	"bytes"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
)

func openThree(t *testing.T, n int) (*Engine, []Dataset, []*fixture) {
	t.Helper()
	ds, fx := threeSites(t, t.TempDir(), n)
	e, err := Open(t.Context(), Config{Threads: 2, MemoryLimit: 256 << 20}, ds)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e, ds, fx
}

// collect runs q and returns its rows as text cells.
func collect(t *testing.T, e *Engine, q string) ([][]string, Provenance) {
	t.Helper()
	rows, err := e.Query(t.Context(), q, Options{Checkpoint: "ledger.example/log\n42\nhash=\n"})
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	var out [][]string
	for rows.Next() {
		var rec []string
		for _, v := range rows.Values() {
			rec = append(rec, text(v))
		}
		out = append(out, rec)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	return out, rows.Provenance()
}

func TestUnionViews(t *testing.T) {
	e, ds, fx := openThree(t, 200)
	tests := []struct {
		name  string
		q     string
		want  [][]string
		prov  []string
		check func(t *testing.T, got [][]string)
	}{
		{
			name: "cohorts has the expert dataset only",
			q:    "SELECT source_dataset, source_institution, count(*) FROM cohorts.person GROUP BY ALL ORDER BY 1",
			want: [][]string{{ds[0].Manifest, "hospital-a", itoa(len(fx[0].persons))}},
			prov: []string{ds[0].Manifest},
		},
		{
			name: "cohorts_years has years",
			q:    "SELECT source_institution, count(*), min(condition_start_year) >= 2020 FROM cohorts_years.condition_occurrence GROUP BY ALL",
			want: [][]string{{"hospital-b", itoa(len(fx[1].conds)), "true"}},
			prov: []string{ds[1].Manifest},
		},
		{
			name: "cohorts_days starts at day 0",
			q:    "SELECT source_institution, count(*), min(condition_start_day) FROM cohorts_days.condition_occurrence GROUP BY ALL",
			want: [][]string{{"hospital-c", itoa(len(fx[2].conds)), "0"}},
			prov: []string{ds[2].Manifest},
		},
		{
			name: "dataset schema by name",
			q:    "SELECT count(*) FROM hospital_b_cohort.drug_exposure",
			want: [][]string{{itoa(len(fx[1].drugs))}},
			prov: []string{ds[1].Manifest},
		},
		{
			name: "union by name across unions",
			q: `SELECT count(*) FROM (SELECT person_id FROM cohorts.person UNION ALL SELECT person_id FROM cohorts_years.person
			    UNION ALL SELECT person_id FROM cohorts_days.person)`,
			want: [][]string{{itoa(len(fx[0].persons) + len(fx[1].persons) + len(fx[2].persons))}},
			prov: []string{ds[0].Manifest, ds[1].Manifest, ds[2].Manifest},
		},
		{
			name: "read_parquet of a dataset's own file is allowed and counted",
			q:    "SELECT count(*) FROM read_parquet('" + ds[2].Tables["person"][0] + "')",
			want: [][]string{{itoa(len(fx[2].persons))}},
			prov: []string{ds[2].Manifest},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, prov := collect(t, e, tt.q)
			if !slices.EqualFunc(got, tt.want, slices.Equal) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			if m := prov.Manifests(); !slices.Equal(m, tt.prov) {
				t.Errorf("provenance manifests %v, want %v", m, tt.prov)
			}
			if prov.Checkpoint == "" || prov.SQL == "" || prov.Rows != int64(len(got)) {
				t.Errorf("provenance incomplete: %+v", prov)
			}
		})
	}
}

func itoa(n int) string { return strings.TrimSpace(text(int64(n))) }

func TestOpenRejects(t *testing.T) {
	good := Dataset{Name: "h/a", Manifest: "bafyx", Tables: map[string][]string{"person": {"/x/p.parquet"}}}
	tests := []struct {
		name string
		ds   []Dataset
	}{
		{"relative path", []Dataset{{Name: "h/b", Manifest: "m", Tables: map[string][]string{"person": {"p.parquet"}}}}},
		{"unknown table", []Dataset{{Name: "h/b", Manifest: "m", Tables: map[string][]string{"secrets": {"/p.parquet"}}}}},
		{"no manifest", []Dataset{{Name: "h/b", Tables: map[string][]string{"person": {"/p.parquet"}}}}},
		{"schema collision", []Dataset{good, {Name: "h-a", Manifest: "m", Tables: good.Tables}}},
		{"reserved schema", []Dataset{{Name: "cohorts", Manifest: "m", Tables: good.Tables}}},
		{"unknown mode", []Dataset{{Name: "h/b", Manifest: "m", Mode: "open", Tables: good.Tables}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Open(t.Context(), Config{}, tt.ds)
			if err == nil {
				e.Close()
				t.Fatal("Open succeeded")
			}
		})
	}
}

func TestFormats(t *testing.T) {
	e, ds, fx := openThree(t, 50)
	const q = "SELECT person_id, gender, year_of_birth, 1.5::DECIMAL(4,2) AS d, DATE '2021-03-04' AS day FROM cohorts.person ORDER BY person_id"
	n := len(fx[0].persons)
	run := func(t *testing.T, format string) []byte {
		rows, err := e.Query(t.Context(), q, Options{Checkpoint: "cp"})
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := Write(&buf, rows, format, WriteOptions{MaxRows: 10, BatchRows: 7}); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	t.Run("table", func(t *testing.T) {
		out := string(run(t, FormatTable))
		for _, want := range []string{"person_id", "a00000", "2021-03-04", "(50 rows, 10 shown", ds[0].Manifest, "checkpoint: cp"} {
			if !strings.Contains(out, want) {
				t.Errorf("table output lacks %q:\n%s", want, out)
			}
		}
	})
	t.Run("csv", func(t *testing.T) {
		recs, err := csv.NewReader(bytes.NewReader(run(t, FormatCSV))).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != n+1 || recs[1][0] != fx[0].persons[0].id || recs[1][3] != "1.50" && recs[1][3] != "1.5" {
			t.Errorf("csv: %d records, first %v", len(recs), recs[1])
		}
	})
	t.Run("json", func(t *testing.T) {
		var got struct {
			Columns    []Column
			Rows       [][]any
			Provenance Provenance
		}
		if err := json.Unmarshal(run(t, FormatJSON), &got); err != nil {
			t.Fatal(err)
		}
		if len(got.Rows) != n || got.Provenance.Rows != int64(n) || got.Provenance.Datasets[0].Manifest != ds[0].Manifest {
			t.Errorf("json: %d rows, provenance %+v", len(got.Rows), got.Provenance)
		}
		if got.Rows[0][4] != "2021-03-04" || got.Rows[0][3] != 1.5 {
			t.Errorf("json row 0: %v", got.Rows[0])
		}
	})
	t.Run("jsonl", func(t *testing.T) {
		lines := strings.Split(strings.TrimSpace(string(run(t, FormatJSONL))), "\n")
		var row map[string]any
		if err := json.Unmarshal([]byte(lines[0]), &row); err != nil {
			t.Fatal(err)
		}
		if len(lines) != n || row["person_id"] != fx[0].persons[0].id {
			t.Errorf("jsonl: %d lines, first %v", len(lines), row)
		}
	})
	t.Run("parquet", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "out.parquet")
		if err := os.WriteFile(path, run(t, FormatParquet), 0o644); err != nil {
			t.Fatal(err)
		}
		// Read back with DuckDB, an independent reader.
		db, err := sql.Open("duckdb", "")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var cnt, yobs int
		var day string
		if err := db.QueryRow("SELECT count(*), sum(year_of_birth), min(day)::VARCHAR FROM read_parquet(?)", path).Scan(&cnt, &yobs, &day); err != nil {
			t.Fatal(err)
		}
		want := 0
		for _, p := range fx[0].persons {
			want += p.yob
		}
		if cnt != n || yobs != want || day != "2021-03-04" {
			t.Errorf("parquet: %d rows, yob sum %d (want %d), day %s", cnt, yobs, want, day)
		}
		r, err := file.OpenParquetFile(path, false)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		kv := r.MetaData().KeyValueMetadata().FindValue(ProvenanceKey)
		var prov Provenance
		if kv == nil || json.Unmarshal([]byte(*kv), &prov) != nil || prov.Rows != int64(n) {
			t.Errorf("parquet provenance metadata: %v", kv)
		}
	})
	t.Run("arrow", func(t *testing.T) {
		rd, err := ipc.NewReader(bytes.NewReader(run(t, FormatArrow)), ipc.WithAllocator(memory.DefaultAllocator))
		if err != nil {
			t.Fatal(err)
		}
		defer rd.Release()
		got := 0
		for rd.Next() {
			got += int(rd.RecordBatch().NumRows())
		}
		if got != n || rd.Schema().Field(0).Name != "person_id" {
			t.Errorf("arrow: %d rows, schema %v", got, rd.Schema())
		}
	})
	t.Run("unknown", func(t *testing.T) {
		rows, err := e.Query(t.Context(), q, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := Write(&bytes.Buffer{}, rows, "xml", WriteOptions{}); err == nil {
			t.Error("xml accepted")
		}
	})
}

func TestRefusedIsRefused(t *testing.T) {
	e, _, _ := openThree(t, 10)
	_, err := e.Query(t.Context(), "DROP VIEW cohorts.person", Options{})
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "DROP writes") {
		t.Errorf("got %v", err)
	}
	if _, err := e.Query(t.Context(), "SELEC 1", Options{}); err == nil || errors.Is(err, ErrRefused) {
		t.Errorf("syntax error: got %v", err)
	}
}

func TestWriteFile(t *testing.T) {
	e, ds, fx := openThree(t, 30)
	path := filepath.Join(t.TempDir(), "r.csv")
	rows, err := e.Query(t.Context(), "SELECT * FROM cohorts.person", Options{Checkpoint: "cp"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := WriteFile(path, rows, FormatCSV, WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil || strings.Count(string(b), "\n") != len(fx[0].persons)+1 {
		t.Fatalf("result file: %v, %d lines", err, strings.Count(string(b), "\n"))
	}
	pb, err := os.ReadFile(path + ".provenance.json")
	if err != nil {
		t.Fatal(err)
	}
	var prov Provenance
	if err := json.Unmarshal(pb, &prov); err != nil || prov.Checkpoint != "cp" || prov.Manifests()[0] != ds[0].Manifest || prov.Rows != int64(len(fx[0].persons)) {
		t.Errorf("sidecar: %v %+v", err, prov)
	}
	// Parquet and Arrow files too.
	for _, f := range []string{FormatParquet, FormatArrow} {
		rows, err := e.Query(t.Context(), "SELECT * FROM cohorts.person", Options{})
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), "r."+f)
		if prov, err := WriteFile(p, rows, f, WriteOptions{}); err != nil || prov.Rows != int64(len(fx[0].persons)) {
			t.Errorf("%s: %v, %d rows", f, err, prov.Rows)
		}
		if st, err := os.Stat(p); err != nil || st.Size() == 0 {
			t.Errorf("%s file: %v", f, err)
		}
	}
	// A failing query leaves no file behind.
	bad := filepath.Join(t.TempDir(), "bad.csv")
	rows, err = e.Query(t.Context(), "SELECT CAST(person_id AS INTEGER) FROM cohorts.person", Options{})
	if err == nil {
		if _, err = WriteFile(bad, rows, FormatCSV, WriteOptions{}); err == nil {
			t.Fatal("cast of pseudonyms to integers succeeded")
		}
	}
	if ents, _ := os.ReadDir(filepath.Dir(bad)); len(ents) != 0 {
		t.Errorf("left behind: %v", ents)
	}
}

func FuzzReadDatasets(f *testing.F) {
	f.Add(`[{"name":"h/a","institution":"h","manifest":"bafy","mode":"expert","tables":{"person":["/s/p.parquet"]}}]`)
	f.Add(`[{"name":"h/a","manifest":"m","mode":"safe-harbor","intervals":true,"own":true,"tables":{"note":["/n"]}}]`)
	f.Add(`[{"name":"","tables":{}}]`)
	f.Add(`{}`)
	f.Fuzz(func(t *testing.T, s string) {
		ds, err := ReadDatasets(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, d := range ds {
			if d.validate() != nil || d.Schema() == "" {
				t.Fatalf("accepted invalid %+v", d)
			}
			for _, fs := range d.Tables {
				for _, f := range fs {
					if !filepath.IsAbs(f) {
						t.Fatalf("relative path accepted: %q", f)
					}
				}
			}
		}
	})
}

func TestOpenEmpty(t *testing.T) {
	e, err := Open(t.Context(), Config{Threads: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if got, _ := collect(t, e, "SELECT 41 + 1"); got[0][0] != "42" {
		t.Errorf("got %v", got)
	}
	if _, err := e.Query(t.Context(), "SELECT * FROM read_text('/etc/hostname')", Options{}); !errors.Is(err, ErrRefused) {
		t.Errorf("file read with no datasets: %v", err)
	}
}
