package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cohortnet/cohortnet/cohort"
	"github.com/cohortnet/cohortnet/consortium"
	"github.com/cohortnet/cohortnet/internal/datadir"
	"github.com/cohortnet/cohortnet/ledger"
	"github.com/cohortnet/cohortnet/ledger/ledgerd"
	"github.com/cohortnet/cohortnet/p2p"
)

// Config says how to run a node. Only Data is required; every other zero
// value works.
type Config struct {
	// Data is the node's initialized data directory with an installed
	// consortium configuration.
	Data datadir.Dir
	// Listen are libp2p multiaddrs; empty: config.yaml's, else
	// p2p.DefaultListen.
	Listen []string
	// API is the local HTTP API's host:port; empty: config.yaml's, else
	// 127.0.0.1:0 (a free port; [Node.APIAddr] says which, and
	// <data>/api.addr records it for the command line). "off" serves no
	// API port (mount [Node.Handler] yourself).
	API string
	// Roles are the node's roles; empty: config.yaml's. "ledger" and
	// "witness" also run those ledger roles (ledgerd).
	Roles []string
	// LedgerListen overrides the host:port a ledger role listens on
	// (see ledgerd.Config.Listen).
	LedgerListen map[string]string
	// Peers are libp2p multiaddrs with /p2p/ ids dialled at start and
	// whenever the connection is lost, besides the consortium's bootstrap
	// addresses (for members not listed there).
	Peers []string
	// MDNS advertises the node on the local network and dials the members
	// found there.
	MDNS bool
	// UI, if set, serves GET / and every path outside /api/ and /metrics
	// (the dashboard).
	UI http.Handler
	// SyncInterval is how often the ledger mirror polls the operator and the
	// consortium file is re-read (default 2 s).
	SyncInterval time.Duration
	// SessionIdle ends a chunk-serving session after this long without
	// requests (default 60 s); each session becomes an `access` entry.
	SessionIdle time.Duration
	// Registry receives the node's metrics; nil: a new registry, served at
	// /metrics.
	Registry *prometheus.Registry
	// Logger receives operational messages; nil discards them.
	Logger *slog.Logger
}

// Node is a running node. Its methods are safe for concurrent use.
type Node struct {
	cfg   Config
	d     datadir.Dir
	log   *slog.Logger
	key   crypto.PrivKey
	self  peer.ID
	local *datadir.Config
	roles []string

	store  *cohort.Store
	cons   atomic.Pointer[consortium.Signed]
	verif  atomic.Pointer[ledger.Verifiers]
	mirror *ledger.Mirror // nil when the consortium names no ledger
	host   *p2p.Host
	chunks *p2p.ChunkServer
	reg    *prometheus.Registry
	met    *metrics
	hc     *http.Client
	roleH  roleHandlers      // the ledger roles' handlers, served over libp2p too
	witT   *witnessTransport // the operator's way to its witnesses

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	kick   chan struct{} // asks the sync loop to run now

	mu       sync.Mutex
	cat      *cohort.Catalog
	catGen   uint64                         // counts catalogue changes
	files    map[cid.Cid][]cid.Cid          // file -> manifests listing it
	log0     ledgerIndex                    // what the sync loop learnt from the ledger
	wanted   map[cid.Cid]ledger.Publication // publish entries whose manifest the store lacks
	retryAt  map[cid.Cid]time.Time          // when to ask peers for a wanted manifest again
	splits   []SplitView
	jobs     map[string]*Job
	jobSeq   int
	eng      *engineState
	apiLn    net.Listener
	apiSrv   *http.Server
	token    string
	closeErr error
	closed   bool
	boot     []peer.AddrInfo
}

// SplitView is a checkpoint heard from a peer that contradicts the mirror's
// verified copy: the operator showed two histories.
type SplitView struct {
	From  string    `json:"from"`
	Error string    `json:"error"`
	Time  time.Time `json:"time"`
}

