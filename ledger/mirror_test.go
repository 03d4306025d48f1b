package ledger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/transparency-dev/tessera/api/layout"

	"github.com/cohortnet/cohortnet/consortium"
)

// fill submits n publish entries from workers goroutines and returns the
// commitments.
func fill(t testing.TB, ctx context.Context, c *Client, who ident, short string, n, workers int) []*Commitment {
	t.Helper()
	var mu sync.Mutex
	var out []*Commitment
	var wg sync.WaitGroup
	round := fillRound.Add(1)
	errc := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for v := 1; v <= n/workers; v++ {
				e := publishEntry(manifestCID(fmt.Sprintf("%s-%d-%d-%d", short, w, v, time.Now().UnixNano())), fmt.Sprintf("%s/ds-%d-%d", short, round, w), int64(v), "open")
				enc, err := e.Sign(who.key)
				if err != nil {
					errc <- err
					return
				}
				cm, err := c.Submit(ctx, enc)
				if err != nil {
					errc <- err
					return
				}
				mu.Lock()
				out = append(out, cm)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	return out
}

var fillRound atomic.Int64

func copyDir(t testing.TB, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "copy")
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	return dst
}

func flipByte(t testing.TB, path string, at int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if at < 0 {
		at += len(b)
	}
	b[at] ^= 0x40
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestMirrorAndVerifyDetectTampering(t *testing.T) {
	n := newTestNet(t, netOptions{witnesses: 3, quorum: 2})
	n.startOperator(t.Context())
	c := n.client()
	v := n.verifiers()
	fill(t, t.Context(), c, n.hospitalA, "hospital-a", 100, 10)

	mirrorDir := filepath.Join(t.TempDir(), "mirror")
	src, err := HTTPSource(n.opSrv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewMirror(t.Context(), MirrorConfig{Dir: mirrorDir, Source: src, Verifiers: v})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Update(t.Context()); err != nil {
		t.Fatal(err)
	}
	firstCP := m.Checkpoint()
	fill(t, t.Context(), c, n.hospitalA, "hospital-a", 200, 20)
	cp, err := m.Update(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if cp.Size < 300 {
		t.Fatalf("mirror at size %d, want at least 300", cp.Size)
	}
	// The mirror's re-derived tiles and bundles are Tessera's, byte for byte.
	compared := 0
	err = filepath.WalkDir(filepath.Join(mirrorDir, "tile"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(mirrorDir, p)
		mine, _ := os.ReadFile(p)
		theirs, err := os.ReadFile(filepath.Join(n.opDir, rel))
		if errors.Is(err, fs.ErrNotExist) && strings.Contains(rel, ".p") {
			return nil // a partial the operator has since completed and collected
		}
		if err != nil {
			return err
		}
		if !bytes.Equal(mine, theirs) {
			t.Errorf("mirror %s differs from the operator's", rel)
		}
		compared++
		return nil
	})
	if err != nil || compared < 3 {
		t.Fatalf("compared %d files: %v", compared, err)
	}
	// Entries iterate in order and a proof from the copy verifies.
	var count uint64
	for e, err := range m.Entries(t.Context()) {
		if err != nil {
			t.Fatal(err)
		}
		if e.Index != count || e.Kind != KindPublish {
			t.Fatalf("entry %d: index %d kind %s", count, e.Index, e.Kind)
		}
		count++
	}
	if count != cp.Size {
		t.Fatalf("iterated %d entries, want %d", count, cp.Size)
	}
	if r, err := VerifyLog(t.Context(), DirSource(mirrorDir), v, nil); err != nil {
		t.Fatalf("mirror copy does not verify: %v (%+v)", err, r)
	}
	cm, err := m.Prove(t.Context(), 257)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := VerifyCommitment(cm, v); err != nil {
		t.Fatal(err)
	}
	// A restarted mirror re-derives the same state from its copy.
	m2, err := NewMirror(t.Context(), MirrorConfig{Dir: mirrorDir, Source: src, Verifiers: v})
	if err != nil {
		t.Fatal(err)
	}
	if m2.Size() != m.Size() || !bytes.Equal(m2.Checkpoint(), m.Checkpoint()) {
		t.Fatalf("reloaded mirror at %d, want %d", m2.Size(), m.Size())
	}

	// A damaged copy is fetched again, but what it had seen still binds: a
	// log rolled back behind it is refused.
	damaged := copyDir(t, mirrorDir)
	flipByte(t, filepath.Join(damaged, layout.EntriesPath(0, 0)), 50)
	rolledBack := copyDir(t, n.opDir)
	if err := os.WriteFile(filepath.Join(rolledBack, "checkpoint"), firstCP, 0o644); err != nil {
		t.Fatal(err)
	}
	md, err := NewMirror(t.Context(), MirrorConfig{Dir: damaged, Source: DirSource(rolledBack), Verifiers: v})
	if err != nil {
		t.Fatal(err)
	}
	if md.Size() != 0 {
		t.Fatalf("damaged copy loaded with %d entries", md.Size())
	}
	if _, err := md.Update(t.Context()); !errors.Is(err, ErrInconsistent) {
		t.Fatalf("damaged copy updated from a rolled-back log: %v, want ErrInconsistent", err)
	}
	md.cfg.Source = DirSource(n.opDir)
	if _, err := md.Update(t.Context()); err != nil || md.Size() != m.Size() {
		t.Fatalf("damaged copy refetched %d entries: %v", md.Size(), err)
	}

	// The operator's own directory verifies; its tampered copies do not.
	if _, err := VerifyLog(t.Context(), DirSource(n.opDir), v, firstCP); err != nil {
		t.Fatalf("untouched log: %v", err)
	}
	otherSigner, err := consortium.NoteSigner(n.outsider.key, v.Origin)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		tamper   func(dir string)
		previous []byte
		want     error
	}{
		{"modified entry bundle", func(dir string) { flipByte(t, filepath.Join(dir, layout.EntriesPath(0, 0)), 100) }, nil, nil},
		{"modified tile", func(dir string) { flipByte(t, filepath.Join(dir, layout.TilePath(0, 0, 0)), 40) }, nil, ErrInclusion},
		{"truncated log", func(dir string) {
			if err := os.RemoveAll(filepath.Join(dir, "tile", "entries")); err != nil {
				t.Fatal(err)
			}
		}, nil, nil},
		{"checkpoint signed by another key", func(dir string) {
			cp, err := checkpointUnverified(firstCP)
			if err != nil {
				t.Fatal(err)
			}
			b := signedCheckpointRaw(t, otherSigner, cp.Origin, cp.Size, cp.Hash)
			os.WriteFile(filepath.Join(dir, "checkpoint"), b, 0o644)
		}, nil, ErrCheckpointSignature},
		{"rolled-back checkpoint", func(dir string) {
			os.WriteFile(filepath.Join(dir, "checkpoint"), firstCP, 0o644)
		}, m.Checkpoint(), ErrInconsistent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyDir(t, n.opDir)
			tc.tamper(dir)
			_, err := VerifyLog(t.Context(), DirSource(dir), v, tc.previous)
			if err == nil {
				t.Fatal("tampered log verified")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			// A mirror following the tampered copy refuses it too.
			mm, err := NewMirror(t.Context(), MirrorConfig{Dir: copyDir(t, mirrorDir), Source: DirSource(dir), Verifiers: v})
			if err != nil {
				t.Fatal(err)
			}
			if tc.name == "modified tile" {
				return // a mirror re-derives tiles itself and never reads them
			}
			if _, err := mm.Update(t.Context()); err == nil && tc.name != "modified entry bundle" && tc.name != "truncated log" {
				t.Fatal("mirror accepted the tampered log")
			}
		})
	}
}

func signedCheckpointRaw(t testing.TB, s interface {
	Name() string
	KeyHash() uint32
	Sign([]byte) ([]byte, error)
}, origin string, size uint64, hash []byte) []byte {
	var root [32]byte
	copy(root[:], hash)
	return signedCheckpoint(t, s, origin, int64(size), root)
}

// Two members shown two different logs of the same size by the operator (a
// fork without witnesses to stop it) detect it when they compare checkpoints.
func TestMirrorDetectsFork(t *testing.T) {
	n := newTestNet(t, netOptions{})
	v := n.verifiers()
	// Two logs under the same operator key, with different histories.
	dirs := []string{filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")}
	var cps [][]byte
	for i, dir := range dirs {
		op, err := NewOperator(t.Context(), OperatorConfig{Dir: dir, Key: n.opKey.key, Consortium: n.config})
		if err != nil {
			t.Fatal(err)
		}
		for k := range 3 {
			e := publishEntry(manifestCID(fmt.Sprintf("log %d entry %d", i, k)), "hospital-a/d", int64(k+1), "open")
			if _, err := op.Submit(t.Context(), sign(t, e, n.hospitalA)); err != nil {
				t.Fatal(err)
			}
		}
		if err := op.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		cp, err := os.ReadFile(filepath.Join(dir, "checkpoint"))
		if err != nil {
			t.Fatal(err)
		}
		cps = append(cps, cp)
	}
	m, err := NewMirror(t.Context(), MirrorConfig{Dir: t.TempDir(), Source: DirSource(dirs[0]), Verifiers: v})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Update(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := m.Compare(cps[0]); err != nil {
		t.Fatalf("own checkpoint: %v", err)
	}
	if err := m.Compare(cps[1]); !errors.Is(err, ErrInconsistent) {
		t.Fatalf("other member's checkpoint of the same size: %v, want ErrInconsistent", err)
	}
	m.cfg.Source = DirSource(dirs[1])
	if _, err := m.Update(t.Context()); !errors.Is(err, ErrInconsistent) {
		t.Fatalf("update from the forked log: %v, want ErrInconsistent", err)
	}
}
