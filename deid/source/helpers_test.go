package source

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/cohortnet/cohortnet/internal/sampledata"
)

// sharedData finds a folder of shared/data beside the repository.
func sharedData(t testing.TB, sub string) string { return sampledata.Dir(t, sub) }

// row is one output row as column name to value (string, float64, bool,
// arrow.Date32 as "YYYY-MM-DD", or nil).
type row map[string]any

// readTable reads a whole table (test data is small) and checks every batch
// has the table's schema and at most BatchRows rows.
func readTable(t testing.TB, e Export, table string) []row {
	t.Helper()
	rr, err := e.Read(t.Context(), table)
	if err != nil {
		t.Fatalf("Read(%s): %v", table, err)
	}
	defer rr.Release()
	var out []row
	for rr.Next() {
		rec := rr.RecordBatch()
		if want := Schema(table); want != nil && !rec.Schema().Equal(want) {
			t.Fatalf("%s: batch schema %v, want %v", table, rec.Schema(), want)
		}
		if rec.NumRows() > BatchRows+64 {
			t.Fatalf("%s: batch of %d rows", table, rec.NumRows())
		}
		for i := 0; i < int(rec.NumRows()); i++ {
			r := row{}
			for c, f := range rec.Schema().Fields() {
				r[f.Name] = value(rec.Column(c), i)
			}
			out = append(out, r)
		}
	}
	if err := rr.Err(); err != nil {
		t.Fatalf("Read(%s): %v", table, err)
	}
	return out
}

func value(a arrow.Array, i int) any {
	if a.IsNull(i) {
		return nil
	}
	switch a := a.(type) {
	case *array.String:
		return a.Value(i)
	case *array.Float64:
		return a.Value(i)
	case *array.Int64:
		return a.Value(i)
	case *array.Boolean:
		return a.Value(i)
	case *array.Date32:
		return a.Value(i).FormattedString()
	}
	return a.ValueStr(i)
}

// countRows counts a table's rows without holding them.
func countRows(t testing.TB, e Export, table string) int {
	t.Helper()
	rr, err := e.Read(t.Context(), table)
	if err != nil {
		t.Fatalf("Read(%s): %v", table, err)
	}
	defer rr.Release()
	n := 0
	for rr.Next() {
		n += int(rr.RecordBatch().NumRows())
	}
	if err := rr.Err(); err != nil {
		t.Fatalf("Read(%s): %v", table, err)
	}
	return n
}

// lines counts the non-empty lines of a file, minus skip (a header).
func lines(t testing.TB, path string, skip int) int {
	t.Helper()
	return linesWhere(t, path, skip, func(string) bool { return true })
}

func linesWhere(t testing.TB, path string, skip int, keep func(string) bool) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	n := 0
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		if skip > 0 {
			skip--
			continue
		}
		if keep(sc.Text()) {
			n++
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}

func openT(t testing.TB, dir, format string) Export {
	t.Helper()
	e, err := Open(dir, format)
	if err != nil {
		t.Fatalf("Open(%s, %s): %v", filepath.Base(dir), format, err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}
