package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cohortnet/cohortnet/cohort"
	"github.com/cohortnet/cohortnet/internal/datadir"
	"github.com/cohortnet/cohortnet/internal/synth"
	"github.com/cohortnet/cohortnet/node"
)

// Config says how big the demo is. Its zero value runs the default demo in
// a temporary directory.
type Config struct {
	// Hospitals is the number of hospitals; default 3, at least 3 (one per
	// access tier: restricted, registered, aggregate-only, then again).
	Hospitals int
	// Patients per hospital; default 5000.
	Patients int
	// Seed makes the populations; default 1. Hospital i uses Seed + i.
	Seed int64
	// Dir holds every participant's data directory (Dir/hospital-a, ...).
	// Empty: a temporary directory that Close removes.
	Dir string
	// Out receives the story as it happens, one line per fact; nil: nothing.
	Out io.Writer
	// API is the researcher node's local HTTP API address (host:port);
	// empty: a free loopback port. The other nodes serve no API port.
	API string
	// UI, if set, is the dashboard the researcher's node serves at "/".
	UI http.Handler
	// Logger receives the packages' operational messages; nil discards them.
	Logger *slog.Logger
}

func (c Config) hospitals() int {
	if c.Hospitals == 0 {
		return 3
	}
	return c.Hospitals
}

func (c Config) patients() int {
	if c.Patients == 0 {
		return 5000
	}
	return c.Patients
}

func (c Config) seed() int64 {
	if c.Seed == 0 {
		return 1
	}
	return c.Seed
}

// Result is what the story showed; `cohortnet demo --json` prints it.
type Result struct {
	Published  []Published  `json:"published"`
	Fetched    []Fetched    `json:"fetched"`
	Denied     []Denied     `json:"denied"`
	Query      *QueryResult `json:"query"`
	Signals    []Signal     `json:"signals"`     // the pooled signals flagged by Evans, most cases first
	SignalsBy  string       `json:"signals_by"`  // the method that counted them (query.SourceSelfControlled)
	Planted    []Planted    `json:"planted"`     // every planted pair and whether it came out flagged
	LedgerSize uint64       `json:"ledger_size"` // entries in the log at the end
	Checkpoint string       `json:"checkpoint"`  // the researcher's latest cosigned checkpoint (note text)
	Audit      []AuditEntry `json:"audit"`       // the ledger's entries, in order
	Timings    []Timing     `json:"timings"`
}

// Published is one hospital's publication.
type Published struct {
	Dataset     string `json:"dataset"`
	Institution string `json:"institution"`
	Access      string `json:"access"`
	Manifest    string `json:"manifest"`
	Version     int64  `json:"version"`
	Persons     int64  `json:"persons"`
	Files       int    `json:"files"`
	Bytes       int64  `json:"bytes"`
	LedgerIndex uint64 `json:"ledger_index"`
	// Verified is what the researcher checked on the announcement:
	// "signature", "ledger inclusion", and after a fetch "cids".
	Verified []string `json:"verified"`
}

// Fetched is a dataset the researcher fetched.
type Fetched struct {
	Dataset  string  `json:"dataset"`
	Manifest string  `json:"manifest"`
	Files    int     `json:"files"`
	Bytes    int64   `json:"bytes"`
	Seconds  float64 `json:"seconds"`
}

// Denied is a dataset the researcher asked for and did not get.
type Denied struct {
	Dataset string `json:"dataset"`
	Access  string `json:"access"`
	Reason  string `json:"reason"`
}

// QueryResult is the researcher's pooled query.
type QueryResult struct {
	SQL       string     `json:"sql"`
	Columns   []string   `json:"columns"`
	Rows      [][]string `json:"rows"`
	Manifests []string   `json:"manifests"` // provenance: the manifests read
}

// Signal is one pooled drug–event signal.
type Signal struct {
	Drug      string  `json:"drug"`
	DrugName  string  `json:"drug_name"`
	Event     string  `json:"event"`
	EventName string  `json:"event_name"`
	A         int64   `json:"a"`
	PRR       float64 `json:"prr"`
	PRRLow    float64 `json:"prr_low"`
	PRRHigh   float64 `json:"prr_high"`
	ChiSq     float64 `json:"chi_sq"`
	IC025     float64 `json:"ic025"`
	Evans     bool    `json:"evans"`
	Planted   bool    `json:"planted"`
}

// Planted is a planted pair (synth's truth.json) and what the agency found.
type Planted struct {
	Drug      string `json:"drug"`
	DrugName  string `json:"drug_name"`
	Event     string `json:"event"`
	EventName string `json:"event_name"`
	// MinA is the smallest a (exposed persons with the event) at any one
	// hospital, from that hospital's own released counts.
	MinA    int64 `json:"min_a_per_hospital"`
	A       int64 `json:"a"`
	Flagged bool  `json:"flagged"` // Evans and IC025 on the pooled counts
}

