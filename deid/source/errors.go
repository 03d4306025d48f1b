package source

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
)

// Sentinel errors, wrapped in a [*ParseError] that says where. A caller
// reports the error to the steward, who fixes or re-exports the file; nothing
// has been written.
var (
	// ErrUnknownFormat: Detect found no known export in the directory; name
	// the format with --source, or point at the export's own directory.
	ErrUnknownFormat = errors.New("no known export format recognised")
	// ErrSyntax: the file is not well-formed CSV or JSON.
	ErrSyntax = errors.New("malformed input")
	// ErrMissingColumn: a CSV header lacks a column the format requires.
	ErrMissingColumn = errors.New("required column missing")
	// ErrMissingField: a record lacks a field the format requires.
	ErrMissingField = errors.New("required field missing")
	// ErrBadValue: a value has the wrong type or cannot be parsed (a date, a number).
	ErrBadValue = errors.New("value of the wrong type")
	// ErrUnknownPatient: a record refers to a patient the export does not contain.
	ErrUnknownPatient = errors.New("reference to a patient not in the export")
	// ErrNoTable: Read was asked for a table the export does not have.
	ErrNoTable = errors.New("table not in export")
)

// ParseError says where input could not be read: the file, the line (CSV
// line, NDJSON line) or the Bundle entry index, and the field. Err is one of
// the sentinel errors above, possibly wrapping a detail.
type ParseError struct {
	File  string // path of the file
	Line  int    // 1-based line; 0 when not known
	Entry int    // 0-based Bundle entry index; -1 when not in a Bundle
	Field string // column or field name; "" when the record as a whole is bad
	Err   error
}

func (e *ParseError) Error() string {
	s := "source: read " + filepath.Base(e.File)
	if e.Line > 0 {
		s += " line " + strconv.Itoa(e.Line)
	}
	if e.Entry >= 0 {
		s += " entry " + strconv.Itoa(e.Entry)
	}
	if e.Field != "" {
		s += " field " + e.Field
	}
	return s + ": " + e.Err.Error()
}

func (e *ParseError) Unwrap() error { return e.Err }

// detail wraps a sentinel with a description.
func detail(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", sentinel, fmt.Sprintf(format, args...))
}

// unmapped counts rows that could not be mapped, by reason.
// Safe for concurrent use by several table readers.
type unmapped struct {
	mu sync.Mutex
	m  map[string]int64
}

func (u *unmapped) add(reason string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.m == nil {
		u.m = make(map[string]int64)
	}
	u.m[reason]++
}

func (u *unmapped) snapshot() map[string]int64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make(map[string]int64, len(u.m))
	for k, v := range u.m {
		out[k] = v
	}
	return out
}
