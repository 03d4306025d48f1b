package ledger

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"
)

// The operator refuses entries from outsiders, with bad signatures, or that
// break the rules of their kind, and says why.
func TestOperatorRefuses(t *testing.T) {
	n := newTestNet(t, netOptions{witnesses: 1, quorum: 1})
	n.startOperator(t.Context())
	c := n.client()
	m1 := manifestCID("diabetes v1")
	if _, err := c.Submit(t.Context(), sign(t, publishEntry(m1, "hospital-a/diabetes", 1, "restricted"), n.hospitalA)); err != nil {
		t.Fatal(err)
	}
	grant := func(by ident, to ident) []byte {
		e := NewEntry(KindGrant, time.Now())
		e.Dataset, e.Grantee, e.Expires = "hospital-a/diabetes", to.id, time.Now().Add(time.Hour)
		return sign(t, e, by)
	}
	badSig := sign(t, publishEntry(manifestCID("x"), "hospital-a/x", 1, "open"), n.hospitalA)
	badSig[len(badSig)-1] ^= 0xff

	for _, tc := range []struct {
		name  string
		entry []byte
		want  error
	}{
		{"non-member", sign(t, publishEntry(manifestCID("o"), "outsider/x", 1, "open"), n.outsider), ErrRefused},
		{"bad signature", badSig, ErrMalformed},
		{"grant by someone other than the publisher", grant(n.hospitalB, n.lab), ErrRefused},
		{"grant to a non-member", grant(n.hospitalA, n.outsider), ErrRefused},
		{"retract by someone other than the publisher", func() []byte {
			e := NewEntry(KindRetract, time.Now())
			e.Manifest, e.Reason = m1, "not mine"
			return sign(t, e, n.hospitalB)
		}(), ErrRefused},
		{"publish under another institution's prefix", sign(t, publishEntry(manifestCID("b"), "hospital-a/cancer", 1, "open"), n.hospitalB), ErrRefused},
		{"second publish of a manifest", sign(t, publishEntry(m1, "hospital-a/diabetes", 2, "open"), n.hospitalA), ErrRefused},
		{"version that does not increase", sign(t, publishEntry(manifestCID("v1 again"), "hospital-a/diabetes", 1, "open"), n.hospitalA), ErrRefused},
		{"request for an unknown dataset", func() []byte {
			e := NewEntry(KindRequest, time.Now())
			e.Dataset = "hospital-b/none"
			return sign(t, e, n.lab)
		}(), ErrRefused},
		{"time far from the operator's clock", sign(t, publishEntry(manifestCID("late"), "hospital-a/diabetes", 5, "open").at(time.Now().Add(-2*time.Hour)), n.hospitalA), ErrRefused},
		{"not an entry", []byte("hello"), ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Submit(t.Context(), tc.entry)
			if !errors.Is(err, tc.want) {
				t.Fatalf("submit: %v, want %v", err, tc.want)
			}
		})
	}
	// The accepted ones still work: the publisher grants and retracts.
	if _, err := c.Submit(t.Context(), grant(n.hospitalA, n.lab)); err != nil {
		t.Fatal(err)
	}
	if !n.op.State().LiveGrant("hospital-a/diabetes", n.lab.id, time.Now()) {
		t.Fatal("grant accepted but not live")
	}
	if got := n.op.State().Size(); got != 2 {
		t.Fatalf("log holds %d entries, want 2 (refused entries must not be appended)", got)
	}
}

func (e *Entry) at(t time.Time) *Entry { e.Time = t.Truncate(time.Millisecond); return e }

