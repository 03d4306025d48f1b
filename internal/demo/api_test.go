package demo

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/cohortnet/cohortnet/node"
)

// served is the researcher node's API as --serve offers it.
type served struct{ URL, Token string }

func serving(t *testing.T) served {
	t.Helper()
	u, tok := fixture.API()
	return served{u, tok}
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

// The researcher's node serves its API with the token in its data
// directory, and the dashboard at "/" without one.
func TestServedAPIAndDashboard(t *testing.T) {
	s := serving(t)
	tok, err := os.ReadFile(fixture.Researcher().Join("api.token"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(tok)) != s.Token {
		t.Error("api.token does not hold the served token")
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
	resp, err := http.Get(s.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(b, []byte("app.js")) {
		t.Errorf("GET / = %d, %q", resp.StatusCode, b[:min(len(b), 80)])
	}

	var cohorts []node.Cohort
	if code := call(t, "GET", "cohorts", "", &cohorts); code != 200 || len(cohorts) != 3 {
		t.Fatalf("cohorts: %d, %d listed", code, len(cohorts))
	}
	held := 0
	for _, c := range cohorts {
		if !c.Status.Signature || !c.Status.Anchored || c.Status.Witnessed != 2 {
			t.Errorf("%s: status %+v", c.Name, c.Status)
		}
		if c.Status.Held {
			held++
		}
	}
	if held != 2 {
		t.Errorf("%d cohorts held by the researcher, want 2", held)
	}

	var sig []map[string]any
	if code := call(t, "GET", "ae/signals?source=self-controlled&min_count=5", "", &sig); code != 200 {
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
			t.Errorf("planted %s → %s not flagged over the researcher's two fetched datasets", p.DrugName, p.EventName)
		}
	}
}
