package node

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"

	"github.com/cohortnet/cohortnet/consortium"
	"github.com/cohortnet/cohortnet/p2p"
)

// witnessTransport carries the operator's requests to its witnesses: over
// their HTTP addresses first and, when a request fails in transport, over
// libp2p to the witness's peer (WitnessProtocol), with the path relative to
// the witness's base URL. Tessera's witness gateway takes the http.Client
// the ledger roles are given, so this is how add-checkpoint reaches a
// witness whose HTTP address is unreachable. Requests to other hosts, and
// requests whose body cannot be replayed, are not retried.
type witnessTransport struct {
	primary http.RoundTripper
	cons    func() *consortium.Config
	host    atomic.Pointer[p2p.Host] // set once the node's host runs
}

func (t *witnessTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.primary.RoundTrip(req)
	if err == nil {
		return resp, nil
	}
	h := t.host.Load()
	if h == nil || req.Context().Err() != nil || (req.Body != nil && req.GetBody == nil) {
		return nil, err
	}
	c := t.cons()
	if c == nil {
		return nil, err
	}
	for _, w := range c.Witnesses {
		base, perr := url.Parse(w.HTTP)
		if perr != nil || base.Host != req.URL.Host || base.Scheme != req.URL.Scheme {
			continue
		}
		rel := strings.TrimPrefix(req.URL.Path, strings.TrimSuffix(base.Path, "/"))
		if !strings.HasPrefix(rel, "/") {
			rel = "/" + rel
		}
		hc, herr := h.HTTPClient(WitnessProtocol, w.Peer)
		if herr != nil {
			return nil, errors.Join(err, herr)
		}
		r2 := req.Clone(req.Context())
		r2.URL = &url.URL{Path: rel, RawQuery: req.URL.RawQuery}
		r2.Host, r2.RequestURI = "", ""
		if req.Body != nil {
			if r2.Body, herr = req.GetBody(); herr != nil {
				return nil, errors.Join(err, herr)
			}
		}
		resp, perr := hc.Transport.RoundTrip(r2)
		if perr != nil {
			return nil, errors.Join(err, fmt.Errorf("node: witness %s over libp2p: %w", w.Name, perr))
		}
		return resp, nil
	}
	return nil, err
}
