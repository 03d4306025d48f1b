package p2p

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// validPrefix stands in for the manifest signature and ledger checks.
func validPrefix(_ context.Context, m Message) error {
	if !bytes.HasPrefix(m.Data, []byte("valid:")) {
		return errors.New("bad signature")
	}
	return nil
}

// received collects what a subscription delivers.
type received struct {
	mu   sync.Mutex
	msgs []string
	at   map[string]time.Time
}

func collect(t *testing.T, h *Host, topic Topic) *received {
	t.Helper()
	sub, err := h.Subscribe(topic)
	if err != nil {
		t.Fatal(err)
	}
	r := &received{at: make(map[string]time.Time)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			m, err := sub.Next(ctx)
			if err != nil {
				return
			}
			r.mu.Lock()
			r.msgs = append(r.msgs, string(m.Data))
			r.at[string(m.Data)] = time.Now()
			r.mu.Unlock()
		}
	}()
	t.Cleanup(func() { cancel(); sub.Cancel(); <-done })
	return r
}

func (r *received) has(msg string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.at[msg]
	return ok
}

func (r *received) hasPrefix(p string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, m := range r.msgs {
		if strings.HasPrefix(m, p) {
			out = append(out, m)
		}
	}
	return out
}

// warmUp publishes from h until every receiver got one message, so the
// GossipSub mesh is formed before the test measures anything.
func warmUp(t *testing.T, h *Host, rs []*received) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		msg := fmt.Sprintf("valid:warm-%d", i)
		if err := h.Publish(t.Context(), Announcements, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		if eventually(300*time.Millisecond, func() bool {
			for _, r := range rs {
				if !r.has(msg) {
					return false
				}
			}
			return true
		}) {
			return
		}
	}
	t.Fatal("gossip mesh did not form in 20 s")
}

func TestGossipRejectsForgedMessages(t *testing.T) {
	honest := func(c *Config) { c.ValidateAnnouncement = validPrefix }
	a, b, c := testHost(t, honest), testHost(t, honest), testHost(t, honest)
	forger := testHost(t, nil) // a member whose own node accepts anything
	connect(t, a, b)
	connect(t, b, c)
	connect(t, forger, b)
	ra, rb, rc := collect(t, a, Announcements), collect(t, b, Announcements), collect(t, c, Announcements)
	_ = ra
	warmUp(t, a, []*received{rb, rc})
	if !eventually(10*time.Second, func() bool { return slices.Contains(forger.TopicPeers(Announcements), b.ID()) }) {
		t.Fatal("forger does not see b on the topic")
	}

	if err := a.Publish(t.Context(), Announcements, []byte("forged-by-honest")); err == nil {
		t.Error("an honest node published a message its own validator rejects")
	}
	for i := range 3 {
		if err := forger.Publish(t.Context(), Announcements, fmt.Appendf(nil, "forged-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Publish(t.Context(), Announcements, []byte("valid:after")); err != nil {
		t.Fatal(err)
	}
	if !eventually(10*time.Second, func() bool { return rb.has("valid:after") && rc.has("valid:after") }) {
		t.Fatal("a valid announcement did not reach every subscriber")
	}
	time.Sleep(300 * time.Millisecond)
	for name, r := range map[string]*received{"a": ra, "b": rb, "c": rc} {
		if got := r.hasPrefix("forged"); len(got) > 0 {
			t.Errorf("subscriber %s received forged messages %q", name, got)
		}
	}
	if !eventually(10*time.Second, func() bool { s, ok := b.PeerScore(forger.ID()); return ok && s < 0 }) {
		s, _ := b.PeerScore(forger.ID())
		t.Errorf("forger's score at b is %v, want negative", s)
	}
	if s, ok := b.PeerScore(a.ID()); ok && s < 0 {
		t.Errorf("honest peer's score at b is %v", s)
	}
}

// TestAnnouncementSpread measures how long an announcement takes to reach
// every node of a consortium. The default run uses 8 nodes; with
// COHORTNET_SOAK=1 it runs the 50-node simulation.
func TestAnnouncementSpread(t *testing.T) {
	n, rounds := 8, 10
	if os.Getenv("COHORTNET_SOAK") == "1" {
		n, rounds = 50, 40
	}
	hosts := make([]*Host, n)
	for i := range hosts {
		hosts[i] = testHost(t, func(c *Config) { c.ValidateAnnouncement = validPrefix })
	}
	// A ring plus two random chords per node: every node has a few peers,
	// none has all, as in a consortium that found each other through the DHT.
	rng := rand.New(rand.NewPCG(1, 2))
	for i, h := range hosts {
		connect(t, h, hosts[(i+1)%n])
		for range 2 {
			if j := rng.IntN(n); j != i {
				connect(t, h, hosts[j])
			}
		}
	}
	rs := make([]*received, n)
	for i, h := range hosts {
		rs[i] = collect(t, h, Announcements)
	}
	warmUp(t, hosts[0], rs)

	var spread []time.Duration
	for k := range rounds {
		from := hosts[k%n]
		msg := fmt.Sprintf("valid:announcement-%d", k)
		start := time.Now()
		if err := from.Publish(t.Context(), Announcements, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		if !eventually(10*time.Second, func() bool {
			for _, r := range rs {
				if !r.has(msg) {
					return false
				}
			}
			return true
		}) {
			t.Fatalf("announcement %d did not reach all %d nodes in 10 s", k, n)
		}
		var last time.Time
		for _, r := range rs {
			r.mu.Lock()
			if at := r.at[msg]; at.After(last) {
				last = at
			}
			r.mu.Unlock()
		}
		spread = append(spread, last.Sub(start))
	}
	slices.Sort(spread)
	median := spread[len(spread)/2]
	p99 := spread[min(len(spread)-1, len(spread)*99/100)]
	t.Logf("%d nodes, %d announcements: time to reach all: median %v, p99 %v, max %v", n, rounds, median, p99, spread[len(spread)-1])
}
