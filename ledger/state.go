package ledger

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cohortnet/cohortnet/consortium"
)

// ErrRefused is wrapped by every refusal of an entry on its merits (not a
// member, not the publisher, a version that does not increase...). The author
// should not retry the same entry; the error text says why.
var ErrRefused = errors.New("refused")

func refuse(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrRefused, fmt.Sprintf(format, args...))
}

// Publication is a publish entry as the log holds it.
type Publication struct {
	Index     uint64 // on the operator, math.MaxUint64 until the log assigns it
	Manifest  cid.Cid
	Dataset   string
	Version   int64
	Access    string
	Publisher peer.ID
	Time      time.Time
	Retracted bool
}

type grantEvent struct {
	at      time.Time
	grant   bool
	expires time.Time
}

type datasetState struct {
	publisher peer.ID
	versions  []*Publication // in log order, versions increasing
	grants    map[peer.ID][]grantEvent
	requests  map[peer.ID]bool
	epsilon   map[peer.ID]float64 // privacy budget spent, by recipient
}

// State is what the log says so far: entries applied in log order, indexed
// for the questions the operator and the network ask. It is safe for
// concurrent use.
type State struct {
	mu        sync.RWMutex
	size      uint64
	datasets  map[string]*datasetState
	manifests map[cid.Cid]*Publication
	entries   map[[32]byte]uint64 // sha256 of the encoded entry -> index
}

// NewState returns the state of an empty log.
func NewState() *State {
	return &State{
		datasets:  map[string]*datasetState{},
		manifests: map[cid.Cid]*Publication{},
		entries:   map[[32]byte]uint64{},
	}
}

// Size is the number of entries applied.
func (s *State) Size() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.size
}

// Lookup returns the index of an encoded entry already in the log.
func (s *State) Lookup(encoded []byte) (uint64, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	i, ok := s.entries[sha256.Sum256(encoded)]
	return i, ok
}

// DatasetOwner returns the short name that prefixes a dataset name
// ("hospital-a/diabetes" -> "hospital-a").
func DatasetOwner(dataset string) (string, bool) {
	short, name, ok := strings.Cut(dataset, "/")
	return short, ok && short != "" && name != "" && !strings.Contains(name, "/")
}

// Check decides whether the operator accepts e (already signature-checked)
// given the consortium configuration c: the author must be a member, and the
// entry must make sense after what the log holds. Refusals wrap [ErrRefused].
func (s *State) Check(e *Entry, c *consortium.Config) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	author, ok := c.Member(e.Author)
	if !ok {
		return refuse("%s is not a member of the consortium", e.Author)
	}
	member := func(id peer.ID, what string) error {
		if !c.IsMember(id) {
			return refuse("%s %s is not a member of the consortium", what, id)
		}
		return nil
	}
	dataset := func(name string) (*datasetState, error) {
		d := s.datasets[name]
		if d == nil {
			return nil, refuse("dataset %q has never been published", name)
		}
		return d, nil
	}
	publisherOnly := func(d *datasetState, name string) error {
		if d.publisher != e.Author {
			return refuse("only %s, the publisher of %q, may write a %s entry for it", d.publisher, name, e.Kind)
		}
		return nil
	}
	switch e.Kind {
	case KindPublish:
		short, ok := DatasetOwner(e.Dataset)
		if !ok {
			return refuse("dataset name %q is not <institution>/<name>", e.Dataset)
		}
		if short != author.ShortName {
			return refuse("%s (short name %q) cannot publish %q: datasets are prefixed by their publisher's short name", e.Author, author.ShortName, e.Dataset)
		}
		if p := s.manifests[e.Manifest]; p != nil {
			return refuse("manifest %s is already published as %s version %d (entry %d)", e.Manifest, p.Dataset, p.Version, p.Index)
		}
		if d := s.datasets[e.Dataset]; d != nil {
			if err := publisherOnly(d, e.Dataset); err != nil {
				return err
			}
			if last := d.versions[len(d.versions)-1]; e.Version <= last.Version {
				return refuse("%s version %d does not follow version %d", e.Dataset, e.Version, last.Version)
			}
		}
	case KindRetract:
		p := s.manifests[e.Manifest]
		if p == nil {
			return refuse("manifest %s has never been published", e.Manifest)
		}
		if p.Publisher != e.Author {
			return refuse("only %s, the publisher of %s, may retract it", p.Publisher, e.Manifest)
		}
		if p.Retracted {
			return refuse("manifest %s is already retracted", e.Manifest)
		}
	case KindRequest:
		if _, err := dataset(e.Dataset); err != nil {
			return err
		}
	case KindGrant, KindRevoke:
		d, err := dataset(e.Dataset)
		if err != nil {
			return err
		}
		if err := publisherOnly(d, e.Dataset); err != nil {
			return err
		}
		if err := member(e.Grantee, "grantee"); err != nil {
			return err
		}
		if e.Kind == KindGrant && !e.Expires.IsZero() && !e.Expires.After(e.Time) {
			return refuse("grant expires at %s, before it is given", e.Expires.UTC().Format(time.RFC3339))
		}
	case KindAccess:
		if s.manifests[e.Manifest] == nil {
			return refuse("manifest %s has never been published", e.Manifest)
		}
		if err := member(e.Requester, "requester"); err != nil {
			return err
		}
	case KindRelease:
		d, err := dataset(e.Dataset)
		if err != nil {
			return err
		}
		if err := publisherOnly(d, e.Dataset); err != nil {
			return err
		}
		if err := member(e.Recipient, "recipient"); err != nil {
			return err
		}
	default:
		return refuse("unknown entry kind %q", e.Kind)
	}
	return nil
}

