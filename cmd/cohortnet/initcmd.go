package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cohortnet/cohortnet/internal/datadir"
)

func init() { register(newInitCmd) }

func newInitCmd() *cobra.Command {
	var (
		cfg   datadir.Config
		force bool
	)
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create the data directory, the node identity and the de-identification secret",
		Long: `init creates the data directory (--data) with an Ed25519 identity key (the node's
libp2p identity, which signs manifests and ledger entries), a 32-byte
de-identification secret in its own file, and config.yaml. Both secrets are
written with mode 0600 and never printed. Running init again changes nothing;
--force replaces the identity and the secret.`,
		Example: `  cohortnet init --name "Hospital A" --short-name hospital-a --role hospital
  cohortnet --data /srv/cohortnet init --name "Research Lab" --short-name lab --role researcher`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d := dataDir()
			res, err := d.Init(datadir.InitOptions{Config: cfg, Force: force})
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(cmd.OutOrStdout(), map[string]any{
					"data": d.Path, "peer_id": res.PeerID.String(), "created": res.Created,
				})
			}
			if !res.Created {
				fmt.Fprintf(cmd.OutOrStdout(), "%s is already initialized; nothing changed (peer id %s). Use --force to replace the identity.\n", d.Path, res.PeerID)
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "initialized %s\npeer id %s\n", d.Path, res.PeerID)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Name, "name", "", `display name of this node's institution, e.g. "Hospital A"`)
	f.StringVar(&cfg.ShortName, "short-name", "", "short name that prefixes its datasets, e.g. hospital-a")
	f.StringSliceVar(&cfg.Roles, "role", nil, "roles: hospital, researcher, agency, ledger, witness (repeat or comma-separate)")
	f.BoolVar(&force, "force", false, "replace an existing identity and secret")
	return cmd
}