// AuditEntry is one ledger entry as the audit trail shows it.
type AuditEntry struct {
	Index    uint64 `json:"index"`
	Kind     string `json:"kind"`
	Author   string `json:"author"`            // short name of the member
	Dataset  string `json:"dataset,omitempty"` // or manifest CID
	Subject  string `json:"subject,omitempty"` // grantee, requester or recipient short name; a request's purpose
	Chunks   int64  `json:"chunks,omitempty"`
	Bytes    int64  `json:"bytes,omitempty"`
	Manifest string `json:"manifest,omitempty"`
	Time     string `json:"time"` // the author's clock, RFC 3339
}

// Timing is how long a step took.
type Timing struct {
	Step    string  `json:"step"`
	Seconds float64 `json:"seconds"`
}

// StepError is a failed step of the story.
type StepError struct {
	Step string
	Err  error
}

func (e *StepError) Error() string { return "demo: " + e.Step + ": " + e.Err.Error() }
func (e *StepError) Unwrap() error { return e.Err }

// participant is one data directory of the demo and, once started, its node.
type participant struct {
	name, short, role string
	dir               datadir.Dir
	id                peer.ID
	key               crypto.PrivKey
	node              *node.Node

	// hospitals
	access    string
	export    string
	published *cohort.Published
}

// Demo is a running demo network: the participants stay up until Close.
type Demo struct {
	Result *Result
	// Dir holds the participants' data directories.
	Dir string

	cfg       Config
	log       *slog.Logger
	tmp       bool
	admin     *participant
	operator  *participant
	witnesses []*participant
	hospitals []*participant
	research  *participant
	agency    *participant
	ledgerURL string

	truth *synth.Truth

	closers []func() error

	start time.Time
	last  time.Time
}

// Researcher is the researcher's data directory.
func (d *Demo) Researcher() datadir.Dir { return d.research.dir }

// API is the researcher node's local HTTP API: its base URL and token (also
// in the researcher's api.token).
func (d *Demo) API() (url, token string) {
	return "http://" + d.research.node.APIAddr(), d.research.node.APIToken()
}

// Agency is the agency's data directory.
func (d *Demo) Agency() datadir.Dir { return d.agency.dir }

// Hospitals are the hospitals' data directories.
func (d *Demo) Hospitals() []datadir.Dir {
	var out []datadir.Dir
	for _, h := range d.hospitals {
		out = append(out, h.dir)
	}
	return out
}

// Run runs the story and returns the network still running, with the
// story's facts in Result. The caller closes it. A failed step is a
// *StepError naming the step; the partial network is closed then.
func Run(ctx context.Context, cfg Config) (*Demo, error) {
	if cfg.Hospitals != 0 && cfg.Hospitals < 3 {
		return nil, fmt.Errorf("demo: %d hospitals: at least 3 (one per access tier)", cfg.Hospitals)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Demo{cfg: cfg, log: log, Result: &Result{}, Dir: cfg.Dir}
	if d.Dir == "" {
		dir, err := os.MkdirTemp("", "cohortnet-demo-")
		if err != nil {
			return nil, fmt.Errorf("demo: temporary directory: %w", err)
		}
		d.Dir, d.tmp = dir, true
	} else if err := os.MkdirAll(d.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	d.start, d.last = time.Now(), time.Now()

	steps := []struct {
		name string
		fn   func(ctx context.Context) error
	}{
		{"consortium", d.setUp},
		{"hospitals", d.prepareHospitals},
		{"nodes", d.startNodes},
		{"publish", d.publish},
		{"discover", d.discover},
		{"request", d.request},
		{"fetch", d.fetch},
		{"query", d.pooledQuery},
		{"signals", d.signals},
		{"audit", d.audit},
	}
	for _, s := range steps {
		if err := s.fn(ctx); err != nil {
			d.Close()
			return nil, &StepError{Step: s.name, Err: err}
		}
		d.timing(s.name)
	}
	d.say("the demo took %.1fs", time.Since(d.start).Seconds())
	return d, nil
}

func (d *Demo) timing(step string) {
	now := time.Now()
	d.Result.Timings = append(d.Result.Timings, Timing{Step: step, Seconds: roundTo(now.Sub(d.last).Seconds(), 3)})
	d.last = now
}

func roundTo(v float64, digits int) float64 {
	p := 1.0
	for range digits {
		p *= 10
	}
	return float64(int64(v*p+0.5)) / p
}

// say writes one line of the story.
func (d *Demo) say(format string, args ...any) {
	if d.cfg.Out == nil {
		return
	}
	fmt.Fprintf(d.cfg.Out, "%6.1fs  %s\n", time.Since(d.start).Seconds(), fmt.Sprintf(format, args...))
}

// Close stops every participant and, when the demo made its own temporary
// directory, removes it.
func (d *Demo) Close() error {
	var errs []error
	for i := len(d.closers) - 1; i >= 0; i-- {
		if err := d.closers[i](); err != nil {
			errs = append(errs, err)
		}
	}
	d.closers = nil
	if d.tmp {
		if err := os.RemoveAll(d.Dir); err != nil {
			errs = append(errs, err)
		}
		d.tmp = false
	}
	return errors.Join(errs...)
}
