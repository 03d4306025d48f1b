// Package ledgerd runs the ledger roles of a node from its data directory:
// the operator (`cohortnet node --role ledger`), the witness (`--role
// witness`) and the mirror every member keeps, serving them over HTTP at the
// addresses the consortium configuration gives. It also gives the commands
// that read or write the ledger ([OpenMirror], [Submit]) one place to build
// their clients from a data directory.
//
// It is not the full node: the node package wires the network, the store and
// the query engine, and can mount the same handlers; this package exists so
// the ledger roles run before that is built.
package ledgerd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/cohortnet/cohortnet/consortium"
	"github.com/cohortnet/cohortnet/internal/datadir"
	"github.com/cohortnet/cohortnet/ledger"
)

// Directories under <data>/ledger.
const (
	LogDir     = "log"     // the operator's Tessera log
	WitnessDir = "witness" // the witness's last cosigned checkpoints
	MirrorDir  = "mirror"  // the verified copy every node keeps
)

// Config says which roles to run.
type Config struct {
	Data  datadir.Dir
	Roles []string // "ledger", "witness"; others are ignored here
	// Listen overrides the address a role listens on (host:port); empty:
	// the host and port of the role's URL in the consortium configuration.
	Listen map[string]string
	// MirrorInterval is how often the mirror polls the operator; default 2s.
	// Negative: no mirror.
	MirrorInterval time.Duration
	// ReloadInterval is how often consortium.yaml is re-read; default 2s.
	ReloadInterval time.Duration
	// HTTPClient reaches the operator and the witnesses. If nil, one with a 30s timeout.
	HTTPClient *http.Client
	Logger     *slog.Logger // nil discards
	// Ready, if set, is called with each role's listening address once it serves.
	Ready func(role, addr string)
	// Handler, if set, is called with each role's http.Handler (the one its
	// HTTP address serves) before Ready, so the node can also serve it over
	// libp2p. The handler stays valid until Run returns.
	Handler func(role string, h http.Handler)
}

