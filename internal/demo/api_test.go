package demo

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/cohortnet/cohortnet/node/web"
)

var (
	serveOnce sync.Once
	served    *Serving
	serveErr  error
)

// serving is the fixture's API with the dashboard, started once.
func serving(t *testing.T) *Serving {
	t.Helper()
	serveOnce.Do(func() { served, serveErr = fixture.Serve("", web.Handler()) })
	if serveErr != nil {
		t.Fatal(serveErr)
	}
	return served
}

// call does an API request with the token and decodes JSON into out.
func call(t *testing.T, method, path, body string, out any) int {
	t.Helper()
	s := serving(t)
	req, err := http.NewRequestWithContext(t.Context(), method, s.URL+"/api/v1/"+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v\n%s", method, path, err, b)
		}
	}
	return resp.StatusCode
}

func TestAPIToken(t *testing.T) {
	s := serving(t)
	tok, err := os.ReadFile(fixture.Researcher().Join("api.token"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(tok)) != s.Token {
		t.Error("api.token does not hold the served token")
	}
	if fi, _ := os.Stat(fixture.Researcher().Join("api.token")); fi.Mode().Perm() != 0o600 {
		t.Errorf("api.token mode %v, want 0600", fi.Mode().Perm())
	}
	for _, tc := range []struct {
		name, auth string
		want       int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"wrong token", "Bearer " + strings.Repeat("0", len(s.Token)), http.StatusUnauthorized},
		{"token", "Bearer " + s.Token, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(t.Context(), "GET", s.URL+"/api/v1/peers", nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
	// The dashboard itself needs no token: it holds no data.
	resp, err := http.Get(s.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(b, []byte("app.js")) {
		t.Errorf("GET / = %d, %q", resp.StatusCode, b[:min(len(b), 80)])
	}
}

func TestAPIPeersAndCohorts(t *testing.T) {
	var peers struct {
		Members []Peer `json:"members"`
		Quorum  int    `json:"quorum"`
	}
	if code := call(t, "GET", "peers", "", &peers); code != 200 {
		t.Fatalf("peers: %d", code)
	}
	if len(peers.Members) != 5 || peers.Quorum != 2 {
		t.Errorf("%d members, quorum %d: want 5 and 2", len(peers.Members), peers.Quorum)
	}
	for _, m := range peers.Members {
		if !m.Connected && m.ShortName != "agency" {
			t.Errorf("%s not connected to the researcher", m.ShortName)
		}
	}

	var cohorts []CohortView
	if code := call(t, "GET", "cohorts", "", &cohorts); code != 200 {
		t.Fatalf("cohorts: %d", code)
	}
	if len(cohorts) != 3 {
		t.Fatalf("%d cohorts, want 3", len(cohorts))
	}
	local := 0
	for _, c := range cohorts {
		v := c.Verification
		if !v.Signature || !v.Ledger || v.Cosignatures != 2 {
			t.Errorf("%s: verification %+v", c.Name, v)
		}
		if v.Local {
			local++
		}
		if v.Local == (c.Access == "aggregate-only") {
			t.Errorf("%s (%s): local %v", c.Name, c.Access, v.Local)
		}
	}
	if local != 2 {
		t.Errorf("%d local cohorts, want 2", local)
	}
	for _, tc := range []struct {
		query string
		want  int
	}{
		{"institution=hospital-b", 1},
		{"condition=angioedema", 3},
		{"drug=314076", 3},
		{"min_persons=1000000", 0},
		{"q=nothing-like-this", 0},
	} {
		t.Run(tc.query, func(t *testing.T) {
			var got []CohortView
			if code := call(t, "GET", "cohorts?"+tc.query, "", &got); code != 200 {
				t.Fatalf("status %d", code)
			}
			if len(got) != tc.want {
				t.Errorf("%d cohorts, want %d", len(got), tc.want)
			}
		})
	}

	var one map[string]any
	if code := call(t, "GET", "cohorts/"+cohorts[0].Manifest, "", &one); code != 200 {
		t.Fatalf("cohort: %d", code)
	}
	for _, k := range []string{"tables", "summary", "versions", "provenance", "access", "verification"} {
		if one[k] == nil {
			t.Errorf("cohort page has no %s", k)
		}
	}
	if code := call(t, "GET", "cohorts/bafkqaaa", "", nil); code != 404 {
		t.Errorf("unknown cohort: %d, want 404", code)
	}
}

func TestAPIQueryAndSignals(t *testing.T) {
	var res struct {
		Columns []struct{ Name string } `json:"columns"`
		Rows    [][]any                 `json:"rows"`
		Prov    struct {
			Datasets   []struct{ Manifest string } `json:"datasets"`
			Checkpoint string                      `json:"checkpoint"`
		} `json:"provenance"`
	}
	code := call(t, "POST", "query", `{"sql":"SELECT source_institution, count(*) FROM cohorts.person GROUP BY 1 ORDER BY 1"}`, &res)
	if code != 200 || len(res.Rows) != 2 || len(res.Prov.Datasets) != 2 || res.Prov.Checkpoint == "" {
		t.Errorf("query: %d, %+v", code, res)
	}
	if code := call(t, "POST", "query", `{"sql":"COPY (SELECT 1) TO '/tmp/x.csv'"}`, nil); code < 400 {
		t.Errorf("a write through the API: %d, want refused", code)
	}

	var sig []map[string]any
	if code := call(t, "GET", "ae/signals?source=exposures&min_count=5", "", &sig); code != 200 {
		t.Fatalf("signals: %d", code)
	}
	flagged := map[string]bool{}
	for _, s := range sig {
		if f, _ := s["Flags"].(map[string]any); f != nil && f["evans"] == true {
			flagged[s["drug"].(string)+">"+s["event"].(string)] = true
		}
	}
	for _, p := range fixture.truth.Signals {
		if !flagged[p.Drug+">"+p.Event] {
			t.Errorf("planted %s → %s not flagged over the researcher's two datasets", p.DrugName, p.EventName)
		}
	}
}

func TestAPILedgerAndRequest(t *testing.T) {
	var before []AuditEntry
	if code := call(t, "GET", "ledger/entries", "", &before); code != 200 {
		t.Fatalf("entries: %d", code)
	}
	var r struct {
		Index uint64 `json:"index"`
	}
	if code := call(t, "POST", "access/requests", `{"dataset":"hospital-c/synthetic-ehr","purpose":"API test"}`, &r); code != 201 {
		t.Fatalf("request: %d", code)
	}
	if code := call(t, "POST", "access/requests", `{"dataset":"nobody/nothing","purpose":"x"}`, nil); code != http.StatusForbidden {
		t.Errorf("request for an unpublished dataset: %d, want 403", code)
	}
	var cp struct {
		Size       uint64 `json:"size"`
		Checkpoint string `json:"checkpoint"`
		Witnesses  []any  `json:"witnesses"`
	}
	if code := call(t, "GET", "ledger/checkpoint", "", &cp); code != 200 {
		t.Fatalf("checkpoint: %d", code)
	}
	if cp.Size != uint64(len(before))+1 || r.Index != uint64(len(before)) || len(cp.Witnesses) != 2 {
		t.Errorf("after a request: size %d (index %d), was %d entries; %d witnesses", cp.Size, r.Index, len(before), len(cp.Witnesses))
	}
	var latest []AuditEntry
	call(t, "GET", "ledger/entries?limit=1", "", &latest)
	if len(latest) != 1 || latest[0].Kind != "request" || latest[0].Author != "research-lab" || latest[0].Subject != "API test" {
		t.Errorf("latest entry %+v", latest)
	}
}
