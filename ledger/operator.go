package ledger

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/api"
	"github.com/transparency-dev/tessera/client"
	"github.com/transparency-dev/tessera/storage/posix"

	"github.com/cohortnet/cohortnet/consortium"
)

// OperatorConfig configures an [Operator]. The zero value of every field but
// Dir, Key and Consortium works.
type OperatorConfig struct {
	Dir string         // the log's directory (tlog-tiles layout), e.g. <data>/ledger/log
	Key crypto.PrivKey // the operator's identity key; signs checkpoints
	// Consortium returns the current configuration. It is called for every
	// submission, so a newly installed version takes effect at once for
	// membership; the witnesses and quorum are read once, at start.
	Consortium func() *consortium.Config
	// HTTPClient reaches the witnesses. If nil, http.DefaultClient.
	HTTPClient *http.Client
	// Logger receives operational messages. If nil, they are discarded.
	Logger *slog.Logger

	BatchMaxSize       uint          // entries per batch; default 512
	BatchMaxAge        time.Duration // longest an entry waits for its batch; default 20ms
	CheckpointInterval time.Duration // between checkpoints; default 100ms (Tessera's minimum)
	WitnessTimeout     time.Duration // for the quorum to answer; default 10s
	// CommitTimeout is how long Submit waits for a cosigned checkpoint
	// covering an accepted entry before answering [ErrNotYetWitnessed];
	// default 30s.
	CommitTimeout time.Duration
	// MaxClockSkew is how far an entry's time may be from the operator's
	// clock; default 10 minutes.
	MaxClockSkew time.Duration
	// Now is the operator's clock. If nil, time.Now.
	Now func() time.Time
	// Check, if set, adds rules after the built-in ones ([State.Check]), such
	// as the query engine's privacy budget for release entries. It sees the
	// log's state; returning an error wrapping [ErrRefused] refuses the entry.
	Check func(e *Entry, s *State) error
}

// Operator runs the ledger: it accepts signed entries from consortium
// members, appends them to a Tessera POSIX log, has each checkpoint cosigned
// by the witness quorum before it is published, and answers each submission
// with a [Commitment].
type Operator struct {
	cfg      OperatorConfig
	log      *slog.Logger
	origin   string
	appender *tessera.Appender
	shutdown func(context.Context) error
	reader   tessera.LogReader
	awaiter  *tessera.PublicationAwaiter
	cancel   context.CancelFunc

	mu       sync.Mutex // orders Check+Add, so the state sees entries in log order
	state    *State
	pending  map[[32]byte]*pendingEntry // accepted, index not yet known
	inflight sync.WaitGroup             // one per pending entry
	failed   error                      // the log failed: refuse everything until a restart
	closed   bool

	tmu  sync.RWMutex
	tree *tree // integrated entries' hashes, for inclusion proofs
}

// NewOperator opens (or creates) the log in cfg.Dir and starts appending.
// Call [Operator.Close] to stop.
func NewOperator(ctx context.Context, cfg OperatorConfig) (*Operator, error) {
	if cfg.Dir == "" || cfg.Key == nil || cfg.Consortium == nil {
		return nil, errors.New("ledger: operator needs a directory, a key and a consortium configuration")
	}
	cfg.BatchMaxSize = cmp.Or(cfg.BatchMaxSize, 512)
	cfg.BatchMaxAge = cmp.Or(cfg.BatchMaxAge, 20*time.Millisecond)
	cfg.CheckpointInterval = cmp.Or(cfg.CheckpointInterval, 100*time.Millisecond)
	cfg.WitnessTimeout = cmp.Or(cfg.WitnessTimeout, 10*time.Second)
	cfg.MaxClockSkew = cmp.Or(cfg.MaxClockSkew, 10*time.Minute)
	cfg.CommitTimeout = cmp.Or(cfg.CommitTimeout, 30*time.Second)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = http.DefaultClient
	}
	lg := cfg.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	c := cfg.Consortium()
	if c == nil || c.Ledger == nil {
		return nil, consortium.ErrNoLedger
	}
	self, err := peer.IDFromPrivateKey(cfg.Key)
	if err != nil {
		return nil, fmt.Errorf("ledger: operator key: %w", err)
	}
	if self != c.Ledger.Peer {
		return nil, fmt.Errorf("ledger: this node (%s) is not the consortium's ledger operator (%s)", self, c.Ledger.Peer)
	}
	signer, err := consortium.NoteSigner(cfg.Key, c.Ledger.Origin)
	if err != nil {
		return nil, err
	}
	var group []tessera.Witness
	for _, w := range c.Witnesses {
		u, err := url.Parse(w.HTTP)
		if err != nil {
			return nil, fmt.Errorf("ledger: witness %s address %q: %w", w.Name, w.HTTP, err)
		}
		tw, err := tessera.NewWitness(w.Key, u)
		if err != nil {
			return nil, fmt.Errorf("ledger: witness %s: %w", w.Name, err)
		}
		group = append(group, tw)
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	actx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	driver, err := posix.New(actx, posix.Config{Path: cfg.Dir, HTTPClient: cfg.HTTPClient})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("ledger: open log %s: %w", cfg.Dir, err)
	}
	opts := tessera.NewAppendOptions().
		WithCheckpointSigner(signer).
		WithBatching(cfg.BatchMaxSize, cfg.BatchMaxAge).
		WithCheckpointInterval(cfg.CheckpointInterval).
		WithCheckpointRepublishInterval(0)
	if len(group) > 0 {
		opts = opts.WithWitnesses(witnessGroup(c.Quorum, group), &tessera.WitnessOptions{Timeout: cfg.WitnessTimeout})
	}
	app, shutdown, reader, err := tessera.NewAppender(actx, driver, opts)
	if err != nil {
		cancel()
		// Tessera publishes a witnessed checkpoint when it creates a log, so
		// a new log cannot start before its witness quorum answers. Its
		// error type is internal to Tessera: recognise it by its text.
		if strings.Contains(err.Error(), "witness policy was not satisfied") {
			return nil, fmt.Errorf("ledger: start log %s: %w: %v", cfg.Dir, ErrWitnessesUnreachable, err)
		}
		return nil, fmt.Errorf("ledger: start log %s: %w", cfg.Dir, err)
	}
	o := &Operator{
		cfg: cfg, log: lg, origin: c.Ledger.Origin,
		appender: app, shutdown: shutdown, reader: reader, cancel: cancel,
		awaiter: tessera.NewPublicationAwaiter(actx, reader.ReadCheckpoint, 10*time.Millisecond),
	}
	if err := o.rebuild(ctx); err != nil {
		cancel()
		return nil, err
	}
	lg.Info("ledger operator started", "origin", o.origin, "size", o.state.Size(), "witnesses", len(group), "quorum", c.Quorum)
	return o, nil
}

