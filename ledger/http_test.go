package ledger

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

// The tiles handler serves the tlog-tiles resources and nothing else of the
// directory.
func TestTilesHandlerServesOnlyTiles(t *testing.T) {
	dir := t.TempDir()
	for p, b := range map[string]string{
		"checkpoint":            "cp",
		"tile/0/000":            "t",
		"tile/0/x001/002.p/7":   "p",
		"tile/entries/000.p/3":  "e",
		".state/treeState":      "secret state",
		"tile/0/000.tmp":        "temp",
		"../outside-of-the-log": "no",
	} {
		full := filepath.Join(dir, "log", p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		os.WriteFile(full, []byte(b), 0o644)
	}
	h := TilesHandler(filepath.Join(dir, "log"))
	for _, tc := range []struct {
		path string
		want int
	}{
		{"/checkpoint", http.StatusOK},
		{"/tile/0/000", http.StatusOK},
		{"/tile/0/x001/002.p/7", http.StatusOK},
		{"/tile/entries/000.p/3", http.StatusOK},
		{"/tile/entries/001", http.StatusNotFound},
		{"/.state/treeState", http.StatusNotFound},
		{"/tile/0/000.tmp", http.StatusNotFound},
		{"/tile/../../outside-of-the-log", http.StatusNotFound},
		{"/tile/0/../../.state/treeState", http.StatusNotFound},
	} {
		t.Run(tc.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodGet, "http://log.example"+"/x", nil)
			req.URL.Path = tc.path
			h.ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Fatalf("GET %s = %d, want %d", tc.path, rec.Code, tc.want)
			}
		})
	}
}
