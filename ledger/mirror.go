package ledger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	flog "github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/tessera/api/layout"
	"github.com/transparency-dev/tessera/client"

	"github.com/cohortnet/cohortnet/internal/datadir"
)

// Source is where a log's checkpoint, tiles and entry bundles come from: the
// operator over HTTP ([HTTPSource]), a directory ([DirSource]), or a peer.
// A missing resource is an error wrapping os.ErrNotExist.
type Source interface {
	ReadCheckpoint(ctx context.Context) ([]byte, error)
	ReadTile(ctx context.Context, level, index uint64, p uint8) ([]byte, error)
	ReadEntryBundle(ctx context.Context, index uint64, p uint8) ([]byte, error)
}

// DirSource reads a tlog-tiles directory (an operator's log or a mirror).
func DirSource(dir string) Source { return client.FileFetcher{Root: dir} }

// HTTPSource reads a log served at base URL u. If hc is nil, http.DefaultClient.
func HTTPSource(u string, hc *http.Client) (Source, error) {
	base, err := url.Parse(strings.TrimSuffix(u, "/") + "/")
	if err != nil {
		return nil, fmt.Errorf("ledger: log URL %q: %w", u, err)
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	return httpSource{base, hc}, nil
}

type httpSource struct {
	base *url.URL
	hc   *http.Client
}

// maxResource caps a fetched tile or bundle: a full bundle of the largest entries.
const maxResource = tileWidth*(MaxEntrySize+2) + 1

func (s httpSource) get(ctx context.Context, p string) ([]byte, error) {
	u := s.base.JoinPath(p).String()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", u, err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return nil, fmt.Errorf("get %s: %w", u, os.ErrNotExist)
	default:
		return nil, fmt.Errorf("get %s: %s", u, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResource))
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", u, err)
	}
	if len(b) == maxResource {
		return nil, fmt.Errorf("get %s: larger than %d bytes", u, maxResource-1)
	}
	return b, nil
}

func (s httpSource) ReadCheckpoint(ctx context.Context) ([]byte, error) {
	return s.get(ctx, layout.CheckpointPath)
}

func (s httpSource) ReadTile(ctx context.Context, l, i uint64, p uint8) ([]byte, error) {
	return partialOrFull(ctx, p, func(ctx context.Context, p uint8) ([]byte, error) { return s.get(ctx, layout.TilePath(l, i, p)) })
}

func (s httpSource) ReadEntryBundle(ctx context.Context, i uint64, p uint8) ([]byte, error) {
	return partialOrFull(ctx, p, func(ctx context.Context, p uint8) ([]byte, error) { return s.get(ctx, layout.EntriesPath(i, p)) })
}

// partialOrFull reads a partial resource, falling back to the full one when
// the log has grown and its partial was collected.
func partialOrFull(ctx context.Context, p uint8, f func(context.Context, uint8) ([]byte, error)) ([]byte, error) {
	b, err := f(ctx, p)
	if p > 0 && errors.Is(err, os.ErrNotExist) {
		full, err := f(ctx, 0)
		if err != nil {
			return nil, err
		}
		return full, nil
	}
	return b, err
}

// MirrorConfig configures a [Mirror].
type MirrorConfig struct {
	Dir       string    // the verified copy, in tlog-tiles layout, e.g. <data>/ledger/mirror
	Source    Source    // where the log comes from
	Verifiers Verifiers // whose signatures make a checkpoint count
	Logger    *slog.Logger
}

// Mirror keeps a verified copy of the log: every new checkpoint must carry
// the operator's signature and the witness quorum, the new entries must be
// well-formed and signed by their authors, and the entries must hash to the
// checkpoint's root, which, since the entries it already had stay, proves the
// new checkpoint consistent with the last one it saw. A rolled-back
// checkpoint, or one of the same size with another root, is refused with
// [ErrInconsistent].
type Mirror struct {
	cfg MirrorConfig
	log *slog.Logger

	mu    sync.RWMutex
	tree  *tree
	tail  [][]byte // entries of the last, partial bundle
	state *State
	cp    []byte
	floor *flog.Checkpoint // a checkpoint seen before the copy was lost
}

