package node

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cohortnet/cohortnet/cohort"
	"github.com/cohortnet/cohortnet/internal/datadir"
	"github.com/cohortnet/cohortnet/ledger"
	"github.com/cohortnet/cohortnet/query"
)

// AddrFile, in the data directory, holds the address the running node's
// API listens on, for the command line.
const AddrFile = "api.addr"

// Token returns the API token of data directory d, creating it (32 random
// bytes, hex, mode 0600) on first use.
func Token(d datadir.Dir) (string, error) {
	p := d.Join(datadir.TokenFile)
	b, err := os.ReadFile(p)
	if err == nil {
		if t := strings.TrimSpace(string(b)); len(t) >= 32 {
			return t, nil
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("node: api token: %w", err)
	}
	var raw [32]byte
	rand.Read(raw[:])
	t := hex.EncodeToString(raw[:])
	if err := datadir.WriteFileAtomic(p, []byte(t+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("node: api token: %w", err)
	}
	return t, nil
}

func (n *Node) startAPI() error {
	tok, err := Token(n.d)
	if err != nil {
		return err
	}
	n.token = tok
	addr := n.cfg.API
	if addr == "" {
		addr = n.local.API
	}
	if addr == "off" {
		return nil
	}
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("node: api: %w", err)
	}
	if err := datadir.WriteFileAtomic(n.d.Join(AddrFile), []byte(ln.Addr().String()+"\n"), 0o600); err != nil {
		ln.Close()
		return fmt.Errorf("node: api: %w", err)
	}
	srv := &http.Server{Handler: n.Handler(), ReadHeaderTimeout: 10 * time.Second}
	n.mu.Lock()
	n.apiLn, n.apiSrv = ln, srv
	n.mu.Unlock()
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("api", "err", err)
		}
	}()
	return nil
}

// APIAddr is the address the local API listens on ("" when it does not).
func (n *Node) APIAddr() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.apiLn == nil {
		return ""
	}
	return n.apiLn.Addr().String()
}

// APIToken is the bearer token the API asks for.
func (n *Node) APIToken() string { return n.token }