// Open starts a node: store, consortium configuration, ledger mirror and
// roles, libp2p host with gossip and the chunk server, the sync loop and the
// local HTTP API. Close stops it.
func Open(ctx context.Context, cfg Config) (*Node, error) {
	lg := cfg.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	if cfg.SyncInterval <= 0 {
		cfg.SyncInterval = 2 * time.Second
	}
	d := cfg.Data
	local, err := d.Config()
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	key, err := d.Identity()
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	self, err := d.PeerID()
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	cons, err := consortium.Load(d)
	if err != nil {
		return nil, fmt.Errorf("node: consortium configuration: %w", err)
	}
	st, err := cohort.OpenDataStore(d)
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	roles := cfg.Roles
	if len(roles) == 0 {
		roles = local.Roles
	}
	reg := cfg.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	n := &Node{
		cfg: cfg, d: d, log: lg, key: key, self: self, local: local, roles: roles,
		store: st, reg: reg, hc: &http.Client{Timeout: 30 * time.Second},
		kick: make(chan struct{}, 1), files: map[cid.Cid][]cid.Cid{},
		wanted: map[cid.Cid]ledger.Publication{}, retryAt: map[cid.Cid]time.Time{}, jobs: map[string]*Job{},
	}
	n.log0.init()
	n.cons.Store(cons)
	if v, err := ledger.VerifiersFor(cons.Config); err == nil {
		n.verif.Store(&v)
	}
	if n.met, err = newMetrics(reg); err != nil {
		return nil, fmt.Errorf("node: metrics: %w", err)
	}
	pm, err := p2p.NewMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("node: metrics: %w", err)
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	ok := false
	defer func() {
		if !ok {
			n.Close()
		}
	}()

	// Ledger roles first, so this node's own mirror finds its operator.
	if slices.Contains(roles, "ledger") || slices.Contains(roles, "witness") {
		if err := n.startLedgerRoles(ctx); err != nil {
			return nil, err
		}
	}
	if cons.Ledger != nil {
		v, err := ledger.VerifiersFor(cons.Config)
		if err != nil {
			return nil, fmt.Errorf("node: ledger verifiers: %w", err)
		}
		op, err := ledger.HTTPSource(cons.Ledger.HTTP, n.hc)
		if err != nil {
			return nil, fmt.Errorf("node: ledger: %w", err)
		}
		n.mirror, err = ledger.NewMirror(ctx, ledger.MirrorConfig{
			Dir: d.Join(datadir.LedgerDir, ledgerd.MirrorDir), Source: &fallbackSource{n: n, primary: op},
			Verifiers: v, Logger: lg,
		})
		if err != nil {
			return nil, fmt.Errorf("node: ledger mirror: %w", err)
		}
	}

	listen := cfg.Listen
	if len(listen) == 0 {
		listen = local.Listen
	}
	boot, err := bootstrapPeers(append(slices.Clone(cons.Bootstrap), cfg.Peers...))
	if err != nil {
		lg.Warn("bootstrap addresses unusable", "err", err)
	}
	n.boot = boot
	n.host, err = p2p.New(p2p.Config{
		Identity: key, Listen: listen, Members: members{cons.Config}, Consortium: cons.Key.String(),
		Bootstrap: boot, ValidateAnnouncement: n.validateAnnouncement, ValidateCheckpoint: n.validateCheckpoint,
		Metrics: pm, Logger: lg,
	})
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	n.chunks, err = p2p.NewChunkServer(n.host.Host, p2p.ServerConfig{
		Source: storeSource{st}, Authorize: chunkPolicy{n},
		Accounting:  p2p.AccountingFunc(n.sessionEnded),
		IdleTimeout: cfg.SessionIdle, Metrics: pm, Logger: lg,
	})
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	n.host.HandleHTTP(ManifestProtocol, n.manifestHandler())
	if n.mirror != nil {
		n.host.HandleHTTP(LedgerProtocol, n.mirror.Handler())
	}
	n.host.HandleHTTP(AggregateProtocol, n.aggregateHandler())
	n.serveLedgerRoles()
	if n.witT != nil {
		n.witT.host.Store(n.host)
	}
	if err := n.refreshCatalog(); err != nil {
		return nil, err
	}
	if err := n.startAPI(); err != nil {
		return nil, err
	}
	sub, err := n.host.Subscribe(p2p.Announcements)
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	n.goLoop(func(ctx context.Context) { n.announcements(ctx, sub) })
	cps, err := n.host.Subscribe(p2p.Checkpoints)
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	n.goLoop(func(ctx context.Context) { n.checkpoints(ctx, cps) })
	n.goLoop(n.syncLoop)
	if len(boot) > 0 {
		n.goLoop(n.redial)
	}
	if cfg.MDNS {
		if err := n.startMDNS(); err != nil {
			return nil, fmt.Errorf("node: mdns: %w", err)
		}
	}
	ok = true
	lg.Info("node started", "peer", self, "roles", roles, "api", n.APIAddr())
	return n, nil
}

func (n *Node) goLoop(f func(context.Context)) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		f(n.ctx)
	}()
}

