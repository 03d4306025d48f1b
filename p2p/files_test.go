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
	"testing"
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
		{"hello", "hello world\n", "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name)
			if err := os.WriteFile(p, []byte(tc.data), 0o644); err != nil {
				t.Fatal(err)
			}
			f, err := DescribeFile(p, 5)
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
}

func TestChunkDigestKnownAnswers(t *testing.T) {
	for _, tc := range []struct {
		name string
		data string
		want string
	}{
		{"sha2-256 abc", "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		{"sha2-256 empty", "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := File{}
			d := f.digest([]byte(tc.data))
			if got := hex.EncodeToString(d[:]); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
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

func TestDirSinkRefusesCIDMismatch(t *testing.T) {
	src := t.TempDir()
	p := filepath.Join(src, "f")
	if err := os.WriteFile(p, []byte("the bytes the digests describe"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := DescribeFile(p, 8)
	if err != nil {
		t.Fatal(err)
	}
	f.CID = testCID(t, "some other file") // a manifest whose CID and digests disagree
	data, _ := os.ReadFile(p)
	sink := &DirSink{Dir: t.TempDir()}
	if _, err := sink.Begin(t.Context(), &f); err != nil {
		t.Fatal(err)
	}
	for i := range f.Chunks() {
		if err := sink.WriteChunk(t.Context(), f.CID, i, data[i*8:min(len(data), i*8+8)]); err != nil {
			t.Fatal(err)
		}
	}
	if err := sink.Commit(t.Context(), f.CID); !errors.Is(err, ErrCIDMismatch) {
		t.Fatalf("commit: got %v, want ErrCIDMismatch", err)
	}
	if _, err := os.Stat(sink.Path(f.CID)); err == nil {
		t.Fatal("a file that does not match its CID was put in place")
	}
}