// Handler is the node's HTTP API. Every /api/v1 route needs the token, as
// "Authorization: Bearer TOKEN" or the cohortnet_token cookie (for the
// dashboard). /metrics (Prometheus) needs no token: it holds counts only and
// the API listens on 127.0.0.1. Config.UI, if set, serves everything else
// (GET /, the dashboard).
//
//	GET    /api/v1/peers                 members, connected or not
//	GET    /api/v1/cohorts               ?condition= &drug= &institution= &min_persons= &q= &all=1
//	GET    /api/v1/cohorts/{cid}         one version: listing, manifest (DAG-JSON), status
//	POST   /api/v1/fetch                 {"ref": CID|NAME[@V]} -> Job (202)
//	GET    /api/v1/fetch                 every job
//	GET    /api/v1/fetch/{job}           one job with progress
//	POST   /api/v1/query                 query.QueryHandler
//	POST   /api/v1/aggregate             query.AggregateRequest, sent to every hospital -> query.Combined; ?local=1: this node's signed answer
//	GET    /api/v1/ae/signals            query.SignalsHandler over the local datasets; ?federated=1: pooled signed counts of every hospital ({"signals", "warnings", "problems"})
//	GET    /api/v1/ledger/checkpoint     {"checkpoint", "size", "split_views"}
//	GET    /api/v1/ledger/entries        ?from= &limit= (default 100)
//	GET    /api/v1/access/requests       requests for this node's datasets without a live grant
//	POST   /api/v1/access/requests       {"dataset", "purpose"} -> commitment
//	GET    /api/v1/access/grants         live grants given by or to this node
//	POST   /api/v1/access/grants         {"dataset", "peer", "expires" (RFC 3339, optional), "terms"}
//	DELETE /api/v1/access/grants/{id}    revoke the grant with ledger index id
//	POST   /api/v1/announce              {"manifest": CID} anchor (if needed) and announce
//	POST   /api/v1/retract               {"ref": CID|NAME@V, "reason"}
//	POST   /api/v1/consortium            body: a newer signed consortium file; installed and gossiped
func (n *Node) Handler() http.Handler {
	api := http.NewServeMux()
	api.HandleFunc("GET /api/v1/peers", n.apiPeers)
	api.HandleFunc("GET /api/v1/cohorts", n.apiCohorts)
	api.HandleFunc("GET /api/v1/cohorts/{cid}", n.apiCohort)
	api.HandleFunc("POST /api/v1/fetch", n.apiFetch)
	api.HandleFunc("GET /api/v1/fetch", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, n.Jobs()) })
	api.HandleFunc("GET /api/v1/fetch/{job}", func(w http.ResponseWriter, r *http.Request) {
		j, ok := n.Job(r.PathValue("job"))
		if !ok {
			apiError(w, http.StatusNotFound, errors.New("no such fetch job"))
			return
		}
		writeJSON(w, 200, j)
	})
	api.Handle("POST /api/v1/query", n.withEngine(query.QueryHandler(n.engineOrEmpty, n.checkpointText, n.log)))
	api.HandleFunc("POST /api/v1/aggregate", n.apiAggregate)
	api.Handle("GET /api/v1/ae/signals", n.signalsHandler())
	api.HandleFunc("GET /api/v1/ledger/checkpoint", n.apiCheckpoint)
	api.HandleFunc("GET /api/v1/ledger/entries", n.apiEntries)
	api.HandleFunc("GET /api/v1/access/requests", n.apiRequests)
	api.HandleFunc("POST /api/v1/access/requests", n.apiRequest)
	api.HandleFunc("GET /api/v1/access/grants", n.apiGrants)
	api.HandleFunc("POST /api/v1/access/grants", n.apiGrant)
	api.HandleFunc("DELETE /api/v1/access/grants/{id}", n.apiRevoke)
	api.HandleFunc("POST /api/v1/announce", n.apiAnnounce)
	api.HandleFunc("POST /api/v1/retract", n.apiRetract)
	api.HandleFunc("POST /api/v1/consortium", n.apiConsortium)

	mux := http.NewServeMux()
	mux.Handle("/api/", n.requireToken(api))
	mux.Handle("GET /metrics", promhttp.HandlerFor(n.reg, promhttp.HandlerOpts{}))
	if n.cfg.UI != nil {
		mux.Handle("/", n.cfg.UI)
	}
	return mux
}

func (n *Node) requireToken(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			if c, err := r.Cookie("cohortnet_token"); err == nil {
				got = c.Value
			}
		}
		if subtle.ConstantTimeCompare([]byte(got), []byte(n.token)) != 1 {
			apiError(w, http.StatusUnauthorized, errors.New("missing or wrong API token (see <data>/api.token)"))
			return
		}
		h.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func apiError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, map[string]string{"error": err.Error()})
}

func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decode request body: %w", err)
	}
	return nil
}

// statusFor maps errors to HTTP statuses.
func statusFor(err error) int {
	switch {
	case errors.Is(err, ledger.ErrRefused), errors.Is(err, ErrNoAccess):
		return http.StatusForbidden
	case errors.Is(err, cohort.ErrUnknownDataset), errors.Is(err, cohort.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ledger.ErrUnavailable), errors.Is(err, ErrNoLedger):
		return http.StatusServiceUnavailable
	default:
		return http.StatusBadRequest
	}
}

