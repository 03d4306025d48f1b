package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cohortnet/cohortnet/cohort"
	"github.com/cohortnet/cohortnet/p2p"
)

// Job states.
const (
	JobRunning = "running"
	JobDone    = "done"
	JobFailed  = "failed"
)

// Job is a fetch of one dataset version, as GET /api/v1/fetch/{job} shows it.
type Job struct {
	ID          string            `json:"id"`
	Ref         string            `json:"ref"`
	Manifest    string            `json:"manifest,omitempty"`
	Dataset     string            `json:"dataset,omitempty"`
	Version     int64             `json:"version,omitempty"`
	State       string            `json:"state"`
	Bytes       int64             `json:"bytes"`
	TotalBytes  int64             `json:"total_bytes"`
	Chunks      int               `json:"chunks"`
	TotalChunks int               `json:"total_chunks"`
	Files       int               `json:"files"`
	Providers   map[string]int64  `json:"providers,omitempty"` // bytes per provider
	Dropped     map[string]string `json:"dropped,omitempty"`   // providers dropped, with why
	Problems    []string          `json:"problems,omitempty"`  // verification problems
	Error       string            `json:"error,omitempty"`
	Started     time.Time         `json:"started"`
	Finished    *time.Time        `json:"finished,omitempty"`
	done        chan struct{}
}

// Fetch starts fetching the dataset version ref (a manifest CID, NAME or
// NAME@VERSION from the catalogue) and returns its job at once. The job runs
// until it completes, fails or the node closes; [Node.Wait] waits for it.
func (n *Node) Fetch(ref string) (Job, error) {
	n.mu.Lock()
	cat := n.cat
	n.mu.Unlock()
	e, err := cat.Resolve(ref)
	if err != nil {
		return Job{}, fmt.Errorf("fetch %s: %w", ref, err)
	}
	if e.Retracted || (n.mirror != nil && n.mirror.Retracted(e.CID)) {
		return Job{}, fmt.Errorf("fetch %s: version %d is retracted", ref, e.Manifest.Version)
	}
	n.mu.Lock()
	n.jobSeq++
	j := &Job{
		ID: strconv.Itoa(n.jobSeq), Ref: ref, Manifest: e.CID.String(), Dataset: e.Manifest.Name,
		Version: e.Manifest.Version, State: JobRunning, Started: time.Now().UTC(), done: make(chan struct{}),
		Providers: map[string]int64{}, Dropped: map[string]string{},
	}
	n.jobs[j.ID] = j
	snap := *j
	n.mu.Unlock()
	n.goLoop(func(ctx context.Context) {
		err := n.runFetch(ctx, j, e)
		n.mu.Lock()
		now := time.Now().UTC()
		j.Finished = &now
		if err != nil {
			j.State, j.Error = JobFailed, err.Error()
		} else {
			j.State = JobDone
		}
		n.mu.Unlock()
		close(j.done)
		if err != nil {
			n.log.Warn("fetch failed", "dataset", e.Manifest.Name, "version", e.Manifest.Version, "err", err)
		} else {
			n.log.Info("fetched", "dataset", e.Manifest.Name, "version", e.Manifest.Version, "bytes", snap.TotalBytes)
		}
	})
	return snap, nil
}

// Job returns a snapshot of job id.
func (n *Node) Job(id string) (Job, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	j, ok := n.jobs[id]
	if !ok {
		return Job{}, false
	}
	return j.snapshot(), true
}

// Jobs lists every fetch job of this run.
func (n *Node) Jobs() []Job {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]Job, 0, len(n.jobs))
	for _, j := range n.jobs {
		out = append(out, j.snapshot())
	}
	slices.SortFunc(out, func(a, b Job) int { return a.Started.Compare(b.Started) })
	return out
}

func (j *Job) snapshot() Job {
	s := *j
	s.Providers = make(map[string]int64, len(j.Providers))
	for k, v := range j.Providers {
		s.Providers[k] = v
	}
	s.Dropped = make(map[string]string, len(j.Dropped))
	for k, v := range j.Dropped {
		s.Dropped[k] = v
	}
	s.Problems = slices.Clone(j.Problems)
	return s
}

