package ledger

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/libp2p/go-libp2p/core/crypto"
	flog "github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/cohortnet/cohortnet/consortium"
	"github.com/cohortnet/cohortnet/internal/datadir"
)

// WitnessConfig configures a [Witness].
type WitnessConfig struct {
	// Dir keeps the last checkpoint cosigned per log, e.g. <data>/ledger/witness.
	Dir string
	// Key is the witness's identity key; it cosigns.
	Key crypto.PrivKey
	// Name is the cosignature key name, as the consortium configuration lists it.
	Name string
	// Consortium returns the current configuration: the log the witness
	// accepts checkpoints from is its ledger (origin and key).
	Consortium func() *consortium.Config
	// Logger receives refusals and cosignatures. If nil, they are discarded.
	Logger *slog.Logger
}

// Witness cosigns the ledger's checkpoints (C2SP tlog-witness and
// tlog-cosignature) after checking that each is consistent with the last one
// it cosigned, which it keeps on disk before answering. It never cosigns two
// different trees of the same size, nor a tree that does not extend the last.
type Witness struct {
	cfg    WitnessConfig
	log    *slog.Logger
	signer note.Signer
	mu     sync.Mutex
}

// NewWitness returns a witness that keeps its state in cfg.Dir.
func NewWitness(cfg WitnessConfig) (*Witness, error) {
	if cfg.Dir == "" || cfg.Key == nil || cfg.Name == "" || cfg.Consortium == nil {
		return nil, errors.New("ledger: witness needs a directory, a key, a name and a consortium configuration")
	}
	s, err := consortium.CosignatureSigner(cfg.Key, cfg.Name)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("ledger: witness: %w", err)
	}
	lg := cfg.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	return &Witness{cfg: cfg, log: lg, signer: s}, nil
}

// WitnessError is a refusal of [Witness.AddCheckpoint], with the HTTP status
// the tlog-witness protocol gives it. For 409 with Size set, the caller's old
// size was wrong: retry with Size.
type WitnessError struct {
	Status  int
	Size    uint64 // the size the witness last cosigned (409 only)
	HasSize bool
	Msg     string
}

func (e *WitnessError) Error() string { return "witness: " + e.Msg }

func werr(status int, format string, args ...any) error {
	return &WitnessError{Status: status, Msg: fmt.Sprintf(format, args...)}
}

