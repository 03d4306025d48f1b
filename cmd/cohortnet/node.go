package main

import (
	"fmt"
	"log/slog"
	"slices"

	"github.com/spf13/cobra"
	"k8s.io/klog/v2"

	"github.com/cohortnet/cohortnet/node"
	"github.com/cohortnet/cohortnet/node/web"
)

func init() { register(newNodeCmd) }

func newNodeCmd() *cobra.Command {
	var (
		roles        []string
		listen       []string
		peers        []string
		mdns         bool
		api          string
		ledgerListen map[string]string
	)
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Run this node: network, store, ledger mirror (and operator or witness), local API",
		Long: `node runs the daemon until interrupted (Ctrl-C stops it cleanly).

It opens the store and catalogue, follows the consortium configuration
(a newer signed one installed in the data directory or received over gossip
takes effect without a restart: new members may connect, removed ones are cut
off), keeps a verified mirror of the ledger, and runs a libp2p host (TCP with
Noise and yamux, and QUIC) that admits consortium members only. It receives
and verifies announcements (signed manifest plus witnessed ledger commitment),
compares ledger checkpoints heard from peers with its own (a split view is
logged as an error, counted in /metrics and shown by the API), learns every
publication from the ledger and gets the manifests it lacks from peers,
serves chunks of the datasets it holds to members the ledger allows (by access
tier, request and grant), records an access entry per fetch session, and
deletes fetched copies of retracted versions.

With --role ledger it is also the consortium's ledger operator, with --role
witness a witness, at the addresses in the consortium configuration
(--ledger-listen overrides them). Roles default to those in config.yaml.

The local HTTP API listens on 127.0.0.1 (--api; default: config.yaml's, else a
free port written to <data>/api.addr) and asks for the token in
<data>/api.token (made on first start, mode 0600). The commands fetch, access,
retract, peers, publish, query and aggregate use it when the node runs.`,
		Example: `  cohortnet node
  cohortnet --data /srv/ledger node --role ledger
  cohortnet --data /srv/witness-a node --role witness --ledger-listen witness=127.0.0.1:7401
  cohortnet node --peer /ip4/10.0.0.5/tcp/4001/p2p/12D3KooW...
  cohortnet node --listen /ip4/0.0.0.0/tcp/4001 --listen /ip4/0.0.0.0/udp/4001/quic-v1 --api 127.0.0.1:7700`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, r := range roles {
				if !slices.Contains([]string{"ledger", "witness", "hospital", "researcher", "agency"}, r) {
					return fmt.Errorf("--role %q: use ledger, witness, hospital, researcher or agency", r)
				}
			}
			// Tessera logs through klog; send it to the same place as ours.
			klog.SetSlogLogger(slog.Default())
			ctx := cmd.Context()
			n, err := node.Open(ctx, node.Config{
				Data: dataDir(), Listen: listen, Peers: peers, MDNS: mdns, API: api, Roles: roles, LedgerListen: ledgerListen,
				UI:     web.Handler(), // the dashboard at /
				Logger: slog.Default(),
			})
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "node %s\n", n.ID())
			for _, a := range n.AddrInfo().Addrs {
				fmt.Fprintf(w, "listening %s/p2p/%s\n", a, n.ID())
			}
			if a := n.APIAddr(); a != "" {
				fmt.Fprintf(w, "api http://%s/api/v1 (token in %s)\n", a, dataDir().Join("api.token"))
			}
			<-ctx.Done()
			fmt.Fprintln(w, "stopping")
			return n.Close()
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&roles, "role", nil, "roles: ledger, witness, hospital, researcher, agency (default: the roles in config.yaml)")
	f.StringArrayVar(&listen, "listen", nil, "libp2p multiaddr to listen on (repeatable; default: config.yaml's, else TCP and QUIC on every interface)")
	f.StringArrayVar(&peers, "peer", nil, "member multiaddr ending in /p2p/<peer id> to stay connected to, besides the consortium's bootstrap addresses (repeatable)")
	f.BoolVar(&mdns, "mdns", false, "find members on the local network with mDNS")
	f.StringVar(&api, "api", "", "local API address host:port (default: config.yaml's, else 127.0.0.1 on a free port)")
	f.StringToStringVar(&ledgerListen, "ledger-listen", nil, "role=host:port overriding a ledger role's address from the consortium configuration")
	return cmd
}
