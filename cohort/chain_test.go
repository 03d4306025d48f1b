package cohort

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"testing"
)

// boundaryDigests computes a file's chunk digests the slow, independent way:
// one plain sha256.New() over the whole file, marshalled at every chunk
// boundary and read at the documented offsets of crypto/sha256's state
// ("sha\x03", h0..h7, block, length), with sha256.Sum256 of the whole as the
// last digest.
func boundaryDigests(t *testing.T, data []byte, chunkSize int) []Digest {
	t.Helper()
	var out []Digest
	h := sha256.New()
	for off := 0; off < len(data); off += chunkSize {
		end := min(off+chunkSize, len(data))
		h.Write(data[off:end])
		if end == len(data) {
			out = append(out, sha256.Sum256(data))
			break
		}
		st, err := h.(encoding.BinaryMarshaler).MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if string(st[:4]) != "sha\x03" || binary.BigEndian.Uint64(st[len(st)-8:]) != uint64(end) {
			t.Fatalf("unexpected sha256 state layout at %d", end)
		}
		out = append(out, Digest(st[4:36]))
	}
	return out
}

func TestChunkDigestsKnownAnswers(t *testing.T) {
	s := newStore(t)
	for _, tc := range []struct {
		name string
		size int
	}{
		{"empty", 0},
		{"one byte", 1},
		{"one chunk exactly", ChunkSize},
		{"one chunk and a byte", ChunkSize + 1},
		{"several chunks", 3*ChunkSize + 4567},
		{"several chunks exactly", 3 * ChunkSize},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := randomBytes(tc.size, uint64(tc.size%251))
			want := boundaryDigests(t, data, ChunkSize)
			got, err := HashReader(t.Context(), bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.Chunks, want) {
				t.Fatalf("HashReader gave %d chunk digests that differ from %d computed at the boundaries", len(got.Chunks), len(want))
			}
			if got.Sum != sha256.Sum256(data) || got.Size != int64(len(data)) {
				t.Fatalf("sum %s size %d, want sha256 of the whole and %d", got.Sum, got.Size, len(data))
			}
			if n := len(got.Chunks); n > 0 && got.Chunks[n-1] != got.Sum {
				t.Fatal("the last chunk digest is not the whole file's sha256")
			}
			// The store keeps the same list at import.
			c, _, err := s.Import(t.Context(), bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			kept, err := s.Chunks(c)
			if err != nil || !slices.Equal(kept.Chunks, want) {
				t.Fatalf("store chunk list differs (%v)", err)
			}
			// Every chunk verifies alone, in reverse order.
			for i := len(want) - 1; i >= 0; i-- {
				if err := VerifyChunk(got, i, chunkOf(data, i)); err != nil {
					t.Fatalf("chunk %d: %v", i, err)
				}
			}
		})
	}
}

