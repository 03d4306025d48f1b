package p2p

import (
	"bytes"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/cohortnet/cohortnet/cohort"
)

func TestDescribeFileKnownCID(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, data, cid string
		chunks          int
	}{
		// sha2-256 of the empty string and of "hello world\n", as CIDv1 raw
		// (the same as `ipfs add --cid-version 1 --raw-leaves`).
		{"empty", "", "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku", 0},
		{"hello", "hello world\n", "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name)
			if err := os.WriteFile(p, []byte(tc.data), 0o644); err != nil {
				t.Fatal(err)
			}
			f, err := DescribeFile(p, 64)
			if err != nil {
				t.Fatal(err)
			}
			if f.CID.String() != tc.cid || f.Chunks() != tc.chunks || f.Size != int64(len(tc.data)) {
				t.Fatalf("got %s, %d chunks, %d bytes; want %s, %d chunks", f.CID, f.Chunks(), f.Size, tc.cid, tc.chunks)
			}
			if err := f.Check(); err != nil {
				t.Fatal(err)
			}
		})
	}
	if _, err := DescribeFile(filepath.Join(dir, "hello"), 100); err == nil {
		t.Error("DescribeFile accepted chunks that end inside a SHA-256 block")
	}
}

// The chunk digests of a one-chunk file are its sha256; of a longer file,
// the chaining values cohort computes for its manifests, at any chunk size.
func TestChunkDigestKnownAnswers(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "abc")
	if err := os.WriteFile(p, []byte("abc"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := DescribeFile(p, 64)
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(f.Digests[0][:]); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Fatalf("digest of the one chunk of \"abc\" = %s, want its sha2-256", got)
	}

	for _, size := range []int{1, DefaultChunkSize, 2*DefaultChunkSize + 999} {
		t.Run(strconv.Itoa(size), func(t *testing.T) {
			data := make([]byte, size)
			crand.Read(data)
			p := filepath.Join(dir, "data")
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
			f, err := DescribeFile(p, DefaultChunkSize)
			if err != nil {
				t.Fatal(err)
			}
			h, err := cohort.HashReader(t.Context(), bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			if len(h.Chunks) != len(f.Digests) || cohort.FileCID(h.Sum) != f.CID {
				t.Fatalf("%d digests, CID %s; cohort has %d, %s", len(f.Digests), f.CID, len(h.Chunks), cohort.FileCID(h.Sum))
			}
			for i := range h.Chunks {
				if h.Chunks[i] != f.Digests[i] {
					t.Fatalf("chunk %d: digest differs from cohort's", i)
				}
				if !f.verifyChunk(i, data[i*DefaultChunkSize:int64(i*DefaultChunkSize)+f.chunkLen(i)]) {
					t.Fatalf("chunk %d does not verify", i)
				}
			}
		})
	}
}

// TestDirSinkOrders writes chunks in the orders a parallel fetch produces
// them and checks the committed file.
func TestDirSinkOrders(t *testing.T) {
	src := t.TempDir()
	data := make([]byte, 10*testChunk+777)
	crand.Read(data)
	p := filepath.Join(src, "f")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := DescribeFile(p, testChunk)
	if err != nil {
		t.Fatal(err)
	}
	n := f.Chunks()
	inOrder := make([]int, n)
	for i := range inOrder {
		inOrder[i] = i
	}
	reversed := slices.Clone(inOrder)
	slices.Reverse(reversed)
	shuffled := slices.Clone(inOrder)
	rng := rand.New(rand.NewPCG(3, 4))
	rng.Shuffle(n, func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })

	chunk := func(i int) []byte { return data[int64(i)*testChunk : int64(i)*testChunk+f.chunkLen(i)] }
	for _, tc := range []struct {
		name   string
		first  []int // written, then the fetch is interrupted
		second []int // written after resuming
	}{
		{"in order", inOrder, nil},
		{"reversed", reversed, nil},
		{"shuffled", shuffled, nil},
		{"resumed", shuffled[:4], shuffled[4:]},
		{"resumed after nothing", nil, inOrder},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			sink := &DirSink{Dir: t.TempDir()}
			write := func(order []int, wantHave int) {
				t.Helper()
				have, err := sink.Begin(ctx, &f)
				if err != nil {
					t.Fatal(err)
				}
				if got := count(have); got != wantHave {
					t.Fatalf("sink holds %d chunks, want %d", got, wantHave)
				}
				for _, i := range order {
					if err := sink.WriteChunk(ctx, f.CID, i, chunk(i)); err != nil {
						t.Fatal(err)
					}
				}
			}
			if tc.second == nil {
				write(tc.first, 0)
			} else {
				write(tc.first, 0)
				if err := sink.Abort(f.CID); err != nil {
					t.Fatal(err)
				}
				write(tc.second, len(tc.first))
			}
			if err := sink.Commit(ctx, f.CID); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(sink.Path(f.CID))
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("committed file differs (%d bytes, %v)", len(got), err)
			}
		})
	}
}

func count(b []bool) int {
	n := 0
	for _, v := range b {
		if v {
			n++
		}
	}
	return n
}

// A description whose chunk digests do not end in its CID: its chunks would
// all verify, so the sink refuses the file before taking any.
func TestDirSinkRefusesCIDMismatch(t *testing.T) {
	src := t.TempDir()
	p := filepath.Join(src, "f")
	if err := os.WriteFile(p, bytes.Repeat([]byte("the bytes the digests describe. "), 7), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := DescribeFile(p, 64)
	if err != nil {
		t.Fatal(err)
	}
	f.CID = testCID(t, "some other file") // a manifest whose CID and digests disagree
	sink := &DirSink{Dir: t.TempDir()}
	if _, err := sink.Begin(t.Context(), &f); !errors.Is(err, ErrCIDMismatch) {
		t.Fatalf("begin: got %v, want ErrCIDMismatch", err)
	}
	if ents, _ := os.ReadDir(sink.Dir); len(ents) != 0 {
		t.Fatalf("the sink created %d files for a refused description", len(ents))
	}
	// Fetch checks before it asks anyone.
	if _, err := Fetch(t.Context(), nil, sink, []File{f}, nil, FetchConfig{}); !errors.Is(err, ErrCIDMismatch) {
		t.Fatalf("fetch: got %v, want ErrCIDMismatch", err)
	}
}
