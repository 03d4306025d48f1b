package p2p

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// FetchConfig tunes [Fetch]. The zero value works.
type FetchConfig struct {
	// StreamsPerProvider is the number of chunk requests in flight to each
	// provider (default 2).
	StreamsPerProvider int
	// RequestTimeout bounds one chunk request (default 60 s).
	RequestTimeout time.Duration
	// MaxFailures is how many transport failures in a row drop a provider
	// (default 3). A provider that sends bad bytes or refuses is dropped at once.
	MaxFailures int
	// Progress, if set, is called after every chunk written, one call at a time.
	Progress func(Progress)
	// Metrics counts fetched chunks and dropped providers; nil counts nothing.
	Metrics *Metrics
	// Logger receives operational messages; nil discards them.
	Logger *slog.Logger
}

// Progress is a fetch's state after a chunk was written.
type Progress struct {
	Bytes, TotalBytes   int64 // verified bytes held, including resumed ones
	Chunks, TotalChunks int
}

// FetchResult says what a fetch did.
type FetchResult struct {
	Bytes     int64 // bytes transferred and written in this run
	Resumed   int64 // bytes the sink already held
	Providers map[peer.ID]ProviderStats
}

// ProviderStats is what one provider contributed to a fetch.
type ProviderStats struct {
	Chunks  int
	Bytes   int64
	Dropped error // why the provider was dropped; nil if it was not
}

// Errors of [Fetch]. A fetch that fails with ErrNoProviders can be resumed by
// calling Fetch again with other providers and the same sink.
var (
	ErrNoProviders = errors.New("no provider left to fetch from")
	ErrBadChunk    = errors.New("chunk does not match its digest")
	ErrRefused     = errors.New("provider refused the request")
)

// Fetch downloads files from providers into sink: chunks are requested in
// parallel from every provider, each is checked against its digest before it
// is written, and a file is committed once all its chunks are in. A provider
// that sends bad bytes or refuses a request is dropped and its chunks go to
// the others; one that fails repeatedly (stopped, unreachable) is dropped too.
// Chunks the sink already holds are not fetched again (resume).
//
// The host must be able to reach the providers (connected, or addresses in
// its peerstore).
func Fetch(ctx context.Context, h host.Host, sink ChunkSink, files []File, providers []peer.ID, cfg FetchConfig) (FetchResult, error) {
	if cfg.StreamsPerProvider <= 0 {
		cfg.StreamsPerProvider = 2
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 60 * time.Second
	}
	if cfg.MaxFailures <= 0 {
		cfg.MaxFailures = 3
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &fetch{h: h, sink: sink, cfg: cfg, log: log, allDone: make(chan struct{})}
	f.ctx, f.cancel = context.WithCancelCause(ctx)
	defer f.cancel(nil)
	res := FetchResult{Providers: make(map[peer.ID]ProviderStats)}

	var total int
	var maxChunk int64
	for i := range files {
		if err := files[i].Check(); err != nil {
			return res, fmt.Errorf("p2p: fetch: %w", err)
		}
		total += files[i].Chunks()
		maxChunk = max(maxChunk, files[i].ChunkSize)
	}
	f.queue = make(chan job, total)
	f.maxChunk = maxChunk
	var begun []*fetchFile
	defer func() {
		for _, ff := range begun {
			if !ff.committed.Load() {
				_ = sink.Abort(ff.desc.CID)
			}
		}
	}()
	for i := range files {
		ff := &fetchFile{desc: &files[i]}
		have, err := sink.Begin(ctx, ff.desc)
		if err != nil {
			return res, fmt.Errorf("p2p: fetch: %w", err)
		}
		begun = append(begun, ff)
		f.progress.TotalBytes += ff.desc.Size
		f.progress.TotalChunks += ff.desc.Chunks()
		var missing int64
		for i, ok := range have {
			if ok {
				f.progress.Chunks++
				f.progress.Bytes += ff.desc.chunkLen(i)
				res.Resumed += ff.desc.chunkLen(i)
				continue
			}
			missing++
			f.queue <- job{ff, i}
		}
		ff.remaining.Store(missing)
		f.remaining.Add(missing)
		if missing == 0 {
			if err := ff.commit(ctx, sink); err != nil {
				return res, err
			}
		}
	}
	if f.remaining.Load() == 0 {
		return res, nil
	}

	var wg sync.WaitGroup
	var provs []*provider
	seen := make(map[peer.ID]bool)
	for _, id := range providers {
		if id == h.ID() || seen[id] {
			continue
		}
		seen[id] = true
		p := &provider{id: id, metrics: cfg.Metrics}
		p.ctx, p.cancel = context.WithCancel(f.ctx)
		provs = append(provs, p)
		for range cfg.StreamsPerProvider {
			wg.Go(func() { f.worker(p) })
		}
	}
	workersDone := make(chan struct{})
	go func() { wg.Wait(); close(workersDone) }()
	select {
	case <-f.allDone:
	case <-workersDone:
	}
	f.cancel(nil)
	<-workersDone

	for _, p := range provs {
		p.cancel()
		res.Providers[p.id] = ProviderStats{Chunks: p.chunks, Bytes: p.bytes, Dropped: p.dropped}
		res.Bytes += p.bytes
	}
	if e := f.fatal.Load(); e != nil {
		return res, *e
	}
	if f.remaining.Load() == 0 {
		return res, nil
	}
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("p2p: fetch: %w", err)
	}
	var errs []error
	for _, p := range provs {
		if p.dropped != nil {
			errs = append(errs, fmt.Errorf("provider %s: %w", p.id, p.dropped))
		}
	}
	return res, fmt.Errorf("p2p: fetch: %d chunks missing: %w", f.remaining.Load(), errors.Join(append([]error{ErrNoProviders}, errs...)...))
}

