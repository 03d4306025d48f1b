package query

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/duckdb/duckdb-go/v2"
)

// Output formats of [Write].
const (
	FormatTable   = "table"   // aligned columns for a terminal, truncated, with a provenance footer
	FormatCSV     = "csv"     // RFC 4180 with a header row
	FormatJSON    = "json"    // one object: columns, rows (arrays), provenance
	FormatJSONL   = "jsonl"   // one JSON object per row, keyed by column name
	FormatParquet = "parquet" // Parquet (zstd), provenance in the key-value metadata
	FormatArrow   = "arrow"   // Arrow IPC stream format
)

// Formats lists the output formats.
var Formats = []string{FormatTable, FormatCSV, FormatJSON, FormatJSONL, FormatParquet, FormatArrow}

// ProvenanceKey is the Parquet key-value metadata key holding the result's
// provenance as JSON.
const ProvenanceKey = "cohortnet.provenance"

// WriteOptions tune [Write]. The zero value works.
type WriteOptions struct {
	// MaxRows caps the rows a table shows; the rest are counted. Zero
	// means 100; negative means all.
	MaxRows int
	// BatchRows is the Arrow record batch size for Parquet and Arrow
	// output. Zero means 65536.
	BatchRows int
}

// Write streams rows to w in format and closes rows. Rows are never held
// all at once (except up to MaxRows for a table, to align its columns).
func Write(w io.Writer, rows *Rows, format string, opts WriteOptions) error {
	defer rows.Close()
	var err error
	switch format {
	case FormatTable, "":
		err = writeTable(w, rows, opts)
	case FormatCSV:
		err = writeCSV(w, rows)
	case FormatJSON:
		err = writeJSON(w, rows)
	case FormatJSONL:
		err = writeJSONL(w, rows)
	case FormatParquet:
		err = writeArrow(w, rows, opts, true)
	case FormatArrow:
		err = writeArrow(w, rows, opts, false)
	default:
		return fmt.Errorf("query: unknown format %q (use %s)", format, strings.Join(Formats, ", "))
	}
	if err != nil {
		return err
	}
	return rows.Err()
}

// text renders a value for table and CSV output.
func text(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case time.Time:
		if v.Hour() == 0 && v.Minute() == 0 && v.Second() == 0 && v.Nanosecond() == 0 {
			return v.Format(time.DateOnly)
		}
		return v.Format(time.RFC3339Nano)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case float32:
		return strconv.FormatFloat(float64(v), 'g', -1, 32)
	case []byte:
		return fmt.Sprintf("%x", v)
	case duckdb.Decimal:
		return v.String()
	case *big.Int:
		return v.String()
	case fmt.Stringer:
		return v.String()
	}
	return fmt.Sprint(v)
}

// jsonValue renders a value for JSON output.
func jsonValue(v any) any {
	switch v := v.(type) {
	case time.Time:
		return text(v)
	case duckdb.Decimal:
		return v.Float64()
	case *big.Int:
		return v.String()
	case []byte:
		return fmt.Sprintf("%x", v)
	}
	return v
}

