package p2p

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
)

// DefaultListen are the addresses a host listens on when [Config.Listen] is
// empty: TCP and QUIC on every interface, ports chosen by the system.
var DefaultListen = []string{"/ip4/0.0.0.0/tcp/0", "/ip4/0.0.0.0/udp/0/quic-v1"}

// Config describes a host. Only Identity is required.
type Config struct {
	// Identity is the node's Ed25519 key (datadir.Dir.Identity).
	Identity crypto.PrivKey
	// Listen are libp2p multiaddrs; empty: [DefaultListen].
	Listen []string
	// Members admits peers: the gater refuses connections to and from anyone
	// else. Nil admits no peer at all. Replace it with [Host.SetMembers].
	Members Members
	// Consortium names the gossip topics and the DHT protocol prefix, so two
	// consortia never mix; empty: "default".
	Consortium string
	// Bootstrap peers are dialled by [Host.Bootstrap].
	Bootstrap []peer.AddrInfo
	// Limits are the resource manager's limits; zero fields take defaults.
	Limits Limits
	// ValidateAnnouncement and ValidateCheckpoint check gossip messages
	// beyond membership; nil accepts any message authored by a member.
	// [Host.SetValidator] replaces them at run time.
	ValidateAnnouncement Validator
	ValidateCheckpoint   Validator
	// MaxMessageSize caps gossip messages (default 1 MiB).
	MaxMessageSize int
	// Metrics counts rejected gossip messages; nil counts nothing.
	Metrics *Metrics
	// Logger receives operational messages; nil discards them.
	Logger *slog.Logger
}

// Host is a running libp2p host with its DHT and gossip. It embeds the libp2p
// host, so ID, Addrs, Connect and NewStream work as usual.
type Host struct {
	host.Host
	dht    *dht.IpfsDHT
	ps     *pubsub.PubSub
	gater  *memberGater
	cfg    Config
	log    *slog.Logger
	ctx    context.Context // lives until Close
	cancel context.CancelFunc

	gossip gossipState
	http   httpState
}

// New starts a host: it listens, installs the gater, the resource manager,
// the DHT (server mode, private prefix) and GossipSub with peer scoring, and
// joins the consortium's topics. It does not dial anyone: call
// [Host.Bootstrap] or [Host.Connect].
func New(cfg Config) (*Host, error) {
	if cfg.Identity == nil {
		return nil, errors.New("p2p: new host: no identity key")
	}
	if cfg.Consortium == "" {
		cfg.Consortium = "default"
	}
	if !validConsortium(cfg.Consortium) {
		return nil, fmt.Errorf("p2p: new host: consortium name %q: use letters, digits, '-' and '.'", cfg.Consortium)
	}
	if len(cfg.Listen) == 0 {
		cfg.Listen = DefaultListen
	}
	if cfg.MaxMessageSize <= 0 {
		cfg.MaxMessageSize = 1 << 20
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	self, err := peer.IDFromPrivateKey(cfg.Identity)
	if err != nil {
		return nil, fmt.Errorf("p2p: new host: %w", err)
	}
	gater := &memberGater{self: self}
	gater.set(cfg.Members)
	rm, err := cfg.Limits.resourceManager()
	if err != nil {
		return nil, err
	}
	lh, err := libp2p.New(
		libp2p.Identity(cfg.Identity),
		libp2p.ListenAddrStrings(cfg.Listen...),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(quic.NewTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.ConnectionGater(gater),
		libp2p.ResourceManager(rm),
		libp2p.DisableRelay(),
		libp2p.DisableMetrics(),
	)
	if err != nil {
		rm.Close()
		return nil, fmt.Errorf("p2p: new host: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &Host{Host: lh, gater: gater, cfg: cfg, log: log, ctx: ctx, cancel: cancel}
	fail := func(err error) (*Host, error) {
		h.Close()
		return nil, err
	}
	h.dht, err = dht.New(lh,
		dht.Mode(dht.ModeServer),
		dht.ProtocolPrefix(protocol.ID("/cohortnet/"+cfg.Consortium)),
		dht.BootstrapPeers(cfg.Bootstrap...),
		dht.DisableValues(),
	)
	if err != nil {
		return fail(fmt.Errorf("p2p: new host: dht: %w", err))
	}
	if err := h.startGossip(); err != nil {
		return fail(err)
	}
	return h, nil
}

func validConsortium(s string) bool {
	if len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// Close stops discovery and gossip and closes every connection.
func (h *Host) Close() error {
	h.cancel()
	var errs []error
	h.closeHTTP()
	h.closeGossip()
	if h.dht != nil {
		errs = append(errs, h.dht.Close())
	}
	errs = append(errs, h.Host.Close())
	return errors.Join(errs...)
}

// AddrInfo is the host's id and listen addresses, for others to dial.
func (h *Host) AddrInfo() peer.AddrInfo {
	return peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()}
}

// SetMembers installs a new member set (a newer consortium configuration):
// from now on only its members may connect, and connections to peers that are
// no longer members are closed.
func (h *Host) SetMembers(m Members) {
	h.gater.set(m)
	for _, p := range h.Network().Peers() {
		if !h.gater.allowed(p) {
			h.log.Info("p2p: disconnecting removed member", "peer", p)
			_ = h.Network().ClosePeer(p)
		}
	}
}

// IsMember reports whether the installed member set admits p.
func (h *Host) IsMember(p peer.ID) bool { return h.gater.allowed(p) }

// Bootstrap connects to the configured bootstrap peers and fills the DHT's
// routing table. It fails only when there are bootstrap peers and none of
// them could be reached.
func (h *Host) Bootstrap(ctx context.Context) error {
	var (
		mu      sync.Mutex
		wg      sync.WaitGroup
		reached int
		errs    []error
	)
	for _, ai := range h.cfg.Bootstrap {
		if ai.ID == h.ID() {
			continue
		}
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			err := h.Connect(cctx, ai)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("peer %s: %w", ai.ID, err))
				return
			}
			reached++
		})
	}
	wg.Wait()
	if len(errs) > 0 && reached == 0 {
		return fmt.Errorf("p2p: bootstrap: no bootstrap peer reachable: %w", errors.Join(errs...))
	}
	if err := h.dht.Bootstrap(ctx); err != nil {
		return fmt.Errorf("p2p: bootstrap: dht: %w", err)
	}
	return nil
}

// Provide announces in the DHT that this node serves the content c (a
// manifest or file CID).
func (h *Host) Provide(ctx context.Context, c cid.Cid) error {
	if err := h.dht.Provide(ctx, c, true); err != nil {
		return fmt.Errorf("p2p: provide %s: %w", c, err)
	}
	return nil
}

// FindProviders looks up at most max providers of c in the DHT (this node
// included when it provides c itself). It returns what it found when ctx ends.
func (h *Host) FindProviders(ctx context.Context, c cid.Cid, max int) []peer.AddrInfo {
	var out []peer.AddrInfo
	for ai := range h.dht.FindProvidersAsync(ctx, c, max) {
		if !h.gater.allowed(ai.ID) {
			continue
		}
		out = append(out, ai)
	}
	return out
}

// FindPeer looks up a member's addresses through the DHT.
func (h *Host) FindPeer(ctx context.Context, p peer.ID) (peer.AddrInfo, error) {
	ai, err := h.dht.FindPeer(ctx, p)
	if err != nil {
		return peer.AddrInfo{}, fmt.Errorf("p2p: find peer %s: %w", p, err)
	}
	return ai, nil
}
