package ledger

import (
	"bytes"
	"encoding/json"
	"testing"
)

// Commitments travel between members (announcements carry them), so
// verifying one must survive any input, and only the real one verifies.
func FuzzVerifyCommitment(f *testing.F) {
	n := newTestNet(f, netOptions{witnesses: 2, quorum: 2})
	n.startOperator(f.Context())
	c := n.client()
	var real *Commitment
	for i := range 3 {
		cm, err := c.Submit(f.Context(), sign(f, publishEntry(manifestCID(string(rune('a'+i))), "hospital-a/d", int64(i+1), "open"), n.hospitalA))
		if err != nil {
			f.Fatal(err)
		}
		real = cm
	}
	v := n.verifiers()
	seed, err := json.Marshal(real)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte(`{"index":0,"entry":"","checkpoint":"","proof":[]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var cm Commitment
		if json.Unmarshal(b, &cm) != nil {
			return
		}
		e, cp, err := VerifyCommitment(&cm, v)
		if err != nil {
			return
		}
		if cm.Index != real.Index || !bytes.Equal(cm.Entry, real.Entry) || cp.Size < real.Index+1 || e.Dataset != "hospital-a/d" {
			t.Fatalf("a commitment other than the real one verified: index %d", cm.Index)
		}
	})
}
