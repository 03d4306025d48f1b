package p2p

import (
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	libp2phttp "github.com/libp2p/go-libp2p/p2p/http"
)

// MaxHTTPBody caps the request body of handlers served with
// [Host.HandleHTTP].
const MaxHTTPBody = 8 << 20

// httpState is HTTP over libp2p streams, started on first use.
type httpState struct {
	once sync.Once
	h    *libp2phttp.Host
	done chan struct{}
	// client serializes NamespacedClient: go-libp2p's p2p/http creates its
	// peer-metadata cache lazily without a lock, so concurrent first
	// clients race (the race detector saw it with a fan-out to several peers).
	client sync.Mutex
}

func (h *Host) httpHost() *libp2phttp.Host {
	s := &h.http
	s.once.Do(func() {
		s.h = &libp2phttp.Host{StreamHost: h.Host}
		s.done = make(chan struct{})
		go func() {
			defer close(s.done)
			if err := s.h.Serve(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				h.log.Warn("p2p: http over libp2p stopped", "err", err)
			}
		}()
	})
	return s.h
}

func (h *Host) closeHTTP() {
	s := &h.http
	s.once.Do(func() {}) // after Close, nothing starts it
	if s.h == nil {
		return
	}
	_ = s.h.Close()
	<-s.done
}

// HandleHTTP serves handler to members over libp2p streams under the
// protocol id proto (e.g. "/cohortnet/ledger/1"), with request paths as the
// handler expects them. The ledger's and witnesses' HTTP handlers work over
// the network this way, without an HTTP port. [RequestPeer] tells a handler
// who is asking. Request bodies are capped at [MaxHTTPBody].
func (h *Host) HandleHTTP(proto protocol.ID, handler http.Handler) {
	h.httpHost().SetHTTPHandler(proto, http.MaxBytesHandler(handler, MaxHTTPBody))
}

// HTTPClient returns a client for the handler that server serves under
// proto: request URLs are paths ("/checkpoint") relative to it.
func (h *Host) HTTPClient(proto protocol.ID, server peer.ID) (*http.Client, error) {
	hh := h.httpHost()
	h.http.client.Lock()
	c, err := hh.NamespacedClient(proto, peer.AddrInfo{ID: server})
	h.http.client.Unlock()
	if err != nil {
		return nil, fmt.Errorf("p2p: http client for %s at %s: %w", proto, server, err)
	}
	return &c, nil
}

// RequestPeer is the authenticated peer that sent r to a handler served with
// [Host.HandleHTTP].
func RequestPeer(r *http.Request) peer.ID { return libp2phttp.ClientPeerID(r) }
