package main

import (
	"fmt"
	"net/http"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/cohortnet/cohortnet/node"
)

func init() { register(newFetchCmd) }

func newFetchCmd() *cobra.Command {
	var detach bool
	cmd := &cobra.Command{
		Use:   "fetch CID|NAME[@VERSION]",
		Short: "Download a dataset version from the network, verifying every chunk",
		Long: `fetch asks the running node to download a dataset version from its providers
(the publisher, DHT providers and members holding a copy), several at once.
Every chunk is checked against the manifest's digest before it is written; a
provider that sends bad bytes is dropped and the others continue; an interrupted
fetch resumes from the chunks already held. Files enter the store only whole and
verified, and the node then serves the copy to other granted members.

Providers decide from the ledger whether you may have the rows: open datasets
for any member, registered ones after an access request, restricted ones with a
live grant, aggregate-only ones never.`,
		Example: `  cohortnet fetch hospital-a/diabetes
  cohortnet fetch hospital-a/diabetes@2
  cohortnet fetch bafyreig... --detach`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := node.Dial(ctx, dataDir())
			if err != nil {
				return err
			}
			var j node.Job
			if err := c.Do(ctx, http.MethodPost, "/api/v1/fetch", map[string]string{"ref": args[0]}, &j); err != nil {
				return err
			}
			if detach {
				if g.json {
					return printJSON(cmd.OutOrStdout(), j)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "fetch job %s started (%s version %d)\n", j.ID, j.Dataset, j.Version)
				return nil
			}
			var bar *progressbar.ProgressBar
			if !g.json {
				bar = progressbar.DefaultBytes(-1, fmt.Sprintf("%s@%d", j.Dataset, j.Version))
			}
			for j.State == node.JobRunning {
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(200 * time.Millisecond):
				}
				if err := c.Do(ctx, http.MethodGet, "/api/v1/fetch/"+j.ID, nil, &j); err != nil {
					return err
				}
				if bar != nil && j.TotalBytes > 0 {
					bar.ChangeMax64(j.TotalBytes)
					bar.Set64(j.Bytes)
				}
			}
			if bar != nil {
				bar.Finish()
			}
			if g.json {
				return printJSON(cmd.OutOrStdout(), j)
			}
			if j.State != node.JobDone {
				return fmt.Errorf("fetch %s: %s", args[0], j.Error)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "fetched %s version %d: %d files, %d bytes, verified\nmanifest %s\n", j.Dataset, j.Version, j.Files, j.TotalBytes, j.Manifest)
			for p, b := range j.Providers {
				fmt.Fprintf(cmd.OutOrStdout(), "  from %s: %d bytes\n", p, b)
			}
			for p, why := range j.Dropped {
				fmt.Fprintf(cmd.OutOrStdout(), "  dropped %s: %s\n", p, why)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&detach, "detach", false, "start the fetch and return; follow it with the API (GET /api/v1/fetch/JOB)")
	return cmd
}
