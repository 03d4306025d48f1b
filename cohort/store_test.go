package cohort

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/ipfs/go-cid"
)

// randomBytes returns n reproducible pseudo-random bytes.
func randomBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	var s [32]byte
	s[0] = byte(seed)
	rand.NewChaCha8(s).Read(b)
	return b
}

func newStore(t *testing.T) *Store {
	t.Helper()
	s, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// wantCID builds a file CID by hand from crypto/sha256, as the CID and
// multihash specifications define it: multibase 'b' (base32 lower, no
// padding) over varint(1) varint(0x55 raw) varint(0x12 sha2-256) varint(32)
// digest.
func wantCID(data []byte) string {
	sum := sha256.Sum256(data)
	raw := append([]byte{0x01, 0x55, 0x12, 0x20}, sum[:]...)
	return "b" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(raw))
}

func TestImportCID(t *testing.T) {
	s := newStore(t)
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"small", []byte("person_id,gender\n1,F\n")},
		{"one chunk exactly", randomBytes(ChunkSize, 1)},
		{"two and a bit chunks", randomBytes(2*ChunkSize+12345, 2)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, n, err := s.Import(t.Context(), bytes.NewReader(tc.data))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := c.String(), wantCID(tc.data); got != want {
				t.Errorf("cid = %s, want %s", got, want)
			}
			if n != int64(len(tc.data)) {
				t.Errorf("size = %d, want %d", n, len(tc.data))
			}
			got, err := os.ReadFile(s.Path(c))
			if err != nil || !bytes.Equal(got, tc.data) {
				t.Fatalf("stored file differs (err %v)", err)
			}
			h, err := s.Chunks(c)
			if err != nil {
				t.Fatal(err)
			}
			want := boundaryDigests(t, tc.data, ChunkSize)
			if !slices.Equal(h.Chunks, want) || h.Size != int64(len(tc.data)) || h.ChunkSize != ChunkSize {
				t.Errorf("chunk list: %d digests for %d bytes, want %d", len(h.Chunks), h.Size, len(want))
			}
			if err := s.Verify(t.Context(), c); err != nil {
				t.Errorf("verify a good file: %v", err)
			}
			// Importing the same bytes again changes nothing.
			c2, _, err := s.Import(t.Context(), bytes.NewReader(tc.data))
			if err != nil || c2 != c {
				t.Errorf("re-import: %v, %v", c2, err)
			}
		})
	}
	var listed []string
	for c, err := range s.List() {
		if err != nil {
			t.Fatal(err)
		}
		listed = append(listed, c.String())
	}
	if len(listed) != 4 {
		t.Errorf("List gave %d files, want 4", len(listed))
	}
	if ents, _ := os.ReadDir(s.dir + "/tmp"); len(ents) != 0 {
		t.Errorf("tmp/ keeps %d files after imports", len(ents))
	}
}

func TestStoreDeleteAndMissing(t *testing.T) {
	s := newStore(t)
	c, _, err := s.Import(t.Context(), strings.NewReader("some bytes"))
	if err != nil {
		t.Fatal(err)
	}
	if !s.Has(c) {
		t.Fatal("Has = false after import")
	}
	if err := s.Delete(c); err != nil {
		t.Fatal(err)
	}
	if s.Has(c) {
		t.Error("Has = true after delete")
	}
	if _, err := s.Open(c); !errors.Is(err, ErrNotFound) {
		t.Errorf("Open after delete: %v, want ErrNotFound", err)
	}
	if _, err := s.Stat(c); !errors.Is(err, ErrNotFound) {
		t.Errorf("Stat after delete: %v, want ErrNotFound", err)
	}
	if err := s.Verify(t.Context(), c); !errors.Is(err, ErrNotFound) {
		t.Errorf("Verify after delete: %v, want ErrNotFound", err)
	}
}

