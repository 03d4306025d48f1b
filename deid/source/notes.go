package source

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"

	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/cohortnet/cohortnet/deid/internal/idset"
)

// noteLine is one line of notes.jsonl.
type noteLine struct {
	ID        string `json:"id"`
	Patient   string `json:"patient"`
	Encounter string `json:"encounter"`
	Date      string `json:"date"`
	Type      string `json:"type"`
	Text      string `json:"text"`
}

// addNotes registers the note table when notes.jsonl lies in dir.
func addNotes(e *export, dir string, ids func() (*idset.Set, error)) {
	path := filepath.Join(dir, NotesFile)
	if !exists(path) {
		return
	}
	e.add(Note, func(ctx context.Context) (array.RecordReader, error) { return readNotes(ctx, path, ids, nil, nil) })
}

// maxLine caps one JSON line (a note, an NDJSON resource).
const maxLine = 64 << 20

// readNotes streams notes.jsonl as the note table. Notes whose id is in
// skip (already read as a FHIR DocumentReference) are left out and counted.
func readNotes(ctx context.Context, path string, idsFn func() (*idset.Set, error), skip map[string]struct{}, un *unmapped) (array.RecordReader, error) {
	ids, err := idsFn()
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<20), maxLine)
	line := 0
	fill := func(ctx context.Context, w *rowWriter) (bool, error) {
		for w.rows < BatchRows {
			if !sc.Scan() {
				if err := sc.Err(); err != nil {
					return false, &ParseError{File: path, Line: line + 1, Entry: -1, Err: detail(ErrSyntax, "%v", err)}
				}
				return true, nil
			}
			line++
			b := sc.Bytes()
			if len(trimSpace(b)) == 0 {
				continue
			}
			var n noteLine
			if err := unmarshal(b, &n); err != nil {
				return false, jsonErr(path, line, -1, err)
			}
			perr := func(field string, err error) error {
				return &ParseError{File: path, Line: line, Entry: -1, Field: field, Err: err}
			}
			if n.Patient == "" {
				return false, perr("patient", ErrMissingField)
			}
			if !ids.Has(n.Patient) {
				return false, perr("patient", detail(ErrUnknownPatient, "patient %q", clip(n.Patient)))
			}
			d, dok, err := parseDate(n.Date)
			if err != nil {
				return false, perr("date", err)
			}
			if _, dup := skip[n.ID]; dup && n.ID != "" {
				un.add("note in notes.jsonl also a DocumentReference (read once)")
				continue
			}
			w.str(0, n.ID)
			w.str(1, n.Patient)
			w.str(2, n.Encounter)
			w.date(3, d, dok)
			w.str(4, n.Type)
			w.str(5, n.Text)
			w.end()
		}
		return false, nil
	}
	return newBatchReader(ctx, Schema(Note), fill, f.Close), nil
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\r' || b[0] == '\n') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\r' || b[len(b)-1] == '\n') {
		b = b[:len(b)-1]
	}
	return b
}

// jsonErr turns a decoding error into a ParseError naming the field for a
// type error and ErrSyntax for a syntax error.
func jsonErr(path string, line, entry int, err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		if field == "" {
			field = "(record)"
		}
		return &ParseError{File: path, Line: line, Entry: entry, Field: field,
			Err: detail(ErrBadValue, "JSON %s where %s expected", te.Value, te.Type)}
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return &ParseError{File: path, Line: line, Entry: entry, Err: detail(ErrSyntax, "JSON at byte %d: %v", se.Offset, se)}
	}
	return &ParseError{File: path, Line: line, Entry: entry, Err: detail(ErrSyntax, "JSON: %v", err)}
}
