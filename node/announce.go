package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cohortnet/cohortnet/cohort"
	"github.com/cohortnet/cohortnet/consortium"
	"github.com/cohortnet/cohortnet/ledger"
	"github.com/cohortnet/cohortnet/p2p"
)

// Message kinds on the announcements topic.
const (
	kindAnnounce   = "announce"   // a signed manifest with its ledger commitment
	kindConsortium = "consortium" // a newer signed consortium configuration
)

// maxGossip caps a decoded gossip message (p2p caps the wire at 1 MiB).
const maxGossip = 1 << 20

// envelope is a message on the announcements topic, as JSON.
type envelope struct {
	Kind       string             `json:"kind"`
	Manifest   []byte             `json:"manifest,omitempty"`   // signed manifest, DAG-CBOR
	Commitment *ledger.Commitment `json:"commitment,omitempty"` // its publish entry's commitment
	Config     []byte             `json:"config,omitempty"`     // a signed consortium file
}

func decodeEnvelope(b []byte) (*envelope, error) {
	if len(b) > maxGossip {
		return nil, fmt.Errorf("message of %d bytes is over %d", len(b), maxGossip)
	}
	var e envelope
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return nil, fmt.Errorf("decode message: %w", err)
	}
	switch e.Kind {
	case kindAnnounce:
		if len(e.Manifest) == 0 || e.Commitment == nil {
			return nil, errors.New("announcement without manifest or commitment")
		}
	case kindConsortium:
		if len(e.Config) == 0 {
			return nil, errors.New("consortium message without a configuration")
		}
	default:
		return nil, fmt.Errorf("unknown message kind %q", e.Kind)
	}
	return &e, nil
}

// Announcement is a verified announcement: the manifest and the ledger entry
// that anchors it.
type Announcement struct {
	CID      cid.Cid
	Manifest *cohort.Manifest
	Signed   *cohort.SignedManifest
	Entry    *ledger.Entry
}

// verifyAnnouncement checks an announcement against the consortium c and the
// ledger verifiers v: the manifest's signature, its publisher's membership
// and short name, and a commitment that verifies and records exactly this
// publication.
func verifyAnnouncement(e *envelope, c *consortium.Config, v *ledger.Verifiers) (*Announcement, error) {
	sm, err := cohort.DecodeSignedManifest(e.Manifest)
	if err != nil {
		return nil, fmt.Errorf("announcement: %w", err)
	}
	m, mc, err := sm.Verify()
	if err != nil {
		return nil, fmt.Errorf("announcement: %w", err)
	}
	pub, err := peer.Decode(m.Publisher.PeerID)
	if err != nil {
		return nil, fmt.Errorf("announcement %s: publisher peer id: %w", mc, err)
	}
	mem, ok := c.Member(pub)
	if !ok {
		return nil, fmt.Errorf("announcement %s: publisher %s is not a member", mc, pub)
	}
	if cohort.Institution(m.Name) != mem.ShortName {
		return nil, fmt.Errorf("announcement %s: dataset %q is not prefixed by its publisher's short name %q", mc, m.Name, mem.ShortName)
	}
	if v == nil || v.Log == nil {
		return nil, fmt.Errorf("announcement %s: no ledger verifiers", mc)
	}
	ent, _, err := ledger.VerifyCommitment(e.Commitment, *v)
	if err != nil {
		return nil, fmt.Errorf("announcement %s: commitment: %w", mc, err)
	}
	if ent.Kind != ledger.KindPublish || ent.Manifest != mc || ent.Author != pub ||
		ent.Dataset != m.Name || ent.Version != m.Version || ent.Access != m.Access {
		return nil, fmt.Errorf("announcement %s: the commitment records another publication (%s %s %s v%d by %s)",
			mc, ent.Kind, ent.Manifest, ent.Dataset, ent.Version, ent.Author)
	}
	return &Announcement{CID: mc, Manifest: m, Signed: sm, Entry: ent}, nil
}

