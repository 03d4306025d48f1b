package p2p

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"testing"
)

func TestHTTPOverLibp2p(t *testing.T) {
	const proto = "/cohortnet/test-ledger/1"
	server := testHost(t, nil)
	server.HandleHTTP(proto, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "too large", http.StatusRequestEntityTooLarge)
			return
		}
		fmt.Fprintf(w, "%s %s %s %d", RequestPeer(r), r.Method, r.URL.Path, len(body))
	}))
	client := testHost(t, nil)
	connect(t, client, server)
	c, err := client.HTTPClient(proto, server.ID())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		method   string
		path     string
		body     []byte
		wantCode int
		wantBody string
	}{
		{"get", http.MethodGet, "/checkpoint", nil, 200, fmt.Sprintf("%s GET /checkpoint 0", client.ID())},
		{"post", http.MethodPost, "/add", []byte("entry"), 200, fmt.Sprintf("%s POST /add 5", client.ID())},
		{"body over the cap", http.MethodPost, "/add", make([]byte, MaxHTTPBody+1), http.StatusRequestEntityTooLarge, "too large\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), tc.method, tc.path, bytes.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			got, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.wantCode || string(got) != tc.wantBody {
				t.Fatalf("got %d %q, want %d %q", resp.StatusCode, got, tc.wantCode, tc.wantBody)
			}
		})
	}
}