// witnessGroup builds a threshold group of the witnesses. (NewWitnessGroup
// takes an unexported component type, so the group is filled directly.)
func witnessGroup(quorum int, ws []tessera.Witness) tessera.WitnessGroup {
	g := tessera.WitnessGroup{N: quorum}
	for _, w := range ws {
		g.Components = append(g.Components, w)
	}
	return g
}

// rebuild reads every integrated entry of the log into a fresh state.
func (o *Operator) rebuild(ctx context.Context) error {
	size, err := o.reader.IntegratedSize(ctx)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("ledger: read log size: %w", err)
	}
	st := NewState()
	t := newTree()
	i := uint64(0)
	for raw, err := range readEntries(ctx, o.reader.ReadEntryBundle, 0, size, size) {
		if err != nil {
			return fmt.Errorf("ledger: rebuild state: %w", err)
		}
		e, err := Unmarshal(raw)
		if err != nil {
			return fmt.Errorf("ledger: rebuild state: entry %d: %w", i, err)
		}
		st.Apply(i, e, raw)
		t.append(LeafHash(raw))
		i++
	}
	o.state, o.pending = st, map[[32]byte]*pendingEntry{}
	o.tmu.Lock()
	o.tree = t
	o.tmu.Unlock()
	return nil
}

// readEntries yields the encoded entries [from, to) of a log of treeSize entries.
func readEntries(ctx context.Context, get client.EntryBundleFetcherFunc, from, to, treeSize uint64) func(func([]byte, error) bool) {
	return func(yield func([]byte, error) bool) {
		if to <= from {
			return
		}
		size := func(context.Context) (uint64, error) { return treeSize, nil }
		left := to - from
		for b, err := range client.EntryBundles(ctx, 2, size, get, from, to-from) {
			if err != nil {
				yield(nil, err)
				return
			}
			var eb api.EntryBundle
			if err := eb.UnmarshalText(b.Data); err != nil {
				yield(nil, fmt.Errorf("entry bundle %d: %w", b.RangeInfo.Index, err))
				return
			}
			if int(b.RangeInfo.First+b.RangeInfo.N) > len(eb.Entries) {
				yield(nil, fmt.Errorf("entry bundle %d has %d entries, want at least %d", b.RangeInfo.Index, len(eb.Entries), b.RangeInfo.First+b.RangeInfo.N))
				return
			}
			for _, raw := range eb.Entries[b.RangeInfo.First : b.RangeInfo.First+b.RangeInfo.N] {
				// client.EntryBundles (Tessera v1.0.4) may run past from+N,
				// so stop at to here.
				if left == 0 || !yield(raw, nil) {
					return
				}
				left--
			}
		}
	}
}

// State returns the operator's view of the log, including accepted entries
// not yet in a published checkpoint.
func (o *Operator) State() *State {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.state
}

