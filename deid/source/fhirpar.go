package source

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// FHIR tables are read in parallel: a producer cuts the input into chunks
// of raw resources, GOMAXPROCS workers decode and map each chunk into its
// own record batches, and the table reader hands the batches over in input
// order, so rows and the first bad record are those of a sequential read.
// At most a few chunks are in flight, so memory stays bounded.

const chunkResources = 1024

// mappedChunk is one chunk of resources, mapped.
type mappedChunk struct {
	recs []arrow.RecordBatch
	ids  []string // ids of the resources of the table (or other strings a reader collects), in order
	// err is the first error of the chunk or, after its rows, the read
	// error that ends the input.
	err error
}

type rawChunk struct {
	block   []byte // the NDJSON block raws point into, for the pool, or nil
	raws    [][]byte
	urls    []string // Bundle entries' fullUrl, else ""
	locs    []fhirLoc
	iterErr error
	res     chan *mappedChunk
}

// chunkMapper maps the resources of one chunk; it is called by several
// workers at once.
type chunkMapper func(c *rawChunk) *mappedChunk

// fhirReader is the [array.RecordReader] of a parallel FHIR table read.
type fhirReader struct {
	refs   atomic.Int64
	ctx    context.Context
	schema *arrow.Schema
	order  chan chan *mappedChunk // result channels in input order
	done   chan struct{}
	wg     sync.WaitGroup
	once   sync.Once

	onIDs   func([]string) // sees the ids of each chunk in order; may be nil
	pending []arrow.RecordBatch
	cur     arrow.RecordBatch
	err     error
	end     bool
}

var _ array.RecordReader = (*fhirReader)(nil)

func newFHIRReader(ctx context.Context, schema *arrow.Schema, it *fhirIter, m chunkMapper, onIDs func([]string)) *fhirReader {
	workers := max(1, runtime.GOMAXPROCS(0))
	r := &fhirReader{ctx: ctx, schema: schema, order: make(chan chan *mappedChunk, 2*workers),
		done: make(chan struct{}), onIDs: onIDs}
	r.refs.Store(1)
	jobs := make(chan rawChunk)
	r.wg.Add(1 + workers)
	go func() { // producer
		defer r.wg.Done()
		defer close(jobs)
		defer close(r.order)
		defer it.close()
		for end := false; !end; {
			c := rawChunk{res: make(chan *mappedChunk, 1)}
			ok, err := it.nextChunk(&c)
			if err != nil {
				c.iterErr, end = err, true
			} else if !ok {
				return
			}
			select {
			case jobs <- c:
			case <-r.done:
				return
			}
			select {
			case r.order <- c.res:
			case <-r.done:
				return
			}
		}
	}()
	for range workers {
		go func() {
			defer r.wg.Done()
			for j := range jobs {
				mc := m(&j)
				if j.block != nil {
					putBlock(j.block)
				}
				if mc.err == nil && j.iterErr != nil {
					mc.err = j.iterErr
				}
				j.res <- mc
			}
		}()
	}
	return r
}

func (r *fhirReader) Next() bool {
	if r.cur != nil {
		r.cur.Release()
		r.cur = nil
	}
	for len(r.pending) == 0 {
		if r.end || r.err != nil {
			r.stop()
			return false
		}
		if err := r.ctx.Err(); err != nil {
			r.err = err
			continue
		}
		res, ok := <-r.order
		if !ok {
			r.end = true
			continue
		}
		mc := <-res
		if r.onIDs != nil {
			r.onIDs(mc.ids)
		}
		if mc.err != nil {
			for _, rec := range mc.recs {
				rec.Release()
			}
			r.err = mc.err
			continue
		}
		r.pending = mc.recs
	}
	r.cur, r.pending = r.pending[0], r.pending[1:]
	return true
}

// stop ends the pipeline and waits for its goroutines.
func (r *fhirReader) stop() {
	r.once.Do(func() {
		close(r.done)
		for range r.order { // unblock the producer
		}
		r.wg.Wait()
	})
}

func (r *fhirReader) Retain() { r.refs.Add(1) }

func (r *fhirReader) Release() {
	if r.refs.Add(-1) == 0 {
		r.stop()
		for _, rec := range r.pending {
			rec.Release()
		}
		r.pending = nil
		if r.cur != nil {
			r.cur.Release()
			r.cur = nil
		}
	}
}

func (r *fhirReader) Schema() *arrow.Schema          { return r.schema }
func (r *fhirReader) RecordBatch() arrow.RecordBatch { return r.cur }

// Record returns the current batch.
//
// Deprecated: use RecordBatch.
func (r *fhirReader) Record() arrow.RecordBatch { return r.cur }
func (r *fhirReader) Err() error                { return r.err }
