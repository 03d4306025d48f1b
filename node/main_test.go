package node

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cohortnet/cohortnet/cohort"
	"github.com/cohortnet/cohortnet/consortium"
	"github.com/cohortnet/cohortnet/internal/datadir"
)

// The package's tests share one consortium on loopback: a ledger operator,
// two witnesses (quorum 2), two hospitals, a researcher and an agency, each a
// real node with its own data directory, plus a spare data directory
// (hospital-c) that is not a member until a test adds it. The network is
// started by the first test that needs it and stopped in TestMain.
var (
	netOnce sync.Once
	netErr  error
	tnet    *network
	tmpRoot string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if tnet != nil {
		tnet.close()
	}
	if tmpRoot != "" {
		os.RemoveAll(tmpRoot)
	}
	os.Exit(code)
}

type member struct {
	short string
	d     datadir.Dir
	node  *Node
	id    peer.ID
}

type network struct {
	admin     datadir.Dir
	operator  *member
	witnesses []*member
	hospA     *member
	hospB     *member
	lab       *member
	agency    *member
	rogue     *member // a member that runs a bare host (forged messages, corrupt chunks)
	mallory   *member // another, whose gossip score no earlier test spent
	spare     *member // hospital-c, not a member at first
	members   []*member
	mu        sync.Mutex
}

func (nw *network) close() {
	for _, m := range append(append([]*member{}, nw.members...), append(nw.witnesses, nw.operator, nw.spare)...) {
		if m != nil && m.node != nil {
			m.node.Close()
		}
	}
}

func freeAddr() (string, error) {
	for range 100 {
		addr := fmt.Sprintf("127.0.0.1:%d", 20000+mrand.IntN(12000))
		ln, err := net.Listen("tcp", addr)
		if err == nil {
			ln.Close()
			return addr, nil
		}
	}
	return "", fmt.Errorf("no free port")
}

var loopback = []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"}

