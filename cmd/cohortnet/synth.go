package main

import (
	"fmt"
	"os"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/cohortnet/cohortnet/internal/synth"
)

func init() { register(newSynthCmd) }

func newSynthCmd() *cobra.Command {
	var (
		cfg      synth.Config
		signals  []string
		progress bool
	)
	cmd := &cobra.Command{
		Use:   "synth",
		Short: "Write a synthetic, PHI-laden hospital export for tests and demos",
		Long: `synth writes a deterministic synthetic hospital export: Synthea CSV (v3.0
layout: patients, encounters, conditions, medications, immunizations,
observations, procedures) or a FHIR R4 Bulk Data export (one NDJSON file per
resource type), plus clinical notes (notes.jsonl) with the byte spans of every
identifier planted in them (notes.phi.jsonl), and truth.json with the planted
adverse-event signals.

The same seed and flags give byte-identical files. --institution changes the
population mix, so several hospitals differ but share code systems. Each
--signal DRUG:EVENT:RR (RxNorm code, SNOMED CT code, relative risk) raises the
chance that the event starts within 30 days after the drug's first exposure;
without --signal a few default pairs are planted.

The output directory is written atomically: it appears only when complete.
Everything in it is invented, but it looks like PHI: never mix it with real data.`,
		Example: `  cohortnet synth --patients 1000 --out export/
  cohortnet synth --patients 10000 --seed 2 --institution "Hospital B" --format fhir-ndjson --out hospital-b/
  cohortnet synth --patients 5000 --signal 314076:41291007:4 --signal 562251:62315008:2.5 --start 2016 --end 2024 --out export/`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfg.Out == "" {
				return fmt.Errorf("synth: --out DIR is required")
			}
			for _, s := range signals {
				sig, err := synth.ParseSignal(s)
				if err != nil {
					return err
				}
				cfg.Signals = append(cfg.Signals, sig)
			}
			if fi, err := os.Stderr.Stat(); progress && !g.json && err == nil && fi.Mode()&os.ModeCharDevice != 0 {
				n := cfg.Patients
				if n == 0 {
					n = 1000
				}
				bar := progressbar.NewOptions(n, progressbar.OptionSetWriter(os.Stderr),
					progressbar.OptionSetDescription("patients"), progressbar.OptionShowCount(),
					progressbar.OptionThrottle(200_000_000), progressbar.OptionClearOnFinish())
				cfg.Progress = func(done, _ int) { bar.Set(done) }
			}
			res, err := synth.Generate(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(cmd.OutOrStdout(), map[string]any{
					"dir": res.Dir, "patients": res.Patients, "rows": res.Rows, "bytes": res.Bytes, "files": res.Files,
				})
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "wrote %d patients to %s: %d rows, %.1f MB\n", res.Patients, res.Dir, res.Rows, float64(res.Bytes)/1e6)
			for _, f := range res.Files {
				fmt.Fprintf(w, "  %-28s %10d rows %12d bytes\n", f.Name, f.Rows, f.Bytes)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Patients, "patients", 1000, "number of patients")
	f.Int64Var(&cfg.Seed, "seed", 1, "random seed; the same seed and flags give the same bytes")
	f.StringVar(&cfg.Format, "format", synth.FormatSyntheaCSV, "output format: synthea-csv or fhir-ndjson")
	f.StringVar(&cfg.Out, "out", "", "output directory (created; must not exist or be empty)")
	f.StringVar(&cfg.Institution, "institution", "", "institution name; changes the population mix")
	f.StringArrayVar(&signals, "signal", nil, "planted signal DRUG:EVENT:RR (RxNorm:SNOMED CT:relative risk); repeat for more")
	f.IntVar(&cfg.StartYear, "start", 2014, "first year of encounters")
	f.IntVar(&cfg.EndYear, "end", 2025, "last year of encounters")
	f.BoolVar(&progress, "progress", true, "show a progress bar when stderr is a terminal")
	_ = cmd.RegisterFlagCompletionFunc("format", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{synth.FormatSyntheaCSV, synth.FormatFHIR}, cobra.ShellCompDirectiveNoFileComp
	})
	return cmd
}