// withEngine answers 503 when the query engine cannot open, so the query
// handlers always get one.
func (n *Node) withEngine(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := n.Engine(r.Context()); err != nil {
			apiError(w, http.StatusServiceUnavailable, fmt.Errorf("query engine: %w", err))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// engineOrEmpty is the current engine (withEngine made sure there is one).
func (n *Node) engineOrEmpty() *query.Engine {
	eng, _ := n.Engine(n.ctx)
	return eng
}

func (n *Node) checkpointText() string {
	if n.mirror == nil {
		return ""
	}
	return string(n.mirror.Checkpoint())
}

// PeerInfo is a member as GET /api/v1/peers shows it.
type PeerInfo struct {
	Peer      string   `json:"peer"`
	Name      string   `json:"name"`
	ShortName string   `json:"short_name"`
	Roles     []string `json:"roles"`
	Self      bool     `json:"self,omitempty"`
	Connected bool     `json:"connected"`
	Addrs     []string `json:"addrs,omitempty"`
	Score     *float64 `json:"gossip_score,omitempty"`
}

// Peers lists the consortium's members with their connection state.
func (n *Node) Peers() []PeerInfo {
	var out []PeerInfo
	for _, m := range n.cons.Load().Members {
		pi := PeerInfo{Peer: m.Peer.String(), Name: m.Name, ShortName: m.ShortName, Roles: m.Roles, Self: m.Peer == n.self}
		if conns := n.host.Network().ConnsToPeer(m.Peer); len(conns) > 0 {
			pi.Connected = true
			for _, c := range conns {
				pi.Addrs = append(pi.Addrs, c.RemoteMultiaddr().String())
			}
		}
		if s, ok := n.host.PeerScore(m.Peer); ok {
			pi.Score = &s
		}
		out = append(out, pi)
	}
	return out
}

func (n *Node) apiPeers(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, n.Peers()) }

// Status is a dataset version's verification status: its signature verified
// (the catalogue keeps only verified manifests), its publish entry in the
// verified ledger copy (whose checkpoints carry the witness quorum), whether
// it is retracted, whether every file is in the store, and whether this node
// published it.
type Status struct {
	Signature   bool   `json:"signature"`
	Anchored    bool   `json:"anchored"`
	LedgerIndex uint64 `json:"ledger_index,omitempty"`
	Witnessed   int    `json:"witnesses,omitempty"` // cosignatures on the mirror's checkpoint
	Retracted   bool   `json:"retracted"`
	Held        bool   `json:"held"`
	Own         bool   `json:"own"`
}

// Cohort is a catalogue entry with its status.
type Cohort struct {
	cohort.Listing
	Status Status `json:"status"`
}

func (n *Node) status(e cohort.Entry) Status {
	s := Status{Signature: true, Retracted: e.Retracted, Held: len(n.store.Missing(e.Manifest)) == 0,
		Own: e.Manifest.Publisher.PeerID == n.self.String()}
	if n.mirror != nil {
		st := n.mirror.State()
		if p, ok := st.Publication(e.CID); ok && p.Publisher.String() == e.Manifest.Publisher.PeerID {
			s.Anchored, s.LedgerIndex = true, p.Index
			if v := n.verif.Load(); v != nil {
				if _, k, err := v.OpenCheckpoint(n.mirror.Checkpoint()); err == nil {
					s.Witnessed = k
				}
			}
		}
		if st.Retracted(e.CID) {
			s.Retracted = true
		}
	}
	return s
}

// Cohorts lists the catalogue entries that match f, with their status.
func (n *Node) Cohorts(f cohort.Filter) []Cohort {
	var out []Cohort
	for _, e := range n.Catalog().Search(f) {
		c := Cohort{Listing: e.Listing(), Status: n.status(e)}
		c.Retracted = c.Status.Retracted
		if c.Retracted && !f.All {
			continue
		}
		out = append(out, c)
	}
	return out
}

func (n *Node) apiCohorts(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := cohort.Filter{Condition: q.Get("condition"), Drug: q.Get("drug"), Institution: q.Get("institution"), Text: q.Get("q"), All: q.Get("all") == "1" || q.Get("all") == "true"}
	if s := q.Get("min_persons"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			apiError(w, 400, fmt.Errorf("min_persons=%q: not a number", s))
			return
		}
		f.MinPersons = v
	}
	out := n.Cohorts(f)
	if out == nil {
		out = []Cohort{}
	}
	writeJSON(w, 200, out)
}