func testLogger() *slog.Logger {
	if os.Getenv("COHORTNET_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return nil
}

func newDir(name, short string, roles ...string) (*member, error) {
	p, err := os.MkdirTemp(tmpRoot, short+"-")
	if err != nil {
		return nil, err
	}
	d := datadir.Open(p)
	res, err := d.Init(datadir.InitOptions{Config: datadir.Config{Name: name, ShortName: short, Roles: roles}})
	if err != nil {
		return nil, err
	}
	return &member{short: short, d: d, id: res.PeerID}, nil
}

// openNode opens m's node on loopback.
func openNode(ctx context.Context, m *member) error {
	n, err := Open(ctx, Config{Data: m.d, Listen: loopback, SyncInterval: 200 * time.Millisecond, SessionIdle: time.Second, Logger: testLogger()})
	if err != nil {
		return fmt.Errorf("open %s: %w", m.short, err)
	}
	m.node = n
	return nil
}

func startNetwork() (*network, error) {
	var err error
	if tmpRoot, err = os.MkdirTemp("", "cohortnet-node-test-"); err != nil {
		return nil, err
	}
	ctx := context.Background()
	nw := &network{admin: datadir.Open(filepath.Join(tmpRoot, "admin"))}
	if _, err := consortium.Init(nw.admin, "Node Test Consortium"); err != nil {
		return nil, err
	}
	draft, err := consortium.LoadDraft(nw.admin)
	if err != nil {
		return nil, err
	}
	if nw.operator, err = newDir("Ledger", "ledger", "ledger"); err != nil {
		return nil, err
	}
	for i := range 2 {
		w, err := newDir(fmt.Sprintf("Witness %d", i), fmt.Sprintf("witness-%d", i), "witness")
		if err != nil {
			return nil, err
		}
		addr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		if err := draft.AddWitness(w.id, "http://"+addr, w.short); err != nil {
			return nil, err
		}
		nw.witnesses = append(nw.witnesses, w)
	}
	for _, spec := range []struct {
		dst         **member
		name, short string
		role        string
	}{
		{&nw.hospA, "Hospital A", "hospital-a", "hospital"},
		{&nw.hospB, "Hospital B", "hospital-b", "hospital"},
		{&nw.lab, "Research Lab", "lab", "researcher"},
		{&nw.agency, "Agency", "agency", "agency"},
		{&nw.rogue, "Rogue", "rogue", "researcher"},
		{&nw.mallory, "Mallory", "mallory", "researcher"},
	} {
		m, err := newDir(spec.name, spec.short, spec.role)
		if err != nil {
			return nil, err
		}
		if err := draft.AddMember(consortium.Member{Peer: m.id, Name: spec.name, ShortName: spec.short, Roles: []string{spec.role}}); err != nil {
			return nil, err
		}
		*spec.dst = m
	}
	if nw.spare, err = newDir("Hospital C", "hospital-c", "hospital"); err != nil {
		return nil, err
	}
	ledgerAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	if err := draft.SetLedger(nw.operator.id, "http://"+ledgerAddr, "", nil); err != nil {
		return nil, err
	}
	if err := draft.SetQuorum(2); err != nil {
		return nil, err
	}
	if err := consortium.SaveDraft(nw.admin, draft); err != nil {
		return nil, err
	}
	s, err := consortium.SignDraft(nw.admin)
	if err != nil {
		return nil, err
	}
	all := append([]*member{nw.operator, nw.hospA, nw.hospB, nw.lab, nw.agency, nw.rogue, nw.mallory, nw.spare}, nw.witnesses...)
	for _, m := range all {
		if _, err := consortium.Install(m.d, s.File, consortium.InstallOptions{Key: s.Key}); err != nil {
			return nil, err
		}
	}
	for _, w := range nw.witnesses {
		if err := openNode(ctx, w); err != nil {
			return nil, err
		}
	}
	if err := openNode(ctx, nw.operator); err != nil {
		return nil, err
	}
	nw.members = []*member{nw.hospA, nw.hospB, nw.lab, nw.agency}
	for _, m := range nw.members {
		if err := openNode(ctx, m); err != nil {
			return nil, err
		}
	}
	for i, a := range nw.members {
		for _, b := range nw.members[i+1:] {
			cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			err := a.node.Connect(cctx, b.node.AddrInfo())
			cancel()
			if err != nil {
				return nil, fmt.Errorf("connect %s to %s: %w", a.short, b.short, err)
			}
		}
	}
	return nw, nil
}

// testNet returns the shared network, starting it on first use.
func testNet(t *testing.T) *network {
	t.Helper()
	if testing.Short() {
		t.Skip("network tests skipped in -short mode")
	}
	netOnce.Do(func() { tnet, netErr = startNetwork() })
	if netErr != nil {
		t.Fatal(netErr)
	}
	return tnet
}

// writeFolder writes a dataset folder with a person table of rows persons
// (random ids, so the file does not compress: about 40 bytes a row).
func writeFolder(t *testing.T, rows int) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "person"), 0o755); err != nil {
		t.Fatal(err)
	}
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "person_id", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "gender", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "year_of_birth", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	var id [16]byte
	for i := range rows {
		rand.Read(id[:])
		b.Field(0).(*array.StringBuilder).Append(hex.EncodeToString(id[:]))
		b.Field(1).(*array.StringBuilder).Append([]string{"F", "M"}[i%2])
		b.Field(2).(*array.Int32Builder).Append(int32(1940 + i%60))
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	f, err := os.Create(filepath.Join(dir, "person", "part-0000.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	w, err := pqarrow.NewFileWriter(schema, f, parquet.NewWriterProperties(parquet.WithDictionaryDefault(false)), pqarrow.DefaultWriterProps())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// publish publishes a folder of rows persons as name with tier access from
// m's data directory and announces it through m's node.
func publish(t *testing.T, m *member, name, access string, rows int) *cohort.Published {
	t.Helper()
	return publishDir(t, m, writeFolder(t, rows), name, access)
}

// publishDir publishes the dataset folder dir as name with tier access from
// m's data directory and announces it through m's node.
func publishDir(t *testing.T, m *member, dir, name, access string) *cohort.Published {
	t.Helper()
	p, err := cohort.PublishFromDataDir(t.Context(), m.d, cohort.PublishOptions{
		Dir: dir, Name: name, Title: name, Access: access,
		NoDeidReport: "synthetic test table, no persons",
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.node.refreshCatalog(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.node.Announce(t.Context(), p.CID); err != nil {
		t.Fatal(err)
	}
	return p
}

// addPart copies the Parquet file src into the person table of the dataset
// folder dir as its second part.
func addPart(t *testing.T, dir, src string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "person", "part-0001.parquet"), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// eventually polls cond every 100 ms until it holds or d passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// listed reports whether n's catalogue lists manifest c, anchored, and
// whether it is marked retracted.
func listed(n *Node, c string) (ok, anchored, retracted bool) {
	for _, e := range n.Cohorts(cohort.Filter{All: true}) {
		if e.Manifest == c {
			return true, e.Status.Anchored, e.Status.Retracted
		}
	}
	return false, false, false
}