// Latest returns the last checkpoint the witness cosigned for origin (nil if none).
func (w *Witness) Latest(origin string) ([]byte, error) {
	b, err := os.ReadFile(w.statePath(origin))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

func (w *Witness) statePath(origin string) string {
	h := sha256.Sum256([]byte(origin))
	return filepath.Join(w.cfg.Dir, hex.EncodeToString(h[:12])+".checkpoint")
}

// AddCheckpoint is the tlog-witness add-checkpoint exchange: given the size
// the caller believes the witness last cosigned, a consistency proof from
// that size, and a new checkpoint signed by the log, it returns the
// witness's cosignature line(s), or a *[WitnessError].
func (w *Witness) AddCheckpoint(ctx context.Context, oldSize uint64, consistency [][]byte, cpNote []byte) ([]byte, error) {
	c := w.cfg.Consortium()
	if c == nil || c.Ledger == nil {
		return nil, werr(http.StatusNotFound, "no ledger configured")
	}
	origin, _, _ := strings.Cut(string(cpNote), "\n")
	if origin != c.Ledger.Origin {
		return nil, werr(http.StatusNotFound, "unknown log %q", origin)
	}
	lv, err := c.LedgerVerifier()
	if err != nil {
		return nil, werr(http.StatusInternalServerError, "%v", err)
	}
	cp, _, n, err := flog.ParseCheckpoint(cpNote, origin, lv)
	if err != nil {
		return nil, werr(http.StatusForbidden, "checkpoint not signed by the ledger operator: %v", err)
	}
	if oldSize > cp.Size {
		return nil, werr(http.StatusBadRequest, "old size %d is larger than the checkpoint's %d", oldSize, cp.Size)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	prev, err := w.Latest(origin)
	if err != nil {
		return nil, werr(http.StatusInternalServerError, "read state: %v", err)
	}
	var last flog.Checkpoint
	if prev != nil {
		pc, err := checkpointUnverified(prev)
		if err != nil {
			return nil, werr(http.StatusInternalServerError, "state is damaged: %v", err)
		}
		last = *pc
	}
	if oldSize != last.Size {
		return nil, &WitnessError{Status: http.StatusConflict, Size: last.Size, HasSize: true,
			Msg: fmt.Sprintf("old size %d, but the last cosigned size is %d", oldSize, last.Size)}
	}
	switch {
	case cp.Size == last.Size:
		if len(consistency) != 0 || !bytes.Equal(cp.Hash, last.Hash) && last.Size != 0 {
			w.log.Warn("witness: refused a fork", "origin", origin, "size", cp.Size)
			return nil, werr(http.StatusConflict, "checkpoint of size %d has a different root than the one cosigned: the log forked", cp.Size)
		}
	case last.Size == 0:
		// Nothing to be consistent with yet.
	default:
		if err := proof.VerifyConsistency(rfc6962.DefaultHasher, last.Size, cp.Size, consistency, last.Hash, cp.Hash); err != nil {
			w.log.Warn("witness: refused an inconsistent checkpoint", "origin", origin, "old", last.Size, "new", cp.Size)
			return nil, werr(http.StatusUnprocessableEntity, "checkpoint of size %d is not consistent with the cosigned size %d: %v", cp.Size, last.Size, err)
		}
	}
	signed, err := note.Sign(&note.Note{Text: n.Text}, w.signer)
	if err != nil {
		return nil, werr(http.StatusInternalServerError, "cosign: %v", err)
	}
	if cp.Size != last.Size || prev == nil {
		if err := datadir.WriteFileAtomic(w.statePath(origin), cpNote, 0o644); err != nil {
			return nil, werr(http.StatusInternalServerError, "save state: %v", err)
		}
	}
	return signed[len(n.Text)+1:], nil
}

// Handler serves POST add-checkpoint (C2SP tlog-witness). Mount it at the
// witness's base URL.
func (w *Witness) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /add-checkpoint", w.serveAddCheckpoint)
	return mux
}

func (w *Witness) serveAddCheckpoint(rw http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(rw, r.Body, 64<<10))
	if err != nil {
		http.Error(rw, "request too large", http.StatusRequestEntityTooLarge)
		return
	}
	old, consistency, cp, err := ParseAddCheckpoint(body)
	if err != nil {
		http.Error(rw, err.Error(), http.StatusBadRequest)
		return
	}
	sig, err := w.AddCheckpoint(r.Context(), old, consistency, cp)
	var we *WitnessError
	if errors.As(err, &we) {
		if we.HasSize {
			rw.Header().Set("Content-Type", "text/x.tlog.size")
			rw.WriteHeader(we.Status)
			fmt.Fprintf(rw, "%d\n", we.Size)
			return
		}
		http.Error(rw, we.Msg, we.Status)
		return
	}
	if err != nil {
		http.Error(rw, err.Error(), http.StatusInternalServerError)
		return
	}
	rw.Header().Set("Content-Type", "text/x.tlog.signature")
	rw.Write(sig)
}

// ParseAddCheckpoint reads a tlog-witness add-checkpoint request body: an
// "old N" line, base64 consistency proof lines, an empty line, and the
// checkpoint note.
func ParseAddCheckpoint(body []byte) (oldSize uint64, consistency [][]byte, cp []byte, err error) {
	r := bufio.NewReader(bytes.NewReader(body))
	line, err := r.ReadString('\n')
	if err != nil {
		return 0, nil, nil, errors.New("add-checkpoint: no old size line")
	}
	num, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), "old ")
	if !ok {
		return 0, nil, nil, errors.New("add-checkpoint: first line is not \"old N\"")
	}
	oldSize, err = strconv.ParseUint(num, 10, 64)
	if err != nil || (len(num) > 1 && num[0] == '0') {
		return 0, nil, nil, fmt.Errorf("add-checkpoint: old size %q is not a decimal number", num)
	}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return 0, nil, nil, errors.New("add-checkpoint: no empty line before the checkpoint")
		}
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			break
		}
		if len(consistency) == 63 {
			return 0, nil, nil, errors.New("add-checkpoint: more than 63 proof lines")
		}
		h, err := base64.StdEncoding.DecodeString(line)
		if err != nil || len(h) != sha256.Size {
			return 0, nil, nil, fmt.Errorf("add-checkpoint: proof line %d is not a base64 SHA-256 hash", len(consistency)+1)
		}
		consistency = append(consistency, h)
	}
	cp, _ = io.ReadAll(r)
	if len(cp) == 0 {
		return 0, nil, nil, errors.New("add-checkpoint: no checkpoint")
	}
	return oldSize, consistency, cp, nil
}
