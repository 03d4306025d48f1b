package demo

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cohortnet/cohortnet/cohort"
	"github.com/cohortnet/cohortnet/ledger"
	"github.com/cohortnet/cohortnet/ledger/ledgerd"
	"github.com/cohortnet/cohortnet/p2p"
	"github.com/cohortnet/cohortnet/query"
)

// aeProtocol is the demo's adverse-event request over libp2p HTTP: POST a
// query.SignalConfig as JSON to "/ae", get a signed query.AEAnswer as
// [wireAnswer].
const aeProtocol = "/cohortnet/demo/ae/1"

// announcement is what a hospital gossips: its signed manifest and the
// ledger commitment of the publication.
type announcement struct {
	Manifest   []byte             `json:"manifest"` // cohort.SignedManifest, DAG-CBOR
	Commitment *ledger.Commitment `json:"commitment"`
}

// verifyAnnouncement checks the manifest's signature and that the ledger,
// cosigned by the witness quorum, holds its publication by its publisher.
func verifyAnnouncement(b []byte, v ledger.Verifiers) (*cohort.SignedManifest, *cohort.Manifest, cid.Cid, *ledger.Commitment, error) {
	var a announcement
	if err := json.Unmarshal(b, &a); err != nil {
		return nil, nil, cid.Undef, nil, fmt.Errorf("announcement: %w", err)
	}
	sm, err := cohort.DecodeSignedManifest(a.Manifest)
	if err != nil {
		return nil, nil, cid.Undef, nil, err
	}
	m, c, err := sm.Verify()
	if err != nil {
		return nil, nil, cid.Undef, nil, err
	}
	if a.Commitment == nil {
		return nil, nil, cid.Undef, nil, fmt.Errorf("announcement of %s: no ledger commitment", m.Name)
	}
	e, _, err := ledger.VerifyCommitment(a.Commitment, v)
	if err != nil {
		return nil, nil, cid.Undef, nil, fmt.Errorf("announcement of %s: %w", m.Name, err)
	}
	if e.Kind != ledger.KindPublish || e.Manifest != c || e.Dataset != m.Name || e.Author.String() != m.Publisher.PeerID || e.Access != m.Access {
		return nil, nil, cid.Undef, nil, fmt.Errorf("announcement of %s: the ledger entry is not this manifest's publication", m.Name)
	}
	return sm, m, c, a.Commitment, nil
}

// hospitalServer is what a hospital serves to the network: chunks of the
// datasets it published, to whoever the ledger says may have them, each
// fetch session recorded as an access entry; and adverse-event answers.
type hospitalServer struct {
	d      *Demo
	h      *participant
	mirror *ledger.Mirror

	mu       sync.Mutex
	files    map[cid.Cid]cid.Cid // file -> manifest
	dataset  map[cid.Cid]*cohort.Manifest
	sessions chan p2p.Session
}

func (s *hospitalServer) sessionKey(file cid.Cid) cid.Cid {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m, ok := s.files[file]; ok {
		return m
	}
	return file
}

// allowed is the access decision for peer p on manifest c from what the
// mirror knows.
func (s *hospitalServer) allowed(p peer.ID, c cid.Cid, m *cohort.Manifest) error {
	if s.mirror.Retracted(c) {
		return errors.New("retracted")
	}
	switch m.Access {
	case cohort.AccessOpen:
		return nil
	case cohort.AccessRegistered:
		if s.mirror.State().Requested(m.Name, p) {
			return nil
		}
		return errors.New("no access request in the ledger")
	case cohort.AccessRestricted:
		if s.mirror.LiveGrant(m.Name, p, time.Now()) {
			return nil
		}
		return errors.New("no live grant in the ledger")
	default:
		return fmt.Errorf("access tier %s: no rows leave", m.Access)
	}
}

// Authorize implements p2p.Authorizer.
func (s *hospitalServer) Authorize(ctx context.Context, p peer.ID, file cid.Cid) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	mc, ok := s.files[file]
	if !ok {
		return errors.New("not a file of a published dataset")
	}
	m := s.dataset[mc]
	err := s.allowed(p, mc, m)
	if err != nil && m.Access != cohort.AccessAggregateOnly {
		// The ledger may hold news: bring the mirror up to date once.
		if _, uerr := s.mirror.Update(ctx); uerr == nil {
			err = s.allowed(p, mc, m)
		}
	}
	return err
}

// record writes an ended fetch session into the ledger as an access entry.
func (s *hospitalServer) record(ctx context.Context, ss p2p.Session) error {
	e := ledger.NewEntry(ledger.KindAccess, time.Now())
	e.Manifest, e.Requester, e.Chunks, e.Bytes = ss.Key, ss.Requester, ss.Chunks, ss.Bytes
	e.RequestHash = ss.Requests[:]
	_, err := ledgerd.Submit(ctx, s.h.dir, e, nil)
	return err
}

