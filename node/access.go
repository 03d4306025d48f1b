package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cohortnet/cohortnet/cohort"
	"github.com/cohortnet/cohortnet/ledger"
	"github.com/cohortnet/cohortnet/p2p"
)

// Errors of the access decision (never sent to the peer; logged at debug).
var (
	ErrNoAccess  = errors.New("no access")
	ErrNoLedger  = errors.New("node: the consortium has no ledger")
	errNotListed = errors.New("file belongs to no published manifest here")
)

// Decide says whether p may have rows of the dataset version manifest,
// according to the ledger mirror now: the tier recorded in its publish entry
// (open: any member; registered: a member who filed a request; restricted:
// a live grant from the publisher; aggregate-only: nobody), never for a
// retracted version. The publisher itself always may.
func (n *Node) Decide(p peer.ID, manifest cid.Cid, now time.Time) error {
	if n.mirror == nil {
		return ErrNoLedger
	}
	if !n.cons.Load().IsMember(p) && p != n.self {
		return fmt.Errorf("%w: %s is not a member", ErrNoAccess, p)
	}
	st := n.mirror.State()
	pub, ok := st.Publication(manifest)
	if !ok {
		return fmt.Errorf("%w: manifest %s is not in the ledger", ErrNoAccess, manifest)
	}
	if pub.Retracted || st.Retracted(manifest) {
		return fmt.Errorf("%w: manifest %s is retracted", ErrNoAccess, manifest)
	}
	if p == pub.Publisher {
		return nil
	}
	switch pub.Access {
	case cohort.AccessOpen:
		return nil
	case cohort.AccessRegistered:
		if st.Requested(pub.Dataset, p) || st.LiveGrant(pub.Dataset, p, now) {
			return nil
		}
		return fmt.Errorf("%w: %s filed no request for %s", ErrNoAccess, p, pub.Dataset)
	case cohort.AccessRestricted:
		if st.LiveGrant(pub.Dataset, p, now) {
			return nil
		}
		return fmt.Errorf("%w: %s holds no live grant of %s", ErrNoAccess, p, pub.Dataset)
	default: // aggregate-only, or a tier this version does not know
		return fmt.Errorf("%w: %s is %s", ErrNoAccess, pub.Dataset, pub.Access)
	}
}

// chunkPolicy is the chunk server's access check and session key, a
// [p2p.ManifestAuthorizer]: a request is served and counted under one
// manifest that lists the file, that this node published or holds (every
// file of it in the store), and that the requester may have; the one the
// request names, when it names one. So a node that holds a file several
// datasets share (an identical policy.yaml) never records an access to
// another member's dataset it does not serve: it answers "not found" and
// the requester asks another provider.
type chunkPolicy struct{ n *Node }

var _ p2p.ManifestAuthorizer = chunkPolicy{}

// Authorize checks a request that names no manifest.
func (c chunkPolicy) Authorize(ctx context.Context, p peer.ID, file cid.Cid) error {
	_, err := c.AuthorizeManifest(ctx, p, file, cid.Undef)
	return err
}

// AuthorizeManifest decides a request for file as part of manifest
// (cid.Undef: any manifest this node serves) and returns the manifest it is
// counted under.
func (c chunkPolicy) AuthorizeManifest(_ context.Context, p peer.ID, file, manifest cid.Cid) (cid.Cid, error) {
	n := c.n
	n.mu.Lock()
	ms, cat := append([]cid.Cid(nil), n.files[file]...), n.cat
	n.mu.Unlock()
	if manifest.Defined() {
		if !slices.Contains(ms, manifest) {
			return cid.Undef, fmt.Errorf("%w: %s is not listed in %s here", p2p.ErrNotFound, file, manifest)
		}
		ms = []cid.Cid{manifest}
	}
	now := time.Now()
	err := fmt.Errorf("%w: %w", p2p.ErrNotFound, errNotListed)
	for _, m := range ms {
		if !n.serves(cat, m) {
			continue
		}
		if err = n.Decide(p, m, now); err == nil {
			return m, nil
		}
	}
	n.log.Debug("chunk request refused", "peer", p, "file", file, "manifest", manifest, "err", err)
	return cid.Undef, err
}

// serves reports whether this node serves the dataset version m: it
// published it, or holds every file of it.
func (n *Node) serves(cat *cohort.Catalog, m cid.Cid) bool {
	e, ok := cat.Get(m)
	if !ok {
		return false
	}
	return e.Manifest.Publisher.PeerID == n.self.String() || len(n.store.Missing(e.Manifest)) == 0
}

// sessionEnded records an ended fetch session as an `access` entry.
func (n *Node) sessionEnded(s p2p.Session) {
	if s.Chunks == 0 || s.Key.Prefix().Codec != cid.DagCBOR {
		return
	}
	e := ledger.NewEntry(ledger.KindAccess, s.Last)
	e.Manifest, e.Requester, e.Chunks, e.Bytes = s.Key, s.Requester, s.Chunks, s.Bytes
	e.RequestHash = append([]byte(nil), s.Requests[:]...)
	n.met.sessions.Inc()
	// The node's context may be ending (Close ends every session): give the
	// entry its own short deadline so the record is still attempted.
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := n.submit(ctx, e); err != nil {
			n.log.Warn("access entry not recorded", "manifest", s.Key, "requester", s.Requester, "err", err)
		}
	}()
}

