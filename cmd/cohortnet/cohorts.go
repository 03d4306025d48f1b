package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/cohortnet/cohortnet/cohort"
)

func init() { register(newCohortsCmd) }

func newCohortsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cohorts",
		Short: "List, show and verify the datasets in the local catalogue",
		Long: `cohorts works on the local catalogue: the signed manifests this node published
or received. A dataset is named <institution>/<name>; a reference is a manifest
CID, a name (its latest version that is not retracted) or NAME@VERSION.`,
		Example: `  cohortnet cohorts list --condition diabetes --min-persons 100
  cohortnet cohorts show hospital-a/diabetes
  cohortnet cohorts verify hospital-a/diabetes@2`,
	}
	cmd.AddCommand(newCohortsListCmd(), newCohortsShowCmd(), newCohortsVerifyCmd())
	return cmd
}

func openCatalog(cmd *cobra.Command) (*cohort.Store, *cohort.Catalog, error) {
	st, err := cohort.OpenDataStore(dataDir())
	if err != nil {
		return nil, nil, err
	}
	cat, err := st.Catalog(cmd.Context())
	if err != nil {
		return nil, nil, err
	}
	for _, p := range cat.Problems {
		fmt.Fprintf(cmd.ErrOrStderr(), "cohortnet: skipped a kept manifest: %v\n", p)
	}
	return st, cat, nil
}

