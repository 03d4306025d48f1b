package ledger

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	fnote "github.com/transparency-dev/formats/note"
)

// A commitment verifies with this package and, independently, with x/mod's
// note and tlog: the checkpoint opens with the operator's key, two of three
// witnesses cosigned it, and the record proof leads to its root.
func TestSubmitCommitmentVerifiesIndependently(t *testing.T) {
	n := newTestNet(t, netOptions{witnesses: 3, quorum: 2})
	n.startOperator(t.Context())
	c := n.client()
	var last *Commitment
	for i := range 5 {
		m := manifestCID("manifest " + string(rune('a'+i)))
		cm, err := c.Submit(t.Context(), sign(t, publishEntry(m, "hospital-a/diabetes", int64(i+1), "open"), n.hospitalA))
		if err != nil {
			t.Fatalf("submit %d: %v", i, err)
		}
		if cm.Index != uint64(i) {
			t.Fatalf("entry %d got index %d", i, cm.Index)
		}
		last = cm
	}

	cfg := n.config()
	opV, err := note.NewVerifier(cfg.Ledger.Key)
	if err != nil {
		t.Fatal(err)
	}
	nt, err := note.Open([]byte(last.Checkpoint), note.VerifierList(opV))
	if err != nil {
		t.Fatalf("checkpoint does not open with the operator's key: %v", err)
	}
	// x/mod's ParseTree wants the go.sum header; the tlog-checkpoint body
	// is the same size and hash lines under the origin.
	lines := strings.Split(nt.Text, "\n")
	if len(lines) < 3 || lines[0] != cfg.Ledger.Origin {
		t.Fatalf("checkpoint text %q", nt.Text)
	}
	tree, err := tlog.ParseTree([]byte("go.sum database tree\n" + lines[1] + "\n" + lines[2] + "\n"))
	if err != nil {
		t.Fatalf("checkpoint body: %v", err)
	}
	if tree.N < int64(last.Index)+1 {
		t.Fatalf("checkpoint size %d does not cover index %d", tree.N, last.Index)
	}
	proof := make(tlog.RecordProof, len(last.Proof))
	for i, h := range last.Proof {
		copy(proof[i][:], h)
	}
	if err := tlog.CheckRecord(proof, tree.N, tree.Hash, int64(last.Index), tlog.RecordHash(last.Entry)); err != nil {
		t.Fatalf("x/mod tlog rejects the inclusion proof: %v", err)
	}
	cosigned := 0
	for _, w := range cfg.Witnesses {
		v, err := fnote.NewVerifierForCosignatureV1(w.Key)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := note.Open([]byte(last.Checkpoint), note.VerifierList(v)); err == nil {
			cosigned++
		}
	}
	if cosigned < 2 {
		t.Fatalf("%d witnesses cosigned, want at least 2", cosigned)
	}
	if _, _, err := VerifyCommitment(last, n.verifiers()); err != nil {
		t.Fatal(err)
	}
	// A commitment to another entry, or with a wrong index, fails.
	bad := *last
	bad.Index--
	if _, _, err := VerifyCommitment(&bad, n.verifiers()); !errors.Is(err, ErrInclusion) {
		t.Fatalf("wrong index: %v, want ErrInclusion", err)
	}
}
