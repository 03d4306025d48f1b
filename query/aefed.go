package query

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cohortnet/cohortnet/query/ae"
)

// AEAnswer is one institution's signed release of adverse-event counts
// from the datasets it published: N, a + b per drug, a + c per event (for
// reports), and a (with a + c for the exposure methods) per pair seen.
// Every value from 1 to MinCell − 1 is suppressed (nil); nothing else is.
// Method names how the counts were made, and so what a pair's table total
// is: N (the persons) for reports and exposures, (1 + [ControlWindows]) ×
// (a + b) for self-controlled (see [Engine.Counts]). Warnings are the
// counts' warnings. The signature covers every field but itself.
type AEAnswer struct {
	Institution string            `json:"institution"`
	Peer        string            `json:"peer"`
	Config      SignalConfig      `json:"config"`
	Method      string            `json:"method"`
	Warnings    []string          `json:"warnings,omitempty"`
	Datasets    []DatasetRef      `json:"datasets"`
	MinCell     int64             `json:"min_cell"`
	N           *int64            `json:"n"`
	Drugs       map[string]*int64 `json:"drugs"`
	Events      map[string]*int64 `json:"events,omitempty"`
	Pairs       []AEPair          `json:"pairs"`
	Names       map[string]string `json:"names,omitempty"`
	Skipped     []string          `json:"skipped,omitempty"`
	Created     time.Time         `json:"created"`
	Signature   []byte            `json:"signature,omitempty"`
}

// AEPair is one pair's released counts.
type AEPair struct {
	Pair
	A          *int64 `json:"a"`
	EventTotal *int64 `json:"event_total"` // a + c
}

const aeDomain = "cohortnet/ae-answer/v1\n"

func (a *AEAnswer) signedBytes() ([]byte, error) {
	c := *a
	c.Signature = nil
	b, err := json.Marshal(c)
	return append([]byte(aeDomain), b...), err
}

// Verify checks the signature against the answer's peer id.
func (a *AEAnswer) Verify() error {
	id, err := peer.Decode(a.Peer)
	if err != nil {
		return fmt.Errorf("query: verify ae answer from %s: %w", a.Institution, err)
	}
	pub, err := id.ExtractPublicKey()
	if err != nil {
		return fmt.Errorf("query: verify ae answer from %s: %w", a.Institution, err)
	}
	b, err := a.signedBytes()
	if err != nil {
		return err
	}
	if ok, err := pub.Verify(b, a.Signature); err != nil || !ok {
		return fmt.Errorf("%w (from %s)", ErrBadSignature, a.Institution)
	}
	return nil
}

// AnswerAE counts adverse events over the node's own datasets and releases
// them with small values suppressed, signed, recorded as releases.
func (a *Answerer) AnswerAE(ctx context.Context, requester string, cfg SignalConfig) (*AEAnswer, error) {
	if a.Key == nil {
		return nil, fmt.Errorf("query: ae answer: no node key to sign with")
	}
	id, err := peer.IDFromPrivateKey(a.Key)
	if err != nil {
		return nil, fmt.Errorf("query: ae answer: %w", err)
	}
	cfg.OwnOnly = true
	c, err := a.Engine.Counts(ctx, cfg)
	if err != nil {
		return nil, err
	}
	min := a.MinCell
	if min == 0 {
		min = DefaultMinCell
	}
	keep := func(v int64) *int64 {
		if v > 0 && v < min {
			return nil
		}
		return &v
	}
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	out := &AEAnswer{Institution: a.Institution, Peer: id.String(), Config: cfg, Method: c.Method, Warnings: c.Warnings,
		MinCell: min, N: keep(c.N), Drugs: map[string]*int64{}, Events: map[string]*int64{}, Names: c.Names, Skipped: c.Skipped,
		Created: now().UTC().Truncate(time.Second)}
	ds, _ := a.Engine.selectDatasets(cfg)
	for _, d := range ds {
		out.Datasets = append(out.Datasets, DatasetRef{Name: d.Name, Institution: d.Institution, Manifest: d.Manifest})
	}
	for k, v := range c.Drug {
		out.Drugs[k] = keep(v)
	}
	for k, v := range c.Event {
		out.Events[k] = keep(v)
	}
	// Every pair with a ≥ 1, and, for the exposure methods, pairs seen
	// only among the unexposed or in control windows (their a + c matters
	// when pooling).
	for _, p := range sortedPairs(c.cells) {
		cl := c.cells[p]
		out.Pairs = append(out.Pairs, AEPair{Pair: p, A: keep(cl.a), EventTotal: keep(cl.event)})
	}
	b, err := out.signedBytes()
	if err != nil {
		return nil, err
	}
	if out.Signature, err = a.Key.Sign(b); err != nil {
		return nil, fmt.Errorf("query: ae answer: sign: %w", err)
	}
	if a.Releases != nil {
		// The release names the request and the signed answer by their
		// sha256, as aggregate releases do.
		reqJSON, err := json.Marshal(cfg)
		if err != nil {
			return nil, err
		}
		answer, err := json.Marshal(out)
		if err != nil {
			return nil, err
		}
		qsum, rsum := sha256.Sum256(reqJSON), sha256.Sum256(answer)
		for _, d := range out.Datasets {
			if err := a.Releases.Record(ctx, Release{Dataset: d.Manifest, Requester: requester,
				Query: hex.EncodeToString(qsum[:]), Result: hex.EncodeToString(rsum[:]), Time: out.Created}); err != nil {
				return nil, fmt.Errorf("query: ae answer: record release: %w", err)
			}
		}
	}
	return out, nil
}

