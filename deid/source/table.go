package source

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// Plain-table layouts.
const (
	LayoutCSV     = "csv"
	LayoutParquet = "parquet"
)

// TableConfig says how to read a plain table. The zero value sniffs the
// delimiter and infers column types from the first InferRows rows.
type TableConfig struct {
	// Comma is the CSV delimiter; 0 sniffs it from the first lines among
	// ',', ';', '\t', '|' and '$'.
	Comma rune
	// InferRows is how many rows decide a column's type; 0 means 1000.
	InferRows int
}

// tableLayout tells a CSV from a Parquet file by its content.
func tableLayout(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("source: detect: %w", err)
	}
	defer f.Close()
	var magic [4]byte
	n, _ := f.Read(magic[:])
	if n == 4 && string(magic[:]) == "PAR1" {
		return LayoutParquet, nil
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".csv", ".tsv", ".txt", ".psv":
		return LayoutCSV, nil
	}
	return "", fmt.Errorf("source: detect %s: %w (a table must be a .csv, .tsv, .txt or Parquet file)", path, ErrUnknownFormat)
}

type tableExport struct {
	*export
	path string
	cfg  TableConfig
}

func openTable(path string) (Export, error) { return OpenTable(path, TableConfig{}) }

// OpenTable opens a single CSV or Parquet file as the one table "table",
// its columns and types kept.
func OpenTable(path string, cfg TableConfig) (Export, error) {
	layout, err := tableLayout(path)
	if err != nil {
		return nil, err
	}
	t := &tableExport{export: newExport(FormatTable, layout, filepath.Dir(path)), path: path, cfg: cfg}
	if layout == LayoutParquet {
		t.add(FormatTable, t.readParquet)
	} else {
		t.add(FormatTable, t.readCSV)
	}
	return t, nil
}

func (t *tableExport) readParquet(ctx context.Context) (array.RecordReader, error) {
	pf, err := file.OpenParquetFile(t.path, false)
	if err != nil {
		return nil, fmt.Errorf("source: read %s: %w", filepath.Base(t.path), err)
	}
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: BatchRows}, memory.DefaultAllocator)
	if err != nil {
		pf.Close()
		return nil, fmt.Errorf("source: read %s: %w", filepath.Base(t.path), err)
	}
	rr, err := fr.GetRecordReader(ctx, nil, nil)
	if err != nil {
		pf.Close()
		return nil, fmt.Errorf("source: read %s: %w", filepath.Base(t.path), err)
	}
	return &closingReader{RecordReader: rr, close: pf.Close}, nil
}

// closingReader closes a file once its reader is released.
type closingReader struct {
	array.RecordReader
	close func() error
}

func (c *closingReader) Release() {
	c.RecordReader.Release()
	if c.close != nil {
		c.close()
		c.close = nil
	}
}

// sniffComma picks the delimiter that splits the first lines into the same
// number (more than one) of fields.
func sniffComma(path string) (rune, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	var lines [][]byte
	for len(lines) < 20 && sc.Scan() {
		lines = append(lines, bytes.Clone(sc.Bytes()))
	}
	if len(lines) == 0 {
		return ',', nil
	}
	best, bestN := ',', 0
	for _, c := range []byte{',', ';', '\t', '|', '$'} {
		n := countOutsideQuotes(lines[0], c)
		if n == 0 {
			continue
		}
		consistent := true
		for _, l := range lines[1:] {
			if len(l) > 0 && countOutsideQuotes(l, c) != n {
				consistent = false
				break
			}
		}
		if consistent && n > bestN {
			best, bestN = rune(c), n
		}
	}
	return best, nil
}

func countOutsideQuotes(line []byte, c byte) int {
	n, q := 0, false
	for _, b := range line {
		switch {
		case b == '"':
			q = !q
		case b == c && !q:
			n++
		}
	}
	return n
}

// colKind is an inferred column type, from narrowest to widest.
type colKind int

const (
	kindNone colKind = iota // only empty values seen
	kindInt
	kindFloat
	kindBool
	kindDate
	kindString
)

