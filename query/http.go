package query

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// HTTP handlers for the node's local API (DESIGN.md: POST /api/v1/query,
// POST /api/v1/aggregate, GET /api/v1/ae/signals). The node mounts them
// behind its token check; they hold no state of their own.

// contentTypes maps result formats to media types and back.
var contentTypes = map[string]string{
	FormatJSON:    "application/json",
	FormatJSONL:   "application/x-ndjson",
	FormatCSV:     "text/csv",
	FormatParquet: "application/vnd.apache.parquet",
	FormatArrow:   "application/vnd.apache.arrow.stream",
}

// formatFor picks the result format from the Accept header (JSON when
// absent or anything else).
func formatFor(accept string) string {
	for _, part := range strings.Split(accept, ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		for f, ct := range contentTypes {
			if ct == mt {
				return f
			}
		}
	}
	return FormatJSON
}

// QueryRequest is the body of POST /api/v1/query.
type QueryRequest struct {
	SQL string `json:"sql"`
	// Timeout, e.g. "30s"; empty means the engine's.
	Timeout string `json:"timeout,omitempty"`
}

// ProvenanceTrailer is the HTTP trailer carrying a query result's
// provenance (JSON) after the streamed body.
const ProvenanceTrailer = "Cohortnet-Provenance"

// QueryHandler serves POST /api/v1/query: the SQL in a [QueryRequest],
// the result streamed in the format the Accept header asks for (JSON by
// default, which carries the provenance as a field; every format also has
// it in the [ProvenanceTrailer] trailer). checkpoint returns the ledger
// checkpoint to cite; it may be nil. engine returns the current engine (the
// node swaps engines when its catalogue changes).
func QueryHandler(engine func() *Engine, checkpoint func() string, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			httpError(w, http.StatusMethodNotAllowed, errors.New("use POST"))
			return
		}
		var req QueryRequest
		if err := json.NewDecoder(io.LimitReader(r.Body, maxSQL+4096)).Decode(&req); err != nil {
			httpError(w, http.StatusBadRequest, fmt.Errorf("query: decode request: %w", err))
			return
		}
		opts := Options{}
		if req.Timeout != "" {
			d, err := time.ParseDuration(req.Timeout)
			if err != nil || d <= 0 {
				httpError(w, http.StatusBadRequest, fmt.Errorf("query: timeout %q: use e.g. 30s", req.Timeout))
				return
			}
			opts.Timeout = d
		}
		if checkpoint != nil {
			opts.Checkpoint = checkpoint()
		}
		rows, err := engine().Query(r.Context(), req.SQL, opts)
		if err != nil {
			httpError(w, statusOf(err), err)
			return
		}
		format := formatFor(r.Header.Get("Accept"))
		w.Header().Set("Content-Type", contentTypes[format])
		w.Header().Set("Trailer", ProvenanceTrailer)
		w.WriteHeader(http.StatusOK)
		if err := Write(w, rows, format, WriteOptions{}); err != nil {
			// The status is sent; the trailer says the result is incomplete.
			w.Header().Set(ProvenanceTrailer, `{"error":`+strconv.Quote(err.Error())+`}`)
			log.Debug("query result incomplete", "err", err)
			return
		}
		prov, _ := json.Marshal(rows.Provenance())
		w.Header().Set(ProvenanceTrailer, string(prov))
	})
}

// AggregateHandler serves POST /api/v1/aggregate: an [AggregateRequest] in,
// the node's signed [AggregateAnswer] out (combining answers from several
// institutions is the requester's side, see [Combine]).
func AggregateHandler(answerer func() *Answerer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			httpError(w, http.StatusMethodNotAllowed, errors.New("use POST"))
			return
		}
		var req AggregateRequest
		dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			httpError(w, http.StatusBadRequest, fmt.Errorf("query: decode aggregate request: %w", err))
			return
		}
		if err := req.Validate(); err != nil {
			httpError(w, http.StatusBadRequest, err)
			return
		}
		ans, err := answerer().Answer(r.Context(), req)
		if err != nil {
			httpError(w, statusOf(err), err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(ans)
	})
}

// SignalsHandler serves GET /api/v1/ae/signals with the parameters of
// `cohortnet ae signals`: source (reports, exposures or self-controlled),
// window, seed (exposures), drug, event, min_count, quarter; JSON (or CSV by
// Accept) out, computed over the local datasets. Datasets left out are
// named in the Cohortnet-Skipped header; warnings (see
// [WarnExposuresShifted]) in each signal's warning field and the
// Cohortnet-Warning header.
func SignalsHandler(engine func() *Engine) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			httpError(w, http.StatusMethodNotAllowed, errors.New("use GET"))
			return
		}
		q := r.URL.Query()
		cfg := SignalConfig{Source: q.Get("source"), Quarter: q.Get("quarter")}
		num := func(name string, def int64) (int64, bool) {
			s := q.Get(name)
			if s == "" {
				return def, true
			}
			v, err := strconv.ParseInt(s, 10, 64)
			if err != nil || v < 0 {
				httpError(w, http.StatusBadRequest, fmt.Errorf("query: parameter %s=%q: not a count", name, s))
				return 0, false
			}
			return v, true
		}
		window, ok := num("window", 30)
		if !ok {
			return
		}
		seed, ok := num("seed", 1)
		if !ok {
			return
		}
		minCount, ok := num("min_count", 3)
		if !ok {
			return
		}
		cfg.Window, cfg.Seed = int(window), uint64(seed)
		c, err := engine().Counts(r.Context(), cfg)
		if err != nil {
			httpError(w, statusOf(err), err)
			return
		}
		format := formatFor(r.Header.Get("Accept"))
		if format != FormatCSV {
			format = FormatJSON
		}
		w.Header().Set("Content-Type", contentTypes[format])
		if len(c.Skipped) > 0 {
			w.Header().Set("Cohortnet-Skipped", strings.Join(c.Skipped, "; "))
		}
		if len(c.Warnings) > 0 {
			w.Header().Set("Cohortnet-Warning", strings.Join(c.Warnings, "; "))
		}
		WriteSignals(w, Signals(c, minCount, q.Get("drug"), q.Get("event")), format)
	})
}

func statusOf(err error) int {
	switch {
	case errors.Is(err, ErrRefused):
		return http.StatusForbidden
	case errors.Is(err, ErrTimeout):
		return http.StatusGatewayTimeout
	case errors.Is(err, ErrMemoryLimit):
		return http.StatusInsufficientStorage
	case strings.Contains(err.Error(), "budget exhausted"):
		return http.StatusTooManyRequests
	}
	return http.StatusBadRequest
}

func httpError(w http.ResponseWriter, status int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}
