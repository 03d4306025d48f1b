package p2p

import (
	"sync/atomic"

	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// Members says which peers belong to the consortium. The node implements it
// from the installed consortium configuration; [MemberSet] is a fixed set.
type Members interface {
	IsMember(peer.ID) bool
}

// MemberSet is a fixed set of member peer ids.
type MemberSet map[peer.ID]struct{}

// NewMemberSet returns the set of ids.
func NewMemberSet(ids ...peer.ID) MemberSet {
	s := make(MemberSet, len(ids))
	for _, id := range ids {
		s[id] = struct{}{}
	}
	return s
}

// IsMember reports whether id is in the set.
func (s MemberSet) IsMember(id peer.ID) bool { _, ok := s[id]; return ok }

var _ Members = MemberSet(nil)

// memberGater admits connections only to and from members. The member set is
// swapped atomically, so a new consortium configuration applies to the next
// connection attempt; [Host.SetMembers] also closes connections to peers that
// are no longer members.
type memberGater struct {
	self    peer.ID
	members atomic.Pointer[Members]
}

var _ connmgr.ConnectionGater = (*memberGater)(nil)

func (g *memberGater) set(m Members) { g.members.Store(&m) }

func (g *memberGater) allowed(p peer.ID) bool {
	if p == g.self {
		return true
	}
	m := g.members.Load()
	return m != nil && *m != nil && (*m).IsMember(p)
}

func (g *memberGater) InterceptPeerDial(p peer.ID) bool                 { return g.allowed(p) }
func (g *memberGater) InterceptAddrDial(p peer.ID, _ ma.Multiaddr) bool { return g.allowed(p) }

// InterceptAccept admits every incipient connection: the remote peer is not
// known before the security handshake, so the decision is in InterceptSecured.
func (g *memberGater) InterceptAccept(network.ConnMultiaddrs) bool { return true }

func (g *memberGater) InterceptSecured(_ network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	return g.allowed(p)
}

func (g *memberGater) InterceptUpgraded(c network.Conn) (bool, control.DisconnectReason) {
	return g.allowed(c.RemotePeer()), 0
}
