package node

import (
	"encoding/json"
	"testing"

	"github.com/cohortnet/cohortnet/consortium"
	"github.com/cohortnet/cohortnet/ledger"
)

// FuzzAnnouncement feeds arbitrary gossip messages to the announcement
// decoder and verifier: they must refuse, never panic, and never accept a
// message without a manifest signature and a verified commitment.
func FuzzAnnouncement(f *testing.F) {
	f.Add([]byte(`{"kind":"announce","manifest":"AAAA","commitment":{"index":1,"entry":"AA==","checkpoint":"x\n","proof":[]}}`))
	f.Add([]byte(`{"kind":"consortium","config":"bmFtZTogeAo="}`))
	f.Add([]byte(`{"kind":"announce"}`))
	f.Add([]byte(`{"kind":"other","manifest":"AA=="}`))
	f.Add([]byte(`{"kind":"announce","manifest":"AA==","commitment":{},"extra":1}`))
	f.Add([]byte(`[]`))
	f.Add([]byte{0xa1, 0x00})
	b, _ := json.Marshal(envelope{Kind: kindAnnounce, Manifest: []byte{0xa3, 0x68}, Commitment: &ledger.Commitment{Index: 7, Checkpoint: "origin\n1\nAAAA\n\n— sig\n"}})
	f.Add(b)
	cons := &consortium.Config{Name: "fuzz"}
	v := &ledger.Verifiers{}
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := decodeEnvelope(data)
		if err != nil {
			return
		}
		if e.Kind != kindAnnounce && e.Kind != kindConsortium {
			t.Fatalf("decoded unknown kind %q", e.Kind)
		}
		if e.Kind == kindAnnounce {
			if a, err := verifyAnnouncement(e, cons, v); err == nil {
				t.Fatalf("accepted an announcement without verifiers: %+v", a)
			}
			if a, err := verifyAnnouncement(e, cons, nil); err == nil {
				t.Fatalf("accepted an announcement without verifiers: %+v", a)
			}
		}
	})
}