// Wait waits until job id ends and returns its final state.
func (n *Node) Wait(ctx context.Context, id string) (Job, error) {
	n.mu.Lock()
	j, ok := n.jobs[id]
	n.mu.Unlock()
	if !ok {
		return Job{}, fmt.Errorf("fetch job %s: not found", id)
	}
	select {
	case <-j.done:
	case <-ctx.Done():
		return Job{}, ctx.Err()
	}
	s, _ := n.Job(id)
	return s, nil
}

// runFetch downloads the files of e the store lacks, from the publisher,
// DHT providers of the manifest and its files, and peers that hold copies,
// in up to three rounds of provider discovery; then it checks the dataset
// ([cohort.CheckDataset]) and provides it (this node becomes a mirror).
func (n *Node) runFetch(ctx context.Context, j *Job, e cohort.Entry) error {
	m := e.Manifest
	var files []p2p.File
	for _, f := range m.Files() {
		// Naming the manifest lets a provider that holds the same file under
		// another dataset count this fetch under the right one, or decline.
		pf := p2p.File{CID: f.CID, Size: f.Size, ChunkSize: f.ChunkSize, Manifest: e.CID}
		for _, d := range f.Chunks {
			var dg [32]byte
			copy(dg[:], d)
			pf.Digests = append(pf.Digests, dg)
		}
		files = append(files, pf)
	}
	n.mu.Lock()
	j.Files = len(files)
	for _, f := range files {
		j.TotalBytes += f.Size
		j.TotalChunks += f.Chunks()
	}
	n.mu.Unlock()
	sink := &storeSink{st: n.store, recv: map[cid.Cid]*cohort.Receiver{}}
	bad := map[peer.ID]bool{}
	var last error
	for round := range 3 {
		if len(n.store.Missing(m)) == 0 {
			break // everything is held already (or arrived): just verify
		}
		if round > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(round) * time.Second):
			}
		}
		provs := n.providers(ctx, e, bad)
		if len(provs) == 0 {
			last = p2p.ErrNoProviders
			continue
		}
		res, err := p2p.Fetch(ctx, n.host.Host, sink, files, provs, p2p.FetchConfig{
			Logger: n.log,
			Progress: func(p p2p.Progress) {
				n.mu.Lock()
				j.Bytes, j.Chunks = p.Bytes, p.Chunks
				n.mu.Unlock()
			},
		})
		n.mu.Lock()
		for id, ps := range res.Providers {
			j.Providers[id.String()] += ps.Bytes
			if ps.Dropped != nil {
				j.Dropped[id.String()] = ps.Dropped.Error()
				if errors.Is(ps.Dropped, p2p.ErrBadChunk) || errors.Is(ps.Dropped, p2p.ErrCIDMismatch) {
					bad[id] = true
				}
			}
		}
		n.mu.Unlock()
		if err == nil {
			last = nil
			break
		}
		last = err
		if ctx.Err() != nil {
			return err
		}
	}
	if last != nil {
		return last
	}
	// Every file entered the store hashed (chunk by chunk against a chain
	// ending in its CID, or at import): check the rest without reading the
	// bytes again.
	probs, err := cohort.CheckDataset(ctx, n.store, e.CID)
	if err != nil {
		return err
	}
	if len(probs) > 0 {
		n.mu.Lock()
		for _, p := range probs {
			j.Problems = append(j.Problems, p.String())
		}
		n.mu.Unlock()
		return fmt.Errorf("fetched dataset does not verify: %s", probs[0])
	}
	n.mu.Lock()
	j.Bytes, j.Chunks = j.TotalBytes, j.TotalChunks
	n.mu.Unlock()
	if err := n.refreshCatalog(); err != nil {
		return err
	}
	n.provide(e.CID, m)
	return nil
}

