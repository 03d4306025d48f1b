package p2p

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

func TestDiscoveryThroughDHT(t *testing.T) {
	boot := testHost(t, nil)
	withBoot := func(c *Config) { c.Bootstrap = []peer.AddrInfo{boot.AddrInfo()} }
	a, c, d := testHost(t, withBoot), testHost(t, withBoot), testHost(t, withBoot)
	for _, h := range []*Host{a, c, d} {
		if err := h.Bootstrap(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	// Routing tables fill as peers identify each other.
	if !eventually(10*time.Second, func() bool { return d.dht.RoutingTable().Size() > 0 && a.dht.RoutingTable().Size() > 0 }) {
		t.Fatal("routing tables stayed empty")
	}
	file := testCID(t, "dataset file")

	t.Run("provider records", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		if err := a.Provide(ctx, file); err != nil {
			t.Fatal(err)
		}
		var found []peer.ID
		eventually(10*time.Second, func() bool {
			fctx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			for _, ai := range d.FindProviders(fctx, file, 4) {
				found = append(found, ai.ID)
			}
			return slices.Contains(found, a.ID())
		})
		if !slices.Contains(found, a.ID()) {
			t.Fatalf("providers of %s: %v, want %s", file, found, a.ID())
		}
	})

	t.Run("peer routing", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		ai, err := d.FindPeer(ctx, c.ID())
		if err != nil {
			t.Fatal(err)
		}
		if len(ai.Addrs) == 0 {
			t.Fatal("no addresses found")
		}
	})

	t.Run("private protocol", func(t *testing.T) {
		protos, err := boot.Peerstore().GetProtocols(a.ID())
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(protos, "/cohortnet/test/kad/1.0.0") || slices.Contains(protos, "/ipfs/kad/1.0.0") {
			t.Fatalf("a speaks %v: want the consortium's DHT protocol only", protos)
		}
	})
}

func TestBootstrapUnreachable(t *testing.T) {
	gone := testHost(t, nil)
	ai := onlyTransport(t, gone.AddrInfo(), ma.P_TCP) // refused at once; QUIC would wait for a timeout
	gone.Close()
	h := testHost(t, func(c *Config) { c.Bootstrap = []peer.AddrInfo{ai} })
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	if err := h.Bootstrap(ctx); err == nil {
		t.Fatal("bootstrap succeeded with no reachable peer")
	}
}
