package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/cohortnet/cohortnet/node"
	"github.com/cohortnet/cohortnet/p2p"
	"github.com/cohortnet/cohortnet/query"
)

// aeProtocol is the demo's adverse-event request between nodes, over HTTP
// on libp2p streams: POST a query.SignalConfig as JSON to "/ae", get the
// hospital's signed query.AEAnswer. Package node federates
// structured aggregates (node.AggregateProtocol) but not yet adverse-event
// counts; this is the demo's stand-in until it does.
const aeProtocol = "/cohortnet/demo/ae/1"

// serveAE answers the agency's adverse-event requests on a hospital's node
// from the datasets it published; the node's answerer records each release
// in the ledger.
func serveAE(n *node.Node) {
	n.Host().HandleHTTP(aeProtocol, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/ae" {
			http.Error(w, "POST /ae", http.StatusNotFound)
			return
		}
		var cfg query.SignalConfig
		if err := json.NewDecoder(r.Body).Decode(&cfg); err != nil {
			http.Error(w, "bad request: "+err.Error(), http.StatusBadRequest)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Minute)
		defer cancel()
		a, err := n.Answerer(ctx)
		if err != nil {
			http.Error(w, "cannot answer: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		ans, err := a.AnswerAE(ctx, p2p.RequestPeer(r).String(), cfg)
		if err != nil {
			http.Error(w, "cannot answer: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(ans)
	}))
}

// askAE asks one hospital's node for its adverse-event counts.
func askAE(ctx context.Context, from *node.Node, h *participant, cfg query.SignalConfig) (*query.AEAnswer, error) {
	hc, err := from.Host().HTTPClient(aeProtocol, h.id)
	if err != nil {
		return nil, err
	}
	body, _ := json.Marshal(cfg)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "/ae", bytesReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("ask %s: %w", h.short, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b := make([]byte, 512)
		n, _ := resp.Body.Read(b)
		return nil, fmt.Errorf("ask %s: %s: %s", h.short, resp.Status, b[:n])
	}
	a := &query.AEAnswer{}
	if err := json.NewDecoder(http.MaxBytesReader(nil, resp.Body, 64<<20)).Decode(a); err != nil {
		return nil, fmt.Errorf("answer of %s: %w", h.short, err)
	}
	if err := a.Verify(); err != nil {
		return nil, err
	}
	if a.Peer != h.id.String() {
		return nil, fmt.Errorf("answer of %s signed by %s", h.short, a.Peer)
	}
	return a, nil
}
