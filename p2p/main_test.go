package p2p

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// The tests' consortium: a pool of member keys made once, and a member set of
// all of them. Tests create hosts from the pool with [testHost]; keys are
// never reused within one process run.
var (
	poolMu   sync.Mutex
	poolKeys []crypto.PrivKey
	poolNext int
	members  MemberSet
)

const poolSize = 96

func TestMain(m *testing.M) {
	members = make(MemberSet)
	for range poolSize {
		k, _, err := crypto.GenerateEd25519Key(rand.Reader)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		id, _ := peer.IDFromPrivateKey(k)
		poolKeys = append(poolKeys, k)
		members[id] = struct{}{}
	}
	os.Exit(m.Run())
}

// memberKey hands out the next unused member key.
func memberKey(t testing.TB) crypto.PrivKey {
	t.Helper()
	poolMu.Lock()
	defer poolMu.Unlock()
	if poolNext == len(poolKeys) {
		t.Fatal("test key pool exhausted: raise poolSize")
	}
	k := poolKeys[poolNext]
	poolNext++
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
