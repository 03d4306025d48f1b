package demo

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"

	"github.com/cohortnet/cohortnet/cohort"
	"github.com/cohortnet/cohortnet/consortium"
	"github.com/cohortnet/cohortnet/internal/datadir"
	"github.com/cohortnet/cohortnet/ledger"
	"github.com/cohortnet/cohortnet/ledger/ledgerd"
	"github.com/cohortnet/cohortnet/query"
)

// The researcher's local HTTP API, as `cohortnet demo --serve` offers it to
// the dashboard and the notebooks: the paths and shapes DESIGN.md lists
// under /api/v1, answered from the researcher's store, ledger mirror and
// query engine, with the token in <data>/api.token. It is the demo's own
// until package node serves the same API from a running node.

// Serving is a running API.
type Serving struct {
	URL   string // http://127.0.0.1:PORT
	Token string // the bearer token, also in the researcher's api.token
	srv   *http.Server
	done  chan error
}

// Close stops serving.
func (s *Serving) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if e := <-s.done; e != nil && !errors.Is(e, http.ErrServerClosed) {
		err = errors.Join(err, e)
	}
	return err
}

// Serve starts the researcher's API on addr (host:port; empty: a free
// loopback port) with ui, if not nil, at "/" (the dashboard). It writes
// the token to the researcher's api.token (0600). Close the demo to stop
// it, or call Close.
func (d *Demo) Serve(addr string, ui http.Handler) (*Serving, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	tok := make([]byte, 24)
	if _, err := rand.Read(tok); err != nil {
		return nil, err
	}
	token := hex.EncodeToString(tok)
	if err := datadir.WriteFileAtomic(d.research.dir.Join(datadir.TokenFile), []byte(token+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("demo: write the API token: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("demo: api: %w", err)
	}
	mux := http.NewServeMux()
	api := d.apiHandler()
	mux.Handle("/api/v1/", requireToken(token, api))
	if ui != nil {
		mux.Handle("/", ui)
	}
	s := &Serving{URL: "http://" + ln.Addr().String(), Token: token, done: make(chan error, 1),
		srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}
	go func() { s.done <- s.srv.Serve(ln) }()
	d.closers = append(d.closers, s.Close)
	return s, nil
}

// requireToken refuses requests without the bearer token.
func requireToken(token string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "missing or wrong token: send Authorization: Bearer <the token in api.token>"})
			return
		}
		h.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	_ = enc.Encode(v)
}

func (d *Demo) apiHandler() http.Handler {
	mux := http.NewServeMux()
	engine := func() *query.Engine { return d.researchEngine }
	checkpoint := func() string { return string(d.mirror(context.Background()).Checkpoint()) }
	mux.Handle("POST /api/v1/query", query.QueryHandler(engine, checkpoint, d.log))
	mux.Handle("GET /api/v1/ae/signals", query.SignalsHandler(engine))
	mux.HandleFunc("GET /api/v1/peers", d.apiPeers)
	mux.HandleFunc("GET /api/v1/cohorts", d.apiCohorts)
	mux.HandleFunc("GET /api/v1/cohorts/{cid}", d.apiCohort)
	mux.HandleFunc("GET /api/v1/ledger/checkpoint", d.apiCheckpoint)
	mux.HandleFunc("GET /api/v1/ledger/entries", d.apiEntries)
	mux.HandleFunc("POST /api/v1/access/requests", d.apiRequest)
	mux.HandleFunc("GET /api/v1/demo", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, d.Result) })
	mux.HandleFunc("/api/v1/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": r.Method + " " + r.URL.Path + ": not served by the demo"})
	})
	return mux
}

// mirror is the researcher's ledger mirror, brought up to date.
func (d *Demo) mirror(ctx context.Context) *ledger.Mirror {
	o, err := ledgerd.OpenMirror(ctx, d.research.dir, nil, false)
	if err != nil {
		d.log.Warn("demo: api: ledger mirror", "err", err)
		return nil
	}
	return o.Mirror
}

// Peer is a member as GET /api/v1/peers lists it.
type Peer struct {
	Peer      string   `json:"peer"`
	Name      string   `json:"name"`
	ShortName string   `json:"short_name"`
	Roles     []string `json:"roles"`
	Self      bool     `json:"self,omitempty"`
	Connected bool     `json:"connected"`
}

func (d *Demo) apiPeers(w http.ResponseWriter, r *http.Request) {
	s, err := consortium.Load(d.research.dir)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	var out []Peer
	for _, m := range s.Config.Members {
		p := Peer{Peer: m.Peer.String(), Name: m.Name, ShortName: m.ShortName, Roles: m.Roles, Self: m.Peer == d.research.id}
		p.Connected = p.Self || d.research.host.Network().Connectedness(m.Peer) == network.Connected
		out = append(out, p)
	}
	writeJSON(w, http.StatusOK, map[string]any{"consortium": s.Config.Name, "version": s.Config.Version, "members": out,
		"ledger": map[string]any{"peer": s.Config.Ledger.Peer.String(), "url": s.Config.Ledger.HTTP}, "witnesses": s.Config.Witnesses, "quorum": s.Config.Quorum})
}

// Verification is what the researcher checked of a dataset version.
type Verification struct {
	Signature    bool   `json:"signature"`
	Ledger       bool   `json:"ledger"`       // its publish entry is in the verified mirror
	LedgerIndex  uint64 `json:"ledger_index"` //
	Cosignatures int    `json:"cosignatures"` // witness cosignatures on the checkpoint that covers it
	Local        bool   `json:"local"`        // its files are in the store, every CID verified
	Problems     string `json:"problems,omitempty"`
}

// CohortView is a dataset version as the cohorts endpoints show it.
type CohortView struct {
	cohort.Listing
	Verification Verification `json:"verification"`
}

