package deid

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// Defaults for how output is cut into files and row groups. Row groups are
// cut by row count, never by the input's batch sizes, so the same rows give
// the same bytes.
const (
	DefaultRowGroupRows = 64 * 1024
	DefaultRowsPerFile  = 1 << 20
)

// createdBy is written into every Parquet footer instead of the library's
// default, so files do not change with the arrow-go version alone.
const createdBy = "cohortnet deid"

// tableWriter writes one table as OUT/<table>/part-NNNN.parquet files,
// buffering rows into fixed-size row groups.
type tableWriter struct {
	root, table  string
	schema       *arrow.Schema
	rgRows       int
	fileRows     int
	bld          *array.RecordBuilder
	buffered     int
	part         int
	f            *os.File
	sha          hash.Hash
	cw           *countWriter
	fw           *pqarrow.FileWriter
	rowsInFile   int64
	files        []FileEntry
	totalRows    int64
	columnsNames []string

	// Row groups are encoded and written by their own goroutine, so
	// Parquet encoding overlaps with de-identifying the next rows.
	ch      chan arrow.RecordBatch
	failed  chan struct{} // closed when the encoder failed (encErr set)
	done    chan struct{} // closed when the encoder has stopped
	started bool
	stopped bool
	encErr  error
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func newTableWriter(root, table string, schema *arrow.Schema, rgRows, fileRows int) (*tableWriter, error) {
	if err := os.MkdirAll(filepath.Join(root, table), 0o755); err != nil {
		return nil, fmt.Errorf("write %s: %w", table, err)
	}
	w := &tableWriter{root: root, table: table, schema: schema, rgRows: rgRows, fileRows: fileRows,
		bld: array.NewRecordBuilder(memory.DefaultAllocator, schema)}
	for _, f := range schema.Fields() {
		w.columnsNames = append(w.columnsNames, f.Name)
	}
	return w, nil
}

// rowDone is called after one value was appended to every column builder.
func (w *tableWriter) rowDone() error {
	w.buffered++
	if w.buffered >= w.rgRows {
		return w.flush()
	}
	return nil
}

func (w *tableWriter) open() error {
	rel := fmt.Sprintf("%s/part-%04d.parquet", w.table, w.part)
	f, err := os.OpenFile(filepath.Join(w.root, filepath.FromSlash(rel)), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("write %s: %w", rel, err)
	}
	w.f, w.sha = f, sha256.New()
	w.cw = &countWriter{w: io.MultiWriter(f, w.sha)}
	opts := []parquet.WriterProperty{
		parquet.WithCreatedBy(createdBy),
		parquet.WithCompression(compress.Codecs.Snappy),
		parquet.WithMaxRowGroupLength(int64(w.rgRows)),
		parquet.WithDictionaryDefault(true),
		parquet.WithStats(true),
	}
	// ids and free text are nearly all distinct: a dictionary is work wasted
	for _, c := range []string{"person_id", "visit_occurrence_id", "note_text"} {
		opts = append(opts, parquet.WithDictionaryFor(c, false))
	}
	props := parquet.NewWriterProperties(opts...)
	fw, err := pqarrow.NewFileWriter(w.schema, w.cw, props, pqarrow.NewArrowWriterProperties())
	if err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", rel, err)
	}
	w.fw = fw
	w.rowsInFile = 0
	return nil
}

// flush hands the buffered rows to the encoder as one row group.
func (w *tableWriter) flush() error {
	if w.buffered == 0 {
		return nil
	}
	// the next row group is about as large: reserve its buffers now instead
	// of growing them step by step (each step a copy)
	var data []int
	for i := range w.schema.NumFields() {
		if sb, ok := w.bld.Field(i).(*array.StringBuilder); ok {
			data = append(data, sb.DataLen())
		}
	}
	rec := w.bld.NewRecordBatch()
	w.totalRows += int64(w.buffered)
	w.bld.Reserve(w.buffered)
	for i := range w.schema.NumFields() {
		if sb, ok := w.bld.Field(i).(*array.StringBuilder); ok {
			sb.ReserveData(data[0])
			data = data[1:]
		}
	}
	w.buffered = 0
	if !w.started {
		w.started = true
		w.ch = make(chan arrow.RecordBatch, 1) // one queued, one encoding, one building: a row group of notes is tens of MB
		w.failed, w.done = make(chan struct{}), make(chan struct{})
		go w.encode()
	}
	select {
	case w.ch <- rec:
		return nil
	case <-w.failed:
		rec.Release()
		return w.encErr
	}
}

// encode writes row groups until the channel closes; after a failure it
// only drains.
func (w *tableWriter) encode() {
	defer close(w.done)
	for rec := range w.ch {
		if w.encErr == nil {
			if err := w.writeRowGroup(rec); err != nil {
				w.encErr = err
				close(w.failed)
			}
		}
		rec.Release()
	}
}

func (w *tableWriter) writeRowGroup(rec arrow.RecordBatch) error {
	if w.fw == nil {
		if err := w.open(); err != nil {
			return err
		}
	}
	if err := w.fw.Write(rec); err != nil {
		return fmt.Errorf("write %s part %d: %w", w.table, w.part, err)
	}
	w.rowsInFile += rec.NumRows()
	if w.rowsInFile >= int64(w.fileRows) {
		return w.closeFile()
	}
	return nil
}

// stop waits for the encoder to write what it was given.
func (w *tableWriter) stop() error {
	if !w.started || w.stopped {
		return w.encErr
	}
	w.stopped = true
	close(w.ch)
	<-w.done
	return w.encErr
}

func (w *tableWriter) closeFile() error {
	if w.fw == nil {
		return nil
	}
	rel := fmt.Sprintf("%s/part-%04d.parquet", w.table, w.part)
	if err := w.fw.Close(); err != nil {
		w.f.Close()
		return fmt.Errorf("write %s: %w", rel, err)
	}
	if err := w.f.Sync(); err != nil {
		w.f.Close()
		return fmt.Errorf("write %s: %w", rel, err)
	}
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", rel, err)
	}
	w.files = append(w.files, FileEntry{Path: rel, Table: w.table, SHA256: hex.EncodeToString(w.sha.Sum(nil)),
		Bytes: w.cw.n, Rows: w.rowsInFile, Columns: w.columnsNames})
	w.fw, w.f = nil, nil
	w.part++
	return nil
}

// close flushes what is buffered and closes the last file. A table with no
// rows still gets one (empty) file, so its schema is published.
func (w *tableWriter) close() ([]FileEntry, error) {
	defer w.release()
	if err := w.flush(); err != nil {
		return nil, err
	}
	if err := w.stop(); err != nil {
		return nil, err
	}
	if w.part == 0 && w.fw == nil {
		if err := w.open(); err != nil {
			return nil, err
		}
	}
	if err := w.closeFile(); err != nil {
		return nil, err
	}
	if err := syncDir(filepath.Join(w.root, w.table)); err != nil {
		return nil, err
	}
	return w.files, nil
}

// abort closes an open file; the temporary directory is removed by the caller.
func (w *tableWriter) abort() {
	w.stop()
	if w.fw != nil {
		w.fw.Close()
	}
	if w.f != nil {
		w.f.Close()
	}
	w.release()
}

func (w *tableWriter) release() {
	if w.bld != nil {
		w.bld.Release()
		w.bld = nil
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