// providers lists peers to fetch e from: the publisher, DHT providers of the
// manifest and of its first file, and connected members (who answer "not
// found" when they hold nothing), minus this node and known bad providers.
func (n *Node) providers(ctx context.Context, e cohort.Entry, bad map[peer.ID]bool) []peer.ID {
	seen := map[peer.ID]bool{n.self: true}
	var out []peer.ID
	add := func(id peer.ID) {
		if seen[id] || bad[id] || !n.cons.Load().IsMember(id) {
			return
		}
		seen[id] = true
		out = append(out, id)
	}
	if pub, err := peer.Decode(e.Manifest.Publisher.PeerID); err == nil {
		add(pub)
	}
	for _, id := range n.host.Network().Peers() {
		add(id)
	}
	// The DHT finds mirrors beyond the peers already known. A lookup for a
	// count it cannot reach runs to its deadline, long when the routing table
	// holds peers that went away, so it gets a short one when known peers can
	// start the fetch anyway.
	wait := 5 * time.Second
	if len(out) > 0 {
		wait = time.Second
	}
	fctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	lookups := []cid.Cid{e.CID}
	if fs := e.Manifest.Files(); len(fs) > 0 {
		lookups = append(lookups, fs[0].CID)
	}
	found := make([][]peer.AddrInfo, len(lookups))
	var wg sync.WaitGroup
	for i, c := range lookups {
		wg.Go(func() { found[i] = n.host.FindProviders(fctx, c, 10) })
	}
	wg.Wait()
	for _, ais := range found {
		for _, ai := range ais {
			n.host.Peerstore().AddAddrs(ai.ID, ai.Addrs, time.Hour)
			add(ai.ID)
		}
	}
	// Reachable ones only: Fetch drops the others after a few failures anyway,
	// but dialling first keeps a stopped publisher from slowing the start.
	ok := make([]bool, len(out))
	for i, id := range out {
		wg.Go(func() {
			dctx, c := context.WithTimeout(ctx, 3*time.Second)
			defer c()
			ok[i] = n.host.Connect(dctx, peer.AddrInfo{ID: id, Addrs: n.host.Peerstore().Addrs(id)}) == nil
		})
	}
	wg.Wait()
	var live []peer.ID
	for i, id := range out {
		if ok[i] {
			live = append(live, id)
		}
	}
	return live
}

// storeSink writes fetched chunks through the store's verifying receivers.
type storeSink struct {
	st   *cohort.Store
	mu   sync.Mutex
	recv map[cid.Cid]*cohort.Receiver
}

var _ p2p.ChunkSink = (*storeSink)(nil)

func (s *storeSink) Begin(ctx context.Context, f *p2p.File) ([]bool, error) {
	want := cohort.Hashes{Size: f.Size, ChunkSize: f.ChunkSize}
	dg, err := cohort.FileDigest(f.CID)
	if err != nil {
		return nil, err
	}
	want.Sum = dg
	for _, d := range f.Digests {
		want.Chunks = append(want.Chunks, cohort.Digest(d))
	}
	r, err := s.st.Receive(ctx, f.CID, want)
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
	if old := s.recv[f.CID]; old != nil {
		old.Close()
	}
	s.recv[f.CID] = r
	s.mu.Unlock()
	return have, nil
}

func (s *storeSink) get(c cid.Cid) (*cohort.Receiver, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.recv[c]
	if r == nil {
		return nil, fmt.Errorf("file %s: not begun", c)
	}
	return r, nil
}

func (s *storeSink) WriteChunk(_ context.Context, c cid.Cid, index int, data []byte) error {
	r, err := s.get(c)
	if err != nil {
		return err
	}
	return r.WriteChunk(index, data)
}

func (s *storeSink) Commit(ctx context.Context, c cid.Cid) error {
	r, err := s.get(c)
	if err != nil {
		return err
	}
	err = r.Commit(ctx)
	s.mu.Lock()
	delete(s.recv, c)
	s.mu.Unlock()
	return errors.Join(err, r.Close())
}

func (s *storeSink) Abort(c cid.Cid) error {
	s.mu.Lock()
	r := s.recv[c]
	delete(s.recv, c)
	s.mu.Unlock()
	if r == nil {
		return nil
	}
	return r.Close()
}
