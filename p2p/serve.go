package p2p

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// ChunkSource is what a node serves chunks from: files by CID.
type ChunkSource interface {
	// Size returns the size of file, or an error wrapping [ErrNotFound].
	Size(ctx context.Context, file cid.Cid) (int64, error)
	// ReadAt reads len(p) bytes of file from offset off, like io.ReaderAt.
	ReadAt(ctx context.Context, file cid.Cid, p []byte, off int64) (int, error)
}

// ErrNotFound is returned by a [ChunkSource] for a file it does not hold; the
// requester is told so and asks another provider.
var ErrNotFound = errors.New("file not found")

// Authorizer decides whether peer may have bytes of file. It is asked for
// every chunk request, so a revoke or an expiry applies at the next request.
// A non-nil error refuses the request and closes the stream; one wrapping
// [ErrNotFound] answers "not found" instead, and the stream stays open. The
// error's text is not sent to the peer.
type Authorizer interface {
	Authorize(ctx context.Context, p peer.ID, file cid.Cid) error
}

// ManifestAuthorizer is an [Authorizer] that is also told which dataset
// version the requester fetches the file for: the manifest CID its request
// names, or cid.Undef when it names none. When [ServerConfig.Authorize]
// implements it, the server asks AuthorizeManifest instead of Authorize and
// counts the request in the session of the key it returns, ignoring
// [ServerConfig.SessionKey] (a key that is not a manifest, such as the file
// CID, counts by file).
//
// The key should be a manifest this node published or holds that lists the
// file: the named one, or for a request naming none one of this node's own.
// A request naming a manifest the node cannot vouch for (it does not list
// the file, or the node neither published nor holds it) should be refused,
// with an error wrapping [ErrNotFound] to tell the requester to ask another
// provider; so an access record never names a dataset version the serving
// node did not serve, such as another member's dataset that happens to
// share a file with its own.
type ManifestAuthorizer interface {
	Authorizer
	AuthorizeManifest(ctx context.Context, p peer.ID, file, manifest cid.Cid) (key cid.Cid, err error)
}

// AuthorizerFunc adapts a function to [Authorizer].
type AuthorizerFunc func(ctx context.Context, p peer.ID, file cid.Cid) error

// Authorize calls f.
func (f AuthorizerFunc) Authorize(ctx context.Context, p peer.ID, file cid.Cid) error {
	return f(ctx, p, file)
}

// Session is what one requester fetched of one dataset (or file) in one fetch
// session: the material of an `access` ledger entry.
type Session struct {
	Requester peer.ID
	// Key is what the session counts: [ServerConfig.SessionKey] of the files
	// requested (the manifest CID), or the file CID itself.
	Key    cid.Cid
	Files  []cid.Cid // files served, in first-request order
	Chunks int64     // chunks served
	Bytes  int64     // bytes served
	Denied int64     // requests refused by the access check
	Start  time.Time // first request
	Last   time.Time // last request
	// Requests is the sha256 of the requests served, in order: for each,
	// the file CID's bytes and the chunk index as 8 bytes big-endian. A
	// requester that logged its own requests can recompute it.
	Requests [sha256.Size]byte
}

// session is a [Session] being counted.
type session struct {
	Session
	requests hash.Hash
}

// Accounting receives every fetch session when it ends.
type Accounting interface {
	SessionEnded(Session)
}

// AccountingFunc adapts a function to [Accounting].
type AccountingFunc func(Session)

// SessionEnded calls f.
func (f AccountingFunc) SessionEnded(s Session) { f(s) }

// ServerConfig configures a [ChunkServer]. Source is required.
type ServerConfig struct {
	Source ChunkSource
	// Authorize is asked for every request; nil refuses every request.
	Authorize Authorizer
	// Accounting receives ended sessions; nil drops them.
	Accounting Accounting
	// SessionKey maps a file to what sessions are counted by (its manifest
	// CID). Nil counts by file. It should not block. It is not used when
	// Authorize is a [ManifestAuthorizer], which knows the manifest the
	// request names.
	SessionKey func(file cid.Cid) cid.Cid
	// IdleTimeout ends a session after this long without requests (default 60 s).
	IdleTimeout time.Duration
	// RequestTimeout bounds reading a request and writing its chunk
	// (default 60 s); a stream idle longer between requests is closed.
	RequestTimeout time.Duration
	// Metrics counts served and refused requests; nil counts nothing.
	Metrics *Metrics
	// Logger receives operational messages; nil discards them.
	Logger *slog.Logger
}

