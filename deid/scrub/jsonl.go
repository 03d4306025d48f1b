package scrub

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// MaxLineBytes bounds one JSON line of notes.
const MaxLineBytes = 64 << 20

// Stats counts what [Scrubber.JSONL] did.
type Stats struct {
	Records int64          `json:"records"`
	Spans   map[string]int `json:"spans"` // by type
}

// JSONL scrubs JSON lines: each line an object with a string "text" (and
// usually "id"); other fields pass through. Each output line is the object
// with "text" scrubbed and "spans" added (byte offsets into the original
// text). identity, if not nil, returns the identifiers of the record's
// patient (it sees the whole record, e.g. to read its "patient" field); it
// may return nil. Errors name the line.
func (s *Scrubber) JSONL(ctx context.Context, r io.Reader, w io.Writer, identity func(rec map[string]json.RawMessage) *Identity) (Stats, error) {
	st := Stats{Spans: map[string]int{}}
	br := bufio.NewReaderSize(r, 1<<20)
	bw := bufio.NewWriterSize(w, 1<<20)
	line := 0
	for {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		b, err := readLine(br)
		if errors.Is(err, io.EOF) && len(b) == 0 {
			break
		}
		line++
		if err != nil && !errors.Is(err, io.EOF) {
			return st, fmt.Errorf("scrub: line %d: %w", line, err)
		}
		b = bytes.TrimSpace(b)
		if len(b) == 0 {
			continue
		}
		var rec map[string]json.RawMessage
		if err := json.Unmarshal(b, &rec); err != nil {
			return st, fmt.Errorf("scrub: line %d: not a JSON object: %v", line, err)
		}
		raw, ok := rec["text"]
		if !ok {
			return st, fmt.Errorf("scrub: line %d: no \"text\" field", line)
		}
		var text string
		if err := json.Unmarshal(raw, &text); err != nil {
			return st, fmt.Errorf("scrub: line %d: field \"text\" is not a string", line)
		}
		var id *Identity
		if identity != nil {
			id = identity(rec)
		}
		res := s.Scrub(text, id)
		rec["text"], _ = json.Marshal(res.Text)
		rec["spans"], _ = json.Marshal(res.Spans)
		out, err := json.Marshal(rec)
		if err != nil {
			return st, fmt.Errorf("scrub: line %d: %w", line, err)
		}
		bw.Write(out)
		if err := bw.WriteByte('\n'); err != nil {
			return st, fmt.Errorf("scrub: write: %w", err)
		}
		st.Records++
		for _, sp := range res.Spans {
			st.Spans[sp.Type]++
		}
	}
	if err := bw.Flush(); err != nil {
		return st, fmt.Errorf("scrub: write: %w", err)
	}
	return st, nil
}

// readLine reads one line without its newline, refusing lines over
// MaxLineBytes.
func readLine(br *bufio.Reader) ([]byte, error) {
	var buf []byte
	for {
		chunk, err := br.ReadSlice('\n')
		buf = append(buf, chunk...)
		if len(buf) > MaxLineBytes {
			return nil, fmt.Errorf("line longer than %d bytes", MaxLineBytes)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil {
			return buf, err
		}
		return bytes.TrimRight(buf, "\r\n"), nil
	}
}

// PatientField reads a record's "patient" field, the key of the identities
// of `--export`.
func PatientField(rec map[string]json.RawMessage) string {
	var p string
	if raw, ok := rec["patient"]; ok {
		json.Unmarshal(raw, &p)
	}
	return p
}
