package cohort

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"
	"sync"
	"sync/atomic"
)

// Hashes are what the store knows about a file's bytes: its size, the
// sha256 of the whole (the digest inside its CID), and the digest of each
// chunk: the whole file's SHA-256 chaining value at the end of the chunk, and
// for the last chunk the sha256 of the whole (see chain.go).
type Hashes struct {
	Size      int64
	Sum       Digest
	ChunkSize int64
	Chunks    []Digest
}

// bufSize is the unit of the import pipeline. It divides [ChunkSize], so a
// buffer never straddles two chunks, and it is a multiple of [directAlign].
const bufSize = 4 << 20

const pipelineBuffers = 6

// bufPool keeps pipeline buffers between imports and verifications, so
// hashing many small files does not allocate 24 MiB each time.
var bufPool = sync.Pool{New: func() any { b := alignedBuffer(bufSize); return &b }}

// writebackEvery is how much an import writes before it starts the writeback
// of what it wrote.
const writebackEvery = 16 << 20

// copyWriters is how many buffers the copy stage writes at once. Two
// writes in flight keep a disk busy while the other completes: with
// O_DIRECT a single 4 MiB write at a time left an SSD idle between writes.
const copyWriters = 2

// ChunkHasher hashes a stream once into its size, sha256 and chained chunk
// digests (see [ChunkHash]). Write the stream to it, then take [ChunkHasher.Hashes].
type ChunkHasher struct {
	h         hash.Hash
	chunkSize int64
	size      int64
	chunks    []Digest // the chaining value at the end of every whole chunk
	err       error
}

// NewChunkHasher returns a ChunkHasher for chunks of chunkSize bytes, a
// positive multiple of the 64-byte SHA-256 block.
func NewChunkHasher(chunkSize int64) (*ChunkHasher, error) {
	if err := checkChunkSize(chunkSize); err != nil {
		return nil, err
	}
	return &ChunkHasher{h: sha256.New(), chunkSize: chunkSize}, nil
}

// Write hashes p, recording a digest at every chunk boundary it crosses.
func (c *ChunkHasher) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 && c.err == nil {
		k := min(int64(len(p)), c.chunkSize-c.size%c.chunkSize)
		c.h.Write(p[:k])
		c.size += k
		p = p[k:]
		if c.size%c.chunkSize == 0 {
			var d Digest
			d, c.err = chainValue(c.h)
			c.chunks = append(c.chunks, d)
		}
	}
	return n, c.err
}

// Hashes returns the size, sha256 and chunk digests of what was written;
// the last chunk's digest is the sha256.
func (c *ChunkHasher) Hashes() (Hashes, error) {
	if c.err != nil {
		return Hashes{}, c.err
	}
	h := Hashes{Size: c.size, Sum: Digest(c.h.Sum(nil)), ChunkSize: c.chunkSize, Chunks: slices.Clone(c.chunks)}
	switch {
	case c.size > 0 && c.size%c.chunkSize == 0:
		h.Chunks[len(h.Chunks)-1] = h.Sum
	case c.size > 0:
		h.Chunks = append(h.Chunks, h.Sum)
	}
	return h, nil
}

// pipeline copies r to w (w may be nil) while hashing it once: the sha256
// of the whole stream, whose state at each chunk boundary is that chunk's
// digest. The hash and the copy run on their own goroutines, so on two
// cores content addressing costs about as much as the slower of the two.
// w receives every buffer at its offset, from up to [copyWriters]
// goroutines at once.
func pipeline(ctx context.Context, r io.Reader, w io.WriterAt) (Hashes, error) {
	type buf struct {
		b    []byte
		n    int
		off  int64
		refs sync.WaitGroup
	}
	free := make(chan *buf, pipelineBuffers)
	for range pipelineBuffers {
		free <- &buf{} // memory is taken from bufPool at first use
	}
	defer func() {
		for range pipelineBuffers {
			if b := <-free; b.b != nil {
				bufPool.Put(&b.b)
			}
		}
	}()
	stages := []chan *buf{make(chan *buf, pipelineBuffers)}
	if w != nil {
		stages = append(stages, make(chan *buf, pipelineBuffers))
	}

	hasher, err := NewChunkHasher(ChunkSize)
	if err != nil {
		return Hashes{}, err
	}
	var (
		writeErr error
		errOnce  sync.Once
		wg       sync.WaitGroup
		release  = func(b *buf) { b.refs.Done() }
	)
	// Stage 0: the hash.
	wg.Go(func() {
		for b := range stages[0] {
			hasher.Write(b.b[:b.n]) // an error stays in hasher
			release(b)
		}
	})
	// Stage 1: the copy. After a failed write the others are skipped.
	if w != nil {
		var failed atomic.Bool
		for range copyWriters {
			wg.Go(func() {
				for b := range stages[1] {
					if !failed.Load() {
						if _, err := w.WriteAt(b.b[:b.n], b.off); err != nil {
							failed.Store(true)
							errOnce.Do(func() { writeErr = err })
						}
					}
					release(b)
				}
			})
		}
	}

	// A recycler returns buffers to the free list once every stage is done
	// with them, in order.
	inflight := make(chan *buf, pipelineBuffers)
	var rwg sync.WaitGroup
	rwg.Go(func() {
		for b := range inflight {
			b.refs.Wait()
			free <- b
		}
	})

	var size int64
	var readErr error
	for {
		if err := ctx.Err(); err != nil {
			readErr = err
			break
		}
		var b *buf
		select {
		case b = <-free:
		case <-ctx.Done():
			readErr = ctx.Err()
		}
		if readErr != nil {
			break
		}
		if b.b == nil {
			b.b = *bufPool.Get().(*[]byte)
		}
		n, err := io.ReadFull(r, b.b)
		if n > 0 {
			b.n, b.off = n, size
			size += int64(n)
			b.refs.Add(len(stages))
			for _, s := range stages {
				s <- b
			}
			inflight <- b
		} else {
			free <- b
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			readErr = fmt.Errorf("read: %w", err)
			break
		}
	}
	for _, s := range stages {
		close(s)
	}
	wg.Wait()
	close(inflight)
	rwg.Wait()
	if readErr != nil {
		return Hashes{}, readErr
	}
	if writeErr != nil {
		return Hashes{}, fmt.Errorf("write: %w", writeErr)
	}
	return hasher.Hashes()
}

// HashReader reads r to the end and returns its size, sha256 and chunk
// digests, hashing every byte once. Its CID is FileCID(h.Sum).
func HashReader(ctx context.Context, r io.Reader) (Hashes, error) {
	return pipeline(ctx, r, nil)
}