func TestVerifyChunkRefuses(t *testing.T) {
	data := randomBytes(4*ChunkSize+100, 21)
	h, err := HashReader(context.Background(), bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	for i := range h.Chunks {
		t.Run(fmt.Sprintf("flipped byte in chunk %d", i), func(t *testing.T) {
			bad := bytes.Clone(data)
			bad[i*ChunkSize+len(chunkOf(data, i))/2] ^= 0x80
			for j := range h.Chunks {
				err := VerifyChunk(h, j, chunkOf(bad, j))
				if j == i && !errors.Is(err, ErrChunkMismatch) {
					t.Errorf("chunk %d with a flipped byte: %v, want ErrChunkMismatch", j, err)
				}
				if j != i && err != nil {
					t.Errorf("chunk %d, untouched: %v", j, err)
				}
			}
		})
	}
	t.Run("wrong previous digest", func(t *testing.T) {
		w := h
		w.Chunks = slices.Clone(h.Chunks)
		w.Chunks[1][0] ^= 1 // chunk 2 starts from a state that is not chunk 1's
		if err := VerifyChunk(w, 2, chunkOf(data, 2)); !errors.Is(err, ErrChunkMismatch) {
			t.Errorf("chunk 2 from a wrong previous digest: %v, want ErrChunkMismatch", err)
		}
	})
	t.Run("chunk at another index", func(t *testing.T) {
		if err := VerifyChunk(h, 2, chunkOf(data, 1)); !errors.Is(err, ErrChunkMismatch) {
			t.Errorf("chunk 1 given as chunk 2: %v, want ErrChunkMismatch", err)
		}
	})
	t.Run("short chunk", func(t *testing.T) {
		if err := VerifyChunk(h, 1, chunkOf(data, 1)[1:]); !errors.Is(err, ErrChunkMismatch) {
			t.Errorf("short chunk: %v, want ErrChunkMismatch", err)
		}
	})
	t.Run("out of range", func(t *testing.T) {
		if err := VerifyChunk(h, len(h.Chunks), nil); err == nil {
			t.Error("chunk past the end verified")
		}
	})
}

func TestChunkHashRefusesUnalignedChunks(t *testing.T) {
	for _, size := range []int64{0, -64, 100, 4<<20 + 1} {
		if _, err := ChunkHash(1, size, Digest{}); err == nil {
			t.Errorf("ChunkHash accepted chunk size %d", size)
		}
	}
	h := sha256.New()
	h.Write([]byte("not a whole block"))
	if _, err := ChunkDigest(h, false); err == nil {
		t.Error("ChunkDigest took a chaining value in the middle of a block")
	}
}

// FuzzChainState restores arbitrary states: a state is accepted only in the
// layout crypto/sha256 writes at a block boundary, and what is accepted
// round-trips through a real sha256.
func FuzzChainState(f *testing.F) {
	h := sha256.New()
	h.Write(make([]byte, 128))
	st, _ := h.(encoding.BinaryMarshaler).MarshalBinary()
	f.Add(st, uint32(2), uint32(64))
	f.Add([]byte("sha\x03"), uint32(0), uint32(ChunkSize))
	f.Add(bytes.Repeat([]byte{0xff}, chainStateSize), uint32(1<<31), uint32(100))
	f.Fuzz(func(t *testing.T, st []byte, i, chunkSize uint32) {
		if d, n, err := parseChainState(st); err == nil {
			h := sha256.New()
			if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(st); err != nil {
				t.Fatalf("accepted a state sha256 refuses: %v", err)
			}
			again, err := ChunkDigest(h, false)
			if err != nil || again != d {
				t.Fatalf("restored state gives %s, %v; want %s", again, err, d)
			}
			if n%sha256.BlockSize != 0 {
				t.Fatalf("accepted a state at %d bytes", n)
			}
		}
		var prev Digest
		copy(prev[:], st)
		h, err := ChunkHash(int(i), int64(chunkSize), prev)
		if err != nil {
			return
		}
		if i > 0 {
			if d, err := ChunkDigest(h, false); err != nil || d != prev {
				t.Fatalf("a restored chunk hash stands at %s, %v; want %s", d, err, prev)
			}
		}
		h.Write(make([]byte, sha256.BlockSize))
		if _, err := ChunkDigest(h, false); err != nil {
			t.Fatalf("no chaining value after a whole block: %v", err)
		}
	})
}

// A ChunkHasher fed in writes that straddle chunk boundaries gives the
// digests computed at the boundaries, for small chunk sizes too.
func TestChunkHasherRaggedWrites(t *testing.T) {
	for _, chunk := range []int{64, 192, 4096} {
		for _, size := range []int{0, 1, chunk, chunk + 1, 5*chunk + 13, 7 * chunk} {
			data := randomBytes(size, uint64(size+chunk))
			c, err := NewChunkHasher(int64(chunk))
			if err != nil {
				t.Fatal(err)
			}
			for p, step := data, 1; len(p) > 0; step = step*3 + 1 {
				k := min(step, len(p))
				c.Write(p[:k])
				p = p[k:]
			}
			got, err := c.Hashes()
			if err != nil {
				t.Fatal(err)
			}
			if want := boundaryDigests(t, data, chunk); !slices.Equal(got.Chunks, want) || got.Sum != sha256.Sum256(data) {
				t.Errorf("chunk %d, size %d: digests differ from those computed at the boundaries", chunk, size)
			}
		}
	}
	if _, err := NewChunkHasher(100); err == nil {
		t.Error("NewChunkHasher accepted chunks that end inside a SHA-256 block")
	}
}