func fits(k colKind, v string) bool {
	switch k {
	case kindInt:
		_, err := strconv.ParseInt(v, 10, 64)
		return err == nil
	case kindFloat:
		_, err := strconv.ParseFloat(v, 64)
		return err == nil
	case kindBool:
		_, err := strconv.ParseBool(v)
		return err == nil && !strings.ContainsAny(v, "01")
	case kindDate:
		_, ok, err := parseDate(v)
		return ok && err == nil && len(v) == 10
	}
	return true
}

// widen returns the narrowest kind at least k that fits v.
func widen(k colKind, v string) colKind {
	if v == "" {
		return k
	}
	if k == kindNone {
		k = kindInt
	}
	for !fits(k, v) {
		switch k {
		case kindInt:
			k = kindFloat
		case kindFloat:
			if _, err := strconv.ParseInt(v, 10, 64); err == nil {
				return kindFloat // an int in a float column
			}
			k = kindBool
		case kindBool:
			k = kindDate
		default:
			k = kindString
		}
	}
	return k
}

func (t *tableExport) readCSV(ctx context.Context) (array.RecordReader, error) {
	comma := t.cfg.Comma
	if comma == 0 {
		var err error
		if comma, err = sniffComma(t.path); err != nil {
			return nil, err
		}
	}
	infer := t.cfg.InferRows
	if infer <= 0 {
		infer = 1000
	}
	c, err := openCSV(t.path, comma)
	if err != nil {
		return nil, err
	}
	kinds := make([]colKind, len(c.hdr))
	for range infer {
		ok, err := c.next()
		if err != nil {
			c.close()
			return nil, err
		}
		if !ok {
			break
		}
		for i := range kinds {
			// a numeric column that saw a non-int float stays float; others widen in order
			k := widen(kinds[i], c.rec[i])
			if kinds[i] == kindFloat && k == kindFloat {
				continue
			}
			kinds[i] = k
		}
	}
	c.close()
	fields := make([]arrow.Field, len(kinds))
	for i, k := range kinds {
		var dt arrow.DataType = arrow.BinaryTypes.String
		switch k {
		case kindInt:
			dt = arrow.PrimitiveTypes.Int64
		case kindFloat:
			dt = arrow.PrimitiveTypes.Float64
		case kindBool:
			dt = arrow.FixedWidthTypes.Boolean
		case kindDate:
			dt = arrow.FixedWidthTypes.Date32
		}
		fields[i] = arrow.Field{Name: c.hdr[i], Type: dt, Nullable: true}
	}
	schema := arrow.NewSchema(fields, nil)
	return readCSVTable(ctx, t.path, comma, schema, nil, func(c *csvFile) (rowMapper, error) {
		ints := make([]int64, len(kinds))
		nums := make([]float64, len(kinds))
		bools := make([]bool, len(kinds))
		dts := make([]arrow.Date32, len(kinds))
		return func(c *csvFile, w *rowWriter) (bool, error) {
			// check first, then append
			for i, k := range kinds {
				v := c.rec[i]
				if v == "" {
					continue
				}
				var err error
				switch k {
				case kindInt:
					ints[i], err = strconv.ParseInt(v, 10, 64)
				case kindFloat:
					nums[i], err = strconv.ParseFloat(v, 64)
				case kindBool:
					bools[i], err = strconv.ParseBool(v)
				case kindDate:
					var ok bool
					dts[i], ok, err = parseDate(v)
					if err == nil && (!ok || len(v) != 10) {
						err = ErrBadValue
					}
				}
				if err != nil {
					return false, c.fieldErr(i, detail(ErrBadValue, "%q is not %s like the rows before", clip(v), fields[i].Type))
				}
			}
			for i, k := range kinds {
				v := c.rec[i]
				switch k {
				case kindInt:
					w.int64(i, ints[i], v != "")
				case kindFloat:
					w.num(i, nums[i], v != "")
				case kindBool:
					w.boolean(i, bools[i], v != "")
				case kindDate:
					w.date(i, dts[i], v != "")
				default:
					w.str(i, v)
				}
			}
			return true, nil
		}, nil
	})
}