func writeTable(w io.Writer, rows *Rows, opts WriteOptions) error {
	max := opts.MaxRows
	if max == 0 {
		max = 100
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	var head []string
	for _, c := range rows.Columns() {
		head = append(head, cell(c.Name))
	}
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	shown := int64(0)
	for rows.Next() {
		if max >= 0 && shown >= int64(max) {
			continue // count the rest
		}
		var line []string
		for _, v := range rows.Values() {
			if v == nil {
				line = append(line, "NULL")
			} else {
				line = append(line, cell(text(v)))
			}
		}
		fmt.Fprintln(tw, strings.Join(line, "\t"))
		shown++
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("query: write table: %w", err)
	}
	p := rows.Provenance()
	if p.Rows > shown {
		fmt.Fprintf(w, "(%d rows, %d shown; use --format csv, parquet or arrow with --out for all)\n", p.Rows, shown)
	} else {
		fmt.Fprintf(w, "(%d rows)\n", p.Rows)
	}
	_, err := io.WriteString(w, provenanceFooter(p))
	return err
}

// cell shortens a table cell to one line of at most 60 characters.
func cell(s string) string {
	s = strings.NewReplacer("\n", " ", "\r", " ", "\t", " ").Replace(s)
	if utf8.RuneCountInString(s) > 60 {
		r := []rune(s)
		s = string(r[:59]) + "…"
	}
	return s
}

func provenanceFooter(p Provenance) string {
	var b strings.Builder
	fmt.Fprintf(&b, "-- provenance: %d dataset(s)", len(p.Datasets))
	for _, d := range p.Datasets {
		fmt.Fprintf(&b, "\n--   %s %s", d.Name, d.Manifest)
	}
	cp := "none given"
	if p.Checkpoint != "" {
		cp = strings.SplitN(strings.TrimSpace(p.Checkpoint), "\n", 3)[0]
		if lines := strings.Split(strings.TrimSpace(p.Checkpoint), "\n"); len(lines) >= 2 {
			cp = lines[0] + " size " + lines[1]
		}
	}
	fmt.Fprintf(&b, "\n-- ledger checkpoint: %s\n", cp)
	return b.String()
}

func writeCSV(w io.Writer, rows *Rows) error {
	cw := csv.NewWriter(w)
	var rec []string
	for _, c := range rows.Columns() {
		rec = append(rec, c.Name)
	}
	if err := cw.Write(rec); err != nil {
		return fmt.Errorf("query: write csv: %w", err)
	}
	for rows.Next() {
		rec = rec[:0]
		for _, v := range rows.Values() {
			rec = append(rec, text(v))
		}
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("query: write csv row %d: %w", rows.Provenance().Rows, err)
		}
	}
	cw.Flush()
	return cw.Error()
}

