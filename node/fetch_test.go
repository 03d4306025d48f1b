package node

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cohortnet/cohortnet/cohort"
	"github.com/cohortnet/cohortnet/p2p"
)

// Two hospitals publish the same file (here their whole datasets are one
// identical file, as an identical policy.yaml would be). Hospital B holds it
// only as part of its own dataset: asked for it as part of hospital A's, it
// serves nothing and records no access naming A's manifest; asked for it as
// part of its own, it serves it and records an access naming its own.
func TestSharedFileServedOnlyUnderItsServersManifest(t *testing.T) {
	nw := testNet(t)
	ctx := t.Context()
	a, b, lab := nw.hospA, nw.hospB, nw.lab
	// Each dataset has a file of its own and the shared one.
	shared := filepath.Join(writeFolder(t, 2000), "person", "part-0000.parquet")
	pub := func(m *member) *cohort.Published {
		t.Helper()
		dir := writeFolder(t, 1000)
		addPart(t, dir, shared)
		p := publishDir(t, m, dir, "shared-file", cohort.AccessRestricted)
		if _, err := m.node.Grant(ctx, p.Manifest.Name, lab.id, time.Now().Add(time.Hour), "test terms"); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pa, pb := pub(a), pub(b)
	file := pa.Manifest.Files()[1]
	if file.CID != pb.Manifest.Files()[1].CID || b.node.Store().Has(pa.Manifest.Files()[0].CID) {
		t.Fatal("the two datasets should share exactly one file")
	}
	eventually(t, 15*time.Second, "hospital-b lists both versions", func() bool {
		okA, anchoredA, _ := listed(b.node, pa.CID.String())
		okB, anchoredB, _ := listed(b.node, pb.CID.String())
		return okA && okB && anchoredA && anchoredB
	})
	eventually(t, 10*time.Second, "hospital-b lets the lab have both", func() bool {
		return b.node.Decide(lab.id, pa.CID, time.Now()) == nil && b.node.Decide(lab.id, pb.CID, time.Now()) == nil
	})

	fetchFrom := func(manifest cid.Cid) (p2p.FetchResult, error) {
		f := p2p.File{CID: file.CID, Size: file.Size, ChunkSize: file.ChunkSize, Manifest: manifest}
		for _, d := range file.Chunks {
			f.Digests = append(f.Digests, [32]byte(d))
		}
		return p2p.Fetch(ctx, lab.node.host.Host, &p2p.DirSink{Dir: t.TempDir()}, []p2p.File{f}, []peer.ID{b.id}, p2p.FetchConfig{})
	}
	res, err := fetchFrom(pa.CID)
	if !errors.Is(err, p2p.ErrNoProviders) || res.Bytes != 0 {
		t.Fatalf("hospital-b asked for the file as part of hospital-a's dataset: %d bytes, %v", res.Bytes, err)
	}
	if _, err := fetchFrom(pb.CID); err != nil {
		t.Fatalf("hospital-b asked for the file as part of its own dataset: %v", err)
	}
	eventually(t, 20*time.Second, "hospital-b records the lab's access to its dataset", func() bool {
		for _, e := range b.node.Entries(0, 100000) {
			if e.Kind == "access" && e.Author == b.id.String() && e.Manifest == pb.CID.String() && e.Requester == lab.id.String() {
				return true
			}
		}
		return false
	})
	for _, e := range b.node.Entries(0, 100000) {
		if e.Kind == "access" && e.Author == b.id.String() && e.Manifest == pa.CID.String() {
			t.Fatalf("hospital-b recorded an access to hospital-a's dataset: %+v", e)
		}
	}
}
