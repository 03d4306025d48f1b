package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cohortnet/cohortnet/deid/source"
)

func init() { register(newSourceCmd) }

func newSourceCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "source",
		Short: "Look at a hospital export before de-identifying it",
		Long: `source reads hospital exports (Synthea CSV, FHIR R4 Bulk NDJSON or Bundles,
OMOP CDM v5.4 CSV, FAERS quarterly ASCII, or one plain CSV/Parquet table) into
the cohort data model, with the identifying columns still attached. Nothing is
written.`,
		Example: `  cohortnet source inspect export/
  cohortnet source inspect fhir-export/ --source fhir --json`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newSourceInspectCmd())
	return cmd
}

func newSourceInspectCmd() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "inspect DIR",
		Short: "Detect an export's format and count its tables, identifiers and unmapped rows",
		Long: `inspect is the steward's first look at an export: the format and layout detected,
each cohort data model table with its row count, the identifying columns that
hold values, and the source rows that could not be mapped, by reason.
Malformed input stops with one line naming the file, line or Bundle entry, and
field. With --json it prints one object:
{"format", "layout", "tables": {table: rows}, "identifiers": [...], "unmapped": {reason: rows}}.`,
		Example: `  cohortnet source inspect export/
  cohortnet source inspect omop/ --source omop-csv
  cohortnet source inspect survey.csv --source table --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := source.Open(args[0], format)
			if err != nil {
				return err
			}
			defer e.Close()
			s, err := source.Inspect(cmd.Context(), e)
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(cmd.OutOrStdout(), s)
			}
			_, err = fmt.Fprint(cmd.OutOrStdout(), s.String())
			return err
		},
	}
	cmd.Flags().StringVar(&format, "source", source.FormatAuto,
		"export format: auto, "+strings.Join(source.Formats, ", "))
	return cmd
}