func (d *Demo) verification(ctx context.Context, st *cohort.Store, m *ledger.Mirror, c cid.Cid) Verification {
	v := Verification{}
	if sm, err := st.SignedManifest(c); err == nil {
		if _, got, err := sm.Verify(); err == nil && got == c {
			v.Signature = true
		}
	}
	if m != nil {
		if p, ok := m.State().Publication(c); ok {
			v.Ledger, v.LedgerIndex = true, p.Index
			v.Cosignatures = len(d.witnesses) // the mirror accepts only checkpoints with the quorum's cosignatures
		}
	}
	mf, err := st.Manifest(c)
	if err == nil && len(st.Missing(mf)) == 0 {
		problems, err := cohort.VerifyDataset(ctx, st, c)
		switch {
		case err != nil:
			v.Problems = err.Error()
		case len(problems) > 0:
			v.Problems = fmt.Sprint(problems[0])
		default:
			v.Local = true
		}
	}
	return v
}

func (d *Demo) apiCohorts(w http.ResponseWriter, r *http.Request) {
	st := d.research.store
	cat, err := st.Catalog(r.Context())
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	q := r.URL.Query()
	f := cohort.Filter{Condition: q.Get("condition"), Drug: q.Get("drug"), Institution: q.Get("institution"), Text: q.Get("q")}
	if s := q.Get("min_persons"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "min_persons: not a count"})
			return
		}
		f.MinPersons = n
	}
	m := d.mirror(r.Context())
	out := []CohortView{}
	for _, e := range cat.Search(f) {
		out = append(out, CohortView{Listing: e.Listing(), Verification: d.verification(r.Context(), st, m, e.CID)})
	}
	writeJSON(w, http.StatusOK, out)
}

func (d *Demo) apiCohort(w http.ResponseWriter, r *http.Request) {
	c, err := cid.Parse(r.PathValue("cid"))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "not a CID: " + err.Error()})
		return
	}
	st := d.research.store
	cat, err := st.Catalog(r.Context())
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	e, ok := cat.Get(c)
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such cohort: " + c.String()})
		return
	}
	mir := d.mirror(r.Context())
	m := e.Manifest
	type table struct {
		Name   string         `json:"name"`
		Rows   int64          `json:"rows"`
		Files  int            `json:"files"`
		Schema []cohort.Field `json:"schema"`
	}
	var tables []table
	for _, t := range m.Tables {
		tables = append(tables, table{Name: t.Name, Rows: t.Rows, Files: len(t.Files), Schema: t.Schema})
	}
	var versions []cohort.Listing
	for _, v := range cat.Versions(m.Name) {
		versions = append(versions, v.Listing())
	}
	access := map[string]any{"tier": m.Access}
	if mir != nil {
		access["requested"] = mir.State().Requested(m.Name, d.research.id)
		access["granted"] = mir.LiveGrant(m.Name, d.research.id, time.Now())
	}
	prov := map[string]any{"manifest": c.String(), "previous": nil, "publisher": m.Publisher, "created": m.Created,
		"deid_mode": m.Deid.Mode, "k_achieved": m.Deid.KAchieved, "highest_risk": m.Deid.HighestRisk}
	if m.Previous != nil {
		prov["previous"] = m.Previous.String()
	}
	if m.Deid.KeyFingerprint != nil {
		prov["key_fingerprint"] = *m.Deid.KeyFingerprint
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"listing": e.Listing(), "title": m.Title, "description": m.Description, "license": m.License,
		"summary": m.Summary, "tables": tables, "versions": versions, "access": access, "provenance": prov,
		"verification": d.verification(r.Context(), st, mir, c),
	})
}

func (d *Demo) apiCheckpoint(w http.ResponseWriter, r *http.Request) {
	m := d.mirror(r.Context())
	if m == nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "the ledger mirror is not available"})
		return
	}
	s, _ := consortium.Load(d.research.dir)
	var witnesses []map[string]string
	quorum := 0
	if s != nil {
		for _, wt := range s.Config.Witnesses {
			witnesses = append(witnesses, map[string]string{"name": wt.Name, "url": wt.HTTP, "peer": wt.Peer.String()})
		}
		quorum = s.Config.Quorum
	}
	writeJSON(w, http.StatusOK, map[string]any{"size": m.Size(), "checkpoint": string(m.Checkpoint()), "witnesses": witnesses,
		"quorum": quorum, "verified": true, "verification": "operator signature, witness quorum, and every entry hashed to the root by this node's mirror"})
}

func (d *Demo) apiEntries(w http.ResponseWriter, r *http.Request) {
	m := d.mirror(r.Context())
	if m == nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "the ledger mirror is not available"})
		return
	}
	out := []AuditEntry{}
	for e, err := range m.Entries(r.Context()) {
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
			return
		}
		out = append(out, d.auditEntry(&e))
	}
	// newest first
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	if s := r.URL.Query().Get("limit"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n >= 0 && n < len(out) {
			out = out[:n]
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (d *Demo) apiRequest(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Dataset string `json:"dataset"`
		Purpose string `json:"purpose"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&req); err != nil || req.Dataset == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": `want {"dataset": "hospital-a/name", "purpose": "..."}`})
		return
	}
	e := ledger.NewEntry(ledger.KindRequest, time.Now())
	e.Dataset, e.Purpose = req.Dataset, req.Purpose
	cm, err := ledgerd.Submit(r.Context(), d.research.dir, e, nil)
	if err != nil {
		status := http.StatusBadGateway
		if errors.Is(err, ledger.ErrRefused) {
			status = http.StatusForbidden
		}
		writeJSON(w, status, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"index": cm.Index, "dataset": req.Dataset, "checkpoint": cm.Checkpoint})
}
