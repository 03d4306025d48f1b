package p2p

import (
	"fmt"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
)

// Limits are the resource manager's explicit limits. Zero fields take the
// defaults named on each field; they are sized for a consortium of tens to a
// few hundred members, not for the open internet.
type Limits struct {
	// Memory libp2p may reserve for connections and streams (default 512 MiB).
	// Bulk transfers need about 16 MiB per busy stream for yamux windows.
	Memory int64
	// FD is the number of file descriptors for sockets (default 512).
	FD int
	// Conns is the number of connections in each direction (default 256).
	Conns int
	// StreamsPerPeer is the number of streams to or from one peer (default 256).
	StreamsPerPeer int
	// ChunkStreamsPerPeer is the number of concurrent chunk streams one peer
	// may open to us (default 16).
	ChunkStreamsPerPeer int
}

func (l Limits) withDefaults() Limits {
	if l.Memory <= 0 {
		l.Memory = 512 << 20
	}
	if l.FD <= 0 {
		l.FD = 512
	}
	if l.Conns <= 0 {
		l.Conns = 256
	}
	if l.StreamsPerPeer <= 0 {
		l.StreamsPerPeer = 256
	}
	if l.ChunkStreamsPerPeer <= 0 {
		l.ChunkStreamsPerPeer = 16
	}
	return l
}

// resourceManager builds a resource manager from libp2p's scaled defaults for
// its own services, overridden by the explicit system, peer and chunk
// protocol limits of l.
func (l Limits) resourceManager() (network.ResourceManager, error) {
	l = l.withDefaults()
	sc := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&sc)
	sc.AddProtocolPeerLimit(ChunkProtocol, rcmgr.BaseLimit{
		StreamsInbound:  l.ChunkStreamsPerPeer,
		StreamsOutbound: l.ChunkStreamsPerPeer,
		Streams:         2 * l.ChunkStreamsPerPeer,
		Memory:          int64(l.ChunkStreamsPerPeer) * 16 << 20,
	}, rcmgr.BaseLimitIncrease{})
	concrete := sc.Scale(l.Memory, l.FD)
	explicit := rcmgr.PartialLimitConfig{
		System: rcmgr.ResourceLimits{
			Conns:           rcmgr.LimitVal(2 * l.Conns),
			ConnsInbound:    rcmgr.LimitVal(l.Conns),
			ConnsOutbound:   rcmgr.LimitVal(l.Conns),
			Streams:         rcmgr.LimitVal(16 * l.Conns),
			StreamsInbound:  rcmgr.LimitVal(8 * l.Conns),
			StreamsOutbound: rcmgr.LimitVal(8 * l.Conns),
			FD:              rcmgr.LimitVal(l.FD),
			Memory:          rcmgr.LimitVal64(l.Memory),
		},
		PeerDefault: rcmgr.ResourceLimits{
			Streams:         rcmgr.LimitVal(l.StreamsPerPeer),
			StreamsInbound:  rcmgr.LimitVal(l.StreamsPerPeer),
			StreamsOutbound: rcmgr.LimitVal(l.StreamsPerPeer),
			Memory:          rcmgr.LimitVal64(min(l.Memory/2, 256<<20)),
		},
	}
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(explicit.Build(concrete)))
	if err != nil {
		return nil, fmt.Errorf("p2p: resource manager: %w", err)
	}
	return rm, nil
}
