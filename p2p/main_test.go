package p2p

import (
	"context"
	"crypto/rand"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// testMembers is the tests' consortium: every key [memberKey] hands out
// joins it, so tests can make as many hosts as they need (-count, soak).
type testMembers struct {
	mu  sync.RWMutex
	ids MemberSet
}

func (m *testMembers) IsMember(p peer.ID) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.ids.IsMember(p)
}

// snapshot copies the current members.
func (m *testMembers) snapshot() MemberSet {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return maps.Clone(m.ids)
}

var members = &testMembers{ids: make(MemberSet)}

// memberKey makes a key whose peer id is a member of the tests' consortium.
func memberKey(t testing.TB) crypto.PrivKey {
	t.Helper()
	k := outsiderKey(t)
	id, err := peer.IDFromPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	members.mu.Lock()
	members.ids[id] = struct{}{}
	members.mu.Unlock()
	return k
}

func outsiderKey(t testing.TB) crypto.PrivKey {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// loopback listens on TCP and QUIC on 127.0.0.1.
var loopback = []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"}

// testHost starts a member host on loopback; it is closed when the test ends.
func testHost(t testing.TB, mod func(*Config)) *Host {
	t.Helper()
	cfg := Config{Identity: memberKey(t), Listen: loopback, Members: members, Consortium: "test"}
	if mod != nil {
		mod(&cfg)
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func connect(t testing.TB, a, b *Host) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.Connect(ctx, b.AddrInfo()); err != nil {
		t.Fatalf("connect %s -> %s: %v", a.ID(), b.ID(), err)
	}
}

// eventually polls cond every 20 ms until it holds or d passes.
func eventually(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return cond()
}
