package cohort

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/ipfs/go-cid"
)

// ErrChunkMismatch means a received chunk does not match the digest the
// manifest lists for it. The caller should drop the chunk, count it against
// the peer that sent it, and ask another provider.
var ErrChunkMismatch = errors.New("chunk does not match its digest")

// ErrBusy means another process is receiving the same file. Try later.
var ErrBusy = errors.New("file is being received by another process")

// Receiver writes a file that arrives chunk by chunk, in any order and from
// any number of goroutines, verifying every chunk alone against the chained
// digest list a signed manifest gave ([VerifyChunk]). It survives restarts:
// [Store.Receive] on a file left half-received rechecks what is on disk and
// keeps the chunks that verify. The file enters the store only through
// [Receiver.Commit], when every chunk is there. Because the last chunk's
// digest is the CID's (checked at [Store.Receive]) and each chunk continues
// the hash from the one before, a file whose chunks all verify hashes to
// its CID: Commit does not read it again.
type Receiver struct {
	s    *Store
	c    cid.Cid
	want Hashes
	path string

	mu        sync.Mutex
	f         *os.File // nil when the store already held the file
	have      []bool
	missing   int
	committed bool
}

// Receive starts or resumes receiving file c, whose size, chunk size and
// chunk digests are want's (from the manifest: [File.Hashes]). When the
// store already holds c the receiver is complete from the start and Commit
// does nothing. Close the receiver when done with it.
func (s *Store) Receive(ctx context.Context, c cid.Cid, want Hashes) (*Receiver, error) {
	sum, err := FileDigest(c)
	if err != nil {
		return nil, fmt.Errorf("receive: %w", err)
	}
	if want.Size < 0 || want.ChunkSize <= 0 || int64(len(want.Chunks)) != NumChunks(want.Size, want.ChunkSize) {
		return nil, fmt.Errorf("receive %s: %d chunk digests for %d bytes in chunks of %d", c, len(want.Chunks), want.Size, want.ChunkSize)
	}
	if err := checkChunkSize(want.ChunkSize); err != nil {
		return nil, fmt.Errorf("receive %s: %w", c, err)
	}
	// The chain ends in the CID's digest, or a file whose every chunk
	// verifies would not be the file the CID names.
	if n := len(want.Chunks); n > 0 && want.Chunks[n-1] != sum {
		return nil, &CorruptError{CID: c, Check: "chunk list", Chunk: n - 1, Msg: "the last chunk digest is not the CID's digest"}
	}
	if want.Size == 0 && sum != sha256.Sum256(nil) {
		return nil, &CorruptError{CID: c, Check: "size", Chunk: -1, Msg: "an empty file cannot have this CID"}
	}
	want.Sum = sum
	r := &Receiver{s: s, c: c, want: want, path: filepath.Join(s.dir, "partial", c.String())}
	if s.Has(c) {
		r.have = make([]bool, len(want.Chunks))
		for i := range r.have {
			r.have[i] = true
		}
		r.committed = true
		return r, nil
	}
	f, err := os.OpenFile(r.path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("receive %s: %w", c, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("receive %s: %w", c, ErrBusy)
		}
		return nil, fmt.Errorf("receive %s: lock: %w", c, err)
	}
	r.f = f
	if err := r.resume(ctx); err != nil {
		f.Close()
		return nil, fmt.Errorf("receive %s: resume: %w", c, err)
	}
	return r, nil
}

// resume keeps the chunks already on disk that match their digests.
func (r *Receiver) resume(ctx context.Context) error {
	fi, err := r.f.Stat()
	if err != nil {
		return err
	}
	onDisk := fi.Size()
	if err := r.f.Truncate(r.want.Size); err != nil {
		return err
	}
	r.have = make([]bool, len(r.want.Chunks))
	r.missing = len(r.have)
	buf := make([]byte, r.want.ChunkSize)
	for i := range r.have {
		off, n := r.span(i)
		if off+n > onDisk {
			break
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if _, err := r.f.ReadAt(buf[:n], off); err != nil {
			return err
		}
		if VerifyChunk(r.want, i, buf[:n]) == nil {
			r.have[i] = true
			r.missing--
		}
	}
	return nil
}

func (r *Receiver) span(i int) (off, n int64) {
	off = int64(i) * r.want.ChunkSize
	return off, min(r.want.ChunkSize, r.want.Size-off)
}

// CID is the file being received.
func (r *Receiver) CID() cid.Cid { return r.c }

// Missing lists the indexes of the chunks still needed, in order.
func (r *Receiver) Missing() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	var m []int
	for i, ok := range r.have {
		if !ok {
			m = append(m, i)
		}
	}
	return m
}

// Complete reports whether every chunk has arrived.
func (r *Receiver) Complete() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.missing == 0
}

// WriteChunk verifies chunk i against its digest and writes it in place. A
// chunk that does not match wraps [ErrChunkMismatch] and is not written; a
// chunk already held is accepted and ignored. Safe for concurrent use.
func (r *Receiver) WriteChunk(i int, data []byte) error {
	if i < 0 || i >= len(r.want.Chunks) {
		return fmt.Errorf("receive %s: chunk %d: the file has %d chunks", r.c, i, len(r.want.Chunks))
	}
	if err := VerifyChunk(r.want, i, data); err != nil {
		return fmt.Errorf("receive %s: %w", r.c, err)
	}
	off, _ := r.span(i)
	r.mu.Lock()
	done, f := r.have[i], r.f
	r.mu.Unlock()
	if done {
		return nil
	}
	if f == nil {
		return fmt.Errorf("receive %s: receiver is closed", r.c)
	}
	if _, err := f.WriteAt(data, off); err != nil {
		return fmt.Errorf("receive %s: chunk %d: %w", r.c, i, err)
	}
	r.mu.Lock()
	if !r.have[i] {
		r.have[i] = true
		r.missing--
	}
	r.mu.Unlock()
	return nil
}

// Commit moves the complete file into the store: it fsyncs it and renames
// it into place. It fails, keeping what has arrived, while chunks are
// missing. Every chunk was verified against the chain that ends in the CID's
// digest, so the file is not hashed again.
func (r *Receiver) Commit(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.committed {
		return nil
	}
	if r.f == nil {
		return fmt.Errorf("commit %s: receiver is closed", r.c)
	}
	if r.missing > 0 {
		return fmt.Errorf("commit %s: %d of %d chunks still missing", r.c, r.missing, len(r.have))
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("commit %s: %w", r.c, err)
	}
	if err := r.f.Sync(); err != nil {
		return fmt.Errorf("commit %s: %w", r.c, err)
	}
	if err := r.s.place(r.path, r.c, r.want); err != nil {
		return fmt.Errorf("commit %s: %w", r.c, err)
	}
	r.f.Close() // releases the lock
	r.f = nil
	os.Remove(r.path) // when the store already held it
	r.committed = true
	return nil
}

// Close releases the receiver. A file not committed stays in partial/ so a
// later [Store.Receive] resumes it; [Receiver.Abort] discards it instead.
func (r *Receiver) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f = nil
	return err
}

// Abort discards what has arrived and closes the receiver.
func (r *Receiver) Abort() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil || r.committed {
		return nil
	}
	os.Remove(r.path)
	err := r.f.Close()
	r.f = nil
	return err
}
