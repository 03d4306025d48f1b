package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cohortnet/cohortnet/cohort"
	"github.com/cohortnet/cohortnet/consortium"
	"github.com/cohortnet/cohortnet/ledger"
	"github.com/cohortnet/cohortnet/p2p"
)

// ManifestProtocol serves signed manifests to members over HTTP on libp2p
// streams: GET /manifest/<cid> answers the signed manifest's DAG-CBOR bytes
// (at most cohort.MaxManifestSize) or 404.
const ManifestProtocol = "/cohortnet/manifest/1.0.0"

// ledgerIndex is what the sync loop learnt from the mirror's entries.
type ledgerIndex struct {
	next     uint64                  // first entry not yet read
	requests []ledger.Entry          // request entries, in log order
	grants   map[string]ledger.Entry // dataset + "\x00" + grantee: the last grant or revoke
	byIndex  map[uint64]ledger.Entry // grant entries by index (DELETE access/grants/{id})
	entries  []ledger.Entry          // every entry, for the API (no PHI: hashes and ids)
}

func (l *ledgerIndex) init() {
	l.grants = map[string]ledger.Entry{}
	l.byIndex = map[uint64]ledger.Entry{}
}

// syncLoop follows the ledger: it updates the mirror, acts on new publish and
// retract entries, gets missing manifests from peers, gossips the verified
// checkpoint, and re-reads the consortium file.
func (n *Node) syncLoop(ctx context.Context) {
	t := time.NewTicker(n.cfg.SyncInterval)
	defer t.Stop()
	var lastCP []byte
	for {
		if s, err := consortium.Load(n.d); err == nil {
			n.applyConsortium(s)
		}
		if n.mirror != nil {
			if _, err := n.mirror.Update(ctx); err != nil {
				if errors.Is(err, ledger.ErrInconsistent) {
					n.reportSplit(n.cons.Load().Ledger.Peer, err)
				} else if ctx.Err() == nil {
					n.log.Debug("ledger mirror update", "err", err)
				}
			}
			if err := n.readEntries(ctx); err != nil && ctx.Err() == nil {
				n.log.Warn("ledger entries", "err", err)
			}
			n.getWanted(ctx)
			if cp := n.mirror.Checkpoint(); len(cp) > 0 && !bytes.Equal(cp, lastCP) {
				if err := n.host.Publish(ctx, p2p.Checkpoints, cp); err == nil {
					lastCP = cp
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-n.kick:
		}
	}
}

// readEntries walks the entries the mirror added since the last call.
func (n *Node) readEntries(ctx context.Context) error {
	n.mu.Lock()
	from := n.log0.next
	n.mu.Unlock()
	if n.mirror.Size() <= from {
		return nil // nothing new
	}
	changed := false
	for e, err := range n.mirror.Entries(ctx) {
		if err != nil {
			return err
		}
		if e.Index < from {
			continue
		}
		n.mu.Lock()
		n.log0.next = e.Index + 1
		n.log0.entries = append(n.log0.entries, e)
		switch e.Kind {
		case ledger.KindRequest:
			n.log0.requests = append(n.log0.requests, e)
		case ledger.KindGrant, ledger.KindRevoke:
			n.log0.grants[e.Dataset+"\x00"+string(e.Grantee)] = e
			n.log0.byIndex[e.Index] = e
		case ledger.KindPublish:
			if _, err := n.store.SignedManifest(e.Manifest); err != nil {
				n.wanted[e.Manifest] = ledger.Publication{Index: e.Index, Manifest: e.Manifest, Dataset: e.Dataset, Version: e.Version, Access: e.Access, Publisher: e.Author, Time: e.Time}
			}
		}
		n.mu.Unlock()
		if e.Kind == ledger.KindRetract {
			if err := n.applyRetract(e.Manifest, e.Reason); err != nil {
				n.log.Warn("retraction", "manifest", e.Manifest, "err", err)
			}
			changed = true
		}
	}
	if changed {
		return n.refreshCatalog()
	}
	return nil
}

// applyRetract marks a retracted manifest in the store and deletes the
// files of a fetched copy that no live version still lists.
func (n *Node) applyRetract(manifest cid.Cid, reason string) error {
	n.mu.Lock()
	delete(n.wanted, manifest)
	n.mu.Unlock()
	m, err := n.store.Manifest(manifest)
	if err != nil {
		return nil // never held: nothing to mark or delete
	}
	if err := n.store.Retract(manifest, reason); err != nil {
		return err
	}
	if m.Publisher.PeerID == n.self.String() {
		return nil // the publisher keeps its own files
	}
	cat, err := n.store.Catalog(n.ctx)
	if err != nil {
		return err
	}
	keep := map[cid.Cid]bool{}
	for _, name := range cat.Datasets() {
		for _, v := range cat.Versions(name) {
			if v.Retracted || v.CID == manifest {
				continue
			}
			for _, f := range v.Manifest.Files() {
				keep[f.CID] = true
			}
		}
	}
	for _, f := range m.Files() {
		if !keep[f.CID] {
			if err := n.store.Delete(f.CID); err != nil {
				return err
			}
		}
	}
	n.log.Info("retracted version removed", "dataset", m.Name, "version", m.Version, "manifest", manifest)
	return nil
}

// getWanted asks peers for the manifests of publish entries the store lacks:
// the publisher first, then DHT providers of the manifest.
func (n *Node) getWanted(ctx context.Context) {
	n.mu.Lock()
	want := make([]ledger.Publication, 0, len(n.wanted))
	for _, p := range n.wanted {
		want = append(want, p)
	}
	n.mu.Unlock()
	got := false
	now := time.Now()
	for _, p := range want {
		n.mu.Lock()
		next := n.retryAt[p.Manifest]
		n.mu.Unlock()
		if now.Before(next) {
			continue
		}
		if n.mirror.State().Retracted(p.Manifest) {
			n.mu.Lock()
			delete(n.wanted, p.Manifest)
			n.mu.Unlock()
			continue
		}
		if err := n.getManifest(ctx, p); err != nil {
			n.log.Debug("manifest not yet available", "manifest", p.Manifest, "err", err)
			// Its holders may be offline: ask again later, not every tick.
			n.mu.Lock()
			n.retryAt[p.Manifest] = time.Now().Add(5 * time.Second)
			n.mu.Unlock()
			continue
		}
		n.mu.Lock()
		delete(n.wanted, p.Manifest)
		delete(n.retryAt, p.Manifest)
		n.mu.Unlock()
		got = true
	}
	if got {
		if err := n.refreshCatalog(); err != nil {
			n.log.Warn("catalogue", "err", err)
		}
	}
}

func (n *Node) getManifest(ctx context.Context, p ledger.Publication) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	try := func(id peer.ID) error {
		sm, err := n.fetchManifest(ctx, id, p.Manifest)
		if err != nil {
			return err
		}
		m, mc, err := sm.Verify()
		if err != nil || mc != p.Manifest || m.Publisher.PeerID != p.Publisher.String() || m.Name != p.Dataset || m.Version != p.Version {
			return fmt.Errorf("peer %s sent a manifest that does not match the ledger's publish entry", id)
		}
		if _, _, err := n.store.AddManifest(sm); err != nil {
			return err
		}
		n.log.Info("manifest learnt from the ledger", "dataset", m.Name, "version", m.Version, "from", id)
		return nil
	}
	// The publisher first; then whoever provides the manifest in the DHT.
	var errs []error
	if p.Publisher != n.self {
		err := try(p.Publisher)
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	fctx, fcancel := context.WithTimeout(ctx, 5*time.Second)
	provs := n.host.FindProviders(fctx, p.Manifest, 5)
	fcancel()
	for _, ai := range provs {
		if ai.ID == n.self || ai.ID == p.Publisher {
			continue
		}
		n.host.Peerstore().AddAddrs(ai.ID, ai.Addrs, time.Hour)
		err := try(ai.ID)
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return errors.New("no peer holds it")
	}
	return errors.Join(errs...)
}

// fetchManifest gets a signed manifest from peer id with ManifestProtocol.
func (n *Node) fetchManifest(ctx context.Context, id peer.ID, c cid.Cid) (*cohort.SignedManifest, error) {
	if len(n.host.Network().ConnsToPeer(id)) == 0 {
		if ai, err := n.host.FindPeer(ctx, id); err == nil {
			n.host.Peerstore().AddAddrs(ai.ID, ai.Addrs, time.Hour)
		}
	}
	hc, err := n.host.HTTPClient(ManifestProtocol, id)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "/manifest/"+c.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("manifest %s from %s: %w", c, id, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("manifest %s from %s: %s", c, id, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, cohort.MaxManifestSize+1))
	if err != nil {
		return nil, fmt.Errorf("manifest %s from %s: %w", c, id, err)
	}
	return cohort.DecodeSignedManifest(b)
}

// manifestHandler serves ManifestProtocol.
func (n *Node) manifestHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, ok := strings.CutPrefix(r.URL.Path, "/manifest/")
		if r.Method != http.MethodGet || !ok {
			http.NotFound(w, r)
			return
		}
		c, err := cid.Decode(s)
		if err != nil {
			http.Error(w, "bad cid", http.StatusBadRequest)
			return
		}
		sm, err := n.store.SignedManifest(c)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		b, err := sm.Encode()
		if err != nil {
			http.Error(w, "encode", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/cbor")
		w.Write(b)
	})
}

// refreshCatalog re-reads the store's catalogue and the file index the chunk
// server decides from.
func (n *Node) refreshCatalog() error {
	cat, err := n.store.Catalog(n.ctx)
	if err != nil {
		return fmt.Errorf("node: catalogue: %w", err)
	}
	files := map[cid.Cid][]cid.Cid{}
	count := 0
	for _, name := range cat.Datasets() {
		for _, v := range cat.Versions(name) {
			count++
			for _, f := range v.Manifest.Files() {
				files[f.CID] = append(files[f.CID], v.CID)
			}
		}
	}
	n.mu.Lock()
	n.cat, n.files = cat, files
	n.catGen++
	n.mu.Unlock()
	n.met.catalogue.Set(float64(count))
	return nil
}

// Catalog is the current catalogue snapshot.
func (n *Node) Catalog() *cohort.Catalog {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cat
}