func TestStateQueries(t *testing.T) {
	a, lab := newIdent(t), newIdent(t)
	s := NewState()
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var i uint64
	apply := func(e *Entry) {
		enc := sign(t, e, a)
		s.Apply(i, e, enc)
		i++
	}
	v1, v2 := manifestCID("v1"), manifestCID("v2")
	apply(publishEntry(v1, "hospital-a/d", 1, "restricted").at(t0))
	apply(publishEntry(v2, "hospital-a/d", 2, "restricted").at(t0.Add(time.Hour)))
	g := NewEntry(KindGrant, t0)
	g.Dataset, g.Grantee, g.Expires = "hospital-a/d", lab.id, t0.Add(48*time.Hour)
	apply(g.at(t0.Add(2 * time.Hour)))
	r := NewEntry(KindRevoke, t0)
	r.Dataset, r.Grantee = "hospital-a/d", lab.id
	apply(r.at(t0.Add(10 * time.Hour)))
	ret := NewEntry(KindRetract, t0)
	ret.Manifest = v2
	apply(ret.at(t0.Add(11 * time.Hour)))

	for _, tc := range []struct {
		name string
		at   time.Time
		want bool
	}{
		{"before the grant", t0.Add(time.Hour), false},
		{"after the grant", t0.Add(3 * time.Hour), true},
		{"after the revoke", t0.Add(11 * time.Hour), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := s.LiveGrant("hospital-a/d", lab.id, tc.at); got != tc.want {
				t.Fatalf("LiveGrant = %v, want %v", got, tc.want)
			}
		})
	}
	for _, eps := range []float64{0.25, 0.5} {
		rl := NewEntry(KindRelease, t0)
		rl.Dataset, rl.QueryHash, rl.ResultHash, rl.Recipient, rl.Epsilon = "hospital-a/d", []byte{1}, []byte{2}, lab.id, eps
		apply(rl.at(t0.Add(12 * time.Hour)))
	}
	if got := s.EpsilonSpent("hospital-a/d", lab.id); got != 0.75 {
		t.Fatalf("epsilon spent = %v, want 0.75", got)
	}
	if !s.Retracted(v2) || s.Retracted(v1) {
		t.Fatal("retraction not recorded for v2 only")
	}
	p, ok := s.LatestPublish("hospital-a/d")
	if !ok || p.Manifest != v1 {
		t.Fatalf("latest publish = %v %v, want v1 (v2 is retracted)", p.Manifest, ok)
	}
}

// With the witnesses down, an accepted entry is in the log but cannot be
// committed; the author is told so, and gets the commitment by submitting
// the same entry again once the witnesses are back.
func TestSubmitWhileWitnessesDown(t *testing.T) {
	n := newTestNet(t, netOptions{witnesses: 1, quorum: 1})
	// A new log's first checkpoint needs the quorum, so start with it up.
	op, err := NewOperator(t.Context(), OperatorConfig{Dir: n.opDir, Key: n.opKey.key, Consortium: n.config,
		CommitTimeout: time.Second, WitnessTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { op.Close(context.Background()) })
	wl := n.wSrvs[0].Config.Handler.(*lazyHandler)
	wl.set(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	enc := sign(t, publishEntry(manifestCID("slow"), "hospital-a/slow", 1, "open"), n.hospitalA)
	if _, err := op.Submit(t.Context(), enc); !errors.Is(err, ErrNotYetWitnessed) {
		t.Fatalf("submit with the witness down: %v, want ErrNotYetWitnessed", err)
	}
	wl.set(n.witnesses[0].Handler())
	var cm *Commitment
	for range 50 {
		if cm, err = op.Submit(t.Context(), enc); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := VerifyCommitment(cm, n.verifiers()); err != nil {
		t.Fatal(err)
	}
	if op.State().Size() != 1 {
		t.Fatalf("log has %d entries, want the one entry once", op.State().Size())
	}
}

// The Check hook adds rules, such as a privacy budget per recipient.
func TestOperatorCheckHookBudget(t *testing.T) {
	n := newTestNet(t, netOptions{witnesses: 1, quorum: 1})
	const budget = 1.0
	op, err := NewOperator(t.Context(), OperatorConfig{Dir: n.opDir, Key: n.opKey.key, Consortium: n.config,
		Check: func(e *Entry, s *State) error {
			if e.Kind == KindRelease && s.EpsilonSpent(e.Dataset, e.Recipient)+e.Epsilon > budget {
				return refuse("release of epsilon %v to %s would exceed the budget %v", e.Epsilon, e.Recipient, budget)
			}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { op.Close(context.Background()) })
	if _, err := op.Submit(t.Context(), sign(t, publishEntry(manifestCID("b"), "hospital-a/b", 1, "aggregate-only"), n.hospitalA)); err != nil {
		t.Fatal(err)
	}
	release := func(eps float64) error {
		e := NewEntry(KindRelease, time.Now())
		e.Dataset, e.QueryHash, e.ResultHash, e.Recipient, e.Epsilon = "hospital-a/b", []byte{1}, []byte{byte(eps * 100)}, n.lab.id, eps
		_, err := op.Submit(t.Context(), sign(t, e, n.hospitalA))
		return err
	}
	if err := release(0.6); err != nil {
		t.Fatal(err)
	}
	if err := release(0.6); !errors.Is(err, ErrRefused) {
		t.Fatalf("release over budget: %v, want ErrRefused", err)
	}
	if err := release(0.4); err != nil {
		t.Fatalf("release within budget: %v", err)
	}
}
