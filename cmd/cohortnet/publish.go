package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/ipfs/go-cid"
	"github.com/spf13/cobra"

	"github.com/cohortnet/cohortnet/cohort"
	"github.com/cohortnet/cohortnet/consortium"
	"github.com/cohortnet/cohortnet/ledger"
	"github.com/cohortnet/cohortnet/ledger/ledgerd"
	"github.com/cohortnet/cohortnet/node"
)

func init() { register(newPublishCmd) }

func newPublishCmd() *cobra.Command {
	var opts cohort.PublishOptions
	var local bool
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

Then the publication is anchored: when a node runs on this data directory, it
records the publish entry in the ledger and announces the signed manifest with
its witnessed commitment to every member; without a running node but with an
installed consortium, the entry is recorded directly with the ledger operator
(members learn it from the ledger and fetch the manifest once the node runs);
without a consortium the manifest stays local. --local skips anchoring.`,
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
			state, index, err := anchor(cmd.Context(), p.CID, m, local)
			if err != nil {
				return fmt.Errorf("published %s version %d locally (manifest %s), but anchoring failed: %w", m.Name, m.Version, p.CID, err)
			}
			if g.json {
				out := map[string]any{
					"manifest": p.CID.String(), "name": m.Name, "version": m.Version,
					"files": p.Files, "bytes": p.Bytes, "anchored": state != "local", "state": state,
				}
				if state != "local" {
					out["ledger_index"] = index
				}
				return printJSON(cmd.OutOrStdout(), out)
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
			switch state {
			case "announced":
				fmt.Fprintf(w, "anchored in the ledger (entry %d) and announced to the network\n", index)
			case "anchored":
				fmt.Fprintf(w, "anchored in the ledger (entry %d); members learn it from the ledger once this node runs\n", index)
			default:
				fmt.Fprintln(w, "local only: not anchored in the ledger nor announced (no consortium installed, or --local)")
			}
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
	f.BoolVar(&local, "local", false, "keep the manifest local: do not anchor or announce it")
	_ = cmd.MarkFlagRequired("name")
	return cmd
}

// anchor records a new publication: through the running node (anchored and
// announced), else directly with the ledger (anchored), else not at all
// ("local").
func anchor(ctx context.Context, manifest cid.Cid, m *cohort.Manifest, local bool) (state string, index uint64, err error) {
	if local {
		return "local", 0, nil
	}
	c, err := node.Dial(ctx, dataDir())
	if err == nil {
		var cm ledger.Commitment
		if err := c.Do(ctx, http.MethodPost, "/api/v1/announce", map[string]string{"manifest": manifest.String()}, &cm); err != nil {
			return "", 0, err
		}
		return "announced", cm.Index, nil
	}
	if !errors.Is(err, node.ErrNotRunning) {
		return "", 0, err
	}
	cm, err := ledgerd.AnchorPublish(ctx, dataDir(), manifest, m.Name, m.Version, m.Access, nil)
	if errors.Is(err, consortium.ErrNotInstalled) {
		return "local", 0, nil
	}
	if err != nil {
		return "", 0, err
	}
	return "anchored", cm.Index, nil
}