func newCohortsListCmd() *cobra.Command {
	var f cohort.Filter
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List datasets, searching their public summaries",
		Long: `list shows the latest version of every dataset in the local catalogue that
matches the filters. --condition and --drug match a code exactly or text in the
name (any case) among the summary's most frequent conditions and drugs, which
leave out counts under 11.`,
		Example: `  cohortnet cohorts list
  cohortnet cohorts list --condition 44054006 --institution hospital-a
  cohortnet cohorts list --drug metformin --min-persons 500 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, cat, err := openCatalog(cmd)
			if err != nil {
				return err
			}
			found := cat.Search(f)
			if g.json {
				out := make([]cohort.Listing, 0, len(found))
				for _, e := range found {
					out = append(out, e.Listing())
				}
				return printJSON(cmd.OutOrStdout(), out)
			}
			if len(found) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "no datasets match")
				return nil
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "DATASET\tPERSONS\tYEARS\tACCESS\tDEID\tTITLE\tMANIFEST")
			for _, e := range found {
				l := e.Listing()
				years := "-"
				if l.YearMin != 0 || l.YearMax != 0 {
					years = fmt.Sprintf("%d-%d", l.YearMin, l.YearMax)
				}
				name := fmt.Sprintf("%s@%d", l.Name, l.Version)
				if l.Retracted {
					name += " (retracted)"
				}
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\n", name, l.Persons, years, l.Access, l.Mode, l.Title, l.Manifest)
			}
			return tw.Flush()
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.Condition, "condition", "", "condition code or text, e.g. 44054006 or diabetes")
	fl.StringVar(&f.Drug, "drug", "", "drug code or text, e.g. 860975 or metformin")
	fl.StringVar(&f.Institution, "institution", "", "institution short name, e.g. hospital-a")
	fl.Int64Var(&f.MinPersons, "min-persons", 0, "at least this many persons")
	fl.StringVar(&f.Text, "text", "", "text in the dataset's name, title or description")
	fl.BoolVar(&f.All, "all", false, "every version, retracted ones too, not only the latest")
	return cmd
}

func newCohortsShowCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "show CID|NAME[@VERSION]",
		Short: "Show a dataset version's manifest",
		Long: `show prints a readable summary of a manifest: name, version, publisher, access,
de-identification, tables and files. With --json it prints the whole manifest
in DAG-JSON (the IPLD JSON form) with its CID.`,
		Example: `  cohortnet cohorts show hospital-a/diabetes
  cohortnet cohorts show hospital-a/diabetes@1 --json
  cohortnet cohorts show bafyrei...`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, cat, err := openCatalog(cmd)
			if err != nil {
				return err
			}
			e, err := cat.Resolve(args[0])
			if err != nil {
				return err
			}
			m := e.Manifest
			if g.json {
				mj, err := m.DAGJSON()
				if err != nil {
					return err
				}
				return printJSON(cmd.OutOrStdout(), map[string]any{
					"cid": e.CID.String(), "retracted": e.Retracted, "manifest": json.RawMessage(mj),
				})
			}
			w := cmd.OutOrStdout()
			l := e.Listing()
			fmt.Fprintf(w, "%s version %d", m.Name, m.Version)
			if e.Retracted {
				fmt.Fprintf(w, " (RETRACTED: %s)", e.Reason)
			}
			fmt.Fprintf(w, "\nmanifest     %s\n", e.CID)
			if m.Previous != nil {
				fmt.Fprintf(w, "previous     %s\n", m.Previous)
			}
			fmt.Fprintf(w, "title        %s\n", m.Title)
			if m.Description != "" {
				fmt.Fprintf(w, "description  %s\n", m.Description)
			}
			fmt.Fprintf(w, "publisher    %s (%s)\ncreated      %s\nlicense      %s\naccess       %s\ndata model   %s\n",
				m.Publisher.Name, m.Publisher.PeerID, m.Created, m.License, m.Access, m.DataModel)
			fmt.Fprintf(w, "de-identification %s", m.Deid.Mode)
			if m.Deid.KAchieved != nil {
				fmt.Fprintf(w, ", k achieved %d", *m.Deid.KAchieved)
			}
			if m.Deid.HighestRisk != nil {
				fmt.Fprintf(w, ", highest risk %.4f", *m.Deid.HighestRisk)
			}
			if m.Deid.NoReportReason != nil {
				fmt.Fprintf(w, " (no report: %s)", *m.Deid.NoReportReason)
			}
			fmt.Fprintln(w)
			if s := m.Summary; s != nil {
				fmt.Fprintf(w, "persons      %d, years %d-%d\n", s.Persons, s.YearMin, s.YearMax)
				for _, group := range []struct {
					name  string
					codes []cohort.Code
				}{{"conditions", s.Conditions}, {"drugs", s.Drugs}} {
					if len(group.codes) == 0 {
						continue
					}
					fmt.Fprintf(w, "top %s:\n", group.name)
					for _, c := range group.codes {
						fmt.Fprintf(w, "  %6d  %s %s  %s\n", c.Count, c.Vocabulary, c.Code, c.Name)
					}
				}
			}
			fmt.Fprintf(w, "tables (%d files, %d bytes):\n", len(m.Files()), l.Bytes)
			for _, t := range m.Tables {
				var cols []string
				for _, f := range t.Schema {
					cols = append(cols, f.Name+" "+f.Type)
				}
				fmt.Fprintf(w, "  %s: %d rows in %d files; %s\n", t.Name, t.Rows, len(t.Files), strings.Join(cols, ", "))
			}
			return nil
		},
	}
	return cmd
}

func newCohortsVerifyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "verify CID|NAME[@VERSION]",
		Short: "Check a dataset version's signature, files, chunk digests and schemas",
		Long: `verify checks the manifest's signature and encoding, rehashes every file of
the dataset against its CID and its chunk digests, and compares each Parquet
file's schema and row count with the manifest's. It exits 0 only when
everything holds; otherwise it prints one line per problem, naming the file and
the check, and exits 1.`,
		Example: `  cohortnet cohorts verify hospital-a/diabetes
  cohortnet cohorts verify bafyrei... --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, cat, err := openCatalog(cmd)
			if err != nil {
				return err
			}
			e, err := cat.Resolve(args[0])
			if err != nil {
				return err
			}
			probs, err := cohort.VerifyDataset(cmd.Context(), st, e.CID)
			if err != nil {
				return err
			}
			if g.json {
				out := make([]map[string]string, 0, len(probs))
				for _, p := range probs {
					out = append(out, map[string]string{"file": p.File, "cid": p.CID.String(), "check": p.Check, "message": p.Msg})
				}
				if err := printJSON(cmd.OutOrStdout(), map[string]any{
					"manifest": e.CID.String(), "name": e.Manifest.Name, "version": e.Manifest.Version,
					"ok": len(probs) == 0, "problems": out,
				}); err != nil {
					return err
				}
			} else {
				for _, p := range probs {
					fmt.Fprintln(cmd.OutOrStdout(), p)
				}
			}
			if len(probs) > 0 {
				noun := "problems"
				if len(probs) == 1 {
					noun = "problem"
				}
				return exitError{code: 1, msg: fmt.Sprintf("%s version %d: %d %s", e.Manifest.Name, e.Manifest.Version, len(probs), noun)}
			}
			if !g.json {
				fmt.Fprintf(cmd.OutOrStdout(), "ok: %s version %d (%s): signature, %d files, chunk digests and schemas verified\n",
					e.Manifest.Name, e.Manifest.Version, e.CID, len(e.Manifest.Files()))
			}
			return nil
		},
	}
	return cmd
}