type fetch struct {
	h        host.Host
	sink     ChunkSink
	cfg      FetchConfig
	log      *slog.Logger
	ctx      context.Context
	cancel   context.CancelCauseFunc
	queue    chan job
	maxChunk int64

	remaining atomic.Int64
	doneOnce  sync.Once
	allDone   chan struct{}
	fatal     atomic.Pointer[error]

	progMu   sync.Mutex
	progress Progress
}

type fetchFile struct {
	desc      *File
	remaining atomic.Int64
	committed atomic.Bool
}

func (ff *fetchFile) commit(ctx context.Context, sink ChunkSink) error {
	if err := sink.Commit(ctx, ff.desc.CID); err != nil {
		return fmt.Errorf("p2p: fetch: commit: %w", err)
	}
	ff.committed.Store(true)
	return nil
}

type job struct {
	f *fetchFile
	i int
}

// provider is one peer's state in a fetch. Its counters are guarded by mu.
type provider struct {
	id     peer.ID
	ctx    context.Context // cancelled when the provider is dropped
	cancel context.CancelFunc

	metrics *Metrics

	mu       sync.Mutex
	failures int
	chunks   int
	bytes    int64
	dropped  error
}

// drop takes the provider out of the fetch; reason labels the metric.
func (p *provider) drop(err error, reason string) {
	p.mu.Lock()
	first := p.dropped == nil
	if first {
		p.dropped = err
	}
	p.mu.Unlock()
	if first {
		p.metrics.providerDropped(reason)
	}
	p.cancel()
}

// fail counts a transport failure and reports whether the provider is now
// dropped.
func (p *provider) fail(err error, limit int) bool {
	p.mu.Lock()
	p.failures++
	n := p.failures
	p.mu.Unlock()
	if n >= limit {
		p.drop(fmt.Errorf("%d failures in a row, last: %w", n, err), "failures")
		return true
	}
	return false
}

func (f *fetch) setFatal(err error) {
	f.fatal.CompareAndSwap(nil, &err)
	f.cancel(err)
}

func (f *fetch) requeue(j job) { f.queue <- j }

// pipelineDepth is how many requests a worker keeps in flight on its stream:
// the provider sends the next chunk while this one is verified and written.
const pipelineDepth = 2

// worker fetches chunks from one provider over one stream at a time, with
// up to [pipelineDepth] requests in flight.
func (f *fetch) worker(p *provider) {
	buf := make([]byte, f.maxChunk)
	var (
		st       network.Stream
		r        *bufio.Reader
		unreg    func() bool
		inflight []job
		scratch  []byte
	)
	closeStream := func(reset bool) {
		if st == nil {
			return
		}
		unreg()
		if reset {
			_ = st.Reset()
		} else {
			_ = st.Close()
		}
		st = nil
	}
	// fail puts back the chunks in flight, resets the stream and decides
	// whether the provider stays; it reports whether the worker goes on.
	fail := func(err error) bool {
		for _, j := range inflight {
			f.requeue(j)
		}
		inflight = inflight[:0]
		closeStream(true)
		if p.ctx.Err() != nil {
			return false
		}
		if errors.Is(err, ErrRefused) || errors.Is(err, ErrBadChunk) {
			f.log.Warn("p2p: fetch: dropping provider", "peer", p.id, "err", err)
			reason := "refused"
			if errors.Is(err, ErrBadChunk) {
				reason = "bad_chunk"
			}
			p.drop(err, reason)
			return false
		}
		if p.fail(err, f.cfg.MaxFailures) {
			f.log.Warn("p2p: fetch: dropping provider", "peer", p.id, "err", err)
			return false
		}
		f.backoff(p)
		return true
	}
	defer func() {
		for _, j := range inflight {
			f.requeue(j)
		}
		closeStream(len(inflight) > 0)
	}()
	for {
		// Fill the pipeline: wait for a first job, take more if there are.
		for len(inflight) < pipelineDepth {
			// The stream comes first: a job must not wait on a dial to a
			// provider that may be gone while others could serve it.
			if st == nil && !f.open(p, &st, &r, &unreg) {
				if p.ctx.Err() != nil {
					return
				}
				f.backoff(p)
				continue
			}
			var j job
			if len(inflight) == 0 {
				select {
				case <-p.ctx.Done():
					return
				case <-f.allDone:
					return
				case j = <-f.queue:
				}
			} else {
				select {
				case j = <-f.queue:
				default:
				}
				if j.f == nil {
					break
				}
			}
			inflight = append(inflight, j)
			d := j.f.desc
			scratch = chunkRequest{File: d.CID, Index: uint64(j.i), Size: uint64(d.ChunkSize), Manifest: d.Manifest}.append(scratch[:0])
			_ = st.SetDeadline(time.Now().Add(f.cfg.RequestTimeout))
			if _, err := st.Write(scratch); err != nil {
				if !fail(fmt.Errorf("send request: %w", err)) {
					return
				}
			}
		}
		if len(inflight) == 0 {
			continue
		}
		j := inflight[0]
		_ = st.SetDeadline(time.Now().Add(f.cfg.RequestTimeout))
		data, err := f.readVerified(r, j, buf)
		if err != nil {
			if !fail(err) {
				return
			}
			continue
		}
		inflight = append(inflight[:0], inflight[1:]...)
		if err := f.sink.WriteChunk(f.ctx, j.f.desc.CID, j.i, data); err != nil {
			f.setFatal(fmt.Errorf("p2p: fetch: %w", err))
			return
		}
		p.mu.Lock()
		p.failures = 0
		p.chunks++
		p.bytes += int64(len(data))
		p.mu.Unlock()
		f.cfg.Metrics.fetched(len(data))
		f.report(len(data))
		if j.f.remaining.Add(-1) == 0 {
			if err := j.f.commit(f.ctx, f.sink); err != nil {
				f.setFatal(err)
				return
			}
		}
		if f.remaining.Add(-1) == 0 {
			f.doneOnce.Do(func() { close(f.allDone) })
		}
	}
}

