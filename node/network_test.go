package node

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	lpnet "github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/mod/sumdb/note"

	"github.com/cohortnet/cohortnet/cohort"
	"github.com/cohortnet/cohortnet/consortium"
	"github.com/cohortnet/cohortnet/ledger"
	"github.com/cohortnet/cohortnet/p2p"
)

// rogueHost starts a bare host with the rogue member's identity: no
// validators of its own, so it can send what an honest node never would.
func rogueHost(t *testing.T, nw *network) *p2p.Host {
	t.Helper()
	return bareHost(t, nw, nw.rogue)
}

// bareHost starts a bare host with m's identity.
func bareHost(t *testing.T, nw *network, m *member) *p2p.Host {
	t.Helper()
	key, err := m.d.Identity()
	if err != nil {
		t.Fatal(err)
	}
	cons := nw.hospA.node.Consortium()
	h, err := p2p.New(p2p.Config{Identity: key, Listen: loopback, Members: members{cons.Config}, Consortium: cons.Key.String()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// A forged announcement (bad signature, a publication the ledger does not
// hold, a publisher outside the consortium) reaches no catalogue, and its
// sender's gossip score drops.
func TestForgedAnnouncementsReachNoCatalogue(t *testing.T) {
	nw := testNet(t)
	ctx := t.Context()
	a := nw.hospA
	real := publish(t, a, "forgery-base", cohort.AccessRestricted, 200)
	var realCM *ledger.Commitment
	eventually(t, 10*time.Second, "the publisher's mirror proves the publication", func() bool {
		var err error
		realCM, err = a.node.commitmentOf(ctx, real.CID)
		return err == nil
	})
	enc := func(sm *cohort.SignedManifest) []byte {
		b, err := sm.Encode()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	// Bad signature: the real manifest with one signature bit flipped.
	bad := *real.Signed
	bad.Signature = append([]byte(nil), bad.Signature...)
	bad.Signature[0] ^= 1
	// Not in the ledger: a new version signed by its publisher but never
	// anchored, carrying the real version's commitment.
	unanchored, err := cohort.PublishFromDataDir(ctx, a.d, cohort.PublishOptions{
		Dir: writeFolder(t, 300), Name: "forgery-base", Access: cohort.AccessRestricted, NoDeidReport: "test"})
	if err != nil {
		t.Fatal(err)
	}
	// Non-member publisher: a dataset signed by a key outside the consortium.
	outKey, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := cohort.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	outsider, err := cohort.Publish(ctx, st, cohort.Signer{Key: outKey, Institution: "hospital-a", Name: "Impostor"},
		cohort.PublishOptions{Dir: writeFolder(t, 100), Name: "impostor", Access: cohort.AccessRestricted, NoDeidReport: "test"})
	if err != nil {
		t.Fatal(err)
	}

	forged := []struct {
		name string
		cid  cid.Cid
		msg  envelope
	}{
		{"bad signature", real.CID, envelope{Kind: kindAnnounce, Manifest: enc(&bad), Commitment: realCM}},
		{"not in the ledger", unanchored.CID, envelope{Kind: kindAnnounce, Manifest: enc(unanchored.Signed), Commitment: realCM}},
		{"non-member publisher", outsider.CID, envelope{Kind: kindAnnounce, Manifest: enc(outsider.Signed), Commitment: realCM}},
	}
	cons := a.node.Consortium()
	for _, f := range forged {
		t.Run(f.name, func(t *testing.T) {
			if _, err := verifyAnnouncement(&f.msg, cons.Config, a.node.verif.Load()); err == nil {
				t.Fatal("verifyAnnouncement accepted it")
			}
		})
	}

	rogue := rogueHost(t, nw)
	if err := rogue.Connect(ctx, nw.lab.node.AddrInfo()); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the rogue joins the lab's announcement mesh", func() bool {
		for _, p := range rogue.TopicPeers(p2p.Announcements) {
			if p == nw.lab.id {
				return true
			}
		}
		return false
	})
	for range 3 {
		for _, f := range forged[1:] { // the bad-signature copy has the real CID, which every catalogue has
			b, _ := json.Marshal(f.msg)
			if err := rogue.Publish(ctx, p2p.Announcements, b); err != nil {
				t.Fatal(err)
			}
		}
		b, _ := json.Marshal(forged[0].msg)
		rogue.Publish(ctx, p2p.Announcements, b)
	}
	eventually(t, 10*time.Second, "the lab scores the rogue down", func() bool {
		s, ok := nw.lab.node.Host().PeerScore(nw.rogue.id)
		return ok && s < 0
	})
	time.Sleep(500 * time.Millisecond)
	for _, m := range nw.members {
		for _, f := range forged[1:] {
			if ok, _, _ := listed(m.node, f.cid.String()); ok {
				t.Errorf("%s lists the forged %s announcement", m.short, f.name)
			}
		}
	}
	// The unanchored version stays local to its publisher: it must not be
	// taken for the latest anywhere else.
	for _, m := range []*member{nw.lab, nw.agency, nw.hospB} {
		if e, err := m.node.Catalog().Latest(real.Manifest.Name); err != nil || e.CID != real.CID {
			t.Errorf("%s: latest %s = %v %v, want the anchored version", m.short, real.Manifest.Name, e.CID, err)
		}
	}
}

// A provider that serves corrupted chunks is dropped and the fetch completes
// from another; with the publisher stopped, the fetch completes from a
// mirror. A request filed while the publisher is offline is granted when it
// comes back.
func TestFetchFromMirrorDespiteCorruptProvider(t *testing.T) {
	nw := testNet(t)
	ctx := t.Context()
	b, lab, agency := nw.hospB, nw.lab, nw.agency
	p := publish(t, b, "mirror-study", cohort.AccessRestricted, 500_000)
	later := publish(t, b, "asked-while-offline", cohort.AccessRestricted, 100)
	for _, who := range []*member{lab, agency} {
		if _, err := b.node.Grant(ctx, p.Manifest.Name, who.id, time.Time{}, ""); err != nil {
			t.Fatal(err)
		}
	}
	for _, who := range []*member{lab, agency} {
		eventually(t, 15*time.Second, who.short+" knows the dataset and its grant", func() bool {
			ok, _, _ := listed(who.node, p.CID.String())
			return ok && b.node.Decide(who.id, p.CID, time.Now()) == nil && lab.node.Decide(agency.id, p.CID, time.Now()) == nil
		})
	}
	j, err := lab.node.Fetch(p.CID.String())
	if err != nil {
		t.Fatal(err)
	}
	if j, err = lab.node.Wait(ctx, j.ID); err != nil || j.State != JobDone {
		t.Fatalf("lab fetch: %+v %v", j, err)
	}

	// The rogue serves every file with one byte flipped per chunk, to anyone.
	rogue := rogueHost(t, nw)
	srv, err := p2p.NewChunkServer(rogue.Host, p2p.ServerConfig{
		Source:    corruptSource{storeSource{b.node.Store()}},
		Authorize: p2p.AuthorizerFunc(func(context.Context, peer.ID, cid.Cid) error { return nil }),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if err := rogue.Connect(ctx, agency.node.AddrInfo()); err != nil {
		t.Fatal(err)
	}

	// The publisher stops.
	b.node.Close()
	b.node = nil
	defer func() {
		if b.node == nil {
			if err := reopen(nw, b); err != nil {
				t.Error(err)
			}
		}
	}()

	j, err = agency.node.Fetch(p.CID.String())
	if err != nil {
		t.Fatal(err)
	}
	if j, err = agency.node.Wait(ctx, j.ID); err != nil || j.State != JobDone {
		t.Fatalf("agency fetch: %+v %v", j, err)
	}
	if j.Providers[lab.id.String()] == 0 {
		t.Errorf("nothing came from the lab's mirror: %+v", j.Providers)
	}
	t.Logf("agency fetch: providers %v, dropped %v", j.Providers, j.Dropped)
	if j.Dropped[nw.rogue.id.String()] == "" {
		t.Errorf("the corrupt provider was not dropped: %+v", j)
	}
	if probs, err := cohort.VerifyDataset(ctx, agency.node.Store(), p.CID); err != nil || len(probs) > 0 {
		t.Fatalf("agency copy: %v %v", probs, err)
	}

	// While hospital-b is offline, the lab asks for another of its datasets.
	if _, err := lab.node.Request(ctx, later.Manifest.Name, "offline request"); err != nil {
		t.Fatal(err)
	}
	if err := reopen(nw, b); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "hospital-b sees the lab's pending request", func() bool {
		for _, r := range b.node.Requests() {
			if r.Dataset == later.Manifest.Name && r.Author == lab.id.String() {
				return true
			}
		}
		return false
	})
	if _, err := b.node.Grant(ctx, later.Manifest.Name, lab.id, time.Time{}, "granted after coming back"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the request is no longer pending", func() bool {
		for _, r := range b.node.Requests() {
			if r.Dataset == later.Manifest.Name && r.Author == lab.id.String() {
				return false
			}
		}
		return true
	})
}

// reopen starts m's node again and connects it to the other members.
func reopen(nw *network, m *member) error {
	ctx := context.Background()
	if err := openNode(ctx, m); err != nil {
		return err
	}
	for _, o := range nw.members {
		if o != m && o.node != nil {
			if err := m.node.Connect(ctx, o.node.AddrInfo()); err != nil {
				return err
			}
		}
	}
	return nil
}

// corruptSource flips the first byte of everything it reads.
type corruptSource struct{ storeSource }

func (c corruptSource) ReadAt(ctx context.Context, f cid.Cid, p []byte, off int64) (int, error) {
	n, err := c.storeSource.ReadAt(ctx, f, p, off)
	if n > 0 {
		p[0] ^= 0xff
	}
	return n, err
}

// A retracted version disappears from every catalogue and the fetched copy
// from the store; nobody is served it any more.
func TestRetractionEverywhere(t *testing.T) {
	nw := testNet(t)
	ctx := t.Context()
	a, lab := nw.hospA, nw.lab
	p := publish(t, a, "retract-me", cohort.AccessRestricted, 2000)
	if _, err := a.node.Grant(ctx, p.Manifest.Name, lab.id, time.Time{}, ""); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "lab lists it and hospital-a sees the grant", func() bool {
		ok, _, _ := listed(lab.node, p.CID.String())
		return ok && a.node.Decide(lab.id, p.CID, time.Now()) == nil
	})
	j, err := lab.node.Fetch(p.CID.String())
	if err != nil {
		t.Fatal(err)
	}
	if j, err = lab.node.Wait(ctx, j.ID); err != nil || j.State != JobDone {
		t.Fatalf("fetch: %+v %v", j, err)
	}
	if _, err := a.node.Retract(ctx, p.CID, "test: a name slipped through"); err != nil {
		t.Fatal(err)
	}
	for _, m := range nw.members {
		eventually(t, 15*time.Second, m.short+" marks the version retracted", func() bool {
			ok, _, retracted := listed(m.node, p.CID.String())
			return ok && retracted
		})
		for _, c := range m.node.Cohorts(cohort.Filter{}) {
			if c.Manifest == p.CID.String() {
				t.Errorf("%s still lists the retracted version by default", m.short)
			}
		}
	}
	eventually(t, 10*time.Second, "the lab deletes its copy", func() bool {
		for _, f := range p.Manifest.Files() {
			if lab.node.Store().Has(f.CID) {
				return false
			}
		}
		return true
	})
	if err := a.node.Decide(lab.id, p.CID, time.Now()); !errors.Is(err, ErrNoAccess) {
		t.Errorf("serving a retracted version: %v", err)
	}
	if _, err := lab.node.Fetch(p.CID.String()); err == nil {
		t.Error("fetch of a retracted version started")
	}
}

// A non-member cannot connect; a configuration update spread over gossip
// admits it without a restart, and, joining late, it learns the same
// catalogue from the ledger.
func TestConfigUpdateAdmitsLateJoiner(t *testing.T) {
	nw := testNet(t)
	ctx := t.Context()
	c := nw.spare
	if err := openNode(ctx, c); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err := c.node.Connect(cctx, nw.hospA.node.AddrInfo())
	cancel()
	if err == nil {
		// The dialer may see the handshake complete before the listener's
		// gater closes the connection.
		eventually(t, 10*time.Second, "the non-member is cut off", func() bool {
			return c.node.Host().Network().Connectedness(nw.hospA.id) != lpnet.Connected
		})
	}
	if got := nw.hospA.node.Host().Network().Connectedness(c.id); got == lpnet.Connected {
		t.Fatal("hospital-a is connected to a non-member")
	}

	draft, err := consortium.LoadDraft(nw.admin)
	if err != nil {
		t.Fatal(err)
	}
	if err := draft.AddMember(consortium.Member{Peer: c.id, Name: "Hospital C", ShortName: "hospital-c", Roles: []string{"hospital"}}); err != nil {
		t.Fatal(err)
	}
	if err := consortium.SaveDraft(nw.admin, draft); err != nil {
		t.Fatal(err)
	}
	s, err := consortium.SignDraft(nw.admin)
	if err != nil {
		t.Fatal(err)
	}
	// The new member installs the file; the consortium learns it by gossip
	// from one member.
	if _, err := consortium.Install(c.d, s.File, consortium.InstallOptions{Key: s.Key}); err != nil {
		t.Fatal(err)
	}
	if err := nw.hospA.node.UpdateConsortium(ctx, s.File); err != nil {
		t.Fatal(err)
	}
	for _, m := range append(nw.members, c) {
		eventually(t, 10*time.Second, m.short+" runs the new configuration", func() bool {
			return m.node.Consortium().Version == s.Version
		})
	}
	for _, m := range nw.members {
		c.node.Host().Peerstore().RemovePeer(m.id)
		var err error
		eventually(t, 15*time.Second, "the new member connects to "+m.short, func() bool {
			cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			defer cancel()
			err = c.node.Connect(cctx, m.node.AddrInfo())
			return err == nil && m.node.Host().Network().Connectedness(c.id) == lpnet.Connected
		})
	}
	want := map[string]bool{}
	for _, e := range nw.lab.node.Cohorts(cohort.Filter{}) {
		want[e.Manifest] = true
	}
	eventually(t, 30*time.Second, "the late joiner shows the lab's catalogue", func() bool {
		got := map[string]bool{}
		for _, e := range c.node.Cohorts(cohort.Filter{}) {
			if e.Status.Anchored {
				got[e.Manifest] = true
			}
		}
		for m := range want {
			if !got[m] {
				return false
			}
		}
		return len(got) == len(want)
	})
}

// A checkpoint from a peer that the operator signed for another history (same
// size, another root) is a split view: logged, counted, shown by the API, and
// not forwarded.
func TestSplitViewReported(t *testing.T) {
	nw := testNet(t)
	ctx := t.Context()
	lab := nw.lab
	publish(t, nw.hospA, "split-base", cohort.AccessRestricted, 100)
	eventually(t, 10*time.Second, "the lab's mirror holds entries", func() bool { return lab.node.Mirror().Size() > 0 })

	opKey, err := nw.operator.d.Identity()
	if err != nil {
		t.Fatal(err)
	}
	origin := lab.node.Consortium().Ledger.Origin
	signer, err := consortium.NoteSigner(opKey, origin)
	if err != nil {
		t.Fatal(err)
	}
	root := make([]byte, 32)
	root[0] = 42
	body := fmt.Sprintf("%s\n%d\n%s\n", origin, lab.node.Mirror().Size(), base64.StdEncoding.EncodeToString(root))
	forked, err := note.Sign(&note.Note{Text: body}, signer)
	if err != nil {
		t.Fatal(err)
	}

	rogue := bareHost(t, nw, nw.mallory)
	if err := rogue.Connect(ctx, lab.node.AddrInfo()); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the rogue joins the lab's checkpoint mesh", func() bool {
		return slices.Contains(rogue.TopicPeers(p2p.Checkpoints), lab.id)
	})
	before := len(lab.node.SplitViews())
	if err := rogue.Publish(ctx, p2p.Checkpoints, forked); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the lab reports a split view", func() bool { return len(lab.node.SplitViews()) > before })
	cl, err := Dial(ctx, lab.d)
	if err != nil {
		t.Fatal(err)
	}
	var cp struct {
		SplitViews []SplitView `json:"split_views"`
	}
	if err := cl.Do(ctx, "GET", "/api/v1/ledger/checkpoint", nil, &cp); err != nil || len(cp.SplitViews) == 0 || cp.SplitViews[len(cp.SplitViews)-1].From != nw.mallory.id.String() {
		t.Fatalf("API split views %+v %v", cp.SplitViews, err)
	}
	var m bytes.Buffer
	if err := cl.Do(ctx, "GET", "/metrics", nil, &m); err != nil || !strings.Contains(m.String(), "cohortnet_split_views_total ") || strings.Contains(m.String(), "cohortnet_split_views_total 0") {
		t.Errorf("metrics: %v\n%s", err, grepLine(m.String(), "cohortnet_split_views_total"))
	}
}