func (n *Node) apiCohort(w http.ResponseWriter, r *http.Request) {
	e, err := n.Catalog().Resolve(r.PathValue("cid"))
	if err != nil {
		apiError(w, http.StatusNotFound, err)
		return
	}
	dj, err := e.Manifest.DAGJSON()
	if err != nil {
		apiError(w, 500, err)
		return
	}
	writeJSON(w, 200, map[string]any{"listing": e.Listing(), "status": n.status(e), "manifest": json.RawMessage(dj)})
}

func (n *Node) apiFetch(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Ref string `json:"ref"`
	}
	if err := decodeBody(r, &req); err != nil {
		apiError(w, 400, err)
		return
	}
	j, err := n.Fetch(req.Ref)
	if err != nil {
		apiError(w, statusFor(err), err)
		return
	}
	writeJSON(w, http.StatusAccepted, j)
}

func (n *Node) apiAggregate(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("local") == "1" {
		ans, err := n.Answerer(r.Context())
		if err != nil {
			apiError(w, 503, err)
			return
		}
		query.AggregateHandler(func() *query.Answerer { return ans }).ServeHTTP(w, r)
		return
	}
	var req query.AggregateRequest
	if err := decodeBody(r, &req); err != nil {
		apiError(w, 400, err)
		return
	}
	c, err := n.Aggregate(r.Context(), req)
	if err != nil {
		apiError(w, 400, err)
		return
	}
	writeJSON(w, 200, c)
}

func (n *Node) apiCheckpoint(w http.ResponseWriter, r *http.Request) {
	out := map[string]any{"split_views": n.SplitViews()}
	if n.mirror != nil {
		out["checkpoint"] = string(n.mirror.Checkpoint())
		out["size"] = n.mirror.Size()
	}
	writeJSON(w, 200, out)
}

