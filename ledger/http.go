package ledger

import (
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strings"

	flog "github.com/transparency-dev/formats/log"
)

var tilePathRE = regexp.MustCompile(`^tile/(entries|[0-9]{1,2})/(x[0-9]{3}/)*[0-9]{3}(\.p/[0-9]{1,3})?$`)

func validTilePath(p string) bool { return tilePathRE.MatchString(p) }

func isPartial(p string) bool { return strings.Contains(p, ".p/") }

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// checkpointSize reads the size of a checkpoint note without verifying it
// (the caller produced or verified it).
func checkpointSize(b []byte) (uint64, error) {
	cp, err := checkpointUnverified(b)
	if err != nil {
		return 0, err
	}
	return cp.Size, nil
}

func checkpointUnverified(b []byte) (*flog.Checkpoint, error) {
	text, _, ok := strings.Cut(string(b), "\n\n")
	if !ok {
		return nil, errors.New("ledger: checkpoint is not a signed note")
	}
	var cp flog.Checkpoint
	if _, err := cp.Unmarshal([]byte(text + "\n")); err != nil {
		return nil, errors.New("ledger: checkpoint: " + err.Error())
	}
	return &cp, nil
}

// ErrMalformed is wrapped by every error about an entry's encoding: the
// bytes are not a well-formed entry and will never be accepted.
var ErrMalformed = errors.New("malformed entry")

type malformedError struct{ err error }

func (e malformedError) Error() string   { return e.err.Error() }
func (e malformedError) Unwrap() []error { return []error{e.err, ErrMalformed} }

func isDecodeError(err error) bool { return errors.Is(err, ErrMalformed) }
