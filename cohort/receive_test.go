package cohort

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
)

func chunkOf(data []byte, i int) []byte {
	return data[i*ChunkSize : min((i+1)*ChunkSize, len(data))]
}

func TestReceiveVerifiesResumesAndCommits(t *testing.T) {
	data := randomBytes(3*ChunkSize+999, 5)
	src := newStore(t)
	c, _, err := src.Import(t.Context(), bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	want, err := src.Chunks(c)
	if err != nil {
		t.Fatal(err)
	}

	dst := newStore(t)
	r, err := dst.Receive(t.Context(), c, want)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Missing(); !slices.Equal(got, []int{0, 1, 2, 3}) {
		t.Fatalf("Missing = %v at start", got)
	}
	// A chunk with a flipped byte is refused and not written.
	bad := bytes.Clone(chunkOf(data, 2))
	bad[0] ^= 1
	if err := r.WriteChunk(2, bad); !errors.Is(err, ErrChunkMismatch) {
		t.Fatalf("WriteChunk(bad) = %v, want ErrChunkMismatch", err)
	}
	// Chunk 1 given at index 3 (a short chunk) is refused too.
	if err := r.WriteChunk(3, chunkOf(data, 1)); !errors.Is(err, ErrChunkMismatch) {
		t.Fatalf("WriteChunk(wrong index) = %v, want ErrChunkMismatch", err)
	}
	// Out of order: the last chunk and chunk 1 arrive; then the process "stops".
	for _, i := range []int{3, 1} {
		if err := r.WriteChunk(i, chunkOf(data, i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Commit(t.Context()); err == nil {
		t.Fatal("Commit with chunks missing succeeded")
	}
	if dst.Has(c) {
		t.Fatal("file in the store before it is complete")
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}

	// Resume: only chunks 0 and 2 are needed, taken from two "providers" at once.
	r, err = dst.Receive(t.Context(), c, want)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got := r.Missing(); !slices.Equal(got, []int{0, 2}) {
		t.Fatalf("Missing after resume = %v, want [0 2]", got)
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for k, i := range []int{0, 2} {
		wg.Go(func() { errs[k] = r.WriteChunk(i, chunkOf(data, i)) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if !r.Complete() {
		t.Fatal("not complete after every chunk")
	}
	if err := r.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(dst.Path(c))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("received file differs (err %v)", err)
	}
	if err := dst.Verify(t.Context(), c); err != nil {
		t.Errorf("verify received file: %v", err)
	}
	if ents, _ := os.ReadDir(dst.dir + "/partial"); len(ents) != 0 {
		t.Errorf("partial/ keeps %d files after commit", len(ents))
	}

	// Receiving a file the store holds is complete at once.
	r2, err := dst.Receive(t.Context(), c, want)
	if err != nil {
		t.Fatal(err)
	}
	if len(r2.Missing()) != 0 || r2.Commit(t.Context()) != nil {
		t.Error("receiving a held file is not a no-op")
	}
}

func TestReceiveRejectsInconsistentDigests(t *testing.T) {
	s := newStore(t)
	c, _, err := s.Import(t.Context(), bytes.NewReader(randomBytes(100, 6)))
	if err != nil {
		t.Fatal(err)
	}
	h, _ := s.Chunks(c)
	h.Chunks = append(h.Chunks, Digest{})
	if _, err := newStore(t).Receive(t.Context(), c, h); err == nil {
		t.Error("Receive accepted two digests for a one-chunk file")
	}
}

func TestReceiveBusy(t *testing.T) {
	data := randomBytes(10, 7)
	s := newStore(t)
	c, _, _ := s.Import(t.Context(), bytes.NewReader(data))
	h, _ := s.Chunks(c)
	dst := newStore(t)
	r, err := dst.Receive(t.Context(), c, h)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := dst.Receive(t.Context(), c, h); !errors.Is(err, ErrBusy) {
		t.Errorf("second Receive = %v, want ErrBusy", err)
	}
}

// A manifest whose chunk digests describe other bytes than its CID: each
// chunk of those bytes would verify, so Receive refuses the digest list at
// once, before any chunk is accepted, because its last digest is not the
// CID's.
func TestReceiveRefusesChainNotEndingInCID(t *testing.T) {
	data := randomBytes(ChunkSize+5, 13)
	other := randomBytes(len(data), 14)
	src := newStore(t)
	c, _, _ := src.Import(t.Context(), bytes.NewReader(data))
	oc, _, _ := src.Import(t.Context(), bytes.NewReader(other))
	lying, _ := src.Chunks(oc) // the other file's digests under data's CID
	for i := range 2 {
		if err := VerifyChunk(lying, i, chunkOf(other, i)); err != nil {
			t.Fatalf("the other file's chunk %d does not verify against its own list: %v", i, err)
		}
	}

	dst := newStore(t)
	r, err := dst.Receive(t.Context(), c, lying)
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.Check != "chunk list" {
		if r != nil {
			r.Close()
		}
		t.Fatalf("Receive = %v, want a chunk list CorruptError", err)
	}
	if dst.Has(c) {
		t.Error("a file that does not hash to its CID entered the store")
	}
	if ents, _ := os.ReadDir(dst.dir + "/partial"); len(ents) != 0 {
		t.Errorf("partial/ has %d files after a refused Receive", len(ents))
	}
	// An empty file's CID is fixed: a manifest cannot give it another.
	if _, err := dst.Receive(t.Context(), c, Hashes{ChunkSize: ChunkSize}); err == nil {
		t.Error("Receive accepted an empty file under the CID of other bytes")
	}
}

// Reopening a store removes partially received files abandoned for 30 days,
// but keeps recent ones (a fetch may resume) and one a receiver holds.
func TestOpenStoreRemovesAbandonedPartials(t *testing.T) {
	src := newStore(t)
	var cids []cid.Cid
	var hashes []Hashes
	for i := range 3 {
		c, _, err := src.Import(t.Context(), bytes.NewReader(randomBytes(2*ChunkSize, uint64(20+i))))
		if err != nil {
			t.Fatal(err)
		}
		h, _ := src.Chunks(c)
		cids, hashes = append(cids, c), append(hashes, h)
	}
	dst := newStore(t)
	old := time.Now().Add(-31 * 24 * time.Hour)
	var held *Receiver
	for i, c := range cids {
		r, err := dst.Receive(t.Context(), c, hashes[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := r.WriteChunk(0, randomBytes(2*ChunkSize, uint64(20+i))[:ChunkSize]); err != nil {
			t.Fatal(err)
		}
		if i < 2 { // abandoned long ago; the second one is still being received
			if err := os.Chtimes(r.path, old, old); err != nil {
				t.Fatal(err)
			}
		}
		if i == 1 {
			held = r
			continue
		}
		r.Close()
	}
	defer held.Close()
	if _, err := OpenStore(dst.Dir()); err != nil {
		t.Fatal(err)
	}
	for i, c := range cids {
		_, err := os.Stat(filepath.Join(dst.Dir(), "partial", c.String()))
		if gone, want := errors.Is(err, fs.ErrNotExist), i == 0; gone != want {
			t.Errorf("partial file %d: removed %v, want %v (%v)", i, gone, want, err)
		}
	}
	// The recent one resumes with its chunk.
	r, err := dst.Receive(t.Context(), cids[2], hashes[2])
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got := r.Missing(); !slices.Equal(got, []int{1}) {
		t.Errorf("Missing after reopening = %v, want [1]", got)
	}
}
