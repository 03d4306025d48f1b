package node

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/cohortnet/cohortnet/ledger"
)

// LedgerProtocol serves a node's verified copy of the ledger read-only over
// HTTP on libp2p streams, in the tlog-tiles layout (GET /checkpoint,
// /tile/..., /tile/entries/...): what ledger.Mirror.Handler serves. Every
// node with a mirror serves it, so members keep mirroring while the
// operator's HTTP address is unreachable: whatever a peer sends is verified
// (operator signature, witness quorum, entries hashing to the root) as if it
// came from the operator.
const LedgerProtocol = "/cohortnet/ledger/1.0.0"

// fallbackSource reads the log from the operator over HTTP and, when that
// fails, from a connected member's mirror over libp2p. Tiles and bundles are
// read from the source the last checkpoint came from.
type fallbackSource struct {
	n       *Node
	primary ledger.Source

	mu  sync.Mutex
	cur ledger.Source
}

var _ ledger.Source = (*fallbackSource)(nil)

func (s *fallbackSource) ReadCheckpoint(ctx context.Context) ([]byte, error) {
	cp, err := s.primary.ReadCheckpoint(ctx)
	if err == nil {
		s.set(s.primary)
		return cp, nil
	}
	if s.n.host == nil {
		return nil, err
	}
	errs := []error{fmt.Errorf("operator: %w", err)}
	for _, id := range s.n.host.Network().Peers() {
		if !s.n.cons.Load().IsMember(id) {
			continue
		}
		hc, herr := s.n.host.HTTPClient(LedgerProtocol, id)
		if herr != nil {
			continue
		}
		src, herr := ledger.HTTPSource("/", hc)
		if herr != nil {
			continue
		}
		cp, perr := src.ReadCheckpoint(ctx)
		if perr != nil {
			errs = append(errs, fmt.Errorf("peer %s: %w", id, perr))
			continue
		}
		s.set(src)
		return cp, nil
	}
	return nil, errors.Join(errs...)
}

func (s *fallbackSource) set(src ledger.Source) {
	s.mu.Lock()
	s.cur = src
	s.mu.Unlock()
}

func (s *fallbackSource) source() ledger.Source {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil {
		return s.primary
	}
	return s.cur
}

func (s *fallbackSource) ReadTile(ctx context.Context, level, index uint64, p uint8) ([]byte, error) {
	return s.source().ReadTile(ctx, level, index, p)
}

func (s *fallbackSource) ReadEntryBundle(ctx context.Context, index uint64, p uint8) ([]byte, error) {
	return s.source().ReadEntryBundle(ctx, index, p)
}