// Run serves the configured roles until ctx is done.
func Run(ctx context.Context, cfg Config) error {
	lg := cfg.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if cfg.MirrorInterval == 0 {
		cfg.MirrorInterval = 2 * time.Second
	}
	if cfg.ReloadInterval == 0 {
		cfg.ReloadInterval = 2 * time.Second
	}
	key, err := cfg.Data.Identity()
	if err != nil {
		return err
	}
	self, err := cfg.Data.PeerID()
	if err != nil {
		return err
	}
	first, err := consortium.Load(cfg.Data)
	if err != nil {
		return err
	}
	var current atomic.Pointer[consortium.Config]
	current.Store(first.Config)
	get := current.Load

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 4)
	serve := func(role, base string, h http.Handler) error {
		addr := cfg.Listen[role]
		if addr == "" {
			u, err := url.Parse(base)
			if err != nil || u.Host == "" {
				return fmt.Errorf("ledgerd: %s address %q in the consortium configuration is not a URL", role, base)
			}
			addr = u.Host
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("ledgerd: %s: %w", role, err)
		}
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		wg.Add(2)
		go func() {
			defer wg.Done()
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("ledgerd: %s: %w", role, err)
			}
		}()
		go func() {
			defer wg.Done()
			<-ctx.Done()
			sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
			defer c()
			srv.Shutdown(sctx)
		}()
		lg.Info("serving", "role", role, "addr", ln.Addr().String())
		if cfg.Handler != nil {
			cfg.Handler(role, h)
		}
		if cfg.Ready != nil {
			cfg.Ready(role, ln.Addr().String())
		}
		return nil
	}

	// The operator reads its witnesses and quorum once, so a configuration
	// that changes them restarts it behind the same listener.
	var (
		opMu      sync.Mutex
		op        *ledger.Operator
		opHandler swapHandler
	)
	startOperator := func() error {
		var (
			o       *ledger.Operator
			err     error
			backoff = 250 * time.Millisecond
		)
		// A new log waits for its witnesses: `cohortnet node` for the
		// operator and the witnesses may start in any order.
		for {
			o, err = ledger.NewOperator(ctx, ledger.OperatorConfig{
				Dir: cfg.Data.Join(datadir.LedgerDir, LogDir), Key: key, Consortium: get,
				HTTPClient: cfg.HTTPClient, Logger: lg,
			})
			if !errors.Is(err, ledger.ErrWitnessesUnreachable) {
				break
			}
			lg.Warn("waiting for the witness quorum to cosign the new log's first checkpoint", "retry", backoff)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
		}
		if err != nil {
			return err
		}
		op = o
		opHandler.set(o.Handler())
		return nil
	}
	stopOperator := func() {
		if op == nil {
			return
		}
		opHandler.set(nil)
		sctx, c := context.WithTimeout(context.Background(), 30*time.Second)
		defer c()
		if err := op.Close(sctx); err != nil {
			lg.Error("ledger operator shutdown", "err", err)
		}
		op = nil
	}
	isOperator := slices.Contains(cfg.Roles, "ledger")
	if isOperator {
		c := get()
		if c.Ledger == nil {
			return consortium.ErrNoLedger
		}
		if err := startOperator(); err != nil {
			return err
		}
		defer func() {
			opMu.Lock()
			defer opMu.Unlock()
			stopOperator()
		}()
		if err := serve("ledger", c.Ledger.HTTP, &opHandler); err != nil {
			return err
		}
	}
	if slices.Contains(cfg.Roles, "witness") {
		c := get()
		w, ok := c.Witness(self)
		if !ok {
			return fmt.Errorf("ledgerd: this node (%s) is not a witness in the consortium configuration", self)
		}
		wit, err := ledger.NewWitness(ledger.WitnessConfig{
			Dir: cfg.Data.Join(datadir.LedgerDir, WitnessDir), Key: key, Name: w.Name, Consortium: get, Logger: lg,
		})
		if err != nil {
			return err
		}
		if err := serve("witness", w.HTTP, wit.Handler()); err != nil {
			return err
		}
	}
	wg.Add(1)
	go func() { // pick up newer configurations installed while running
		defer wg.Done()
		t := time.NewTicker(cfg.ReloadInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			s, err := consortium.Load(cfg.Data)
			if err != nil {
				lg.Warn("consortium configuration unreadable; keeping the loaded one", "err", err)
				continue
			}
			old := get()
			if s.Key != old.Key || s.Version <= old.Version {
				continue
			}
			current.Store(s.Config)
			lg.Info("consortium configuration updated", "version", s.Version)
			if isOperator && witnessesChanged(old, s.Config) {
				lg.Info("witnesses or quorum changed; restarting the ledger operator", "quorum", s.Quorum, "witnesses", len(s.Witnesses))
				opMu.Lock()
				stopOperator()
				if err := startOperator(); err != nil {
					lg.Error("ledger operator restart failed; submissions are refused", "err", err)
				}
				opMu.Unlock()
			}
		}
	}()
	if !isOperator && cfg.MirrorInterval > 0 && get().Ledger != nil {
		m, err := openMirror(ctx, cfg.Data, get(), cfg.HTTPClient, lg)
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.Run(ctx, cfg.MirrorInterval, nil)
		}()
	}
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	cancel()
	wg.Wait()
	return err
}

// witnessesChanged reports whether the operator must restart for c.
func witnessesChanged(old, c *consortium.Config) bool {
	if old.Quorum != c.Quorum || len(old.Witnesses) != len(c.Witnesses) {
		return true
	}
	for i := range c.Witnesses {
		if old.Witnesses[i] != c.Witnesses[i] {
			return true
		}
	}
	return old.Ledger == nil || c.Ledger == nil || old.Ledger.Origin != c.Ledger.Origin || old.Ledger.Peer != c.Ledger.Peer
}

// swapHandler serves through the handler set last; none: 503.
type swapHandler struct{ h atomic.Pointer[http.Handler] }

