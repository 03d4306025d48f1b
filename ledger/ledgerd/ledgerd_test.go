package ledgerd

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"

	"github.com/cohortnet/cohortnet/consortium"
	"github.com/cohortnet/cohortnet/internal/datadir"
	"github.com/cohortnet/cohortnet/ledger"
)

// freeAddr returns a loopback address nothing listens on. It picks below
// the usual ephemeral range (32768 and up), so an outgoing connection is
// unlikely to take the port while the operator process restarts on it.
func freeAddr(t testing.TB) string {
	t.Helper()
	for range 100 {
		addr := fmt.Sprintf("127.0.0.1:%d", 20000+rand.IntN(12000))
		ln, err := net.Listen("tcp", addr)
		if err == nil {
			ln.Close()
			return addr
		}
	}
	t.Fatal("no free port")
	return ""
}

// cluster is a consortium laid out in data directories as the CLI would:
// an admin holding the consortium key, an operator, witnesses and a hospital.
type cluster struct {
	admin                   datadir.Dir // holds the consortium key
	operator, hospital, lab datadir.Dir
	witnesses               []datadir.Dir
	ledgerURL               string
	file                    []byte // the signed configuration
}

func initDir(t testing.TB, name, short string, roles ...string) datadir.Dir {
	t.Helper()
	d := datadir.Open(t.TempDir())
	if _, err := d.Init(datadir.InitOptions{Config: datadir.Config{Name: name, ShortName: short, Roles: roles}}); err != nil {
		t.Fatal(err)
	}
	return d
}

func newCluster(t testing.TB, witnesses, quorum int) *cluster {
	t.Helper()
	admin := datadir.Open(t.TempDir())
	if _, err := consortium.Init(admin, "Crash Test Consortium"); err != nil {
		t.Fatal(err)
	}
	c := &cluster{
		admin:    admin,
		operator: initDir(t, "Ledger", "ledger", "ledger"),
		hospital: initDir(t, "Hospital A", "hospital-a", "hospital"),
		lab:      initDir(t, "Lab", "lab", "researcher"),
	}
	draft, err := consortium.LoadDraft(admin)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []struct {
		d     datadir.Dir
		short string
		role  string
	}{{c.hospital, "hospital-a", "hospital"}, {c.lab, "lab", "researcher"}} {
		id, _ := m.d.PeerID()
		if err := draft.AddMember(consortium.Member{Peer: id, Name: m.short, ShortName: m.short, Roles: []string{m.role}}); err != nil {
			t.Fatal(err)
		}
	}
	opID, _ := c.operator.PeerID()
	c.ledgerURL = "http://" + freeAddr(t)
	if err := draft.SetLedger(opID, c.ledgerURL, "", nil); err != nil {
		t.Fatal(err)
	}
	for i := range witnesses {
		w := initDir(t, fmt.Sprintf("Witness %d", i), fmt.Sprintf("w%d", i), "witness")
		id, _ := w.PeerID()
		if err := draft.AddWitness(id, "http://"+freeAddr(t), fmt.Sprintf("witness-%d", i)); err != nil {
			t.Fatal(err)
		}
		c.witnesses = append(c.witnesses, w)
	}
	if err := draft.SetQuorum(quorum); err != nil {
		t.Fatal(err)
	}
	if err := consortium.SaveDraft(admin, draft); err != nil {
		t.Fatal(err)
	}
	s, err := consortium.SignDraft(admin)
	if err != nil {
		t.Fatal(err)
	}
	c.file = s.File
	for _, d := range append([]datadir.Dir{c.operator, c.hospital, c.lab}, c.witnesses...) {
		if _, err := consortium.Install(d, s.File, consortium.InstallOptions{Key: s.Key}); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// run starts Run for d in the background and waits until it serves.
func run(t testing.TB, ctx context.Context, d datadir.Dir, roles ...string) {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	ready := make(chan struct{}, len(roles))
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{Data: d, Roles: roles, MirrorInterval: -1, ReloadInterval: 100 * time.Millisecond, Ready: func(string, string) { ready <- struct{}{} }})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("Run %v: %v", roles, err)
		}
	})
	for range roles {
		select {
		case <-ready:
		case err := <-done:
			t.Fatalf("Run %v: %v", roles, err)
		case <-time.After(20 * time.Second):
			t.Fatal("role did not start")
		}
	}
}

