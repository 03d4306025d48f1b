package node

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"

	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/multiformats/go-multiaddr"

	"github.com/cohortnet/cohortnet/consortium"
	"github.com/cohortnet/cohortnet/ledger"
)

// Ledger exchanges served over HTTP on libp2p streams besides the roles' HTTP
// addresses, with the very handlers those addresses serve (ledgerd hands
// them over), so the body cap and deadlines are the same.
const (
	// SubmitProtocol carries entry submission to the ledger operator: POST
	// /add-entry with a signed entry, answered with its commitment. Served
	// by a node with the ledger role.
	SubmitProtocol = "/cohortnet/ledger-submit/1.0.0"
	// WitnessProtocol carries the tlog-witness exchange: POST
	// /add-checkpoint. Served by a node with the witness role.
	WitnessProtocol = "/cohortnet/witness/1.0.0"
)

// roleHandlers keeps the ledger roles' handlers until the host serves them.
type roleHandlers struct {
	mu sync.Mutex
	h  map[string]http.Handler
}

func (r *roleHandlers) set(role string, h http.Handler) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.h == nil {
		r.h = make(map[string]http.Handler)
	}
	r.h[role] = h
}

func (r *roleHandlers) get(role string) http.Handler {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.h[role]
}

// only serves the single route method+path of h; anything else is 404.
// The operator's handler also serves its tiles, which LedgerProtocol
// already carries verified: the submit protocol is for submission alone.
func only(method, path string, h http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle(method+" "+path, h)
	return mux
}

// serveLedgerRoles serves the operator's submission and the witness's
// add-checkpoint over libp2p, for the roles this node runs.
func (n *Node) serveLedgerRoles() {
	if h := n.roleH.get("ledger"); h != nil {
		n.host.HandleHTTP(SubmitProtocol, only(http.MethodPost, "/add-entry", h))
	}
	if h := n.roleH.get("witness"); h != nil {
		n.host.HandleHTTP(WitnessProtocol, only(http.MethodPost, "/add-checkpoint", h))
	}
}

// submitEncoded sends a signed entry to the operator. The operator's HTTP
// address comes first; when the request cannot be carried there (a
// transport error: the address is unreachable, refuses connections, times
// out), the entry goes to the operator's peer over libp2p (SubmitProtocol)
// and the answer is verified the same way. A refusal or an error status from
// the operator is returned as is, never retried over the other path.
//
// A transport error after the operator received the entry (a lost answer)
// can make it record the same signed entry twice; readers see the same
// entry, signature and timestamp at two indexes.
func (n *Node) submitEncoded(ctx context.Context, c *ledger.Client, op *consortium.Ledger, enc []byte) (*ledger.Commitment, error) {
	cm, err := c.Submit(ctx, enc)
	var uerr *url.Error
	if err == nil || !errors.As(err, &uerr) || n.host == nil || op.Peer == "" || ctx.Err() != nil {
		return cm, err
	}
	// The operator's listed libp2p addresses help when it is not connected.
	for _, a := range op.Addrs {
		if ma, merr := multiaddr.NewMultiaddr(a); merr == nil {
			n.host.Peerstore().AddAddr(op.Peer, ma, peerstore.TempAddrTTL)
		}
	}
	hc, herr := n.host.HTTPClient(SubmitProtocol, op.Peer)
	if herr != nil {
		return nil, errors.Join(err, herr)
	}
	p2pc := &ledger.Client{URL: "/", HTTPClient: hc, Verifiers: c.Verifiers}
	cm, perr := p2pc.Submit(ctx, enc)
	if perr != nil {
		return nil, errors.Join(err, fmt.Errorf("node: submit over libp2p to %s: %w", op.Peer, perr))
	}
	n.log.Info("entry submitted over libp2p; the operator's HTTP address is unreachable", "operator", op.Peer)
	return cm, nil
}
