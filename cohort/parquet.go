package cohort

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// parquetInfo reads a Parquet file's Arrow schema and row count from its
// footer.
func parquetInfo(path string) ([]Field, int64, error) {
	pf, err := file.OpenParquetFile(path, false)
	if err != nil {
		return nil, 0, fmt.Errorf("read parquet footer: %w", err)
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		return nil, 0, fmt.Errorf("read parquet schema: %w", err)
	}
	sc, err := fr.Schema()
	if err != nil {
		return nil, 0, fmt.Errorf("read parquet schema: %w", err)
	}
	return fieldsOf(sc), pf.NumRows(), nil
}

func fieldsOf(sc *arrow.Schema) []Field {
	fs := make([]Field, 0, sc.NumFields())
	for _, f := range sc.Fields() {
		fs = append(fs, Field{Name: f.Name, Type: f.Type.String(), Nullable: f.Nullable})
	}
	return fs
}

func fieldNames(fs []Field) []string {
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.Name
	}
	return names
}
