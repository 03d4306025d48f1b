package main

import (
	"fmt"
	"net/http"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/cohortnet/cohortnet/node"
)

func init() { register(newPeersCmd) }

func newPeersCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "peers",
		Short: "List the consortium's members and whether the running node is connected to them",
		Example: `  cohortnet peers
  cohortnet peers --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			c, err := node.Dial(ctx, dataDir())
			if err != nil {
				return err
			}
			var ps []node.PeerInfo
			if err := c.Do(ctx, http.MethodGet, "/api/v1/peers", nil, &ps); err != nil {
				return err
			}
			if g.json {
				return printJSON(cmd.OutOrStdout(), ps)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SHORT NAME\tNAME\tROLES\tSTATE\tPEER")
			for _, p := range ps {
				state := "offline"
				switch {
				case p.Self:
					state = "this node"
				case p.Connected:
					state = "connected"
				}
				fmt.Fprintf(tw, "%s\t%s\t%v\t%s\t%s\n", p.ShortName, p.Name, p.Roles, state, p.Peer)
			}
			return tw.Flush()
		},
	}
}