// pendingIndex stands for the index of an entry the operator accepted
// before the log assigned it one.
const pendingIndex = math.MaxUint64

// Apply records e, the entry at index (the next one), encoded as encoded.
// It does not judge e: the log is what it is.
func (s *State) Apply(index uint64, e *Entry, encoded []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entries[sha256.Sum256(encoded)] = index
	if index != pendingIndex && index >= s.size {
		s.size = index + 1
	}
	d := s.datasets[e.Dataset]
	if d == nil && e.Kind == KindPublish {
		d = &datasetState{publisher: e.Author, grants: map[peer.ID][]grantEvent{}, requests: map[peer.ID]bool{}, epsilon: map[peer.ID]float64{}}
		s.datasets[e.Dataset] = d
	}
	switch e.Kind {
	case KindPublish:
		if s.manifests[e.Manifest] != nil {
			return
		}
		p := &Publication{Index: index, Manifest: e.Manifest, Dataset: e.Dataset, Version: e.Version,
			Access: e.Access, Publisher: e.Author, Time: e.Time}
		s.manifests[e.Manifest] = p
		d.versions = append(d.versions, p)
	case KindRetract:
		if p := s.manifests[e.Manifest]; p != nil && p.Publisher == e.Author {
			p.Retracted = true
		}
	case KindRequest:
		if d != nil {
			d.requests[e.Author] = true
		}
	case KindGrant, KindRevoke:
		if d != nil && d.publisher == e.Author {
			d.grants[e.Grantee] = append(d.grants[e.Grantee], grantEvent{at: e.Time, grant: e.Kind == KindGrant, expires: e.Expires})
		}
	case KindRelease:
		if d != nil && d.publisher == e.Author {
			d.epsilon[e.Recipient] += e.Epsilon
		}
	}
}

// EpsilonSpent is the privacy budget the publisher of dataset has recorded
// as released to recipient, summed over its release entries; recipient ""
// sums over every recipient. The operator's [OperatorConfig.Check] can hold a
// new release against a budget with it.
func (s *State) EpsilonSpent(dataset string, recipient peer.ID) float64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	d := s.datasets[dataset]
	if d == nil {
		return 0
	}
	if recipient != "" {
		return d.epsilon[recipient]
	}
	var sum float64
	for _, v := range d.epsilon {
		sum += v
	}
	return sum
}

// setIndex records the index the log gave an entry applied as pending.
func (s *State) setIndex(encoded []byte, e *Entry, index uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entries[sha256.Sum256(encoded)] = index
	if index >= s.size {
		s.size = index + 1
	}
	if e.Kind == KindPublish {
		if p := s.manifests[e.Manifest]; p != nil && p.Index == pendingIndex {
			p.Index = index
		}
	}
}

// LiveGrant reports whether grantee held a live grant of dataset at time t:
// the publisher's last grant or revoke stamped at or before t is a grant, and
// it had not expired by t.
func (s *State) LiveGrant(dataset string, grantee peer.ID, t time.Time) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	d := s.datasets[dataset]
	if d == nil {
		return false
	}
	var last *grantEvent
	for i, g := range d.grants[grantee] {
		if !g.at.After(t) && (last == nil || !g.at.Before(last.at)) {
			last = &d.grants[grantee][i]
		}
	}
	return last != nil && last.grant && (last.expires.IsZero() || t.Before(last.expires))
}

// Requested reports whether member asked for access to dataset.
func (s *State) Requested(dataset string, member peer.ID) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	d := s.datasets[dataset]
	return d != nil && d.requests[member]
}

// LatestPublish returns the highest version of dataset that is not retracted.
func (s *State) LatestPublish(dataset string) (Publication, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	d := s.datasets[dataset]
	if d == nil {
		return Publication{}, false
	}
	for i := len(d.versions) - 1; i >= 0; i-- {
		if !d.versions[i].Retracted {
			return *d.versions[i], true
		}
	}
	return Publication{}, false
}

// Publication returns the publish entry of a manifest.
func (s *State) Publication(manifest cid.Cid) (Publication, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	p := s.manifests[manifest]
	if p == nil {
		return Publication{}, false
	}
	return *p, true
}

// Retracted reports whether the publisher of manifest retracted it.
func (s *State) Retracted(manifest cid.Cid) bool {
	p, ok := s.Publication(manifest)
	return ok && p.Retracted
}
