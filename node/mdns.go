package node

import (
	"context"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"
)

// startMDNS advertises the node on the local network and dials members it
// finds there (Config.MDNS). The service name carries the consortium key, so
// two consortia on one LAN ignore each other.
func (n *Node) startMDNS() error {
	svc := mdns.NewMdnsService(n.host.Host, "cohortnet-"+n.cons.Load().Key.String(), mdnsNotifee{n})
	if err := svc.Start(); err != nil {
		return err
	}
	n.goLoop(func(ctx context.Context) {
		<-ctx.Done()
		svc.Close()
	})
	return nil
}

type mdnsNotifee struct{ n *Node }

// HandlePeerFound dials a member found on the LAN.
func (m mdnsNotifee) HandlePeerFound(ai peer.AddrInfo) {
	n := m.n
	if ai.ID == n.self || !n.cons.Load().IsMember(ai.ID) || len(n.host.Network().ConnsToPeer(ai.ID)) > 0 {
		return
	}
	if n.ctx.Err() != nil {
		return
	}
	n.goLoop(func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := n.host.Connect(ctx, ai); err != nil {
			n.log.Debug("mdns: member unreachable", "peer", ai.ID, "err", err)
		} else {
			n.log.Info("mdns: connected to a member on the local network", "peer", ai.ID)
		}
	})
}