// NewMirror opens the verified copy in cfg.Dir (creating it), re-deriving its
// tree from its entries. A copy that no longer matches its checkpoint is
// discarded and fetched again.
func NewMirror(ctx context.Context, cfg MirrorConfig) (*Mirror, error) {
	lg := cfg.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("ledger: mirror: %w", err)
	}
	m := &Mirror{cfg: cfg, log: lg, tree: newTree(), state: NewState()}
	if err := m.load(ctx); err != nil {
		lg.Warn("ledger: mirror copy is unusable; starting again", "dir", cfg.Dir, "err", err)
		// Start from nothing in memory; the next update fetches the log
		// again and rewrites the files (another process may be using them).
		// A local checkpoint that still verifies stays a floor the log must
		// extend.
		m.tree, m.tail, m.state, m.cp = newTree(), nil, NewState(), nil
		if raw, err := os.ReadFile(filepath.Join(cfg.Dir, layout.CheckpointPath)); err == nil {
			if cp, _, err := cfg.Verifiers.OpenCheckpoint(raw); err == nil {
				m.floor = cp
			}
		}
	}
	return m, nil
}

func (m *Mirror) load(ctx context.Context) error {
	raw, err := os.ReadFile(filepath.Join(m.cfg.Dir, layout.CheckpointPath))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	cp, _, err := m.cfg.Verifiers.OpenCheckpoint(raw)
	if err != nil {
		return err
	}
	src := DirSource(m.cfg.Dir)
	var i uint64
	for enc, err := range readEntries(ctx, src.ReadEntryBundle, 0, cp.Size, cp.Size) {
		if err != nil {
			return err
		}
		e, err := Unmarshal(enc)
		if err != nil {
			return fmt.Errorf("entry %d: %w", i, err)
		}
		m.tree.append(LeafHash(enc))
		m.state.Apply(i, e, enc)
		m.pushTail(enc)
		i++
	}
	if !bytes.Equal(m.tree.root(), cp.Hash) {
		return fmt.Errorf("local entries do not hash to the local checkpoint's root")
	}
	m.cp = raw
	return nil
}

func (m *Mirror) pushTail(enc []byte) {
	if len(m.tail) == tileWidth {
		m.tail = nil
	}
	m.tail = append(m.tail, enc)
}

// Checkpoint returns the last verified checkpoint (nil before the first update).
func (m *Mirror) Checkpoint() []byte {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.cp
}

// Size is the number of verified entries.
func (m *Mirror) Size() uint64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.tree.size()
}

// State answers questions about the verified entries.
func (m *Mirror) State() *State {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.state
}