// ChunkServer answers the chunk protocol on a host.
type ChunkServer struct {
	h    host.Host
	cfg  ServerConfig
	log  *slog.Logger
	bufs sync.Pool

	mu       sync.Mutex
	sessions map[sessionID]*session
	closed   bool
	stop     chan struct{}
	done     chan struct{}
}

type sessionID struct {
	p   peer.ID
	key cid.Cid
}

// NewChunkServer starts serving [ChunkProtocol] on h. Close stops it.
func NewChunkServer(h host.Host, cfg ServerConfig) (*ChunkServer, error) {
	if cfg.Source == nil {
		return nil, errors.New("p2p: chunk server: no source")
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 60 * time.Second
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 60 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &ChunkServer{
		h: h, cfg: cfg, log: log,
		sessions: make(map[sessionID]*session),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	go s.expire()
	h.SetStreamHandler(ChunkProtocol, s.handle)
	return s, nil
}

// Close stops serving and ends every open session.
func (s *ChunkServer) Close() error {
	s.h.RemoveStreamHandler(ChunkProtocol)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	close(s.stop)
	<-s.done
	s.endSessions(time.Time{})
	return nil
}

func (s *ChunkServer) expire() {
	defer close(s.done)
	t := time.NewTicker(max(s.cfg.IdleTimeout/4, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			s.endSessions(now.Add(-s.cfg.IdleTimeout))
		}
	}
}

// endSessions hands every session idle since before cutoff (all of them for
// the zero time) to Accounting.
func (s *ChunkServer) endSessions(cutoff time.Time) {
	var ended []Session
	s.mu.Lock()
	for id, ses := range s.sessions {
		if cutoff.IsZero() || ses.Last.Before(cutoff) {
			ses.requests.Sum(ses.Requests[:0])
			ended = append(ended, ses.Session)
			delete(s.sessions, id)
		}
	}
	s.mu.Unlock()
	for _, ses := range ended {
		s.cfg.Metrics.sessionEnded()
		if s.cfg.Accounting != nil {
			s.cfg.Accounting.SessionEnded(ses)
		}
	}
}

// count adds one request's outcome to the session of key.
func (s *ChunkServer) count(p peer.ID, key, file cid.Cid, index uint64, bytes int, denied bool) {
	if !key.Defined() {
		key = file
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	id := sessionID{p, key}
	ses := s.sessions[id]
	if ses == nil {
		ses = &session{Session: Session{Requester: p, Key: key, Start: now}, requests: sha256.New()}
		s.sessions[id] = ses
	}
	ses.Last = now
	if denied {
		ses.Denied++
		s.cfg.Metrics.refusedRequest()
		return
	}
	s.cfg.Metrics.served(bytes)
	ses.Chunks++
	ses.Bytes += int64(bytes)
	ses.requests.Write(file.Bytes())
	ses.requests.Write(binary.BigEndian.AppendUint64(nil, index))
	if n := len(ses.Files); n == 0 || ses.Files[n-1] != file {
		found := false
		for _, f := range ses.Files {
			if f == file {
				found = true
				break
			}
		}
		if !found {
			ses.Files = append(ses.Files, file)
		}
	}
}

func (s *ChunkServer) buffer(n int) *[]byte {
	if b, ok := s.bufs.Get().(*[]byte); ok && cap(*b) >= n {
		*b = (*b)[:n]
		return b
	}
	b := make([]byte, n)
	return &b
}

// handle serves requests on one stream until the requester closes it, a
// request is malformed, or the deadline passes.
func (s *ChunkServer) handle(st network.Stream) {
	p := st.Conn().RemotePeer()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-s.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	r := bufio.NewReaderSize(st, 512)
	var hdr []byte
	for {
		_ = st.SetDeadline(time.Now().Add(s.cfg.RequestTimeout))
		req, err := readRequest(r)
		if err == io.EOF {
			_ = st.Close()
			return
		}
		if err != nil {
			s.log.Debug("p2p: chunk: bad request", "peer", p, "err", err)
			_ = st.Reset()
			return
		}
		hdr = hdr[:0]
		key, err := s.cfg.authorize(ctx, p, req)
		if errors.Is(err, ErrNotFound) {
			s.log.Debug("p2p: chunk: not served for that manifest", "peer", p, "file", req.File, "manifest", req.Manifest, "err", err)
			if _, err := st.Write(appendError(hdr, statusNotFound, "file not held here for that manifest")); err != nil {
				_ = st.Reset()
				return
			}
			continue
		}
		if err != nil {
			s.log.Info("p2p: chunk: request refused", "peer", p, "file", req.File, "err", err)
			s.count(p, key, req.File, req.Index, 0, true)
			_, _ = st.Write(appendError(hdr, statusDenied, "access denied"))
			_ = st.Close()
			return
		}
		size, err := s.cfg.Source.Size(ctx, req.File)
		if err != nil {
			st2, reason := statusInternal, "cannot read file"
			if errors.Is(err, ErrNotFound) {
				st2, reason = statusNotFound, "file not held here"
			} else {
				s.log.Warn("p2p: chunk: size", "file", req.File, "err", err)
			}
			if _, err := st.Write(appendError(hdr, st2, reason)); err != nil {
				_ = st.Reset()
				return
			}
			continue
		}
		off := req.Index * req.Size
		if req.Index >= (1<<63)/req.Size || off >= uint64(size) {
			if _, err := st.Write(appendError(hdr, statusBadRequest, fmt.Sprintf("chunk %d of %d bytes is past the end of the file", req.Index, req.Size))); err != nil {
				_ = st.Reset()
				return
			}
			continue
		}
		n := int(min(req.Size, uint64(size)-off))
		// The first piece is read before the header goes out, so a file
		// that cannot be read gets an answer; later failures reset.
		buf := s.buffer(piece)
		first := (*buf)[:min(n, piece)]
		if _, err := s.cfg.Source.ReadAt(ctx, req.File, first, int64(off)); err != nil {
			s.bufs.Put(buf)
			s.log.Warn("p2p: chunk: read", "file", req.File, "chunk", req.Index, "err", err)
			if _, err := st.Write(appendError(hdr, statusInternal, "cannot read file")); err != nil {
				_ = st.Reset()
				return
			}
			continue
		}
		err = s.send(ctx, st, req.File, appendOKHeader(hdr, n), first, int64(off), n, *buf)
		s.bufs.Put(buf)
		if err != nil {
			s.log.Debug("p2p: chunk: send", "peer", p, "file", req.File, "chunk", req.Index, "err", err)
			_ = st.Reset()
			return
		}
		s.count(p, key, req.File, req.Index, n, false)
	}
}

// send writes the response header and the n bytes of a chunk at off, in
// pieces read while the previous one is on its way: first is the first
// piece, already read; buf holds the others.
func (s *ChunkServer) send(ctx context.Context, st network.Stream, file cid.Cid, hdr, first []byte, off int64, n int, buf []byte) error {
	if _, err := st.Write(hdr); err != nil {
		return err
	}
	if _, err := st.Write(first); err != nil {
		return err
	}
	for p := len(first); p < n; p += piece {
		q := buf[:min(piece, n-p)]
		if _, err := s.cfg.Source.ReadAt(ctx, file, q, off+int64(p)); err != nil {
			return fmt.Errorf("read: %w", err)
		}
		if _, err := st.Write(q); err != nil {
			return err
		}
	}
	return nil
}

// authorize asks the access policy about req and returns the session key it
// is counted under. Only a [ManifestAuthorizer] can vouch that the file
// belongs to the manifest a request names; otherwise the name is ignored.
func (c *ServerConfig) authorize(ctx context.Context, p peer.ID, req chunkRequest) (cid.Cid, error) {
	if c.Authorize == nil {
		return req.File, errors.New("no access policy installed")
	}
	if ma, ok := c.Authorize.(ManifestAuthorizer); ok {
		key, err := ma.AuthorizeManifest(ctx, p, req.File, req.Manifest)
		if err != nil {
			return req.File, err
		}
		return key, nil
	}
	key := req.File
	if c.SessionKey != nil {
		key = c.SessionKey(req.File)
	}
	return key, c.Authorize.Authorize(ctx, p, req.File)
}