// Origin is the log's checkpoint origin.
func (o *Operator) Origin() string { return o.origin }

// Reader reads the log's checkpoint, tiles and entry bundles.
func (o *Operator) Reader() tessera.LogReader { return o.reader }

// Submit accepts an encoded, signed entry and returns its commitment once the
// entry is in a checkpoint cosigned by the quorum. Submitting an entry that is
// already in the log returns its commitment again. Entries refused on their
// merits return an error wrapping [ErrRefused].
func (o *Operator) Submit(ctx context.Context, encoded []byte) (*Commitment, error) {
	e, err := Unmarshal(encoded)
	if err != nil {
		return nil, err
	}
	if err := e.Verify(); err != nil {
		return nil, err
	}
	key := entryKey(encoded)
	o.mu.Lock()
	if o.failed != nil || o.closed {
		err := o.failed
		if err == nil {
			err = errors.New("shutting down")
		}
		o.mu.Unlock()
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if i, ok := o.state.Lookup(encoded); ok {
		// A retry (after a lost answer, or a crash): the same commitment.
		p := o.pending[key]
		o.mu.Unlock()
		if p == nil {
			p = resolved(i)
		}
		return o.commit(ctx, encoded, p)
	}
	if skew := o.cfg.Now().Sub(e.Time); skew > o.cfg.MaxClockSkew || -skew > o.cfg.MaxClockSkew {
		o.mu.Unlock()
		return nil, refuse("entry time %s is more than %s from the operator's clock", e.Time.UTC().Format(time.RFC3339), o.cfg.MaxClockSkew)
	}
	err = o.state.Check(e, o.cfg.Consortium())
	if err == nil && o.cfg.Check != nil {
		err = o.cfg.Check(e, o.state)
	}
	if err != nil {
		o.mu.Unlock()
		return nil, err
	}
	future := o.appender.Add(context.WithoutCancel(ctx), tessera.NewEntry(encoded))
	o.state.Apply(pendingIndex, e, encoded)
	p := &pendingEntry{done: make(chan struct{})}
	o.pending[key] = p
	o.inflight.Add(1)
	o.mu.Unlock()
	go o.resolve(key, e, encoded, future, p)
	return o.commit(ctx, encoded, p)
}

// pendingEntry is an accepted entry waiting for its index.
type pendingEntry struct {
	done chan struct{} // closed when idx and err are set
	idx  uint64
	err  error
}

func resolved(i uint64) *pendingEntry {
	p := &pendingEntry{done: make(chan struct{}), idx: i}
	close(p.done)
	return p
}

// ErrNotYetWitnessed is returned when an accepted entry is in the log but no
// checkpoint cosigned by the quorum covers it yet (witnesses are slow or
// down). Submit the same entry again later to get its commitment.
var ErrNotYetWitnessed = errors.New("ledger: not yet witnessed")

// ErrUnavailable is returned while the operator cannot append (its log
// failed and it must be restarted, or it is shutting down). Try again later.
var ErrUnavailable = errors.New("ledger: operator unavailable")

// ErrWitnessesUnreachable means a new log could not publish its first
// checkpoint because too few witnesses cosigned it. Start the witnesses (or
// check their addresses in the consortium configuration) and try again.
var ErrWitnessesUnreachable = errors.New("ledger: the witness quorum did not cosign the log's first checkpoint")

// resolve records the index an accepted entry got, whoever waits for it.
func (o *Operator) resolve(key [32]byte, e *Entry, encoded []byte, future tessera.IndexFuture, p *pendingEntry) {
	defer o.inflight.Done()
	idx, err := future()
	p.idx, p.err = idx.Index, err
	close(p.done)
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.pending, key)
	if err != nil {
		// The entry may or may not be in the log, and the state assumed it
		// is: stop until a restart rebuilds the state from the log.
		if o.failed == nil {
			o.failed = err
			o.log.Error("ledger: append failed; refusing entries until restarted", "err", err)
		}
		return
	}
	o.state.setIndex(encoded, e, idx.Index)
}

// commit waits for the entry's index and a published checkpoint that covers
// it, and builds the commitment.
func (o *Operator) commit(ctx context.Context, encoded []byte, p *pendingEntry) (*Commitment, error) {
	wctx, cancel := context.WithTimeout(ctx, o.cfg.CommitTimeout)
	defer cancel()
	select {
	case <-p.done:
	case <-wctx.Done():
		if ctx.Err() != nil {
			return nil, fmt.Errorf("ledger: append: %w", ctx.Err())
		}
		return nil, fmt.Errorf("%w: the entry is accepted but not yet in the log; submit it again for its commitment", ErrNotYetWitnessed)
	}
	if p.err != nil {
		return nil, fmt.Errorf("ledger: append: %w", p.err)
	}
	known := func() (tessera.Index, error) { return tessera.Index{Index: p.idx}, nil }
	_, cp, err := o.awaiter.Await(wctx, known)
	if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		return nil, fmt.Errorf("%w: entry %d is in the log; submit it again for its commitment", ErrNotYetWitnessed, p.idx)
	}
	if err != nil {
		return nil, fmt.Errorf("ledger: append: %w", err)
	}
	return o.commitment(ctx, p.idx, encoded, cp)
}