// ServeHTTP answers the agency's adverse-event requests from the hospital's
// own published datasets; each answer is a release entry in the ledger.
func (s *hospitalServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/ae" {
		http.Error(w, "POST /ae", http.StatusNotFound)
		return
	}
	var cfg query.SignalConfig
	if err := json.NewDecoder(r.Body).Decode(&cfg); err != nil {
		http.Error(w, "bad request: "+err.Error(), http.StatusBadRequest)
		return
	}
	requester := p2p.RequestPeer(r)
	a := &query.Answerer{Engine: s.h.engine, Key: s.h.key, Institution: s.h.short, Releases: &ledgerReleases{s: s, recipient: requester}}
	ans, err := a.AnswerAE(r.Context(), requester.String(), cfg)
	if err != nil {
		s.d.log.Warn("demo: ae answer", "hospital", s.h.short, "err", err)
		http.Error(w, "cannot answer", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(toWire(ans))
}

// ledgerReleases records releases as ledger entries, as query.ReleaseLog.
type ledgerReleases struct {
	s         *hospitalServer
	recipient peer.ID
}

func (l *ledgerReleases) Spent(context.Context, string, string) (float64, error) { return 0, nil }

func (l *ledgerReleases) Record(ctx context.Context, r query.Release) error {
	c, err := cid.Parse(r.Dataset)
	if err != nil {
		return fmt.Errorf("release of %q: %w", r.Dataset, err)
	}
	l.s.mu.Lock()
	m := l.s.dataset[c]
	l.s.mu.Unlock()
	if m == nil {
		return fmt.Errorf("release of %s: not a dataset of this hospital", c)
	}
	e := ledger.NewEntry(ledger.KindRelease, time.Now())
	qh := sha256.Sum256([]byte(r.Query))
	rh := sha256.Sum256([]byte(r.Query + "\n" + r.Dataset + "\n" + r.Time.String()))
	if r.Result != "" {
		rh = sha256.Sum256([]byte(r.Result))
	}
	e.Dataset, e.Recipient, e.QueryHash, e.ResultHash, e.Epsilon = m.Name, l.recipient, qh[:], rh[:], r.Epsilon
	_, err = ledgerd.Submit(ctx, l.s.h.dir, e, nil)
	return err
}

// storeSink receives a fetch into a cohort store, chunk by chunk.
type storeSink struct {
	st *cohort.Store
	mu sync.Mutex
	rs map[cid.Cid]*cohort.Receiver
}

func toHashes(f *p2p.File) cohort.Hashes {
	h := cohort.Hashes{Size: f.Size, ChunkSize: f.ChunkSize}
	if d, err := cohort.FileDigest(f.CID); err == nil {
		h.Sum = d
	}
	for _, c := range f.Digests {
		h.Chunks = append(h.Chunks, cohort.Digest(c))
	}
	return h
}

func (s *storeSink) Begin(ctx context.Context, f *p2p.File) ([]bool, error) {
	r, err := s.st.Receive(ctx, f.CID, toHashes(f))
	if err != nil {
		return nil, err
	}
	have := make([]bool, f.Chunks())
	for i := range have {
		have[i] = true
	}
	for _, i := range r.Missing() {
		have[i] = false
	}
	s.mu.Lock()
	if s.rs == nil {
		s.rs = map[cid.Cid]*cohort.Receiver{}
	}
	s.rs[f.CID] = r
	s.mu.Unlock()
	return have, nil
}

func (s *storeSink) receiver(c cid.Cid) (*cohort.Receiver, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.rs[c]
	if !ok {
		return nil, fmt.Errorf("file %s not begun", c)
	}
	return r, nil
}

func (s *storeSink) WriteChunk(_ context.Context, c cid.Cid, i int, data []byte) error {
	r, err := s.receiver(c)
	if err != nil {
		return err
	}
	return r.WriteChunk(i, data)
}

func (s *storeSink) Commit(ctx context.Context, c cid.Cid) error {
	r, err := s.receiver(c)
	if err != nil {
		return err
	}
	err = r.Commit(ctx)
	r.Close()
	s.mu.Lock()
	delete(s.rs, c)
	s.mu.Unlock()
	return err
}

func (s *storeSink) Abort(c cid.Cid) error {
	r, err := s.receiver(c)
	if err != nil {
		return nil
	}
	s.mu.Lock()
	delete(s.rs, c)
	s.mu.Unlock()
	return r.Close()
}

// p2pFiles are the manifest's files as a fetch needs them.
func p2pFiles(m *cohort.Manifest) []p2p.File {
	var out []p2p.File
	for _, f := range m.Files() {
		pf := p2p.File{CID: f.CID, Size: f.Size, ChunkSize: f.ChunkSize}
		for _, c := range f.Chunks {
			var d [32]byte
			copy(d[:], c)
			pf.Digests = append(pf.Digests, d)
		}
		out = append(out, pf)
	}
	return out
}

// wireAnswer is a query.AEAnswer as JSON that keeps every pair's event
// code: query.AEPair's embedded Pair.Event and its own Event share the JSON
// key "event", so the answer's own JSON drops the codes.
type wireAnswer struct {
	Answer query.AEAnswer `json:"answer"`
	Pairs  []wirePair     `json:"pairs"`
}

type wirePair struct {
	Drug       string `json:"drug"`
	Event      string `json:"event"`
	A          *int64 `json:"a"`
	EventCount *int64 `json:"event_count"`
}

func toWire(a *query.AEAnswer) wireAnswer {
	w := wireAnswer{Answer: *a}
	w.Answer.Pairs = nil
	for _, p := range a.Pairs {
		w.Pairs = append(w.Pairs, wirePair{Drug: p.Pair.Drug, Event: p.Pair.Event, A: p.A, EventCount: p.Event})
	}
	return w
}

func (w wireAnswer) answer() *query.AEAnswer {
	a := w.Answer
	a.Pairs = nil
	for _, p := range w.Pairs {
		a.Pairs = append(a.Pairs, query.AEPair{Pair: query.Pair{Drug: p.Drug, Event: p.Event}, A: p.A, Event: p.EventCount})
	}
	return &a
}
