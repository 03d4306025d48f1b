package main

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/cohortnet/cohortnet/cohort"
	"github.com/cohortnet/cohortnet/ledger"
	"github.com/cohortnet/cohortnet/ledger/ledgerd"
	"github.com/cohortnet/cohortnet/node"
)

func init() { register(newRetractCmd) }

func newRetractCmd() *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "retract NAME@VERSION|CID --reason TEXT",
		Short: "Retract a dataset version you published (e.g. after a de-identification incident)",
		Long: `retract records a retract entry in the ledger for a version this node
published. Every node then stops serving that version, marks it retracted in
its catalogue, drops it from its query views and deletes its fetched copy.
Through the running node when there is one, else directly with the ledger.`,
		Example: `  cohortnet retract hospital-a/diabetes@2 --reason "free-text notes kept a name"`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if reason == "" {
				return errors.New("--reason is required: say why the version is retracted")
			}
			var cm ledger.Commitment
			c, err := node.Dial(ctx, dataDir())
			switch {
			case err == nil:
				if err := c.Do(ctx, http.MethodPost, "/api/v1/retract", map[string]string{"ref": args[0], "reason": reason}, &cm); err != nil {
					return err
				}
			case errors.Is(err, node.ErrNotRunning):
				st, err := cohort.OpenDataStore(dataDir())
				if err != nil {
					return err
				}
				cat, err := st.Catalog(ctx)
				if err != nil {
					return err
				}
				ent, err := cat.Resolve(args[0])
				if err != nil {
					return err
				}
				e := ledger.NewEntry(ledger.KindRetract, time.Now())
				e.Manifest, e.Reason = ent.CID, reason
				got, err := ledgerd.Submit(ctx, dataDir(), e, nil)
				if err != nil {
					return err
				}
				if err := st.Retract(ent.CID, reason); err != nil {
					return err
				}
				cm = *got
			default:
				return err
			}
			if g.json {
				return printJSON(cmd.OutOrStdout(), cm)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "retracted %s: ledger entry %d\n", args[0], cm.Index)
			return nil
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why the version is retracted (recorded in the ledger)")
	return cmd
}