// open opens a chunk stream to p. A provider we are no longer connected to
// and cannot dial (it stopped, or left the network) is dropped at once: the
// swarm has already tried each of its addresses. It reports success.
func (f *fetch) open(p *provider, st *network.Stream, r **bufio.Reader, unreg *func() bool) bool {
	connected := f.h.Network().Connectedness(p.id) == network.Connected
	sctx, cancel := context.WithTimeout(p.ctx, f.cfg.RequestTimeout)
	s, err := f.h.NewStream(sctx, p.id, ChunkProtocol)
	cancel()
	if err != nil {
		err = fmt.Errorf("open stream: %w", err)
		if p.ctx.Err() != nil {
			return false
		}
		if !connected {
			f.log.Warn("p2p: fetch: dropping unreachable provider", "peer", p.id, "err", err)
			p.drop(err, "unreachable")
			return false
		}
		p.fail(err, f.cfg.MaxFailures)
		return false
	}
	*st, *r = s, bufio.NewReaderSize(s, 64<<10)
	*unreg = context.AfterFunc(p.ctx, func() { _ = s.Reset() })
	return true
}

func (f *fetch) backoff(p *provider) {
	t := time.NewTimer(100 * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
	case <-p.ctx.Done():
	}
}

func (f *fetch) report(n int) {
	if f.cfg.Progress == nil {
		return
	}
	f.progMu.Lock()
	defer f.progMu.Unlock()
	f.progress.Bytes += int64(n)
	f.progress.Chunks++
	f.cfg.Progress(f.progress)
}

// readVerified reads the response to a request for chunk j into buf and
// checks it against its digest, continuing the file's SHA-256 from the
// digest of the chunk before and hashing each piece as it arrives, while it
// is in the CPU cache.
func (f *fetch) readVerified(r *bufio.Reader, j job, buf []byte) ([]byte, error) {
	d := j.f.desc
	hdr, err := readResponseHeader(r, MaxChunkSize)
	if err != nil {
		return nil, err
	}
	switch hdr.Status {
	case statusOK:
	case statusInternal:
		return nil, fmt.Errorf("file %s chunk %d: %s", d.CID, j.i, hdr.Status)
	default:
		return nil, fmt.Errorf("file %s chunk %d: %s: %w", d.CID, j.i, hdr.Status, ErrRefused)
	}
	want := d.chunkLen(j.i)
	if int64(hdr.Length) != want {
		return nil, fmt.Errorf("file %s chunk %d: %d bytes, want %d: %w", d.CID, j.i, hdr.Length, want, ErrBadChunk)
	}
	h, err := d.chunkHash(j.i)
	if err != nil {
		return nil, fmt.Errorf("file %s chunk %d: %w", d.CID, j.i, err)
	}
	data := buf[:want]
	for p := 0; p < len(data); p += piece {
		q := data[p:min(p+piece, len(data))]
		if _, err := io.ReadFull(r, q); err != nil {
			return nil, fmt.Errorf("file %s chunk %d: %w", d.CID, j.i, noEOF(err))
		}
		h.Write(q)
	}
	if !d.verify(h, j.i) {
		return nil, fmt.Errorf("file %s chunk %d: %w", d.CID, j.i, ErrBadChunk)
	}
	return data, nil
}