// validateAnnouncement is the announcements topic's gossip validator.
func (n *Node) validateAnnouncement(_ context.Context, msg p2p.Message) error {
	e, err := decodeEnvelope(msg.Data)
	if err != nil {
		n.met.rejected.WithLabelValues("malformed").Inc()
		return err
	}
	cur := n.cons.Load()
	switch e.Kind {
	case kindConsortium:
		s, err := consortium.Parse(e.Config)
		if err != nil {
			n.met.rejected.WithLabelValues("consortium").Inc()
			return err
		}
		if s.Key != cur.Key {
			n.met.rejected.WithLabelValues("consortium").Inc()
			return fmt.Errorf("consortium configuration signed by another key")
		}
		if s.Version < cur.Version {
			return p2p.ErrIgnore
		}
		return nil
	default:
		if _, err := verifyAnnouncement(e, cur.Config, n.verif.Load()); err != nil {
			n.met.rejected.WithLabelValues("announcement").Inc()
			n.log.Warn("announcement rejected", "from", msg.From, "err", err)
			return err
		}
		return nil
	}
}

// announcements keeps the manifests of accepted announcements and installs
// newer consortium configurations.
func (n *Node) announcements(ctx context.Context, sub *p2p.Subscription) {
	defer sub.Cancel()
	for {
		msg, err := sub.Next(ctx)
		if err != nil {
			return
		}
		e, err := decodeEnvelope(msg.Data)
		if err != nil {
			continue
		}
		switch e.Kind {
		case kindConsortium:
			n.installConsortium(e.Config)
		case kindAnnounce:
			a, err := verifyAnnouncement(e, n.cons.Load().Config, n.verif.Load())
			if err != nil {
				continue
			}
			if _, _, err := n.store.AddManifest(a.Signed); err != nil {
				n.log.Warn("keep announced manifest", "manifest", a.CID, "err", err)
				continue
			}
			n.log.Info("announcement", "dataset", a.Manifest.Name, "version", a.Manifest.Version, "manifest", a.CID, "from", msg.From)
			n.met.announcements.Inc()
			if err := n.refreshCatalog(); err != nil {
				n.log.Warn("catalogue", "err", err)
			}
			n.Sync()
		}
	}
}

// installConsortium installs a signed configuration file that is newer than
// the one in force and signed by the same key.
func (n *Node) installConsortium(file []byte) error {
	cur := n.cons.Load()
	res, err := consortium.Install(n.d, file, consortium.InstallOptions{Key: cur.Key})
	if err != nil {
		if errors.Is(err, consortium.ErrNotNewer) {
			return nil
		}
		n.log.Warn("consortium configuration not installed", "err", err)
		return err
	}
	n.applyConsortium(res.Config)
	return nil
}

// UpdateConsortium installs a newer signed consortium configuration file
// here and spreads it to every member over gossip.
func (n *Node) UpdateConsortium(ctx context.Context, file []byte) error {
	if err := n.installConsortium(file); err != nil {
		return err
	}
	b, err := json.Marshal(envelope{Kind: kindConsortium, Config: file})
	if err != nil {
		return err
	}
	return n.host.Publish(ctx, p2p.Announcements, b)
}

// Announce anchors a manifest this node published (in its store) in the
// ledger, unless it is already, and announces it with its commitment to
// every member; it also provides the manifest and its files in the DHT.
func (n *Node) Announce(ctx context.Context, manifest cid.Cid) (*ledger.Commitment, error) {
	sm, err := n.store.SignedManifest(manifest)
	if err != nil {
		return nil, fmt.Errorf("announce %s: %w", manifest, err)
	}
	m, _, err := sm.Verify()
	if err != nil {
		return nil, fmt.Errorf("announce %s: %w", manifest, err)
	}
	if m.Publisher.PeerID != n.self.String() {
		return nil, fmt.Errorf("announce %s: published by %s, not by this node", manifest, m.Publisher.PeerID)
	}
	cm, err := n.commitmentOf(ctx, manifest)
	if err != nil {
		e := ledger.NewEntry(ledger.KindPublish, time.Now())
		e.Manifest, e.Dataset, e.Version, e.Access = manifest, m.Name, m.Version, m.Access
		if cm, err = n.submit(ctx, e); err != nil {
			// Anchored already, by an earlier call the mirror has not seen yet?
			if n.mirror != nil {
				n.mirror.Update(ctx)
			}
			var perr error
			if cm, perr = n.commitmentOf(ctx, manifest); perr != nil {
				return nil, fmt.Errorf("announce %s: anchor: %w", manifest, err)
			}
		}
	}
	enc, err := sm.Encode()
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(envelope{Kind: kindAnnounce, Manifest: enc, Commitment: cm})
	if err != nil {
		return nil, err
	}
	if err := n.host.Publish(ctx, p2p.Announcements, b); err != nil {
		return cm, fmt.Errorf("announce %s: %w", manifest, err)
	}
	n.provide(manifest, m)
	n.Sync()
	return cm, nil
}