func (s *swapHandler) set(h http.Handler) {
	if h == nil {
		s.h.Store(nil)
		return
	}
	s.h.Store(&h)
}

func (s *swapHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := s.h.Load()
	if h == nil {
		w.Header().Set("Retry-After", "2")
		http.Error(w, "ledger operator restarting", http.StatusServiceUnavailable)
		return
	}
	(*h).ServeHTTP(w, r)
}

func openMirror(ctx context.Context, d datadir.Dir, c *consortium.Config, hc *http.Client, lg *slog.Logger) (*ledger.Mirror, error) {
	v, err := ledger.VerifiersFor(c)
	if err != nil {
		return nil, err
	}
	src, err := ledger.HTTPSource(c.Ledger.HTTP, hc)
	if err != nil {
		return nil, err
	}
	return ledger.NewMirror(ctx, ledger.MirrorConfig{Dir: d.Join(datadir.LedgerDir, MirrorDir), Source: src, Verifiers: v, Logger: lg})
}

// Opened is a data directory's mirror of the consortium's ledger.
type Opened struct {
	Mirror     *ledger.Mirror
	Consortium *consortium.Signed
	// UpdateErr is why bringing the mirror up to date failed (the operator
	// is unreachable, say); the mirror still holds what it verified before.
	UpdateErr error
}

// OpenMirror opens the data directory's verified copy of the consortium's
// ledger and, unless offline, brings it up to date from the operator. A log
// that contradicts the copy is an error wrapping ledger.ErrInconsistent.
func OpenMirror(ctx context.Context, d datadir.Dir, hc *http.Client, offline bool) (*Opened, error) {
	s, err := consortium.Load(d)
	if err != nil {
		return nil, err
	}
	if s.Ledger == nil {
		return nil, consortium.ErrNoLedger
	}
	m, err := openMirror(ctx, d, s.Config, hc, nil)
	if err != nil {
		return nil, err
	}
	o := &Opened{Mirror: m, Consortium: s}
	if !offline {
		if _, err := m.Update(ctx); err != nil {
			if errors.Is(err, ledger.ErrInconsistent) || errors.Is(err, ledger.ErrCheckpointSignature) || errors.Is(err, ledger.ErrQuorum) {
				return o, err
			}
			o.UpdateErr = err
		}
	}
	return o, nil
}

// Submit signs e with the data directory's identity and submits it to the
// consortium's ledger, returning the verified commitment. Without an
// installed consortium it returns an error wrapping consortium.ErrNotInstalled.
func Submit(ctx context.Context, d datadir.Dir, e *ledger.Entry, hc *http.Client) (*ledger.Commitment, error) {
	s, err := consortium.Load(d)
	if err != nil {
		return nil, err
	}
	if s.Ledger == nil {
		return nil, consortium.ErrNoLedger
	}
	key, err := d.Identity()
	if err != nil {
		return nil, err
	}
	enc, err := e.Sign(key)
	if err != nil {
		return nil, err
	}
	v, err := ledger.VerifiersFor(s.Config)
	if err != nil {
		return nil, err
	}
	c := &ledger.Client{URL: s.Ledger.HTTP, HTTPClient: hc, Verifiers: v}
	return c.Submit(ctx, enc)
}

// AnchorPublish records a publication in the consortium's ledger: it signs a
// publish entry for manifest (dataset version and access tier) with the data
// directory's identity, submits it and returns the verified commitment to
// keep with the manifest. Without an installed consortium it returns an error
// wrapping consortium.ErrNotInstalled: the caller publishes locally and says so.
func AnchorPublish(ctx context.Context, d datadir.Dir, manifest cid.Cid, dataset string, version int64, access string, hc *http.Client) (*ledger.Commitment, error) {
	e := ledger.NewEntry(ledger.KindPublish, time.Now())
	e.Manifest, e.Dataset, e.Version, e.Access = manifest, dataset, version, access
	return Submit(ctx, d, e, hc)
}