// startLedgerRoles runs ledgerd's operator and witness roles until Close.
func (n *Node) startLedgerRoles(ctx context.Context) error {
	var want []string
	for _, r := range n.roles {
		if r == "ledger" || r == "witness" {
			want = append(want, r)
		}
	}
	n.witT = &witnessTransport{primary: http.DefaultTransport, cons: func() *consortium.Config {
		if s := n.cons.Load(); s != nil {
			return s.Config
		}
		return nil
	}}
	roleHC := &http.Client{Timeout: 30 * time.Second, Transport: n.witT}
	ready := make(chan struct{}, len(want))
	done := make(chan error, 1)
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		err := ledgerd.Run(n.ctx, ledgerd.Config{
			Data: n.d, Roles: want, Listen: n.cfg.LedgerListen, MirrorInterval: -1,
			ReloadInterval: n.cfg.SyncInterval, HTTPClient: roleHC, Logger: n.log,
			Ready:   func(string, string) { ready <- struct{}{} },
			Handler: n.roleH.set,
		})
		if err != nil && !errors.Is(err, context.Canceled) {
			n.log.Error("ledger roles stopped", "err", err)
		}
		done <- err
	}()
	for range want {
		select {
		case <-ready:
		case err := <-done:
			return fmt.Errorf("node: ledger roles %v: %w", want, err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Close stops the node: the API, the sync loop, the network and the ledger
// roles. Fetch jobs still running are interrupted and can be resumed.
func (n *Node) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return n.closeErr
	}
	n.closed = true
	srv := n.apiSrv
	n.mu.Unlock()
	if srv != nil {
		os.Remove(n.d.Join(AddrFile))
		sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
		srv.Shutdown(sctx)
		c()
	}
	n.cancel()
	var errs []error
	if n.chunks != nil {
		errs = append(errs, n.chunks.Close()) // ends sessions: their access entries are attempted
	}
	if n.host != nil {
		errs = append(errs, n.host.Close())
	}
	n.wg.Wait()
	n.mu.Lock()
	if n.eng != nil {
		n.eng.close()
		n.eng = nil
	}
	n.closeErr = errors.Join(errs...)
	n.mu.Unlock()
	return n.closeErr
}

// ID is the node's peer id.
func (n *Node) ID() peer.ID { return n.self }

// Host is the node's libp2p host.
func (n *Node) Host() *p2p.Host { return n.host }

// Store is the node's content-addressed store.
func (n *Node) Store() *cohort.Store { return n.store }

// Mirror is the node's verified ledger copy (nil without a ledger).
func (n *Node) Mirror() *ledger.Mirror { return n.mirror }

// Consortium is the configuration in force.
func (n *Node) Consortium() *consortium.Signed { return n.cons.Load() }

// AddrInfo is the node's peer id and libp2p addresses, for others to dial.
func (n *Node) AddrInfo() peer.AddrInfo { return n.host.AddrInfo() }

// Connect dials another node (members only).
func (n *Node) Connect(ctx context.Context, ai peer.AddrInfo) error {
	return n.host.Connect(ctx, ai)
}

// Sync asks the sync loop to read the ledger and act on it now rather than
// at the next tick.
func (n *Node) Sync() {
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

// redial keeps the node connected to its bootstrap peers (Config.Peers and
// the consortium's bootstrap addresses): at start and every 10 s after.
func (n *Node) redial(ctx context.Context) {
	for {
		for _, ai := range n.boot {
			if ai.ID == n.self || len(n.host.Network().ConnsToPeer(ai.ID)) > 0 || !n.cons.Load().IsMember(ai.ID) {
				continue
			}
			dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			if err := n.host.Connect(dctx, ai); err != nil {
				n.log.Debug("bootstrap peer unreachable", "peer", ai.ID, "err", err)
			}
			cancel()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(10 * time.Second):
		}
	}
}

// members adapts a consortium configuration to p2p.Members.
type members struct{ c *consortium.Config }

func (m members) IsMember(p peer.ID) bool {
	if m.c.IsMember(p) {
		return true
	}
	// The ledger operator and the witnesses the signed configuration names
	// are admitted too: submissions and add-checkpoint reach them over
	// libp2p (SubmitProtocol, WitnessProtocol). Node-level authorization
	// (datasets, aggregates) still asks the consortium's member list.
	if m.c.Ledger != nil && m.c.Ledger.Peer == p {
		return true
	}
	_, ok := m.c.Witness(p)
	return ok
}

func bootstrapPeers(addrs []string) ([]peer.AddrInfo, error) {
	var out []peer.AddrInfo
	var errs []error
	for _, a := range addrs {
		ai, err := peer.AddrInfoFromString(a)
		if err != nil {
			errs = append(errs, fmt.Errorf("bootstrap %q: %w", a, err))
			continue
		}
		out = append(out, *ai)
	}
	return out, errors.Join(errs...)
}

// applyConsortium applies a newer signed configuration: the members the
// gater admits and the ledger verifiers. It reports whether anything changed.
func (n *Node) applyConsortium(s *consortium.Signed) bool {
	old := n.cons.Load()
	if s.Key != old.Key || s.Version <= old.Version {
		return false
	}
	n.cons.Store(s)
	if v, err := ledger.VerifiersFor(s.Config); err == nil {
		n.verif.Store(&v)
	}
	n.host.SetMembers(members{s.Config})
	if (old.Ledger == nil) != (s.Ledger == nil) || (old.Ledger != nil && (old.Ledger.Peer != s.Ledger.Peer || old.Ledger.Key != s.Ledger.Key || old.Ledger.HTTP != s.Ledger.HTTP)) {
		n.log.Warn("the ledger operator changed in the consortium configuration; restart the node to follow it")
	}
	n.log.Info("consortium configuration updated", "version", s.Version, "members", len(s.Members))
	return true
}
