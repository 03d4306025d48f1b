package ledger

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	flog "github.com/transparency-dev/formats/log"
	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/cohortnet/cohortnet/consortium"
)

// memTree is an in-memory Merkle tree built with x/mod's tlog, an
// implementation independent of Tessera's.
type memTree struct{ hashes []tlog.Hash }

func (m *memTree) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		out[i] = m.hashes[x]
	}
	return out, nil
}

func newMemTree(t testing.TB, leaves ...string) *memTree {
	m := &memTree{}
	for i, l := range leaves {
		hs, err := tlog.StoredHashes(int64(i), []byte(l), m)
		if err != nil {
			t.Fatal(err)
		}
		m.hashes = append(m.hashes, hs...)
	}
	return m
}

func (m *memTree) root(t testing.TB, n int64) tlog.Hash {
	h, err := tlog.TreeHash(n, m)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func (m *memTree) consistency(t testing.TB, from, to int64) [][]byte {
	p, err := tlog.ProveTree(to, from, m)
	if err != nil {
		t.Fatal(err)
	}
	out := make([][]byte, len(p))
	for i := range p {
		out[i] = p[i][:]
	}
	return out
}

// signedCheckpoint signs size and root as the log's operator (or another key).
func signedCheckpoint(t testing.TB, signer note.Signer, origin string, size int64, root tlog.Hash) []byte {
	b, err := note.Sign(&note.Note{Text: string(flog.Checkpoint{Origin: origin, Size: uint64(size), Hash: root[:]}.Marshal())}, signer)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func leaves(prefix string, n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("%s%d", prefix, i))
	}
	return out
}

func TestWitnessRefusesInconsistency(t *testing.T) {
	n := newTestNet(t, netOptions{witnesses: 1, quorum: 1})
	cfg := n.config()
	origin := cfg.Ledger.Origin
	opSigner, err := consortium.NoteSigner(n.opKey.key, origin)
	if err != nil {
		t.Fatal(err)
	}
	otherSigner, err := consortium.NoteSigner(n.outsider.key, origin)
	if err != nil {
		t.Fatal(err)
	}
	wv, err := fnote.NewVerifierForCosignatureV1(cfg.Witnesses[0].Key)
	if err != nil {
		t.Fatal(err)
	}
	honest := newMemTree(t, leaves("entry", 9)...)
	forked := newMemTree(t, append([]string{"entry0", "EVIL"}, leaves("entry", 9)[2:]...)...)
	w := n.witnesses[0]

	cosign := func(old int64, proof [][]byte, cp []byte) error {
		sig, err := w.AddCheckpoint(t.Context(), uint64(old), proof, cp)
		if err != nil {
			return err
		}
		if _, err := note.Open(append(append([]byte{}, cp...), sig...), note.VerifierList(wv)); err != nil {
			t.Fatalf("cosignature does not verify: %v", err)
		}
		return nil
	}
	status := func(err error) int {
		var we *WitnessError
		if !errors.As(err, &we) {
			t.Fatalf("error %v is not a WitnessError", err)
		}
		return we.Status
	}

	if err := cosign(0, nil, signedCheckpoint(t, opSigner, origin, 3, honest.root(t, 3))); err != nil {
		t.Fatal(err)
	}
	if err := cosign(3, honest.consistency(t, 3, 5), signedCheckpoint(t, opSigner, origin, 5, honest.root(t, 5))); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		old    int64
		proof  [][]byte
		cp     []byte
		status int
	}{
		{"fork: another tree extending with a proof of its own", 5, forked.consistency(t, 5, 7), signedCheckpoint(t, opSigner, origin, 7, forked.root(t, 7)), http.StatusUnprocessableEntity},
		{"fork: same size, different root", 5, nil, signedCheckpoint(t, opSigner, origin, 5, forked.root(t, 5)), http.StatusConflict},
		{"rolled back", 5, nil, signedCheckpoint(t, opSigner, origin, 4, honest.root(t, 4)), http.StatusBadRequest},
		{"stale old size", 3, honest.consistency(t, 3, 7), signedCheckpoint(t, opSigner, origin, 7, honest.root(t, 7)), http.StatusConflict},
		{"signed by another key", 5, honest.consistency(t, 5, 7), signedCheckpoint(t, otherSigner, origin, 7, honest.root(t, 7)), http.StatusForbidden},
		{"unknown origin", 5, honest.consistency(t, 5, 7), signedCheckpoint(t, opSigner, origin+"x", 7, honest.root(t, 7)), http.StatusNotFound},
		{"garbled proof", 5, [][]byte{make([]byte, 32)}, signedCheckpoint(t, opSigner, origin, 7, honest.root(t, 7)), http.StatusUnprocessableEntity},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := cosign(tc.old, tc.proof, tc.cp)
			if err == nil {
				t.Fatal("witness cosigned")
			}
			if got := status(err); got != tc.status {
				t.Fatalf("status %d (%v), want %d", got, err, tc.status)
			}
		})
	}

	// The state survives a restart: a new witness on the same directory
	// knows it cosigned size 5 and says so over HTTP, as tlog-witness asks.
	w2, err := NewWitness(WitnessConfig{Dir: w.cfg.Dir, Key: n.wKeys[0].key, Name: cfg.Witnesses[0].Name, Consortium: n.config})
	if err != nil {
		t.Fatal(err)
	}
	n.witnesses[0] = w2
	body := "old 0\n\n" + string(signedCheckpoint(t, opSigner, origin, 7, honest.root(t, 7)))
	resp, err := http.Post(cfg.Witnesses[0].HTTP+"/add-checkpoint", "text/plain", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusConflict || resp.Header.Get("Content-Type") != "text/x.tlog.size" || string(got) != "5\n" {
		t.Fatalf("restarted witness answered %d %q %q, want 409 text/x.tlog.size \"5\\n\"", resp.StatusCode, resp.Header.Get("Content-Type"), got)
	}
	// And extends from there over HTTP.
	var sb strings.Builder
	sb.WriteString("old 5\n")
	for _, h := range honest.consistency(t, 5, 7) {
		sb.WriteString(base64.StdEncoding.EncodeToString(h) + "\n")
	}
	sb.WriteString("\n")
	sb.Write(signedCheckpoint(t, opSigner, origin, 7, honest.root(t, 7)))
	resp2, err := http.Post(cfg.Witnesses[0].HTTP+"/add-checkpoint", "text/plain", strings.NewReader(sb.String()))
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	sig, _ := io.ReadAll(resp2.Body)
	if resp2.StatusCode != http.StatusOK || !strings.HasPrefix(string(sig), "— "+cfg.Witnesses[0].Name+" ") {
		t.Fatalf("witness answered %d %q", resp2.StatusCode, sig)
	}
}

func FuzzParseAddCheckpoint(f *testing.F) {
	f.Add([]byte("old 0\n\norigin\n1\nhash\n\n— sig AAAA\n"))
	f.Add([]byte("old 5\n" + base64.StdEncoding.EncodeToString(make([]byte, 32)) + "\n\ncp"))
	f.Add([]byte("old 01\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		old, proof, cp, err := ParseAddCheckpoint(b)
		if err != nil {
			return
		}
		// Re-encoding what was parsed gives the input back.
		var sb strings.Builder
		fmt.Fprintf(&sb, "old %d\n", old)
		for _, h := range proof {
			sb.WriteString(base64.StdEncoding.EncodeToString(h) + "\n")
		}
		sb.WriteString("\n")
		sb.Write(cp)
		if sb.String() != string(b) {
			t.Fatalf("round trip %q != %q", sb.String(), b)
		}
	})
}