// EntryInfo is a ledger entry as the API shows it.
type EntryInfo struct {
	Index     uint64    `json:"index"`
	Kind      string    `json:"kind"`
	Author    string    `json:"author"`
	Time      time.Time `json:"time"`
	Dataset   string    `json:"dataset,omitempty"`
	Manifest  string    `json:"manifest,omitempty"`
	Version   int64     `json:"version,omitempty"`
	Access    string    `json:"access,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	Purpose   string    `json:"purpose,omitempty"`
	Grantee   string    `json:"grantee,omitempty"`
	Expires   string    `json:"expires,omitempty"`
	Terms     string    `json:"terms,omitempty"`
	Requester string    `json:"requester,omitempty"`
	Recipient string    `json:"recipient,omitempty"`
	Chunks    int64     `json:"chunks,omitempty"`
	Bytes     int64     `json:"bytes,omitempty"`
	Epsilon   float64   `json:"epsilon,omitempty"`
	Result    string    `json:"result_hash,omitempty"`
}

// NewEntryInfo is e as the API and the CLI show it.
func NewEntryInfo(e ledger.Entry) EntryInfo {
	ei := EntryInfo{Index: e.Index, Kind: string(e.Kind), Author: e.Author.String(), Time: e.Time.UTC(), Dataset: e.Dataset,
		Version: e.Version, Access: e.Access, Reason: e.Reason, Purpose: e.Purpose, Terms: e.Terms,
		Chunks: e.Chunks, Bytes: e.Bytes, Epsilon: e.Epsilon}
	if e.Manifest.Defined() {
		ei.Manifest = e.Manifest.String()
	}
	if e.Grantee != "" {
		ei.Grantee = e.Grantee.String()
	}
	if !e.Expires.IsZero() {
		ei.Expires = e.Expires.UTC().Format(time.RFC3339)
	}
	if e.Requester != "" {
		ei.Requester = e.Requester.String()
	}
	if e.Recipient != "" {
		ei.Recipient = e.Recipient.String()
	}
	if len(e.ResultHash) > 0 {
		ei.Result = hex.EncodeToString(e.ResultHash)
	}
	return ei
}

// Entries returns up to limit ledger entries from index from, as the sync
// loop has read them.
func (n *Node) Entries(from uint64, limit int) []EntryInfo {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := []EntryInfo{}
	for _, e := range n.log0.entries {
		if e.Index >= from && len(out) < limit {
			out = append(out, NewEntryInfo(e))
		}
	}
	return out
}

func (n *Node) apiEntries(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	from, _ := strconv.ParseUint(q.Get("from"), 10, 64)
	limit, err := strconv.Atoi(q.Get("limit"))
	if err != nil || limit <= 0 || limit > 10000 {
		limit = 100
	}
	writeJSON(w, 200, n.Entries(from, limit))
}

// Requests lists pending access requests: for datasets this node published,
// and this node's own, whose requester holds no live grant (requests for
// open and registered datasets are granted by the request itself).
func (n *Node) Requests() []EntryInfo {
	now := time.Now()
	n.mu.Lock()
	reqs := append([]ledger.Entry(nil), n.log0.requests...)
	n.mu.Unlock()
	out := []EntryInfo{}
	for _, e := range reqs {
		owner, _ := ledger.DatasetOwner(e.Dataset)
		mine := owner == n.local.ShortName
		if e.Author != n.self && !mine {
			continue
		}
		if n.mirror != nil {
			st := n.mirror.State()
			if st.LiveGrant(e.Dataset, e.Author, now) {
				continue
			}
			if p, ok := st.LatestPublish(e.Dataset); ok && (p.Access == cohort.AccessOpen || p.Access == cohort.AccessRegistered) {
				continue // granted by the request itself
			}
		}
		out = append(out, NewEntryInfo(e))
	}
	return out
}

// Grants lists the live grants given by or to this node.
func (n *Node) Grants() []EntryInfo {
	now := time.Now()
	n.mu.Lock()
	var gs []ledger.Entry
	for _, e := range n.log0.grants {
		gs = append(gs, e)
	}
	n.mu.Unlock()
	out := []EntryInfo{}
	for _, e := range gs {
		if e.Kind != ledger.KindGrant || (e.Author != n.self && e.Grantee != n.self) {
			continue
		}
		if n.mirror != nil && !n.mirror.State().LiveGrant(e.Dataset, e.Grantee, now) {
			continue
		}
		out = append(out, NewEntryInfo(e))
	}
	return out
}

func (n *Node) apiRequests(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, n.Requests()) }
func (n *Node) apiGrants(w http.ResponseWriter, r *http.Request)   { writeJSON(w, 200, n.Grants()) }

func (n *Node) apiRequest(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Dataset string `json:"dataset"`
		Purpose string `json:"purpose"`
	}
	if err := decodeBody(r, &req); err != nil {
		apiError(w, 400, err)
		return
	}
	cm, err := n.Request(r.Context(), n.resolveDataset(req.Dataset), req.Purpose)
	if err != nil {
		apiError(w, statusFor(err), err)
		return
	}
	writeJSON(w, 200, cm)
}

// resolveDataset accepts a dataset name or a manifest CID.
func (n *Node) resolveDataset(ref string) string {
	if _, err := cid.Decode(ref); err == nil {
		if e, err := n.Catalog().Resolve(ref); err == nil {
			return e.Manifest.Name
		}
	}
	return ref
}

func (n *Node) apiGrant(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Dataset string `json:"dataset"`
		Peer    string `json:"peer"`
		Expires string `json:"expires"`
		Terms   string `json:"terms"`
	}
	if err := decodeBody(r, &req); err != nil {
		apiError(w, 400, err)
		return
	}
	p, err := n.resolvePeer(req.Peer)
	if err != nil {
		apiError(w, 400, err)
		return
	}
	var exp time.Time
	if req.Expires != "" {
		if exp, err = parseTime(req.Expires); err != nil {
			apiError(w, 400, err)
			return
		}
	}
	cm, err := n.Grant(r.Context(), n.resolveDataset(req.Dataset), p, exp, req.Terms)
	if err != nil {
		apiError(w, statusFor(err), err)
		return
	}
	writeJSON(w, 200, cm)
}

func parseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339, "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("expires %q: use YYYY-MM-DD or RFC 3339", s)
}

// resolvePeer accepts a peer id or a member's short name.
func (n *Node) resolvePeer(s string) (peer.ID, error) {
	if m, ok := n.cons.Load().MemberByShortName(s); ok {
		return m.Peer, nil
	}
	p, err := peer.Decode(s)
	if err != nil {
		return "", fmt.Errorf("peer %q: neither a member's short name nor a peer id", s)
	}
	return p, nil
}

func (n *Node) apiRevoke(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil {
		apiError(w, 400, fmt.Errorf("grant id %q: not a ledger index", r.PathValue("id")))
		return
	}
	n.mu.Lock()
	e, ok := n.log0.byIndex[id]
	n.mu.Unlock()
	if !ok || e.Kind != ledger.KindGrant {
		apiError(w, 404, fmt.Errorf("no grant at ledger index %d", id))
		return
	}
	cm, err := n.Revoke(r.Context(), e.Dataset, e.Grantee)
	if err != nil {
		apiError(w, statusFor(err), err)
		return
	}
	writeJSON(w, 200, cm)
}

func (n *Node) apiAnnounce(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Manifest string `json:"manifest"`
	}
	if err := decodeBody(r, &req); err != nil {
		apiError(w, 400, err)
		return
	}
	c, err := cid.Decode(req.Manifest)
	if err != nil {
		apiError(w, 400, fmt.Errorf("manifest %q: %w", req.Manifest, err))
		return
	}
	if err := n.refreshCatalog(); err != nil {
		apiError(w, 500, err)
		return
	}
	cm, err := n.Announce(r.Context(), c)
	if err != nil {
		apiError(w, statusFor(err), err)
		return
	}
	writeJSON(w, 200, cm)
}

func (n *Node) apiRetract(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Ref    string `json:"ref"`
		Reason string `json:"reason"`
	}
	if err := decodeBody(r, &req); err != nil {
		apiError(w, 400, err)
		return
	}
	if req.Reason == "" {
		apiError(w, 400, errors.New("a retraction needs a reason"))
		return
	}
	e, err := n.Catalog().Resolve(req.Ref)
	if err != nil {
		apiError(w, 404, err)
		return
	}
	cm, err := n.Retract(r.Context(), e.CID, req.Reason)
	if err != nil {
		apiError(w, statusFor(err), err)
		return
	}
	writeJSON(w, 200, cm)
}

func (n *Node) apiConsortium(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		apiError(w, 400, err)
		return
	}
	if err := n.UpdateConsortium(r.Context(), b); err != nil {
		apiError(w, 400, err)
		return
	}
	writeJSON(w, 200, map[string]any{"version": n.cons.Load().Version})
}

// signalsHandler serves GET /api/v1/ae/signals: over the local datasets, or
// pooled from every hospital with federated=1.
func (n *Node) signalsHandler() http.Handler {
	local := n.withEngine(query.SignalsHandler(n.engineOrEmpty))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("federated") != "1" && q.Get("federated") != "true" {
			local.ServeHTTP(w, r)
			return
		}
		cfg := query.SignalConfig{Source: q.Get("source")}
		var minCount int64 = 3
		for name, dst := range map[string]*int64{"min_count": &minCount} {
			if s := q.Get(name); s != "" {
				v, err := strconv.ParseInt(s, 10, 64)
				if err != nil {
					apiError(w, 400, fmt.Errorf("%s=%q: not a number", name, s))
					return
				}
				*dst = v
			}
		}
		if s := q.Get("window"); s != "" {
			v, err := strconv.Atoi(s)
			if err != nil {
				apiError(w, 400, fmt.Errorf("window=%q: not a number", s))
				return
			}
			cfg.Window = v
		}
		if s := q.Get("seed"); s != "" {
			v, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				apiError(w, 400, fmt.Errorf("seed=%q: not a number", s))
				return
			}
			cfg.Seed = v
		}
		sig, warnings, problems, err := n.AESignals(r.Context(), cfg, minCount, q.Get("drug"), q.Get("event"))
		if err != nil {
			apiError(w, 400, err)
			return
		}
		if sig == nil {
			sig = []query.Signal{}
		}
		writeJSON(w, 200, map[string]any{"signals": sig, "warnings": warnings, "problems": problems})
	})
}