// Update fetches the source's checkpoint and the entries it adds, verifies
// them and extends the copy. It returns the new checkpoint.
func (m *Mirror) Update(ctx context.Context) (*flog.Checkpoint, error) {
	raw, err := m.cfg.Source.ReadCheckpoint(ctx)
	if err != nil {
		return nil, fmt.Errorf("ledger: mirror: read checkpoint: %w", err)
	}
	cp, _, err := m.cfg.Verifiers.OpenCheckpoint(raw)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.floor != nil && m.floor.Size > cp.Size {
		return nil, fmt.Errorf("%w: the log went back from size %d to %d", ErrInconsistent, m.floor.Size, cp.Size)
	}
	old := m.tree.size()
	switch {
	case cp.Size < old:
		return nil, fmt.Errorf("%w: the log went back from size %d to %d", ErrInconsistent, old, cp.Size)
	case cp.Size == old:
		if !bytes.Equal(cp.Hash, m.tree.root()) {
			return nil, fmt.Errorf("%w: a checkpoint of size %d with another root than the one already seen: the log forked", ErrInconsistent, old)
		}
		return cp, m.saveCheckpoint(raw)
	}
	// Fetch and verify the new entries, writing their bundles ahead of the
	// copy's checkpoint (files past it are not part of the copy) and keeping
	// only their leaf hashes in memory; the tree and the state take them once
	// they hash to the checkpoint's root.
	rng := m.tree.rng
	staged, err := rangeFactory.NewRange(rng.Begin(), rng.End(), append([][]byte(nil), rng.Hashes()...))
	if err != nil {
		return nil, err
	}
	var leaves [][]byte
	bundleIndex := old / tileWidth
	var bundle [][]byte
	if old%tileWidth != 0 {
		bundle = append(bundle, m.tail...)
	}
	i := old
	for enc, err := range readEntries(ctx, m.cfg.Source.ReadEntryBundle, old, cp.Size, cp.Size) {
		if err != nil {
			return nil, fmt.Errorf("ledger: mirror: %w", err)
		}
		e, err := Unmarshal(enc)
		if err != nil {
			return nil, fmt.Errorf("ledger: mirror: entry %d: %w", i, err)
		}
		if err := e.Verify(); err != nil {
			return nil, fmt.Errorf("ledger: mirror: entry %d: %w", i, err)
		}
		h := LeafHash(enc)
		if err := staged.Append(h, nil); err != nil {
			return nil, err
		}
		leaves = append(leaves, h)
		bundle = append(bundle, enc)
		i++
		if len(bundle) == tileWidth || i == cp.Size {
			if err := m.write(bundlePath(bundleIndex, len(bundle)), marshalBundle(bundle)); err != nil {
				return nil, err
			}
			bundleIndex++
			bundle = nil
		}
	}
	if i != cp.Size {
		return nil, fmt.Errorf("ledger: mirror: the log served %d entries up to %d, its checkpoint says %d", i-old, i, cp.Size)
	}
	root, err := staged.GetRootHash(nil)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(root, cp.Hash) {
		return nil, fmt.Errorf("%w: entries %d..%d do not hash to the root of the checkpoint of size %d (altered entries, or a checkpoint not extending the one seen)", ErrInconsistent, old, cp.Size-1, cp.Size)
	}
	// Extend the copy: the tree and the state (reading the verified bundles
	// back), the tiles, then the checkpoint that makes them part of it.
	if f := m.floor; f != nil {
		if f.Size > cp.Size {
			return nil, fmt.Errorf("%w: the log went back from size %d to %d", ErrInconsistent, f.Size, cp.Size)
		}
		fr := rangeFactory.NewEmptyRange(0)
		for _, h := range append(append([][]byte(nil), m.tree.levels[0]...), leaves...)[:f.Size] {
			_ = fr.Append(h, nil)
		}
		if r, _ := fr.GetRootHash(nil); f.Size > 0 && !bytes.Equal(r, f.Hash) {
			return nil, fmt.Errorf("%w: the checkpoint of size %d seen before is not a prefix of the log", ErrInconsistent, f.Size)
		}
	}
	for _, h := range leaves {
		m.tree.append(h)
	}
	m.floor = nil
	k := old
	for enc, err := range readEntries(ctx, DirSource(m.cfg.Dir).ReadEntryBundle, old, cp.Size, cp.Size) {
		var e *Entry
		if err == nil {
			e, err = Unmarshal(enc)
		}
		if err != nil {
			// The copy on disk is still the old one (its checkpoint was not
			// replaced): start again from it.
			m.tree, m.tail, m.state, m.cp = newTree(), nil, NewState(), nil
			if lerr := m.load(ctx); lerr != nil {
				m.log.Error("ledger: mirror copy unusable", "err", lerr)
			}
			return nil, fmt.Errorf("ledger: mirror: read back entry %d: %w", k, err)
		}
		m.state.Apply(k, e, enc)
		m.pushTail(bytes.Clone(enc))
		k++
	}
	for _, t := range m.tree.tiles(old) {
		if err := m.write(t.path(), m.tree.tileData(t)); err != nil {
			return nil, err
		}
	}
	if err := m.saveCheckpoint(raw); err != nil {
		return nil, err
	}
	m.log.Debug("ledger: mirror updated", "from", old, "to", cp.Size)
	return cp, nil
}

func (m *Mirror) write(p string, b []byte) error {
	full := filepath.Join(m.cfg.Dir, filepath.FromSlash(p))
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		return fmt.Errorf("ledger: mirror: %w", err)
	}
	// Temp and rename, so a reader (the CLI beside a running node) never sees
	// half a file. No fsync: the checkpoint, written last with one, is what
	// makes the files part of the copy, and a copy that does not match its
	// checkpoint after a crash is fetched again.
	f, err := os.CreateTemp(filepath.Dir(full), ".tmp-*")
	if err != nil {
		return fmt.Errorf("ledger: mirror: %w", err)
	}
	_, werr := f.Write(b)
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("ledger: mirror: %w", err)
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("ledger: mirror: %w", err)
	}
	if err := os.Rename(f.Name(), full); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("ledger: mirror: %w", err)
	}
	return nil
}

func (m *Mirror) saveCheckpoint(raw []byte) error {
	if err := datadir.WriteFileAtomic(filepath.Join(m.cfg.Dir, layout.CheckpointPath), raw, 0o644); err != nil {
		return fmt.Errorf("ledger: mirror: save checkpoint: %w", err)
	}
	m.cp = raw
	return nil
}