// submit signs e with the node key and submits it to the ledger operator,
// returning the verified commitment.
func (n *Node) submit(ctx context.Context, e *ledger.Entry) (*ledger.Commitment, error) {
	c := n.cons.Load()
	if c.Ledger == nil {
		return nil, ErrNoLedger
	}
	enc, err := e.Sign(n.key)
	if err != nil {
		return nil, err
	}
	v := n.verif.Load()
	if v == nil {
		return nil, ErrNoLedger
	}
	cl := &ledger.Client{URL: c.Ledger.HTTP, HTTPClient: n.hc, Verifiers: *v}
	cm, err := n.submitEncoded(ctx, cl, c.Ledger, enc)
	if err != nil {
		return nil, err
	}
	n.Sync()
	return cm, nil
}

// Submit signs an entry with the node key and records it in the ledger
// (request, grant, revoke, retract...). It returns the verified commitment.
func (n *Node) Submit(ctx context.Context, e *ledger.Entry) (*ledger.Commitment, error) {
	return n.submit(ctx, e)
}

// Request files an access request for dataset.
func (n *Node) Request(ctx context.Context, dataset, purpose string) (*ledger.Commitment, error) {
	e := ledger.NewEntry(ledger.KindRequest, time.Now())
	e.Dataset, e.Purpose = dataset, purpose
	return n.submit(ctx, e)
}

// Grant grants grantee access to dataset (published by this node) until
// expires (zero: no expiry).
func (n *Node) Grant(ctx context.Context, dataset string, grantee peer.ID, expires time.Time, terms string) (*ledger.Commitment, error) {
	e := ledger.NewEntry(ledger.KindGrant, time.Now())
	e.Dataset, e.Grantee, e.Expires, e.Terms = dataset, grantee, expires, terms
	return n.submit(ctx, e)
}

// Revoke revokes grantee's access to dataset; it applies at the next chunk
// request on every serving node.
func (n *Node) Revoke(ctx context.Context, dataset string, grantee peer.ID) (*ledger.Commitment, error) {
	e := ledger.NewEntry(ledger.KindRevoke, time.Now())
	e.Dataset, e.Grantee = dataset, grantee
	return n.submit(ctx, e)
}

// Retract records the retraction of a version this node published; every
// node then stops serving it and deletes fetched copies.
func (n *Node) Retract(ctx context.Context, manifest cid.Cid, reason string) (*ledger.Commitment, error) {
	e := ledger.NewEntry(ledger.KindRetract, time.Now())
	e.Manifest, e.Reason = manifest, reason
	cm, err := n.submit(ctx, e)
	if err != nil {
		return nil, err
	}
	if err := n.store.Retract(manifest, reason); err != nil {
		return cm, err
	}
	return cm, n.refreshCatalog()
}

// storeSource serves chunks from the store's files.
type storeSource struct{ st *cohort.Store }

func (s storeSource) Size(_ context.Context, c cid.Cid) (int64, error) {
	n, err := s.st.Stat(c)
	if err != nil {
		if errors.Is(err, cohort.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
			return 0, fmt.Errorf("%w: %s", p2p.ErrNotFound, c)
		}
		return 0, err
	}
	return n, nil
}

func (s storeSource) ReadAt(_ context.Context, c cid.Cid, p []byte, off int64) (int, error) {
	f, err := s.st.Open(c)
	if err != nil {
		if errors.Is(err, cohort.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
			return 0, fmt.Errorf("%w: %s", p2p.ErrNotFound, c)
		}
		return 0, err
	}
	defer f.Close()
	k, err := f.ReadAt(p, off)
	if err == io.EOF && k == len(p) {
		err = nil
	}
	return k, err
}

// metrics are the node's own Prometheus metrics.
type metrics struct {
	splitViews    prometheus.Counter
	announcements prometheus.Counter
	sessions      prometheus.Counter
	rejected      *prometheus.CounterVec
	catalogue     prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		splitViews:    prometheus.NewCounter(prometheus.CounterOpts{Name: "cohortnet_split_views_total", Help: "Checkpoints from peers that contradict the verified ledger copy."}),
		announcements: prometheus.NewCounter(prometheus.CounterOpts{Name: "cohortnet_announcements_total", Help: "Verified announcements received."}),
		sessions:      prometheus.NewCounter(prometheus.CounterOpts{Name: "cohortnet_access_sessions_total", Help: "Fetch sessions served and recorded as access entries."}),
		rejected:      prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cohortnet_node_rejected_messages_total", Help: "Gossip messages the node's validators rejected, by reason."}, []string{"reason"}),
		catalogue:     prometheus.NewGauge(prometheus.GaugeOpts{Name: "cohortnet_catalogue_versions", Help: "Dataset versions in the local catalogue."}),
	}
	for _, c := range []prometheus.Collector{m.splitViews, m.announcements, m.sessions, m.rejected, m.catalogue} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
