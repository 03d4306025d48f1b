package node

import (
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cohortnet/cohortnet/cohort"
	"github.com/cohortnet/cohortnet/consortium"
	"github.com/cohortnet/cohortnet/internal/datadir"
)

// TestSoakAnnouncementSpread runs COHORTNET_SOAK_NODES (default 50) member
// nodes in one process, each connected to three random earlier ones, with a
// ledger operator and one witness, publishes from the first node and reports
// how long the announcement takes to reach every catalogue (median and p99).
// Opt-in: COHORTNET_SOAK=1.
func TestSoakAnnouncementSpread(t *testing.T) {
	if os.Getenv("COHORTNET_SOAK") == "" {
		t.Skip("set COHORTNET_SOAK=1 to run the 50-node simulation")
	}
	size := 50
	if v, err := strconv.Atoi(os.Getenv("COHORTNET_SOAK_NODES")); err == nil && v > 1 {
		size = v
	}
	ctx := t.Context()
	root := t.TempDir()
	mk := func(name, short string, roles ...string) *member {
		d := datadir.Open(filepath.Join(root, short))
		res, err := d.Init(datadir.InitOptions{Config: datadir.Config{Name: name, ShortName: short, Roles: roles}})
		if err != nil {
			t.Fatal(err)
		}
		return &member{short: short, d: d, id: res.PeerID}
	}
	admin := datadir.Open(filepath.Join(root, "admin"))
	if _, err := consortium.Init(admin, "Soak"); err != nil {
		t.Fatal(err)
	}
	draft, err := consortium.LoadDraft(admin)
	if err != nil {
		t.Fatal(err)
	}
	op, wit := mk("Ledger", "ledger", "ledger"), mk("Witness", "witness", "witness")
	ledgerAddr, _ := freeAddr()
	witAddr, _ := freeAddr()
	if err := draft.SetLedger(op.id, "http://"+ledgerAddr, "", nil); err != nil {
		t.Fatal(err)
	}
	if err := draft.AddWitness(wit.id, "http://"+witAddr, "witness"); err != nil {
		t.Fatal(err)
	}
	draft.SetQuorum(1)
	var ms []*member
	for i := range size {
		short := fmt.Sprintf("site-%02d", i)
		m := mk(short, short, "hospital")
		ms = append(ms, m)
		if err := draft.AddMember(consortium.Member{Peer: m.id, Name: short, ShortName: short, Roles: []string{"hospital"}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := consortium.SaveDraft(admin, draft); err != nil {
		t.Fatal(err)
	}
	s, err := consortium.SignDraft(admin)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range append([]*member{op, wit}, ms...) {
		if _, err := consortium.Install(m.d, s.File, consortium.InstallOptions{Key: s.Key}); err != nil {
			t.Fatal(err)
		}
	}
	open := func(m *member) {
		n, err := Open(ctx, Config{Data: m.d, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, API: "off", SyncInterval: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		m.node = n
		t.Cleanup(func() { n.Close() })
	}
	open(wit)
	open(op)
	for i, m := range ms {
		open(m)
		for _, j := range mrand.Perm(max(i, 1))[:min(3, i)] {
			if err := m.node.Connect(ctx, ms[j].node.AddrInfo()); err != nil {
				t.Fatal(err)
			}
		}
	}
	time.Sleep(3 * time.Second) // gossip meshes form on heartbeats

	p, err := cohort.PublishFromDataDir(ctx, ms[0].d, cohort.PublishOptions{Dir: writeFolder(t, 100), Name: "soak", Access: cohort.AccessRestricted, NoDeidReport: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := ms[0].node.refreshCatalog(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := ms[0].node.Announce(ctx, p.CID); err != nil {
		t.Fatal(err)
	}
	anchored := time.Since(start)
	var mu sync.Mutex
	var arrivals []time.Duration
	var wg sync.WaitGroup
	for _, m := range ms[1:] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Since(start) < 2*time.Minute {
				if _, ok := m.node.Catalog().Get(p.CID); ok {
					mu.Lock()
					arrivals = append(arrivals, time.Since(start))
					mu.Unlock()
					return
				}
				time.Sleep(10 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	if len(arrivals) != size-1 {
		t.Fatalf("the announcement reached %d of %d nodes", len(arrivals), size-1)
	}
	slices.Sort(arrivals)
	p99 := arrivals[min(len(arrivals)-1, len(arrivals)*99/100)]
	t.Logf("%d nodes: anchoring took %s; from the start of Announce the manifest reached every catalogue: median %s, p99 %s, last %s",
		size, anchored.Round(time.Millisecond), arrivals[len(arrivals)/2].Round(time.Millisecond), p99.Round(time.Millisecond), arrivals[len(arrivals)-1].Round(time.Millisecond))
}
