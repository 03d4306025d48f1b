package main

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cohortnet/cohortnet/node"
	"github.com/cohortnet/cohortnet/query"
)

func init() { register(newAECmd) }

func newAECmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ae",
		Short: "Adverse-event surveillance: disproportionality signals",
		Example: `  cohortnet ae signals
  cohortnet ae signals --source self-controlled --window 30 --drug 314076`,
	}
	cmd.AddCommand(newAESignalsCmd())
	return cmd
}

func newAESignalsCmd() *cobra.Command {
	var qf queryFlags
	var cfg query.SignalConfig
	var drug, event, format, by string
	var minCount int64
	var local bool
	cmd := &cobra.Command{
		Use:   "signals",
		Short: "Compute PRR, ROR and IC with their flags per drug–event pair",
		Long: `Count drug–event pairs over the local datasets and compute, per pair, the 2×2
table (a, b, c, d), PRR with its 95% CI and the Yates chi-square, ROR with its
95% CI, IC with IC025, and the flags: Evans (PRR ≥ 2, χ² ≥ 4, a ≥ 3), EMA
(PRR lower limit ≥ 1, a ≥ 5), ROR025 > 1 and IC025 > 0.

--source picks how the 2×2 table is filled (W = --window days):
  reports          persons with an adverse_event row (FHIR AdverseEvent, FAERS).
  exposures        the cohort method of DESIGN.md: exposed persons indexed at
                   their first exposure, every other person at an index day
                   drawn from the exposed ones' (--seed, reproducible); a, b:
                   exposed with, without the event on days 1..W after the
                   index; c, d: unexposed likewise; N: persons.
  self-controlled  each exposed person's risk window, days 1..W after the
                   first exposure, against their own control windows, days
                   -2W+1..-W and W+1..2W; a, b: risk windows with, without the
                   event; c, d: control windows; N: 3 windows per exposed
                   person, counted if their records begin by day -2W+1.
On expert-mode datasets (dates shifted per person) exposures overstates
disproportionality, because sampled calendar index days do not line up with
shifted timelines: use self-controlled there. The same holds for safe-harbor
datasets with --intervals (days since each person's first record). exposures
over such a dataset prints a warning (a "warning" field in JSON). Safe-harbor
datasets with years only are skipped (they have no day-level dates).

When a node runs, the counts come from every hospital over the network: each
releases signed counts from the datasets it published, values below its
minimum cell suppressed, and the signals are computed over the pooled counts
(a pooled a is then a lower bound). --local counts the local datasets only.`,
		Example: `  cohortnet ae signals
  cohortnet ae signals --source self-controlled --window 30 --min-count 5 --format csv
  cohortnet ae signals --source exposures --seed 7 --local
  cohortnet ae signals --drug 314076 --event 41291007 --format json
  cohortnet ae signals --by quarter --min-count 1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if g.json && !cmd.Flags().Changed("format") {
				format = query.FormatJSON
			}
			if !local && by == "" {
				if c, err := node.Dial(ctx, dataDir()); err == nil {
					v := url.Values{"federated": {"1"}, "source": {cfg.Source}, "window": {fmt.Sprint(cfg.Window)},
						"seed": {fmt.Sprint(cfg.Seed)}, "min_count": {fmt.Sprint(minCount)}, "drug": {drug}, "event": {event}}
					var res struct {
						Signals  []query.Signal `json:"signals"`
						Problems []string       `json:"problems"`
						Warnings []string       `json:"warnings"`
					}
					if err := c.Do(ctx, http.MethodGet, "/api/v1/ae/signals?"+v.Encode(), nil, &res); err != nil {
						return err
					}
					for _, p := range res.Problems {
						fmt.Fprintln(cmd.ErrOrStderr(), "not pooled:", p)
					}
					for _, w := range res.Warnings {
						fmt.Fprintln(cmd.ErrOrStderr(), "warning:", w)
					}
					return query.WriteSignals(cmd.OutOrStdout(), res.Signals, format)
				} else if !errors.Is(err, node.ErrNotRunning) {
					return err
				}
			}
			e, _, err := qf.openEngine(ctx)
			if err != nil {
				return err
			}
			defer e.Close()
			periods := []string{""}
			switch by {
			case "":
			case "quarter":
				if periods, err = e.Quarters(ctx, cfg); err != nil {
					return err
				}
			default:
				return fmt.Errorf("--by %q: only quarter", by)
			}
			var all []query.Signal
			skipped := map[string]bool{}
			for _, p := range periods {
				cfg.Quarter = p
				c, err := e.Counts(ctx, cfg)
				if err != nil {
					return err
				}
				for _, s := range c.Skipped {
					if !skipped[s] {
						skipped[s] = true
						fmt.Fprintln(cmd.ErrOrStderr(), "skipped:", s)
					}
				}
				for _, w := range c.Warnings {
					if !skipped[w] {
						skipped[w] = true
						fmt.Fprintln(cmd.ErrOrStderr(), "warning:", w)
					}
				}
				for _, s := range query.Signals(c, minCount, drug, event) {
					s.Period = p
					all = append(all, s)
				}
			}
			return query.WriteSignals(cmd.OutOrStdout(), all, format)
		},
	}
	qf.add(cmd)
	fl := cmd.Flags()
	fl.StringVar(&cfg.Source, "source", query.SourceReports, strings.Join(query.Sources, ", ")+" (see above)")
	fl.IntVar(&cfg.Window, "window", 30, "risk window in days after the index (exposures, self-controlled)")
	fl.Uint64Var(&cfg.Seed, "seed", 1, "seed of the unexposed persons' sampled index days (exposures)")
	fl.StringVar(&drug, "drug", "", "only this drug code")
	fl.StringVar(&event, "event", "", "only this event code")
	fl.Int64Var(&minCount, "min-count", 3, "only pairs with at least this many cases (a)")
	fl.StringVar(&by, "by", "", "split report signals by calendar period: quarter (local datasets only)")
	fl.BoolVar(&local, "local", false, "count the local datasets only, even when a node runs")
	fl.StringVar(&format, "format", query.FormatTable, "table, csv, json or jsonl")
	return cmd
}
