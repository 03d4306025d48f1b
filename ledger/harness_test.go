package ledger

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multihash"

	"github.com/cohortnet/cohortnet/consortium"
)

// ident is a test identity.
type ident struct {
	key crypto.PrivKey
	id  peer.ID
}

func newIdent(t testing.TB) ident {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return ident{k, id}
}

// lazyHandler lets a server start (and have a URL) before its handler exists.
type lazyHandler struct{ h atomic.Pointer[http.Handler] }

func (l *lazyHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := l.h.Load()
	if h == nil {
		http.Error(w, "not ready", http.StatusServiceUnavailable)
		return
	}
	(*h).ServeHTTP(w, r)
}

func (l *lazyHandler) set(h http.Handler) { l.h.Store(&h) }

// testNet is a consortium with a ledger operator and witnesses on loopback
// HTTP, each with its own directory.
type testNet struct {
	t         testing.TB
	cfg       atomic.Pointer[consortium.Config]
	hospitalA ident // short name hospital-a
	hospitalB ident // short name hospital-b
	lab       ident // researcher
	outsider  ident // not a member
	opKey     ident
	opDir     string
	opSrv     *httptest.Server
	opLazy    *lazyHandler
	op        *Operator
	witnesses []*Witness
	wKeys     []ident
	wSrvs     []*httptest.Server
}

type netOptions struct {
	witnesses, quorum int
}

func newTestNet(t testing.TB, o netOptions) *testNet {
	t.Helper()
	n := &testNet{t: t, hospitalA: newIdent(t), hospitalB: newIdent(t), lab: newIdent(t), outsider: newIdent(t), opKey: newIdent(t)}
	n.opDir = filepath.Join(t.TempDir(), "log")
	n.opLazy = &lazyHandler{}
	n.opSrv = httptest.NewServer(n.opLazy)
	t.Cleanup(n.opSrv.Close)
	c := &consortium.Config{Name: "Test Consortium", Version: 1, Key: newIdent(t).id, Quorum: o.quorum}
	for _, m := range []consortium.Member{
		{Peer: n.hospitalA.id, Name: "Hospital A", ShortName: "hospital-a", Roles: []string{"hospital"}},
		{Peer: n.hospitalB.id, Name: "Hospital B", ShortName: "hospital-b", Roles: []string{"hospital"}},
		{Peer: n.lab.id, Name: "Lab", ShortName: "lab", Roles: []string{"researcher"}},
	} {
		if err := c.AddMember(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.SetLedger(n.opKey.id, n.opSrv.URL, "", nil); err != nil {
		t.Fatal(err)
	}
	var lazies []*lazyHandler
	for i := range o.witnesses {
		k := newIdent(t)
		l := &lazyHandler{}
		s := httptest.NewServer(l)
		t.Cleanup(s.Close)
		if err := c.AddWitness(k.id, s.URL, fmt.Sprintf("witness-%d", i)); err != nil {
			t.Fatal(err)
		}
		n.wKeys, n.wSrvs, lazies = append(n.wKeys, k), append(n.wSrvs, s), append(lazies, l)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	n.cfg.Store(c)
	for i, k := range n.wKeys {
		w, err := NewWitness(WitnessConfig{Dir: filepath.Join(t.TempDir(), "witness"), Key: k.key, Name: c.Witnesses[i].Name, Consortium: n.cfg.Load})
		if err != nil {
			t.Fatal(err)
		}
		n.witnesses = append(n.witnesses, w)
		lazies[i].set(w.Handler())
	}
	return n
}

func (n *testNet) config() *consortium.Config { return n.cfg.Load() }

// startOperator starts (or restarts) the operator on the same directory.
func (n *testNet) startOperator(ctx context.Context) *Operator {
	n.t.Helper()
	op, err := NewOperator(ctx, OperatorConfig{Dir: n.opDir, Key: n.opKey.key, Consortium: n.config})
	if err != nil {
		n.t.Fatal(err)
	}
	n.op = op
	n.opLazy.set(op.Handler())
	n.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		op.Close(ctx)
	})
	return op
}

func (n *testNet) verifiers() Verifiers {
	n.t.Helper()
	v, err := VerifiersFor(n.config())
	if err != nil {
		n.t.Fatal(err)
	}
	return v
}

func (n *testNet) client() *Client {
	return &Client{URL: n.opSrv.URL, Verifiers: n.verifiers()}
}

// manifestCID makes a dag-cbor CID standing in for a manifest.
func manifestCID(s string) cid.Cid {
	sum := sha256.Sum256([]byte(s))
	mh, _ := multihash.Encode(sum[:], multihash.SHA2_256)
	return cid.NewCidV1(cid.DagCBOR, mh)
}

func sign(t testing.TB, e *Entry, who ident) []byte {
	t.Helper()
	b, err := e.Sign(who.key)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func publishEntry(m cid.Cid, dataset string, version int64, access string) *Entry {
	e := NewEntry(KindPublish, time.Now())
	e.Manifest, e.Dataset, e.Version, e.Access = m, dataset, version, access
	return e
}
