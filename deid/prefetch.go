package deid

import (
	"sync"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// prefetchReader reads the next record batches of a source in its own
// goroutine, so parsing the export overlaps with de-identifying and writing
// (two cores instead of one). Batches keep their order. Release stops the
// goroutine and waits for it before releasing the source.
type prefetchReader struct {
	src  array.RecordReader
	ch   chan arrow.RecordBatch
	stop chan struct{}
	wg   sync.WaitGroup
	cur  arrow.RecordBatch
	err  error
	refs atomic.Int64
	once sync.Once
}

func prefetch(src array.RecordReader, depth int) *prefetchReader {
	p := &prefetchReader{src: src, ch: make(chan arrow.RecordBatch, depth), stop: make(chan struct{})}
	p.refs.Store(1)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer close(p.ch)
		for p.src.Next() {
			rec := p.src.RecordBatch()
			rec.Retain()
			select {
			case p.ch <- rec:
			case <-p.stop:
				rec.Release()
				return
			}
		}
		p.err = p.src.Err() // read by Err only after ch is closed
	}()
	return p
}

func (p *prefetchReader) Schema() *arrow.Schema { return p.src.Schema() }

func (p *prefetchReader) Next() bool {
	if p.cur != nil {
		p.cur.Release()
		p.cur = nil
	}
	rec, ok := <-p.ch
	if !ok {
		return false
	}
	p.cur = rec
	return true
}

func (p *prefetchReader) RecordBatch() arrow.RecordBatch { return p.cur }

// Record is the deprecated name of RecordBatch.
func (p *prefetchReader) Record() arrow.RecordBatch { return p.cur }

// Err reports the source's error once Next has returned false.
func (p *prefetchReader) Err() error { return p.err }

func (p *prefetchReader) Retain() { p.refs.Add(1) }

func (p *prefetchReader) Release() {
	if p.refs.Add(-1) > 0 {
		return
	}
	p.once.Do(func() {
		close(p.stop)
		for rec := range p.ch {
			rec.Release()
		}
		p.wg.Wait()
		if p.cur != nil {
			p.cur.Release()
			p.cur = nil
		}
		p.src.Release()
	})
}

var _ array.RecordReader = (*prefetchReader)(nil)
