package node

import (
	"context"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multihash"

	"github.com/cohortnet/cohortnet/cohort"
	"github.com/cohortnet/cohortnet/ledger"
)

// A publication reaches every member's catalogue within seconds, anchored
// in the witnessed ledger and with a verified signature.
func TestPublicationReachesEveryCatalogue(t *testing.T) {
	nw := testNet(t)
	start := time.Now()
	p := publish(t, nw.hospA, "diabetes", cohort.AccessRestricted, 1000)
	for _, m := range nw.members {
		eventually(t, 15*time.Second, m.short+" lists the publication anchored", func() bool {
			ok, anchored, _ := listed(m.node, p.CID.String())
			return ok && anchored
		})
	}
	t.Logf("publication reached %d catalogues in %s", len(nw.members), time.Since(start).Round(time.Millisecond))
	for _, m := range nw.members {
		for _, c := range m.node.Cohorts(cohort.Filter{}) {
			if c.Manifest == p.CID.String() && (!c.Status.Signature || c.Status.Witnessed < 2) {
				t.Errorf("%s: status %+v, want signature and 2 witnesses", m.short, c.Status)
			}
		}
	}
}

// A researcher without a grant gets no byte of a restricted dataset; after a
// grant the fetch succeeds and every file verifies; after a revoke new
// requests are refused. Every fetch session is recorded as an access entry.
func TestRestrictedAccess(t *testing.T) {
	nw := testNet(t)
	ctx := t.Context()
	a, lab := nw.hospA, nw.lab
	p := publish(t, a, "restricted-study", cohort.AccessRestricted, 150_000)
	eventually(t, 15*time.Second, "lab lists the dataset", func() bool { ok, _, _ := listed(lab.node, p.CID.String()); return ok })

	fetch := func() Job {
		t.Helper()
		j, err := lab.node.Fetch(p.CID.String())
		if err != nil {
			t.Fatal(err)
		}
		wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		j, err = lab.node.Wait(wctx, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	noBytes := func(when string) {
		t.Helper()
		for _, f := range p.Manifest.Files() {
			if lab.node.Store().Has(f.CID) {
				t.Fatalf("%s: the lab holds %s", when, f.Path)
			}
		}
	}

	if j := fetch(); j.State != JobFailed {
		t.Fatalf("fetch without a grant: %+v", j)
	}
	noBytes("without a grant")

	if _, err := a.node.Grant(ctx, p.Manifest.Name, lab.id, time.Now().Add(time.Hour), "test terms"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "hospital-a's mirror sees the grant", func() bool {
		return a.node.Decide(lab.id, p.CID, time.Now()) == nil
	})
	j := fetch()
	if j.State != JobDone {
		t.Fatalf("fetch after the grant: %+v", j)
	}
	if probs, err := cohort.VerifyDataset(ctx, lab.node.Store(), p.CID); err != nil || len(probs) > 0 {
		t.Fatalf("fetched dataset: %v %v", probs, err)
	}
	if j.Bytes != j.TotalBytes || j.Providers[a.id.String()] == 0 {
		t.Errorf("job %+v", j)
	}
	if again := fetch(); again.State != JobDone || len(again.Providers) != 0 {
		t.Errorf("fetching a held dataset again: %+v", again)
	}

	// The serving session ends after SessionIdle and becomes an access entry.
	eventually(t, 20*time.Second, "an access entry for the lab's fetch", func() bool {
		for _, e := range a.node.Entries(0, 10000) {
			if e.Kind == "access" && e.Manifest == p.CID.String() && e.Requester == lab.id.String() && e.Bytes > 0 {
				return true
			}
		}
		return false
	})

	if _, err := a.node.Revoke(ctx, p.Manifest.Name, lab.id); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "hospital-a refuses the lab after the revoke", func() bool {
		return a.node.Decide(lab.id, p.CID, time.Now()) != nil
	})
	// Drop the lab's copy and ask again: refused.
	for _, f := range p.Manifest.Files() {
		lab.node.Store().Delete(f.CID)
	}
	if j := fetch(); j.State != JobFailed {
		t.Fatalf("fetch after the revoke: %+v", j)
	}
	noBytes("after the revoke")
}

// Nobody gets rows of an aggregate-only dataset, not even with a grant.
func TestAggregateOnlyNoRows(t *testing.T) {
	nw := testNet(t)
	ctx := t.Context()
	p := publish(t, nw.hospB, "registry-counts", cohort.AccessAggregateOnly, 500)
	if _, err := nw.hospB.node.Grant(ctx, p.Manifest.Name, nw.agency.id, time.Time{}, ""); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "agency lists the dataset", func() bool { ok, _, _ := listed(nw.agency.node, p.CID.String()); return ok })
	eventually(t, 10*time.Second, "hospital-b's mirror sees the grant", func() bool {
		for _, g := range nw.hospB.node.Grants() {
			if g.Dataset == p.Manifest.Name {
				return true
			}
		}
		return false
	})
	j, err := nw.agency.node.Fetch(p.CID.String())
	if err != nil {
		t.Fatal(err)
	}
	j, err = nw.agency.node.Wait(ctx, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if j.State != JobFailed {
		t.Fatalf("fetch of an aggregate-only dataset: %+v", j)
	}
	for _, f := range p.Manifest.Files() {
		if nw.agency.node.Store().Has(f.CID) {
			t.Fatalf("the agency holds %s", f.Path)
		}
	}
}

// Decide follows the tiers exactly, from the ledger alone: open, any member;
// registered, a member who filed a request; restricted, a live grant;
// aggregate-only, nobody; the publisher always; a non-member never.
func TestDecideByTier(t *testing.T) {
	nw := testNet(t)
	ctx := t.Context()
	b, lab, agency := nw.hospB, nw.lab, nw.agency
	outsider, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	outID, _ := peer.IDFromPrivateKey(outsider)
	manifests := map[string]cid.Cid{}
	for _, tier := range cohort.AccessTiers {
		mh, _ := multihash.Sum([]byte("decide "+tier+time.Now().String()), multihash.SHA2_256, -1)
		c := cid.NewCidV1(cid.DagCBOR, mh)
		e := ledger.NewEntry(ledger.KindPublish, time.Now())
		e.Manifest, e.Dataset, e.Version, e.Access = c, "hospital-b/decide-"+tier, 1, tier
		if _, err := b.node.Submit(ctx, e); err != nil {
			t.Fatal(err)
		}
		manifests[tier] = c
	}
	if _, err := lab.node.Request(ctx, "hospital-b/decide-registered", "tier test"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.node.Grant(ctx, "hospital-b/decide-restricted", lab.id, time.Time{}, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := b.node.Grant(ctx, "hospital-b/decide-aggregate-only", lab.id, time.Time{}, ""); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the serving node's mirror has the entries", func() bool {
		return agency.node.Decide(lab.id, manifests[cohort.AccessRestricted], time.Now()) == nil
	})
	for _, tc := range []struct {
		tier, name string
		who        peer.ID
		ok         bool
	}{
		{cohort.AccessOpen, "member", lab.id, true},
		{cohort.AccessOpen, "non-member", outID, false},
		{cohort.AccessRegistered, "requested", lab.id, true},
		{cohort.AccessRegistered, "no request", nw.hospA.id, false},
		{cohort.AccessRestricted, "granted", lab.id, true},
		{cohort.AccessRestricted, "no grant", nw.hospA.id, false},
		{cohort.AccessAggregateOnly, "granted", lab.id, false},
		{cohort.AccessAggregateOnly, "publisher", b.id, true},
	} {
		t.Run(tc.tier+"/"+tc.name, func(t *testing.T) {
			// The agency decides as a mirror would, from its own ledger copy.
			err := agency.node.Decide(tc.who, manifests[tc.tier], time.Now())
			if (err == nil) != tc.ok {
				t.Fatalf("Decide = %v, want allowed %v", err, tc.ok)
			}
		})
	}
}
