package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cohortnet/cohortnet/cohort"
	"github.com/cohortnet/cohortnet/consortium"
	"github.com/cohortnet/cohortnet/ledger"
	"github.com/cohortnet/cohortnet/p2p"
	"github.com/cohortnet/cohortnet/query"
)

// AggregateProtocol carries federated aggregate requests between members:
// POST /aggregate with a query.AggregateRequest in JSON, the institution's
// signed query.AggregateAnswer back. The requester is the authenticated
// peer, whatever the request says.
const AggregateProtocol = "/cohortnet/aggregate/1.0.0"

// engineState is the query engine over the catalogue generation it was built
// from.
type engineState struct {
	gen uint64
	eng *query.Engine
	err error
}

func (e *engineState) close() {
	if e.eng != nil {
		e.eng.Close()
	}
}

// Datasets lists what the query engine sees: the latest non-retracted
// version of every dataset whose files are all in the store.
func (n *Node) Datasets() []query.Dataset {
	return datasetsOf(n.Catalog(), n.store, n.self, func(e cohort.Entry) bool {
		return n.mirror != nil && n.mirror.State().Retracted(e.CID)
	})
}

// Engine returns the query engine over the current catalogue, rebuilding it
// when the catalogue changed since it was built. Do not close it: the node
// does when it is replaced (queries still running on the old one finish
// first only if they hold their rows; the API serves one query at a time
// per engine swap, which is rare).
func (n *Node) Engine(ctx context.Context) (*query.Engine, error) {
	n.mu.Lock()
	gen := n.catGen
	cur := n.eng
	n.mu.Unlock()
	if cur != nil && cur.gen == gen {
		return cur.eng, cur.err
	}
	eng, err := query.Open(ctx, query.Config{Logger: n.log}, n.Datasets())
	st := &engineState{gen: gen, eng: eng, err: err}
	n.mu.Lock()
	old := n.eng
	n.eng = st
	n.mu.Unlock()
	if old != nil {
		// Let queries started on the old engine finish.
		time.AfterFunc(2*time.Minute, old.close)
	}
	return eng, err
}

// Answerer answers aggregate requests from this node's own datasets,
// recording releases in the ledger.
func (n *Node) Answerer(ctx context.Context) (*query.Answerer, error) {
	eng, err := n.Engine(ctx)
	if err != nil {
		return nil, err
	}
	return &query.Answerer{Engine: eng, Key: n.key, Institution: n.local.ShortName, Releases: &ledgerReleases{n: n}}, nil
}

// ledgerReleases records aggregate releases as `release` ledger entries and
// reads the privacy budget spent from the mirror.
type ledgerReleases struct {
	n  *Node
	mu sync.Mutex
}

var _ query.ReleaseLog = (*ledgerReleases)(nil)

func (r *ledgerReleases) dataset(manifest string) (string, error) {
	e, err := r.n.Catalog().Resolve(manifest)
	if err != nil {
		return "", err
	}
	return e.Manifest.Name, nil
}

func (r *ledgerReleases) Spent(_ context.Context, requester, manifest string) (float64, error) {
	if r.n.mirror == nil {
		return 0, nil
	}
	name, err := r.dataset(manifest)
	if err != nil {
		return 0, err
	}
	p, err := peer.Decode(requester)
	if err != nil {
		return 0, fmt.Errorf("release: requester %q: %w", requester, err)
	}
	return r.n.mirror.State().EpsilonSpent(name, p), nil
}

func (r *ledgerReleases) Record(ctx context.Context, rel query.Release) error {
	name, err := r.dataset(rel.Dataset)
	if err != nil {
		return err
	}
	p, err := peer.Decode(rel.Requester)
	if err != nil {
		return fmt.Errorf("release: requester %q: %w", rel.Requester, err)
	}
	e := ledger.NewEntry(ledger.KindRelease, rel.Time)
	e.Dataset, e.Recipient, e.Epsilon = name, p, rel.Epsilon
	e.QueryHash = hashOrHex(rel.Query)
	e.ResultHash = hashOrHex(rel.Result)
	_, err = r.n.submit(ctx, e)
	return err
}

// hashOrHex decodes a hex sha256, or hashes any other text.
func hashOrHex(s string) []byte {
	if b, err := hex.DecodeString(s); err == nil && len(b) == sha256.Size {
		return b
	}
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// aggregateHandler serves AggregateProtocol with the authenticated peer as
// the requester: POST /aggregate (a query.AggregateRequest) and POST /ae
// (a query.SignalConfig, answered with a signed query.AEAnswer).
func (n *Node) aggregateHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /aggregate", func(w http.ResponseWriter, r *http.Request) {
		var req query.AggregateRequest
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
			http.Error(w, "decode aggregate request", http.StatusBadRequest)
			return
		}
		req.Requester = p2p.RequestPeer(r).String()
		b, _ := json.Marshal(req)
		r.Body = io.NopCloser(bytes.NewReader(b))
		ans, err := n.Answerer(r.Context())
		if err != nil {
			http.Error(w, "no query engine", http.StatusServiceUnavailable)
			return
		}
		query.AggregateHandler(func() *query.Answerer { return ans }).ServeHTTP(w, r)
	})
	mux.HandleFunc("POST /ae", func(w http.ResponseWriter, r *http.Request) {
		var cfg query.SignalConfig
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&cfg); err != nil {
			http.Error(w, "decode signal request", http.StatusBadRequest)
			return
		}
		cfg.OwnOnly = true
		ans, err := n.Answerer(r.Context())
		if err != nil {
			http.Error(w, "no query engine", http.StatusServiceUnavailable)
			return
		}
		a, err := ans.AnswerAE(r.Context(), p2p.RequestPeer(r).String(), cfg)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(a)
	})
	return mux
}