// commitment builds the inclusion proof of index in checkpoint cp, from
// the in-memory tree, extended from the log's entry bundles when cp is
// newer than it.
func (o *Operator) commitment(ctx context.Context, index uint64, encoded, cp []byte) (*Commitment, error) {
	c, err := checkpointUnverified(cp)
	if err != nil {
		return nil, err
	}
	if err := o.extendTree(ctx, c.Size, c.Hash); err != nil {
		o.mu.Lock()
		if o.failed == nil {
			o.failed = err
		}
		o.mu.Unlock()
		return nil, err
	}
	o.tmu.RLock()
	p, err := o.tree.inclusion(index, c.Size)
	o.tmu.RUnlock()
	if err != nil {
		return nil, fmt.Errorf("ledger: proof for entry %d: %w", index, err)
	}
	return &Commitment{Index: index, Entry: encoded, Checkpoint: string(cp), Proof: p}, nil
}

// extendTree reads entries up to size into the tree and checks the root.
func (o *Operator) extendTree(ctx context.Context, size uint64, root []byte) error {
	o.tmu.RLock()
	have := o.tree.size()
	o.tmu.RUnlock()
	if have >= size {
		return nil
	}
	o.tmu.Lock()
	defer o.tmu.Unlock()
	from := o.tree.size()
	if from >= size {
		return nil
	}
	for raw, err := range readEntries(ctx, o.reader.ReadEntryBundle, from, size, size) {
		if err != nil {
			return fmt.Errorf("ledger: read entries %d..%d: %w", from, size-1, err)
		}
		o.tree.append(LeafHash(raw))
	}
	if o.tree.size() != size || !bytes.Equal(o.tree.root(), root) {
		err := fmt.Errorf("ledger: the log's entries do not hash to its checkpoint of size %d", size)
		o.log.Error("ledger: log damaged", "err", err)
		o.tree = newTree()
		return err
	}
	return nil
}

// Close stops accepting entries, waits until every accepted entry is in a
// published checkpoint, and stops the log.
func (o *Operator) Close(ctx context.Context) error {
	defer o.cancel()
	o.mu.Lock()
	o.closed = true
	o.mu.Unlock()
	// Tessera's shutdown only waits for entries whose index is known, so
	// first let every accepted entry get one.
	done := make(chan struct{})
	go func() { o.inflight.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("ledger: shut down log: %w", ctx.Err())
	}
	if err := o.shutdown(ctx); err != nil {
		return fmt.Errorf("ledger: shut down log: %w", err)
	}
	return nil
}

// Handler serves the log: GET checkpoint and tile/... (C2SP tlog-tiles, for
// anyone) and POST add-entry (a signed entry in the body; members only, by
// its signature). Mount it at the log's base URL.
func (o *Operator) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /", TilesHandler(o.cfg.Dir))
	mux.HandleFunc("POST /add-entry", o.serveAddEntry)
	return mux
}

func (o *Operator) serveAddEntry(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxEntrySize+1))
	if err != nil {
		http.Error(w, "entry too large", http.StatusRequestEntityTooLarge)
		return
	}
	c, err := o.Submit(r.Context(), body)
	if err != nil {
		writeSubmitError(w, err)
		return
	}
	writeJSON(w, c)
}

func writeSubmitError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, ErrRefused):
		http.Error(w, err.Error(), http.StatusForbidden)
	case errors.Is(err, ErrBadSignature), errors.Is(err, ErrUnsigned), isDecodeError(err):
		http.Error(w, err.Error(), http.StatusBadRequest)
	default:
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
	}
}

// TilesHandler serves a tlog-tiles directory read-only: checkpoint,
// tile/<L>/<N>[.p/<W>] and tile/entries/<N>[.p/<W>]; nothing else in it.
func TilesHandler(dir string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if len(p) > 0 && p[0] == '/' {
			p = p[1:]
		}
		if p != "checkpoint" && !validTilePath(p) {
			http.NotFound(w, r)
			return
		}
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(p)))
		if errors.Is(err, os.ErrNotExist) {
			http.NotFound(w, r)
			return
		}
		if err != nil {
			http.Error(w, "read failed", http.StatusInternalServerError)
			return
		}
		if p == "checkpoint" {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("Cache-Control", "no-cache")
		} else {
			w.Header().Set("Content-Type", "application/octet-stream")
			if !isPartial(p) {
				w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
			}
		}
		w.Write(b)
	})
}
