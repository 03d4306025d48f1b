package node

import (
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/cohortnet/cohortnet/cohort"
	"github.com/cohortnet/cohortnet/consortium"
	"github.com/cohortnet/cohortnet/ledger"
)

// A member whose operator HTTP address is dead still files its entries: the
// submission travels over libp2p to the operator's peer and the commitment
// verifies against the consortium's keys and witness quorum.
func TestSubmitOverLibp2pWhenOperatorHTTPIsDead(t *testing.T) {
	nw := testNet(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	lab := nw.lab.node
	pub := publish(t, nw.hospB, "submit-over-libp2p", cohort.AccessRestricted, 20)
	if err := lab.Connect(ctx, nw.operator.node.AddrInfo()); err != nil {
		t.Fatalf("connect the lab to the operator: %v", err)
	}
	c := lab.Consortium()
	v, err := ledger.VerifiersFor(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	e := ledger.NewEntry(ledger.KindRequest, time.Now())
	e.Dataset, e.Purpose = pub.Manifest.Name, "a request sent while the operator's HTTP address is dead"
	enc, err := e.Sign(lab.key)
	if err != nil {
		t.Fatal(err)
	}
	dead := &ledger.Client{URL: "http://127.0.0.1:1", HTTPClient: &http.Client{Timeout: 5 * time.Second}, Verifiers: v}
	if _, err := dead.Submit(ctx, enc); err == nil {
		t.Fatal("the dead HTTP address accepted a submission: the test proves nothing")
	}
	cm, err := lab.submitEncoded(ctx, dead, c.Ledger, enc)
	if err != nil {
		t.Fatalf("submit with the operator's HTTP address dead: %v", err)
	}
	got, _, err := ledger.VerifyCommitment(cm, v)
	if err != nil {
		t.Fatalf("the commitment received over libp2p does not verify: %v", err)
	}
	if got.Kind != ledger.KindRequest || got.Dataset != e.Dataset || got.Purpose != e.Purpose {
		t.Fatalf("committed entry %s %q %q, want the request submitted", got.Kind, got.Dataset, got.Purpose)
	}
	eventually(t, 20*time.Second, "the lab's mirror holds the entry", func() bool {
		return lab.Mirror().Size() > cm.Index
	})
}

// The operator serves only submission under SubmitProtocol and a witness
// serves add-checkpoint under WitnessProtocol, with the HTTP handlers'
// answers: a malformed body is refused, not cosigned.
func TestLedgerRoleProtocols(t *testing.T) {
	nw := testNet(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	lab := nw.lab.node
	wit := nw.witnesses[0]
	if err := lab.Connect(ctx, nw.operator.node.AddrInfo()); err != nil {
		t.Fatal(err)
	}
	if err := lab.Connect(ctx, wit.node.AddrInfo()); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, proto, method, path, body string
		want                            int
	}{
		{"submit: tiles are not served", SubmitProtocol, http.MethodGet, "/checkpoint", "", http.StatusNotFound},
		{"submit: a malformed entry is refused", SubmitProtocol, http.MethodPost, "/add-entry", "not cbor", http.StatusBadRequest},
		{"witness: a malformed request is refused", WitnessProtocol, http.MethodPost, "/add-checkpoint", "old 0\n", http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			server := nw.operator.id
			if tc.proto == WitnessProtocol {
				server = wit.id
			}
			hc, err := lab.host.HTTPClient(protocol.ID(tc.proto), server)
			if err != nil {
				t.Fatal(err)
			}
			req, err := http.NewRequestWithContext(ctx, tc.method, tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			io.Copy(io.Discard, resp.Body)
			if resp.StatusCode != tc.want {
				t.Fatalf("%s %s over %s: %s, want %d", tc.method, tc.path, tc.proto, resp.Status, tc.want)
			}
		})
	}
}

// The operator's transport to its witnesses: a witness whose HTTP address is
// dead is reached over libp2p (its handler answers), and a dead address that
// is no witness's stays an error.
func TestWitnessTransportFallsBackToLibp2p(t *testing.T) {
	nw := testNet(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	lab := nw.lab.node
	wit := nw.witnesses[0]
	if err := lab.Connect(ctx, wit.node.AddrInfo()); err != nil {
		t.Fatal(err)
	}
	c := *lab.Consortium().Config
	c.Witnesses = slices.Clone(c.Witnesses)
	for i := range c.Witnesses {
		if c.Witnesses[i].Peer == wit.id {
			c.Witnesses[i].HTTP = "http://127.0.0.1:1/w"
		}
	}
	tr := &witnessTransport{primary: http.DefaultTransport, cons: func() *consortium.Config { return &c }}
	tr.host.Store(lab.host)
	hc := &http.Client{Transport: tr, Timeout: 20 * time.Second}
	for _, tc := range []struct {
		name, url string
		want      int // 0: an error
	}{
		{"dead witness address: its handler answers over libp2p", "http://127.0.0.1:1/w/add-checkpoint", http.StatusBadRequest},
		{"dead address of no witness: error", "http://127.0.0.1:2/add-checkpoint", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, tc.url, strings.NewReader("old 0\n"))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := hc.Do(req)
			if tc.want == 0 {
				if err == nil {
					resp.Body.Close()
					t.Fatalf("POST %s answered %s, want a transport error", tc.url, resp.Status)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			io.Copy(io.Discard, resp.Body)
			if resp.StatusCode != tc.want {
				t.Fatalf("POST %s: %s, want %d", tc.url, resp.Status, tc.want)
			}
		})
	}
}
