package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/cohortnet/cohortnet/internal/datadir"
)

// ErrNotRunning means no node answers for the data directory: the caller
// works offline or tells the user to start `cohortnet node`.
var ErrNotRunning = errors.New("no running node for this data directory (start `cohortnet node`)")

// Client calls a running node's API, as the command line does.
type Client struct {
	Base  string // "http://127.0.0.1:PORT"
	Token string
	HTTP  *http.Client
}

// Dial finds the node running on data directory d (from <data>/api.addr and
// the token) and checks that it answers. It returns an error wrapping
// ErrNotRunning when none does.
func Dial(ctx context.Context, d datadir.Dir) (*Client, error) {
	b, err := os.ReadFile(d.Join(AddrFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotRunning
	}
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	tok, err := os.ReadFile(d.Join(datadir.TokenFile))
	if err != nil {
		return nil, fmt.Errorf("node: api token: %w", err)
	}
	c := &Client{Base: "http://" + strings.TrimSpace(string(b)), Token: strings.TrimSpace(string(tok)), HTTP: &http.Client{}}
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := c.Do(pctx, http.MethodGet, "/api/v1/ledger/checkpoint", nil, nil); err != nil {
		var he *HTTPError
		if errors.As(err, &he) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %v", ErrNotRunning, err)
	}
	return c, nil
}

// HTTPError is a non-2xx answer of the API.
type HTTPError struct {
	Status int
	Msg    string
}

func (e *HTTPError) Error() string { return fmt.Sprintf("node api: %d: %s", e.Status, e.Msg) }

// Do sends in (JSON, unless it is []byte) to path and decodes the JSON answer
// into out (when not nil).
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	switch v := in.(type) {
	case nil:
	case []byte:
		body = bytes.NewReader(v)
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		var e struct {
			Error string `json:"error"`
		}
		msg := strings.TrimSpace(string(b))
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		return &HTTPError{Status: resp.StatusCode, Msg: msg}
	}
	if out == nil {
		io.Copy(io.Discard, resp.Body)
		return nil
	}
	if w, ok := out.(io.Writer); ok {
		_, err = io.Copy(w, resp.Body)
		return err
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