// hospitals are the members with the hospital role.
func (n *Node) hospitals() []consortium.Member {
	var out []consortium.Member
	for _, m := range n.cons.Load().Members {
		if m.HasRole("hospital") {
			out = append(out, m)
		}
	}
	return out
}

// AEAnswers asks every hospital for its signed adverse-event counts (own
// datasets only, small values suppressed) over AggregateProtocol, this node
// answering for itself when it is a hospital. It returns the answers in the
// consortium's member order and, for each institution that did not answer or
// whose answer was signed by another peer, a line saying why. Answers are
// verified when pooled ([query.PooledSignals]).
func (n *Node) AEAnswers(ctx context.Context, cfg query.SignalConfig) ([]*query.AEAnswer, []string) {
	hospitals := n.hospitals()
	answers := make([]*query.AEAnswer, len(hospitals))
	errs := make([]error, len(hospitals))
	var wg sync.WaitGroup
	for i, m := range hospitals {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i], errs[i] = n.askAE(ctx, m.Peer, cfg)
		}()
	}
	wg.Wait()
	var got []*query.AEAnswer
	var problems []string
	for i, m := range hospitals {
		if errs[i] != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", m.ShortName, errs[i]))
			continue
		}
		got = append(got, answers[i])
	}
	return got, problems
}

func (n *Node) askAE(ctx context.Context, id peer.ID, cfg query.SignalConfig) (*query.AEAnswer, error) {
	if id == n.self {
		ans, err := n.Answerer(ctx)
		if err != nil {
			return nil, err
		}
		c := cfg
		c.OwnOnly = true
		return ans.AnswerAE(ctx, n.self.String(), c)
	}
	a := &query.AEAnswer{}
	if err := n.askPeer(ctx, id, "/ae", cfg, a); err != nil {
		return nil, err
	}
	if a.Peer != id.String() {
		return nil, errors.New("answer signed by another peer")
	}
	if want, _ := cfg.Method(); a.Method != want {
		return nil, fmt.Errorf("answer counted by method %q, asked %q", a.Method, want)
	}
	return a, nil
}

// AESignals pools every hospital's adverse-event answer ([Node.AEAnswers])
// and computes the signals. It also returns the pooled answers' warnings
// ([query.AEWarnings]) and the institutions that did not answer or whose
// answers were rejected, with why. An unknown cfg.Source is an error.
func (n *Node) AESignals(ctx context.Context, cfg query.SignalConfig, minCount int64, drug, event string) (sig []query.Signal, warnings, problems []string, err error) {
	if _, err := cfg.Method(); err != nil {
		return nil, nil, nil, err
	}
	answers, problems := n.AEAnswers(ctx, cfg)
	sig, rejected := query.PooledSignals(answers, minCount, drug, event)
	return sig, query.AEWarnings(answers), append(problems, rejected...), nil
}

// Aggregate sends req to every member with the hospital role (this node
// included when it is one) over AggregateProtocol and combines their signed
// answers.
func (n *Node) Aggregate(ctx context.Context, req query.AggregateRequest) (query.Combined, error) {
	req.Requester = n.self.String()
	if err := req.Validate(); err != nil {
		return query.Combined{}, err
	}
	var expected []string
	var mu sync.Mutex
	var answers []*query.AggregateAnswer
	var wg sync.WaitGroup
	for _, m := range n.cons.Load().Members {
		if !m.HasRole("hospital") {
			continue
		}
		expected = append(expected, m.ShortName)
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, err := n.askAggregate(ctx, m.Peer, req)
			if err != nil {
				n.log.Warn("aggregate: no answer", "institution", m.ShortName, "err", err)
				return
			}
			mu.Lock()
			answers = append(answers, a)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return query.Combine(req, expected, answers), nil
}

func (n *Node) askAggregate(ctx context.Context, id peer.ID, req query.AggregateRequest) (*query.AggregateAnswer, error) {
	if id == n.self {
		ans, err := n.Answerer(ctx)
		if err != nil {
			return nil, err
		}
		return ans.Answer(ctx, req)
	}
	var a query.AggregateAnswer
	if err := n.askPeer(ctx, id, "/aggregate", req, &a); err != nil {
		return nil, err
	}
	if a.Peer != id.String() {
		return nil, errors.New("answer signed by another peer")
	}
	return &a, nil
}

// askPeer posts in as JSON to path on id's AggregateProtocol handler and
// decodes the answer into out.
func (n *Node) askPeer(ctx context.Context, id peer.ID, path string, in, out any) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if len(n.host.Network().ConnsToPeer(id)) == 0 {
		if ai, err := n.host.FindPeer(ctx, id); err == nil {
			n.host.Peerstore().AddAddrs(ai.ID, ai.Addrs, time.Hour)
		}
	}
	hc, err := n.host.HTTPClient(AggregateProtocol, id)
	if err != nil {
		return err
	}
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(hreq)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(body))
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("decode answer: %w", err)
	}
	return nil
}