func sortedPairs(m map[Pair]pairCell) []Pair {
	ps := make([]Pair, 0, len(m))
	for p := range m {
		ps = append(ps, p)
	}
	slices.SortFunc(ps, func(x, y Pair) int {
		if x.Drug != y.Drug {
			if x.Drug < y.Drug {
				return -1
			}
			return 1
		}
		if x.Event < y.Event {
			return -1
		}
		if x.Event > y.Event {
			return 1
		}
		return 0
	})
	return ps
}

// AEWarnings returns the distinct warnings of the answers that verify, in
// answer order: what [PooledSignals] puts in each signal's Warning, as
// lines.
func AEWarnings(answers []*AEAnswer) []string {
	var ok []*AEAnswer
	for _, a := range answers {
		if a.Verify() == nil {
			ok = append(ok, a)
		}
	}
	return warningsOf(ok)
}

func warningsOf(answers []*AEAnswer) []string {
	var out []string
	for _, a := range answers {
		for _, w := range a.Warnings {
			if !slices.Contains(out, w) {
				out = append(out, w)
			}
		}
	}
	return out
}

// ErrMixedMethods says adverse-event answers were counted by different
// methods ([AEAnswer.Method]), whose tables cannot be added up: ask every
// institution again with one source.
var ErrMixedMethods = errors.New("query: answers counted by different methods are not pooled")

// PooledSignals verifies answers and pools them per pair: each site's (a,
// a + b, a + c, N), a suppressed value counting as zero, so a pooled a is a
// lower bound when a site suppressed it (SitesSuppressed counts those); N
// follows each answer's Method. Answers that do not verify or name no
// method are returned in rejected, with why. When the answers that verify
// were counted by different methods, none is pooled: every one is rejected
// with [ErrMixedMethods]. Signals carry the pooled answers' warnings.
func PooledSignals(answers []*AEAnswer, minCount int64, drug, event string) (signals []Signal, rejected []string) {
	var ok []*AEAnswer
	methods := map[string][]string{} // method → institutions
	for _, a := range answers {
		if err := a.Verify(); err != nil {
			rejected = append(rejected, a.Institution+": "+err.Error())
			continue
		}
		if _, err := (SignalConfig{Source: a.Method}).Method(); err != nil || a.Method == "" {
			rejected = append(rejected, fmt.Sprintf("%s: answer names no counting method (%q)", a.Institution, a.Method))
			continue
		}
		ok = append(ok, a)
		methods[a.Method] = append(methods[a.Method], a.Institution)
	}
	if len(methods) > 1 {
		var by []string
		for _, m := range sortedKeys(methods) {
			by = append(by, m+" by "+strings.Join(methods[m], ", "))
		}
		for _, a := range ok {
			rejected = append(rejected, fmt.Sprintf("%s: counted %s (%s): %v", a.Institution, a.Method, strings.Join(by, "; "), ErrMixedMethods))
		}
		return nil, rejected
	}
	warning := strings.Join(warningsOf(ok), "; ")
	pairs := map[Pair]bool{}
	names := map[string]string{}
	index := make([]map[Pair]AEPair, len(ok))
	for i, a := range ok {
		index[i] = make(map[Pair]AEPair, len(a.Pairs))
		for _, p := range a.Pairs {
			pairs[p.Pair] = true
			index[i][p.Pair] = p
		}
		for k, v := range a.Names {
			names[k] = v
		}
	}
	zero := int64(0)
	// released returns a site's value for key: nil if suppressed, 0 if the
	// site never saw it.
	released := func(m map[string]*int64, key string) *int64 {
		if v, listed := m[key]; listed {
			return v
		}
		return &zero
	}
	for p := range pairs {
		if drug != "" && p.Drug != drug || event != "" && p.Event != event {
			continue
		}
		var rs []ae.Release
		for i, a := range ok {
			r := ae.Release{Site: a.Institution, N: a.N, Drug: released(a.Drugs, p.Drug)}
			if a.Method == SourceSelfControlled {
				// the table total is windows, derived from a + b
				r.N = nil
				if r.Drug != nil {
					n := tableN(a.Method, 0, *r.Drug)
					r.N = &n
				}
			}
			if x, seen := index[i][p]; seen {
				r.A, r.Event = x.A, x.EventTotal
			} else {
				r.A, r.Event = &zero, released(a.Events, p.Event)
			}
			rs = append(rs, r)
		}
		pooled := ae.Pool(rs)
		if pooled.A < minCount {
			continue
		}
		signals = append(signals, Signal{Pair: p, DrugName: names["drug:"+p.Drug], EventName: names["event:"+p.Event],
			Stats: ae.Compute(pooled.Table()), LowerBound: pooled.LowerBound, SitesSuppressed: pooled.Suppressed, Warning: warning})
	}
	sortSignals(signals)
	return signals, rejected
}