// commitmentOf proves the publish entry of manifest from the mirror, when
// the mirror holds one.
func (n *Node) commitmentOf(ctx context.Context, manifest cid.Cid) (*ledger.Commitment, error) {
	if n.mirror == nil {
		return nil, errors.New("no ledger")
	}
	p, ok := n.mirror.State().Publication(manifest)
	if !ok {
		return nil, errors.New("not in the ledger")
	}
	return n.mirror.Prove(ctx, p.Index)
}

// provide announces in the DHT, in the background, that this node serves
// manifest and its files.
func (n *Node) provide(manifest cid.Cid, m *cohort.Manifest) {
	n.goLoop(func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		cids := []cid.Cid{manifest}
		for _, f := range m.Files() {
			cids = append(cids, f.CID)
		}
		for _, c := range cids {
			if err := n.host.Provide(ctx, c); err != nil {
				n.log.Debug("provide", "cid", c, "err", err)
				return
			}
		}
	})
}

// validateCheckpoint is the checkpoints topic's validator: a checkpoint
// signed by the operator is first compared with the mirror's verified copy
// (a disagreement is a split view, reported loudly, whether or not witnesses
// cosigned it); it is accepted and forwarded only with the witness quorum.
func (n *Node) validateCheckpoint(_ context.Context, msg p2p.Message) error {
	v := n.verif.Load()
	if v == nil || n.mirror == nil {
		return p2p.ErrIgnore
	}
	op := *v
	op.Quorum = 0
	if _, _, err := op.OpenCheckpoint(msg.Data); err != nil {
		n.met.rejected.WithLabelValues("checkpoint").Inc()
		return fmt.Errorf("checkpoint: %w", err)
	}
	if err := n.mirror.Compare(msg.Data); err != nil {
		n.reportSplit(msg.From, err)
		return err
	}
	if _, _, err := v.OpenCheckpoint(msg.Data); err != nil {
		n.met.rejected.WithLabelValues("checkpoint").Inc()
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}

// checkpoints receives the validated checkpoints of peers (the validator did
// the comparing); one larger than the mirror's makes the mirror update now.
func (n *Node) checkpoints(ctx context.Context, sub *p2p.Subscription) {
	defer sub.Cancel()
	for {
		msg, err := sub.Next(ctx)
		if err != nil {
			return
		}
		if v := n.verif.Load(); v != nil && n.mirror != nil {
			if cp, _, err := v.OpenCheckpoint(msg.Data); err == nil && cp.Size > n.mirror.Size() {
				n.Sync()
			}
		}
	}
}

func (n *Node) reportSplit(from peer.ID, err error) {
	n.met.splitViews.Inc()
	n.log.Error("SPLIT VIEW: a checkpoint from a peer contradicts this node's verified ledger copy; the ledger operator showed different histories", "from", from, "err", err)
	n.mu.Lock()
	n.splits = append(n.splits, SplitView{From: from.String(), Error: err.Error(), Time: time.Now().UTC()})
	if len(n.splits) > 100 {
		n.splits = n.splits[len(n.splits)-100:]
	}
	n.mu.Unlock()
}

// SplitViews lists the split views this node has seen (the last 100).
func (n *Node) SplitViews() []SplitView {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]SplitView(nil), n.splits...)
}
