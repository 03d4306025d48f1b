package query

import (
	"crypto/rand"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
)

func TestHTTPHandlers(t *testing.T) {
	e, ds, fx := openThree(t, 120)
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ans := &Answerer{Engine: e, Key: key, Institution: "hospital-a", Releases: &MemoryReleases{}}
	mux := http.NewServeMux()
	mux.Handle("/api/v1/query", QueryHandler(func() *Engine { return e }, func() string { return "cp" }, nil))
	mux.Handle("/api/v1/aggregate", AggregateHandler(func() *Answerer { return ans }))
	mux.Handle("/api/v1/ae/signals", SignalsHandler(func() *Engine { return e }))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	post := func(path, accept, body string) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(body))
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	t.Run("query csv with provenance trailer", func(t *testing.T) {
		resp := post("/api/v1/query", "text/csv", `{"sql":"SELECT person_id FROM cohorts.person"}`)
		defer resp.Body.Close()
		recs, err := csv.NewReader(resp.Body).ReadAll()
		if err != nil || resp.StatusCode != 200 || len(recs) != len(fx[0].persons)+1 {
			t.Fatalf("status %d, %d records, %v", resp.StatusCode, len(recs), err)
		}
		var prov Provenance
		if err := json.Unmarshal([]byte(resp.Trailer.Get(ProvenanceTrailer)), &prov); err != nil || prov.Checkpoint != "cp" || prov.Manifests()[0] != ds[0].Manifest {
			t.Errorf("trailer %q: %v", resp.Trailer.Get(ProvenanceTrailer), err)
		}
	})
	t.Run("query refused", func(t *testing.T) {
		resp := post("/api/v1/query", "", `{"sql":"COPY (SELECT 1) TO '/tmp/x'"}`)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(b), "COPY") {
			t.Errorf("status %d: %s", resp.StatusCode, b)
		}
	})
	t.Run("aggregate", func(t *testing.T) {
		resp := post("/api/v1/aggregate", "", `{"id":"x","requester":"r","table":"person","group_by":["gender"],"min_cell":5}`)
		defer resp.Body.Close()
		var a AggregateAnswer
		if err := json.NewDecoder(resp.Body).Decode(&a); err != nil || resp.StatusCode != 200 {
			t.Fatalf("status %d: %v", resp.StatusCode, err)
		}
		if err := a.Verify(); err != nil || len(a.Cells) != 2 {
			t.Errorf("answer: %v, %d cells", err, len(a.Cells))
		}
		bad := post("/api/v1/aggregate", "", `{"table":"person","group_by":["person_id"]}`)
		bad.Body.Close()
		if bad.StatusCode != http.StatusBadRequest {
			t.Errorf("disallowed column: status %d", bad.StatusCode)
		}
	})
	t.Run("signals", func(t *testing.T) {
		resp, err := http.Get(srv.URL + "/api/v1/ae/signals?source=reports&min_count=3&drug=D1")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var sig []Signal
		if err := json.NewDecoder(resp.Body).Decode(&sig); err != nil || len(sig) == 0 {
			t.Fatalf("%v, %d signals", err, len(sig))
		}
		for _, s := range sig {
			if s.Drug != "D1" || s.A < 3 {
				t.Errorf("signal %+v", s.Pair)
			}
		}
	})
	// The exposure methods by name; exposures over the expert-mode
	// dataset (hospital-a) warns in every signal and a header.
	for _, tc := range []struct {
		source string
		warns  bool
		status int
	}{{"exposures", true, 200}, {"self-controlled", false, 200}, {"exposure", false, 400}} {
		t.Run("signals source="+tc.source, func(t *testing.T) {
			resp, err := http.Get(srv.URL + "/api/v1/ae/signals?source=" + tc.source + "&min_count=3&drug=D1")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if tc.status != 200 {
				return
			}
			var sig []Signal
			if err := json.NewDecoder(resp.Body).Decode(&sig); err != nil || len(sig) == 0 {
				t.Fatalf("%v, %d signals", err, len(sig))
			}
			h := resp.Header.Get("Cohortnet-Warning")
			if got := h != "" && strings.HasPrefix(h, ds[0].Name+": ") && sig[0].Warning == h; got != tc.warns {
				t.Errorf("warning header %q, signal warning %q; want warned %v", h, sig[0].Warning, tc.warns)
			}
		})
	}
}
