package source

import (
	"context"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// BatchRows is the number of rows in a record batch an adapter hands over.
const BatchRows = 4096

// rowWriter appends rows to a record builder with typed column setters; an
// empty string becomes null.
type rowWriter struct {
	bld  *array.RecordBuilder
	strs []*array.StringBuilder
	dats []*array.Date32Builder
	f64s []*array.Float64Builder
	bols []*array.BooleanBuilder
	ints []*array.Int64Builder
	rows int
}

func newRowWriter(schema *arrow.Schema) *rowWriter {
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	n := len(schema.Fields())
	w := &rowWriter{
		bld:  b,
		strs: make([]*array.StringBuilder, n),
		dats: make([]*array.Date32Builder, n),
		f64s: make([]*array.Float64Builder, n),
		bols: make([]*array.BooleanBuilder, n),
		ints: make([]*array.Int64Builder, n),
	}
	for i := range n {
		switch f := b.Field(i).(type) {
		case *array.StringBuilder:
			w.strs[i] = f
		case *array.Date32Builder:
			w.dats[i] = f
		case *array.Float64Builder:
			w.f64s[i] = f
		case *array.BooleanBuilder:
			w.bols[i] = f
		case *array.Int64Builder:
			w.ints[i] = f
		}
	}
	return w
}

func (w *rowWriter) str(i int, s string) {
	if s == "" {
		w.strs[i].AppendNull()
		return
	}
	w.strs[i].Append(s)
}

func (w *rowWriter) null(i int) { w.bld.Field(i).AppendNull() }

func (w *rowWriter) date(i int, d arrow.Date32, ok bool) {
	if !ok {
		w.dats[i].AppendNull()
		return
	}
	w.dats[i].Append(d)
}

func (w *rowWriter) num(i int, v float64, ok bool) {
	if !ok {
		w.f64s[i].AppendNull()
		return
	}
	w.f64s[i].Append(v)
}

func (w *rowWriter) boolean(i int, v, ok bool) {
	if !ok {
		w.bols[i].AppendNull()
		return
	}
	w.bols[i].Append(v)
}

func (w *rowWriter) int64(i int, v int64, ok bool) {
	if !ok {
		w.ints[i].AppendNull()
		return
	}
	w.ints[i].Append(v)
}

// end finishes a row.
func (w *rowWriter) end() { w.rows++ }

func (w *rowWriter) release() { w.bld.Release() }

// filler appends rows to w until w.rows reaches BatchRows or the input ends.
// It returns done when the input is exhausted.
type filler func(ctx context.Context, w *rowWriter) (done bool, err error)

// batchReader is an [array.RecordReader] that pulls rows from a filler.
type batchReader struct {
	refs   atomic.Int64
	ctx    context.Context
	schema *arrow.Schema
	w      *rowWriter
	fill   filler
	close  func() error
	cur    arrow.RecordBatch
	done   bool
	err    error
}

var _ array.RecordReader = (*batchReader)(nil)

func newBatchReader(ctx context.Context, schema *arrow.Schema, fill filler, closeFn func() error) *batchReader {
	r := &batchReader{ctx: ctx, schema: schema, w: newRowWriter(schema), fill: fill, close: closeFn}
	r.refs.Store(1)
	return r
}

func (r *batchReader) Retain() { r.refs.Add(1) }

func (r *batchReader) Release() {
	if r.refs.Add(-1) == 0 {
		r.finish()
		if r.cur != nil {
			r.cur.Release()
			r.cur = nil
		}
	}
}

func (r *batchReader) finish() {
	if r.w != nil {
		r.w.release()
		r.w = nil
	}
	if r.close != nil {
		if err := r.close(); err != nil && r.err == nil {
			r.err = err
		}
		r.close = nil
	}
}

func (r *batchReader) Schema() *arrow.Schema { return r.schema }

func (r *batchReader) Next() bool {
	if r.cur != nil {
		r.cur.Release()
		r.cur = nil
	}
	for !r.done && r.err == nil {
		if err := r.ctx.Err(); err != nil {
			r.err = err
			break
		}
		r.w.rows = 0
		r.w.bld.Reserve(BatchRows)
		done, err := r.fill(r.ctx, r.w)
		if err != nil {
			r.err = err
			break
		}
		r.done = done
		if r.w.rows > 0 {
			r.cur = r.w.bld.NewRecordBatch()
			return true
		}
	}
	r.finish()
	return false
}

func (r *batchReader) RecordBatch() arrow.RecordBatch { return r.cur }

// Record returns the current batch.
//
// Deprecated: use RecordBatch.
func (r *batchReader) Record() arrow.RecordBatch { return r.cur }

func (r *batchReader) Err() error { return r.err }

// concatReader streams several readers of one schema one after another,
// opening each only when the previous one is done.
type concatReader struct {
	refs   atomic.Int64
	ctx    context.Context
	schema *arrow.Schema
	srcs   []string
	open   func(ctx context.Context, src string) (array.RecordReader, error)
	cur    array.RecordReader
	err    error
}

func concatReaders(ctx context.Context, schema *arrow.Schema, srcs []string,
	open func(ctx context.Context, src string) (array.RecordReader, error)) (array.RecordReader, error) {
	r := &concatReader{ctx: ctx, schema: schema, srcs: srcs, open: open}
	r.refs.Store(1)
	return r, nil
}

func (r *concatReader) Retain() { r.refs.Add(1) }
func (r *concatReader) Release() {
	if r.refs.Add(-1) == 0 && r.cur != nil {
		r.cur.Release()
		r.cur = nil
	}
}
func (r *concatReader) Schema() *arrow.Schema { return r.schema }
func (r *concatReader) Err() error            { return r.err }

func (r *concatReader) Next() bool {
	for r.err == nil {
		if r.cur == nil {
			if len(r.srcs) == 0 {
				return false
			}
			cur, err := r.open(r.ctx, r.srcs[0])
			if err != nil {
				r.err = err
				return false
			}
			r.srcs = r.srcs[1:]
			r.cur = cur
		}
		if r.cur.Next() {
			return true
		}
		r.err = r.cur.Err()
		r.cur.Release()
		r.cur = nil
	}
	return false
}

func (r *concatReader) RecordBatch() arrow.RecordBatch {
	if r.cur == nil {
		return nil
	}
	return r.cur.RecordBatch()
}

// Record returns the current batch.
//
// Deprecated: use RecordBatch.
func (r *concatReader) Record() arrow.RecordBatch { return r.RecordBatch() }