func writeJSON(w io.Writer, rows *Rows) error {
	cols, err := json.Marshal(rows.Columns())
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(w, "{\"columns\":%s,\"rows\":[", cols); err != nil {
		return fmt.Errorf("query: write json: %w", err)
	}
	row := make([]any, len(rows.Columns()))
	first := true
	for rows.Next() {
		for i, v := range rows.Values() {
			row[i] = jsonValue(v)
		}
		b, err := json.Marshal(row)
		if err != nil {
			return fmt.Errorf("query: write json row %d: %w", rows.Provenance().Rows, err)
		}
		if !first {
			b = append([]byte{','}, b...)
		}
		first = false
		if _, err := w.Write(append(b, '\n')); err != nil {
			return fmt.Errorf("query: write json: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	rows.Close()
	prov, err := json.Marshal(rows.Provenance())
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "],\"provenance\":%s}\n", prov)
	return err
}

func writeJSONL(w io.Writer, rows *Rows) error {
	cols := rows.Columns()
	for rows.Next() {
		var b strings.Builder
		b.WriteByte('{')
		for i, v := range rows.Values() {
			if i > 0 {
				b.WriteByte(',')
			}
			k, _ := json.Marshal(cols[i].Name)
			val, err := json.Marshal(jsonValue(v))
			if err != nil {
				return fmt.Errorf("query: write jsonl row %d column %s: %w", rows.Provenance().Rows, cols[i].Name, err)
			}
			b.Write(k)
			b.WriteByte(':')
			b.Write(val)
		}
		b.WriteString("}\n")
		if _, err := io.WriteString(w, b.String()); err != nil {
			return fmt.Errorf("query: write jsonl: %w", err)
		}
	}
	return nil
}

// arrowType maps a DuckDB type name to the Arrow type results are written as.
func arrowType(duck string) arrow.DataType {
	switch {
	case duck == "BOOLEAN":
		return arrow.FixedWidthTypes.Boolean
	case duck == "TINYINT", duck == "SMALLINT", duck == "INTEGER", duck == "BIGINT",
		duck == "UTINYINT", duck == "USMALLINT", duck == "UINTEGER":
		return arrow.PrimitiveTypes.Int64
	case duck == "UBIGINT":
		return arrow.PrimitiveTypes.Uint64
	case duck == "FLOAT", duck == "DOUBLE", strings.HasPrefix(duck, "DECIMAL"):
		return arrow.PrimitiveTypes.Float64
	case duck == "DATE":
		return arrow.FixedWidthTypes.Date32
	case strings.HasPrefix(duck, "TIMESTAMP"):
		return &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	case duck == "BLOB":
		return arrow.BinaryTypes.Binary
	}
	return arrow.BinaryTypes.String
}

// appendValue appends v to b, converting as [arrowType] decided.
func appendValue(b array.Builder, v any) error {
	if v == nil {
		b.AppendNull()
		return nil
	}
	switch b := b.(type) {
	case *array.BooleanBuilder:
		x, ok := v.(bool)
		if !ok {
			return fmt.Errorf("want bool, got %T", v)
		}
		b.Append(x)
	case *array.Int64Builder:
		switch x := v.(type) {
		case int8:
			b.Append(int64(x))
		case int16:
			b.Append(int64(x))
		case int32:
			b.Append(int64(x))
		case int64:
			b.Append(x)
		case uint8:
			b.Append(int64(x))
		case uint16:
			b.Append(int64(x))
		case uint32:
			b.Append(int64(x))
		default:
			return fmt.Errorf("want an integer, got %T", v)
		}
	case *array.Uint64Builder:
		x, ok := v.(uint64)
		if !ok {
			return fmt.Errorf("want uint64, got %T", v)
		}
		b.Append(x)
	case *array.Float64Builder:
		switch x := v.(type) {
		case float64:
			b.Append(x)
		case float32:
			b.Append(float64(x))
		case duckdb.Decimal:
			b.Append(x.Float64())
		default:
			return fmt.Errorf("want a number, got %T", v)
		}
	case *array.Date32Builder:
		x, ok := v.(time.Time)
		if !ok {
			return fmt.Errorf("want a date, got %T", v)
		}
		b.Append(arrow.Date32FromTime(x))
	case *array.TimestampBuilder:
		x, ok := v.(time.Time)
		if !ok {
			return fmt.Errorf("want a timestamp, got %T", v)
		}
		b.Append(arrow.Timestamp(x.UTC().UnixMicro()))
	case *array.BinaryBuilder:
		x, ok := v.([]byte)
		if !ok {
			return fmt.Errorf("want bytes, got %T", v)
		}
		b.Append(x)
	case *array.StringBuilder:
		b.Append(text(v))
	default:
		return fmt.Errorf("no conversion to %T", b)
	}
	return nil
}

// writeArrow streams rows as Arrow record batches into a Parquet file or an
// Arrow IPC stream.
func writeArrow(w io.Writer, rows *Rows, opts WriteOptions, asParquet bool) error {
	batch := opts.BatchRows
	if batch <= 0 {
		batch = 65536
	}
	cols := rows.Columns()
	fields := make([]arrow.Field, len(cols))
	for i, c := range cols {
		fields[i] = arrow.Field{Name: c.Name, Type: arrowType(c.Type), Nullable: true}
	}
	schema := arrow.NewSchema(fields, nil)
	mem := memory.DefaultAllocator
	rb := array.NewRecordBuilder(mem, schema)
	defer rb.Release()

	var write func(arrow.RecordBatch) error
	var finish func() error
	if asParquet {
		props := parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Zstd), parquet.WithAllocator(mem))
		fw, err := pqarrow.NewFileWriter(schema, w, props, pqarrow.NewArrowWriterProperties(pqarrow.WithAllocator(mem)))
		if err != nil {
			return fmt.Errorf("query: write parquet: %w", err)
		}
		write = fw.Write
		finish = func() error {
			rows.Close()
			prov, err := json.Marshal(rows.Provenance())
			if err != nil {
				return err
			}
			if err := fw.AppendKeyValueMetadata(ProvenanceKey, string(prov)); err != nil {
				return err
			}
			return fw.Close()
		}
	} else {
		iw := ipc.NewWriter(w, ipc.WithSchema(schema), ipc.WithAllocator(mem))
		write = iw.Write
		finish = iw.Close
	}
	n := 0
	flush := func() error {
		rec := rb.NewRecordBatch()
		defer rec.Release()
		if err := write(rec); err != nil {
			return fmt.Errorf("query: write batch ending at row %d: %w", rows.Provenance().Rows, err)
		}
		n = 0
		return nil
	}
	for rows.Next() {
		for i, v := range rows.Values() {
			if err := appendValue(rb.Field(i), v); err != nil {
				return fmt.Errorf("query: row %d column %s: %w", rows.Provenance().Rows, cols[i].Name, err)
			}
		}
		if n++; n == batch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if n > 0 || rows.Provenance().Rows == 0 {
		if err := flush(); err != nil {
			return err
		}
	}
	if err := finish(); err != nil {
		return fmt.Errorf("query: finish output: %w", err)
	}
	return nil
}
