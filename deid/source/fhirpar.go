package source

import (
	"runtime"
	"sync"
)

// FHIR resources are decoded in parallel: a producer cuts the input into
// chunks of raw resources, GOMAXPROCS workers decode them, and the table
// reader maps the decoded chunks in input order, so rows, errors and the
// first bad record are the same as a sequential read. At most a few chunks
// are in flight, so memory stays bounded.

const chunkResources = 256

// decodedChunk is one chunk of resources, decoded.
type decodedChunk struct {
	rs   []fhirResource
	locs []fhirLoc
	// err is the first decoding error, at index errAt; resources after it
	// are not decoded.
	err   error
	errAt int
	// iterErr ends the input after this chunk (a read error).
	iterErr error
}

type rawChunk struct {
	raws    [][]byte
	locs    []fhirLoc
	iterErr error
	res     chan *decodedChunk
}

// decoder runs the pipeline over one iterator.
type decoder struct {
	order chan chan *decodedChunk // result channels in input order
	done  chan struct{}
	wg    sync.WaitGroup
	once  sync.Once
}

func startDecoder(it *fhirIter) *decoder {
	workers := max(1, runtime.GOMAXPROCS(0))
	d := &decoder{order: make(chan chan *decodedChunk, 2*workers), done: make(chan struct{})}
	jobs := make(chan rawChunk)
	d.wg.Add(1 + workers)
	go func() { // producer
		defer d.wg.Done()
		defer close(jobs)
		defer close(d.order)
		defer it.close()
		for end := false; !end; {
			c := rawChunk{res: make(chan *decodedChunk, 1)}
			var arena []byte
			for len(c.raws) < chunkResources {
				raw, _, loc, ok, err := it.next()
				if err != nil {
					c.iterErr, end = err, true
					break
				}
				if !ok {
					end = true
					break
				}
				// NDJSON lines live in the scanner's buffer: copy them.
				start := len(arena)
				arena = append(arena, raw...)
				c.raws = append(c.raws, arena[start:len(arena):len(arena)])
				c.locs = append(c.locs, loc)
			}
			if len(c.raws) == 0 && c.iterErr == nil {
				return
			}
			select {
			case jobs <- c:
			case <-d.done:
				return
			}
			select {
			case d.order <- c.res:
			case <-d.done:
				return
			}
		}
	}()
	for range workers {
		go func() {
			defer d.wg.Done()
			for j := range jobs {
				dc := &decodedChunk{rs: make([]fhirResource, len(j.raws)), locs: j.locs, errAt: -1, iterErr: j.iterErr}
				for i, raw := range j.raws {
					if err := decodeFresh(raw, j.locs[i], &dc.rs[i]); err != nil {
						dc.err, dc.errAt = err, i
						break
					}
				}
				j.res <- dc
			}
		}()
	}
	return d
}

// next returns the next decoded chunk in input order, or nil at the end.
func (d *decoder) next() *decodedChunk {
	res, ok := <-d.order
	if !ok {
		return nil
	}
	return <-res
}

// stop ends the pipeline and waits for its goroutines.
func (d *decoder) stop() error {
	d.once.Do(func() {
		close(d.done)
		// Unblock the producer if it waits to queue a result.
		for range d.order {
		}
		d.wg.Wait()
	})
	return nil
}