func manifestCID(s string) cid.Cid {
	mh, _ := multihash.Sum([]byte(s), multihash.SHA2_256, -1)
	return cid.NewCidV1(cid.DagCBOR, mh)
}

// The roles run from data directories as `cohortnet node` runs them: a
// hospital publishes, grants and the lab's mirror sees it, verified.
func TestNodeRolesEndToEnd(t *testing.T) {
	c := newCluster(t, 3, 2)
	ctx := t.Context()
	for _, w := range c.witnesses {
		run(t, ctx, w, "witness")
	}
	run(t, ctx, c.operator, "ledger")

	m := manifestCID("hospital-a/diabetes v1")
	cm, err := AnchorPublish(ctx, c.hospital, m, "hospital-a/diabetes", 1, "restricted", nil)
	if err != nil {
		t.Fatal(err)
	}
	labID, _ := c.lab.PeerID()
	gr := ledger.NewEntry(ledger.KindGrant, time.Now())
	gr.Dataset, gr.Grantee, gr.Expires = "hospital-a/diabetes", labID, time.Now().Add(24*time.Hour)
	if _, err := Submit(ctx, c.hospital, gr, nil); err != nil {
		t.Fatal(err)
	}
	// The lab cannot grant itself access.
	self := ledger.NewEntry(ledger.KindGrant, time.Now())
	self.Dataset, self.Grantee = "hospital-a/diabetes", labID
	if _, err := Submit(ctx, c.lab, self, nil); !errors.Is(err, ledger.ErrRefused) {
		t.Fatalf("self-grant: %v, want ErrRefused", err)
	}

	o, err := OpenMirror(ctx, c.lab, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if o.UpdateErr != nil {
		t.Fatal(o.UpdateErr)
	}
	st := o.Mirror.State()
	if !st.LiveGrant("hospital-a/diabetes", labID, time.Now()) {
		t.Fatal("the lab's mirror does not see its grant")
	}
	if p, ok := st.LatestPublish("hospital-a/diabetes"); !ok || p.Manifest != m || p.Index != cm.Index {
		t.Fatalf("latest publish %+v %v", p, ok)
	}
	proof, err := o.Mirror.Prove(ctx, cm.Index)
	if err != nil {
		t.Fatal(err)
	}
	v, err := ledger.VerifiersFor(o.Consortium.Config)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ledger.VerifyCommitment(proof, v); err != nil {
		t.Fatal(err)
	}
	src, _ := ledger.HTTPSource(c.ledgerURL, nil)
	if _, err := ledger.VerifyLog(ctx, src, v, o.Mirror.Checkpoint()); err != nil {
		t.Fatal(err)
	}
	// A member's node keeps its own mirror up to date in the background.
	hctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- Run(hctx, Config{Data: c.hospital, Roles: []string{"hospital"}, MirrorInterval: 50 * time.Millisecond})
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		o, err := OpenMirror(ctx, c.hospital, nil, true)
		if err == nil && o.Mirror.Size() >= 2 && o.Mirror.LiveGrant("hospital-a/diabetes", labID, time.Now()) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the hospital node's mirror did not catch up")
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// Without a consortium a node is told so.
	alone := initDir(t, "Alone", "alone", "hospital")
	if _, err := AnchorPublish(ctx, alone, m, "alone/x", 1, "open", nil); !errors.Is(err, consortium.ErrNotInstalled) {
		t.Fatalf("submit without a consortium: %v", err)
	}
}

// A new configuration that adds a witness and raises the quorum reaches a
// running operator without a restart: its next checkpoints carry the new
// witness's cosignature and the new quorum.
func TestOperatorFollowsNewWitnesses(t *testing.T) {
	c := newCluster(t, 2, 1)
	ctx := t.Context()
	for _, w := range c.witnesses {
		run(t, ctx, w, "witness")
	}
	run(t, ctx, c.operator, "ledger")
	pub := ledger.NewEntry(ledger.KindPublish, time.Now())
	pub.Manifest, pub.Dataset, pub.Version, pub.Access = manifestCID("q"), "hospital-a/q", 1, "open"
	if _, err := Submit(ctx, c.hospital, pub, nil); err != nil {
		t.Fatal(err)
	}

	draft, err := consortium.LoadDraft(c.admin)
	if err != nil {
		t.Fatal(err)
	}
	w3 := initDir(t, "Witness 3", "w3", "witness")
	w3id, _ := w3.PeerID()
	if err := draft.AddWitness(w3id, "http://"+freeAddr(t), "witness-3"); err != nil {
		t.Fatal(err)
	}
	if err := draft.SetQuorum(3); err != nil {
		t.Fatal(err)
	}
	if err := consortium.SaveDraft(c.admin, draft); err != nil {
		t.Fatal(err)
	}
	s, err := consortium.SignDraft(c.admin)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range append([]datadir.Dir{c.operator, c.hospital, c.lab, w3}, c.witnesses...) {
		if _, err := consortium.Install(d, s.File, consortium.InstallOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	run(t, ctx, w3, "witness")
	v, err := ledger.VerifiersFor(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; ; i++ {
		req := ledger.NewEntry(ledger.KindRequest, time.Now())
		req.Dataset, req.Purpose = "hospital-a/q", fmt.Sprint("after the change ", i)
		cm, err := Submit(ctx, c.lab, req, nil) // verifies with the installed (new) quorum
		if err == nil {
			if _, n, err := v.OpenCheckpoint([]byte(cm.Checkpoint)); err != nil || n != 3 {
				t.Fatalf("checkpoint with %d cosignatures: %v", n, err)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no commitment with the new quorum of 3: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// The operator of a new log may start before its witnesses, as two
// `cohortnet node` commands started together do: it waits for the quorum
// instead of failing, and its log starts once a witness answers.
func TestOperatorWaitsForWitnesses(t *testing.T) {
	c := newCluster(t, 1, 1)
	ctx, cancel := context.WithCancel(t.Context())
	ready := make(chan struct{}, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{Data: c.operator, Roles: []string{"ledger"}, MirrorInterval: -1, Ready: func(string, string) { ready <- struct{}{} }})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("operator: %v", err)
		}
	})
	// Tessera creates the log's files at the first attempt and resumes them
	// at the next, so the operator may serve before its witness answers;
	// what matters is that it does not give up, and that what it anchors
	// once the witness is up carries the witness's cosignature.
	select {
	case err := <-done:
		done <- err // for the cleanup
		t.Fatalf("the operator gave up before its witness came up: %v", err)
	case <-time.After(700 * time.Millisecond):
	}
	run(t, ctx, c.witnesses[0], "witness")
	select {
	case <-ready:
	case err := <-done:
		done <- err
		t.Fatalf("operator: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("the operator did not start after its witness came up")
	}
	m := manifestCID("hospital-a/late v1")
	cm, err := AnchorPublish(ctx, c.hospital, m, "hospital-a/late", 1, "open", nil)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := consortium.Load(c.hospital)
	if err != nil {
		t.Fatal(err)
	}
	v, err := ledger.VerifiersFor(signed.Config)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ledger.VerifyCommitment(cm, v); err != nil {
		t.Fatalf("the first anchored entry is not witnessed: %v", err)
	}
}
