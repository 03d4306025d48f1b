package main

import (
	"fmt"
	"log/slog"
	"slices"

	"github.com/spf13/cobra"
	"k8s.io/klog/v2"

	"github.com/cohortnet/cohortnet/ledger/ledgerd"
)

func init() { register(newNodeCmd) }

func newNodeCmd() *cobra.Command {
	var (
		roles  []string
		listen map[string]string
	)
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Run this node: the ledger operator, a witness, and the ledger mirror",
		Long: `node runs the daemon until interrupted. This first form runs the ledger roles:
with --role ledger it is the consortium's ledger operator, serving the log
(tlog-tiles paths and entry submission) at the ledger address in the consortium
configuration; with --role witness it cosigns the operator's checkpoints at its
witness address; every other node keeps a verified mirror of the log in
<data>/ledger/mirror. Roles default to those in config.yaml. A newer consortium
configuration installed while the node runs takes effect without a restart
(the operator's witness list is read at start).`,
		Example: `  cohortnet --data /srv/ledger node --role ledger
  cohortnet --data /srv/witness-a node --role witness
  cohortnet node --role witness --listen witness=127.0.0.1:7401`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d := dataDir()
			if len(roles) == 0 {
				c, err := d.Config()
				if err != nil {
					return err
				}
				roles = c.Roles
			}
			for _, r := range roles {
				if !slices.Contains([]string{"ledger", "witness", "hospital", "researcher", "agency"}, r) {
					return fmt.Errorf("--role %q: use ledger, witness, hospital, researcher or agency", r)
				}
			}
			// Tessera logs through klog; send it to the same place as ours.
			klog.SetSlogLogger(slog.Default())
			return ledgerd.Run(cmd.Context(), ledgerd.Config{
				Data: d, Roles: roles, Listen: listen, Logger: slog.Default(),
				Ready: func(role, addr string) { fmt.Fprintf(cmd.OutOrStdout(), "%s serving on %s\n", role, addr) },
			})
		},
	}
	cmd.Flags().StringSliceVar(&roles, "role", nil, "roles to run: ledger, witness (default: the roles in config.yaml)")
	cmd.Flags().StringToStringVar(&listen, "listen", nil, "role=host:port overriding the address from the consortium configuration")
	return cmd
}