// Compare checks a checkpoint heard from elsewhere (a peer's gossip) against
// the verified copy: if it is signed by the operator and no larger than the
// copy, its root must be the copy's root at that size. A mismatch is a split
// view: the operator showed different histories to different members.
// Larger checkpoints are left to [Mirror.Update].
func (m *Mirror) Compare(raw []byte) error {
	v := m.cfg.Verifiers
	v.Quorum = 0
	cp, _, err := v.OpenCheckpoint(raw)
	if err != nil {
		return err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if cp.Size > m.tree.size() {
		return nil
	}
	if !bytes.Equal(m.tree.rootAt(cp.Size), cp.Hash) {
		return fmt.Errorf("%w: a checkpoint of size %d with another root than this copy's: split view", ErrInconsistent, cp.Size)
	}
	return nil
}

// Entries yields the verified entries in log order, each with its Index set.
func (m *Mirror) Entries(ctx context.Context) iter.Seq2[Entry, error] {
	size := m.Size()
	return func(yield func(Entry, error) bool) {
		i := uint64(0)
		for enc, err := range readEntries(ctx, DirSource(m.cfg.Dir).ReadEntryBundle, 0, size, size) {
			if err != nil {
				yield(Entry{}, fmt.Errorf("ledger: mirror: %w", err))
				return
			}
			e, err := Unmarshal(enc)
			if err != nil {
				yield(Entry{}, fmt.Errorf("ledger: mirror: entry %d: %w", i, err))
				return
			}
			e.Index = i
			if !yield(*e, nil) {
				return
			}
			i++
		}
	}
}

// Prove returns the commitment of entry index against the copy's checkpoint.
func (m *Mirror) Prove(ctx context.Context, index uint64) (*Commitment, error) {
	m.mu.RLock()
	cp, size := m.cp, m.tree.size()
	m.mu.RUnlock()
	if index >= size {
		return nil, fmt.Errorf("ledger: entry %d is beyond the verified size %d", index, size)
	}
	src := DirSource(m.cfg.Dir)
	var enc []byte
	for b, err := range readEntries(ctx, src.ReadEntryBundle, index, index+1, size) {
		if err != nil {
			return nil, fmt.Errorf("ledger: read entry %d: %w", index, err)
		}
		enc = b
	}
	pb, err := client.NewProofBuilder(ctx, size, src.ReadTile)
	if err != nil {
		return nil, fmt.Errorf("ledger: prove entry %d: %w", index, err)
	}
	p, err := pb.InclusionProof(ctx, index)
	if err != nil {
		return nil, fmt.Errorf("ledger: prove entry %d: %w", index, err)
	}
	return &Commitment{Index: index, Entry: enc, Checkpoint: string(cp), Proof: p}, nil
}

// Handler serves the verified copy read-only in the tlog-tiles layout, so a
// mirror can stand in for the operator for readers.
func (m *Mirror) Handler() http.Handler { return TilesHandler(m.cfg.Dir) }

// LiveGrant reports whether grantee held a live grant of dataset at time t,
// according to the verified copy (see [State.LiveGrant]).
func (m *Mirror) LiveGrant(dataset string, grantee peer.ID, t time.Time) bool {
	return m.State().LiveGrant(dataset, grantee, t)
}

// LatestPublish returns the highest non-retracted version of dataset in the
// verified copy.
func (m *Mirror) LatestPublish(dataset string) (Publication, bool) {
	return m.State().LatestPublish(dataset)
}

// Requested reports whether member filed an access request for dataset
// (what the registered tier asks for).
func (m *Mirror) Requested(dataset string, member peer.ID) bool {
	return m.State().Requested(dataset, member)
}

// Retracted reports whether the verified copy holds a retraction of manifest.
func (m *Mirror) Retracted(manifest cid.Cid) bool { return m.State().Retracted(manifest) }

// Run updates the copy every interval until ctx is done. Failures are logged;
// a log that contradicts the copy ([ErrInconsistent]) is logged as an error
// and reported to onInconsistent, if set, every time it is seen.
func (m *Mirror) Run(ctx context.Context, interval time.Duration, onInconsistent func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := m.Update(ctx); err != nil && ctx.Err() == nil {
			if errors.Is(err, ErrInconsistent) {
				m.log.Error("ledger: LOG INCONSISTENCY: the operator's log contradicts what this node verified before", "err", err)
				if onInconsistent != nil {
					onInconsistent(err)
				}
			} else {
				m.log.Warn("ledger: mirror update failed", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
