package ledger

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	flog "github.com/transparency-dev/formats/log"
)

// Client submits entries to the ledger operator over HTTP.
type Client struct {
	// URL is the operator's base URL (the consortium's ledger HTTP address).
	URL string
	// HTTPClient carries the requests. If nil, http.DefaultClient; the network
	// layer passes one that speaks HTTP over libp2p.
	HTTPClient *http.Client
	// Verifiers, when set (Log not nil), check every commitment before
	// Submit returns it.
	Verifiers Verifiers

	mu       sync.Mutex
	verified map[string]*flog.Checkpoint // checkpoints already verified, by note text
}

// openCheckpoint verifies a checkpoint once; commitments submitted together
// share one.
func (c *Client) openCheckpoint(note string) (*flog.Checkpoint, error) {
	c.mu.Lock()
	cp, ok := c.verified[note]
	c.mu.Unlock()
	if ok {
		return cp, nil
	}
	cp, _, err := c.Verifiers.OpenCheckpoint([]byte(note))
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.verified == nil || len(c.verified) >= 16 {
		c.verified = map[string]*flog.Checkpoint{}
	}
	c.verified[note] = cp
	c.mu.Unlock()
	return cp, nil
}

// Submit sends an encoded, signed entry and waits for its commitment. A
// refusal on the entry's merits wraps [ErrRefused]; a malformed entry wraps
// [ErrMalformed].
func (c *Client) Submit(ctx context.Context, encoded []byte) (*Commitment, error) {
	hc := c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(c.URL, "/")+"/add-entry", bytes.NewReader(encoded))
	if err != nil {
		return nil, fmt.Errorf("ledger: submit: %w", err)
	}
	req.Header.Set("Content-Type", "application/cbor")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("ledger: submit to %s: %w", c.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("ledger: submit to %s: %w", c.URL, err)
	}
	msg := strings.TrimSpace(string(body))
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusForbidden:
		return nil, fmt.Errorf("ledger: %s: %w", c.URL, errorText{msg, ErrRefused})
	case http.StatusBadRequest:
		return nil, fmt.Errorf("ledger: %s: %w", c.URL, errorText{msg, ErrMalformed})
	default:
		return nil, fmt.Errorf("ledger: submit to %s: %s: %s", c.URL, resp.Status, msg)
	}
	var cm Commitment
	if err := json.Unmarshal(body, &cm); err != nil {
		return nil, fmt.Errorf("ledger: submit to %s: read commitment: %w", c.URL, err)
	}
	if !bytes.Equal(cm.Entry, encoded) {
		return nil, fmt.Errorf("ledger: %s answered with a commitment to another entry", c.URL)
	}
	if c.Verifiers.Log != nil {
		// The entry is the caller's own; the checkpoint and the proof are checked.
		cp, err := c.openCheckpoint(cm.Checkpoint)
		if err == nil {
			err = verifyInclusion(&cm, cp)
		}
		if err != nil {
			return nil, fmt.Errorf("ledger: commitment from %s: %w", c.URL, err)
		}
	}
	return &cm, nil
}

// Verify checks a commitment offline with the client's verifiers (see
// [VerifyCommitment]) and returns its entry.
func (c *Client) Verify(cm *Commitment) (*Entry, error) {
	if c.Verifiers.Log == nil {
		return nil, errors.New("ledger: client has no verifier keys")
	}
	e, _, err := VerifyCommitment(cm, c.Verifiers)
	return e, err
}

// errorText is a server's message that still matches a sentinel with errors.Is.
type errorText struct {
	msg string
	err error
}

func (e errorText) Error() string { return e.msg }
func (e errorText) Is(target error) bool {
	return errors.Is(e.err, target)
}
