package deid

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/cohortnet/cohortnet/deid/source"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

// memExport is an in-memory [source.Export]: tables of rows given as maps
// from column name to value (string, int32 day number for dates, float64,
// bool; absent or nil is null). It is a real Export over Arrow records.
type memExport struct {
	rows  map[string][]map[string]any
	batch int
}

func (m *memExport) Format() string { return "memory" }
func (m *memExport) Layout() string { return "test" }
func (m *memExport) Tables() []string {
	var ts []string
	for _, t := range source.Tables {
		if _, ok := m.rows[t]; ok {
			ts = append(ts, t)
		}
	}
	return ts
}
func (m *memExport) Unmapped() map[string]int64 { return nil }
func (m *memExport) Close() error               { return nil }

func (m *memExport) Read(ctx context.Context, table string) (array.RecordReader, error) {
	sch := source.Schema(table)
	rows := m.rows[table]
	batch := m.batch
	if batch <= 0 {
		batch = 3
	}
	var recs []arrow.RecordBatch
	for off := 0; off < len(rows) || off == 0; off += batch {
		b := array.NewRecordBuilder(memory.DefaultAllocator, sch)
		for _, row := range rows[off:min(off+batch, len(rows))] {
			for i, f := range sch.Fields() {
				v, ok := row[f.Name]
				if !ok || v == nil {
					b.Field(i).AppendNull()
					continue
				}
				switch fb := b.Field(i).(type) {
				case *array.StringBuilder:
					fb.Append(v.(string))
				case *array.Date32Builder:
					fb.Append(arrow.Date32(v.(int32)))
				case *array.Float64Builder:
					fb.Append(v.(float64))
				case *array.BooleanBuilder:
					fb.Append(v.(bool))
				}
			}
		}
		recs = append(recs, b.NewRecordBatch())
		b.Release()
		if len(rows) == 0 {
			break
		}
	}
	rd, err := array.NewRecordReader(sch, recs)
	for _, r := range recs {
		r.Release()
	}
	return rd, err
}

var _ source.Export = (*memExport)(nil)

// day returns the Date32 day number of a YYYY-MM-DD date.
func day(s string) int32 {
	var y, m, d int32
	parts := strings.Split(s, "-")
	for i, p := range parts {
		n := int32(0)
		for _, c := range p {
			n = n*10 + int32(c-'0')
		}
		switch i {
		case 0:
			y = n
		case 1:
			m = n
		case 2:
			d = n
		}
	}
	return daysOf(y, m, d)
}

// readTable reads every Parquet file of a table in a dataset into rows of
// column name to value (string, int32, float64, bool; nil for null).
func readTable(t testing.TB, dir, table string) []map[string]any {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, table, "part-*.parquet"))
	var rows []map[string]any
	for _, f := range files {
		rows = append(rows, readParquet(t, f)...)
	}
	return rows
}

func readParquet(t testing.TB, path string) []map[string]any {
	t.Helper()
	pf, err := file.OpenParquetFile(path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: 1024}, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := fr.ReadTable(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Release()
	tr := array.NewTableReader(tbl, 1024)
	defer tr.Release()
	var rows []map[string]any
	for tr.Next() {
		rec := tr.RecordBatch()
		for i := 0; i < int(rec.NumRows()); i++ {
			row := map[string]any{}
			for j, f := range rec.Schema().Fields() {
				col := rec.Column(j)
				if col.IsNull(i) {
					row[f.Name] = nil
					continue
				}
				switch a := col.(type) {
				case *array.String:
					row[f.Name] = a.Value(i)
				case *array.Int32:
					row[f.Name] = a.Value(i)
				case *array.Date32:
					row[f.Name] = int32(a.Value(i))
				case *array.Float64:
					row[f.Name] = a.Value(i)
				case *array.Boolean:
					row[f.Name] = a.Value(i)
				default:
					t.Fatalf("%s: column %s has unexpected type %s", path, f.Name, col.DataType())
				}
			}
			rows = append(rows, row)
		}
	}
	return rows
}

func sha256hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func contextWithCancel(t *testing.T) (context.Context, context.CancelFunc) {
	return context.WithCancel(t.Context())
}