func grepLine(s, prefix string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

// With the operator's HTTP address unreachable, a node mirrors the ledger
// from a member's verified copy over libp2p, and verifies it as strictly.
func TestMirrorFromPeersOverLibp2p(t *testing.T) {
	nw := testNet(t)
	ctx := t.Context()
	lab := nw.lab
	publish(t, nw.hospA, "mirror-over-libp2p", cohort.AccessRestricted, 100)
	eventually(t, 10*time.Second, "the lab's mirror holds entries", func() bool { return lab.node.Mirror().Size() > 0 })

	dead, err := ledger.HTTPSource("http://127.0.0.1:1", nil)
	if err != nil {
		t.Fatal(err)
	}
	src := &fallbackSource{n: lab.node, primary: dead}
	v, err := ledger.VerifiersFor(lab.node.Consortium().Config)
	if err != nil {
		t.Fatal(err)
	}
	m, err := ledger.NewMirror(ctx, ledger.MirrorConfig{Dir: t.TempDir(), Source: src, Verifiers: v})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Update(ctx); err != nil {
		t.Fatal(err)
	}
	if m.Size() == 0 || m.Size()+5 < lab.node.Mirror().Size() {
		t.Fatalf("mirrored %d entries over libp2p; the lab holds %d", m.Size(), lab.node.Mirror().Size())
	}
	if err := lab.node.Mirror().Compare(m.Checkpoint()); err != nil {
		t.Fatalf("the copy made over libp2p disagrees with the lab's: %v", err)
	}
}
