package main

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cohortnet/cohortnet/cohort"
)

func init() { register(newPublishCmd) }

func newPublishCmd() *cobra.Command {
	var opts cohort.PublishOptions
	cmd := &cobra.Command{
		Use:   "publish DIR --name NAME",
		Short: "Publish a de-identified dataset folder as a signed, content-addressed manifest",
		Long: `publish imports a de-identified dataset folder (the output of cohortnet deid:
Parquet files, policy.yaml and deid-report.json) into the node's store, checks
the folder is exactly what de-identification wrote (every file's sha256, size,
columns and rows as the report lists them, no file missing or added), builds
the manifest, signs it with the node key and keeps it in the local catalogue.

The dataset is named <institution>/<name> with this node's short name: --name
diabetes publishes hospital-a/diabetes. Publishing a name again makes the next
version, pointing at the previous one.

Access tiers: open, registered, restricted (the default) and aggregate-only.
A safe-harbor dataset may use any tier, an expert-mode one any but open, a
limited data set (and a folder without a report) only restricted or
aggregate-only. A folder without deid-report.json is refused unless
--no-deid-report gives a reason, which the manifest records.

The manifest is local only for now: anchoring it in the ledger and announcing
it to the network are separate steps.`,
		Example: `  cohortnet publish out/diabetes --name diabetes --title "Type 2 diabetes, 2010-2025" --license CC-BY-4.0 --access registered
  cohortnet publish out/diabetes --name diabetes --json
  cohortnet publish registry/ --name tumour-counts --no-deid-report "aggregate counts, no persons" --access aggregate-only`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Dir = args[0]
			opts.Logger = slog.Default()
			p, err := cohort.PublishFromDataDir(cmd.Context(), dataDir(), opts)
			if err != nil {
				return err
			}
			m := p.Manifest
			if g.json {
				return printJSON(cmd.OutOrStdout(), map[string]any{
					"manifest": p.CID.String(), "name": m.Name, "version": m.Version,
					"files": p.Files, "bytes": p.Bytes, "anchored": false,
				})
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "published %s version %d\nmanifest %s\n", m.Name, m.Version, p.CID)
			if m.Previous != nil {
				fmt.Fprintf(w, "previous %s\n", m.Previous)
			}
			var tables []string
			for _, t := range m.Tables {
				tables = append(tables, fmt.Sprintf("%s (%d rows)", t.Name, t.Rows))
			}
			fmt.Fprintf(w, "%d files, %d bytes; tables: %s\naccess %s, de-identification %s\n",
				p.Files, p.Bytes, strings.Join(tables, ", "), m.Access, m.Deid.Mode)
			fmt.Fprintln(w, "local only: the manifest is not yet anchored in the ledger nor announced to the network")
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Name, "name", "", "dataset name; the institution's short name is prefixed (diabetes -> hospital-a/diabetes)")
	f.StringVar(&opts.Title, "title", "", "title shown to researchers")
	f.StringVar(&opts.Description, "description", "", "what the cohort is, for researchers")
	f.StringVar(&opts.License, "license", "", `licence or data-use terms, e.g. "CC-BY-4.0"`)
	f.StringVar(&opts.Access, "access", cohort.AccessRestricted, "access tier: "+strings.Join(cohort.AccessTiers, ", "))
	f.StringVar(&opts.NoDeidReport, "no-deid-report", "", "publish a folder without a de-identification report; the reason is recorded in the manifest")
	_ = cmd.MarkFlagRequired("name")
	return cmd
}
