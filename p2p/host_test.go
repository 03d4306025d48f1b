package p2p

import (
	"context"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// onlyTransport keeps the addresses of one transport ("tcp" or "quic-v1").
func onlyTransport(t *testing.T, ai peer.AddrInfo, code int) peer.AddrInfo {
	t.Helper()
	out := peer.AddrInfo{ID: ai.ID}
	for _, a := range ai.Addrs {
		if _, err := a.ValueForProtocol(code); err == nil {
			out.Addrs = append(out.Addrs, a)
		}
	}
	if len(out.Addrs) == 0 {
		t.Fatalf("no address with protocol %d in %v", code, ai.Addrs)
	}
	return out
}

func TestMembersOnly(t *testing.T) {
	a := testHost(t, nil)
	for _, tc := range []struct {
		name  string
		proto int
	}{
		{"tcp", ma.P_TCP},
		{"quic", ma.P_QUIC_V1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The outsider would admit a; a does not admit the outsider.
			out := testHost(t, func(c *Config) {
				c.Identity = outsiderKey(t)
				c.Members = NewMemberSet(a.ID())
			})
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			out.Peerstore().RemovePeer(a.ID())
			if err := out.Connect(ctx, onlyTransport(t, a.AddrInfo(), tc.proto)); err == nil {
				// The dialer may see the handshake complete before the
				// listener's gater closes the connection.
				if !eventually(10*time.Second, func() bool { return out.Network().Connectedness(a.ID()) != network.Connected }) {
					t.Fatal("outsider stayed connected to a member")
				}
			}
			if got := a.Network().Connectedness(out.ID()); got == network.Connected {
				t.Fatalf("member sees the outsider as %v", got)
			}
			if err := a.Connect(ctx, onlyTransport(t, out.AddrInfo(), tc.proto)); err == nil {
				t.Fatal("member dialled an outsider")
			}
			if n := len(a.Network().ConnsToPeer(out.ID())); n != 0 {
				t.Fatalf("%d connections between a member and an outsider", n)
			}
		})
	}
}

func TestSetMembersAdmitsAndCutsOff(t *testing.T) {
	a := testHost(t, nil)
	newcomer := testHost(t, func(c *Config) { c.Identity = outsiderKey(t) })
	newcomer.SetMembers(NewMemberSet(a.ID()))
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := newcomer.Connect(ctx, a.AddrInfo()); err == nil &&
		!eventually(10*time.Second, func() bool { return newcomer.Network().Connectedness(a.ID()) != network.Connected }) {
		t.Fatal("connected before the new configuration")
	}

	// A new configuration adds the newcomer: no restart needed.
	withNewcomer := NewMemberSet(newcomer.ID())
	for id := range members.snapshot() {
		withNewcomer[id] = struct{}{}
	}
	a.SetMembers(withNewcomer)
	newcomer.Network().Peerstore().RemovePeer(a.ID())
	if err := newcomer.Connect(ctx, a.AddrInfo()); err != nil {
		t.Fatalf("newcomer cannot connect after the update: %v", err)
	}
	if !eventually(10*time.Second, func() bool { return a.Network().Connectedness(newcomer.ID()) == network.Connected }) {
		t.Fatal("member does not see the newcomer")
	}

	// The next configuration removes it again: it is cut off at once.
	a.SetMembers(members)
	if !eventually(10*time.Second, func() bool { return a.Network().Connectedness(newcomer.ID()) != network.Connected }) {
		t.Fatal("removed member is still connected")
	}
	if err := newcomer.Connect(ctx, a.AddrInfo()); err == nil &&
		!eventually(10*time.Second, func() bool { return newcomer.Network().Connectedness(a.ID()) != network.Connected }) {
		t.Fatal("removed member reconnected")
	}
}