// damage rewrites a stored (read-only) file.
func damage(t *testing.T, path string, f func([]byte) []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, f(b), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestStoreVerifyDetects(t *testing.T) {
	data := randomBytes(2*ChunkSize+100, 3)
	other := randomBytes(len(data), 4)
	for _, tc := range []struct {
		name      string
		damage    func(s *Store, c cid.Cid)
		check     string
		chunk     int
		wantFound bool
	}{
		{"flipped byte in chunk 1", func(s *Store, c cid.Cid) {
			damage(t, s.Path(c), func(b []byte) []byte { b[ChunkSize+7] ^= 1; return b })
		}, "cid", 1, true},
		{"truncated", func(s *Store, c cid.Cid) {
			damage(t, s.Path(c), func(b []byte) []byte { return b[:len(b)-1] })
		}, "size", 2, true},
		{"swapped for other bytes of the same size", func(s *Store, c cid.Cid) {
			damage(t, s.Path(c), func([]byte) []byte { return other })
		}, "cid", 0, true},
		{"chunk digest changed", func(s *Store, c cid.Cid) {
			damage(t, s.chunksPath(c), func(b []byte) []byte { b[len(b)-1] ^= 0x80; return b })
		}, "chunk list", 2, true},
		{"chunk list missing", func(s *Store, c cid.Cid) { os.Remove(s.chunksPath(c)) }, "chunk list", -1, true},
		{"missing", func(s *Store, c cid.Cid) { os.Remove(s.Path(c)) }, "", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			c, _, err := s.Import(t.Context(), bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			tc.damage(s, c)
			err = s.Verify(t.Context(), c)
			if !tc.wantFound {
				if !errors.Is(err, ErrNotFound) {
					t.Fatalf("Verify = %v, want ErrNotFound", err)
				}
				return
			}
			var ce *CorruptError
			if !errors.As(err, &ce) {
				t.Fatalf("Verify = %v, want a CorruptError", err)
			}
			if ce.Check != tc.check || ce.Chunk != tc.chunk || ce.CID != c {
				t.Errorf("Verify = %v, want check %q chunk %d", err, tc.check, tc.chunk)
			}
		})
	}
}

func TestReadChunk(t *testing.T) {
	s := newStore(t)
	data := randomBytes(ChunkSize+10, 8)
	c, _, err := s.Import(t.Context(), bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range [][]byte{data[:ChunkSize], data[ChunkSize:]} {
		got, err := s.ReadChunk(c, i, nil)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("chunk %d: %d bytes, %v", i, len(got), err)
		}
	}
	if _, err := s.ReadChunk(c, 2, nil); err == nil {
		t.Error("ReadChunk past the end succeeded")
	}
}

func FuzzDecodeChunks(f *testing.F) {
	f.Add(encodeChunks(Hashes{Size: ChunkSize + 1, ChunkSize: ChunkSize, Chunks: []Digest{{1}, {2}}}))
	f.Add(encodeChunks(Hashes{ChunkSize: ChunkSize}))
	f.Add([]byte("cohortnet-chunks/1\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := decodeChunks(b)
		if err != nil {
			return
		}
		if !bytes.Equal(encodeChunks(h), b) {
			t.Fatal("decoded chunk list does not re-encode to its bytes")
		}
	})
}

// TestFileWriterPaths writes through direct I/O with an unaligned tail, and
// through the ordinary descriptor alone (where direct I/O is refused), and
// checks both give the same file.
func TestFileWriterPaths(t *testing.T) {
	data := randomBytes(6*bufSize+777, 10)
	for _, direct := range []bool{true, false} {
		f, err := os.CreateTemp(t.TempDir(), "w-*")
		if err != nil {
			t.Fatal(err)
		}
		w := newFileWriter(f)
		if !direct {
			w.Close() // as if O_DIRECT were refused
		}
		h, err := pipeline(t.Context(), bytes.NewReader(data), w)
		if err != nil {
			t.Fatal(err)
		}
		w.Close()
		f.Close()
		got, err := os.ReadFile(f.Name())
		if err != nil || !bytes.Equal(got, data) || FileCID(h.Sum).String() != wantCID(data) {
			t.Errorf("direct=%v: file differs or wrong CID (err %v)", direct, err)
		}
	}
}

// failingWriter fails every write at or past an offset.
type failingWriter struct {
	at  int64
	err error
}

func (w failingWriter) WriteAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > w.at {
		return 0, w.err
	}
	return len(p), nil
}

func TestPipelineWriteError(t *testing.T) {
	boom := errors.New("disk full")
	_, err := pipeline(t.Context(), bytes.NewReader(randomBytes(5*bufSize, 15)), failingWriter{at: 2 * bufSize, err: boom})
	if !errors.Is(err, boom) {
		t.Fatalf("pipeline = %v, want the write error", err)
	}
}

func TestImportFailsCleanly(t *testing.T) {
	boom := errors.New("disk gone")
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		r    io.Reader
		want error
	}{
		{"reader error midway", t.Context(), io.MultiReader(bytes.NewReader(randomBytes(5*bufSize/2, 11)), iotest.ErrReader(boom)), boom},
		{"cancelled", cancelled, bytes.NewReader(randomBytes(100, 12)), context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			if _, _, err := s.Import(tc.ctx, tc.r); !errors.Is(err, tc.want) {
				t.Fatalf("Import = %v, want %v", err, tc.want)
			}
			for _, sub := range []string{"tmp", "blobs", "chunks"} {
				if ents, _ := os.ReadDir(filepath.Join(s.Dir(), sub)); len(ents) != 0 {
					t.Errorf("%s/ keeps %d files after a failed import", sub, len(ents))
				}
			}
		})
	}
}
