package main

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"

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
  cohortnet ae signals --source exposures --window 30 --drug 314076`,
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

--source reports counts adverse_event rows (FHIR AdverseEvent, FAERS), one unit
per person. --source exposures is self-controlled: each person's first exposure
to the drug is their index day; a condition starting 1 to W days after it (W =
--window) counts in a, and the same person's control windows, days -2W+1 to -W
and W+1 to 2W, with the condition count in c (without it, in b and d). Only
persons whose records begin by day -2W+1 count, and N is three windows per
exposed person. No index dates are drawn for unexposed persons: in expert-mode
datasets every person's dates are shifted by their own secret offset, so only
days within one person's record compare. Safe-harbor datasets with years only
are skipped (they have no day-level dates).

When a node runs, the counts come from every hospital over the network: each
releases signed counts from the datasets it published, values below its
minimum cell suppressed, and the signals are computed over the pooled counts
(a pooled a is then a lower bound). --local counts the local datasets only.`,
		Example: `  cohortnet ae signals
  cohortnet ae signals --source exposures --window 30 --min-count 5 --format csv
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
					}
					if err := c.Do(ctx, http.MethodGet, "/api/v1/ae/signals?"+v.Encode(), nil, &res); err != nil {
						return err
					}
					for _, p := range res.Problems {
						fmt.Fprintln(cmd.ErrOrStderr(), "not pooled:", p)
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
	fl.StringVar(&cfg.Source, "source", query.SourceReports, "reports or exposures")
	fl.IntVar(&cfg.Window, "window", 30, "risk window in days after the index (exposures)")
	fl.Uint64Var(&cfg.Seed, "seed", 1, "ignored: exposures are self-controlled and draw no index dates (kept so old scripts run)")
	fl.StringVar(&drug, "drug", "", "only this drug code")
	fl.StringVar(&event, "event", "", "only this event code")
	fl.Int64Var(&minCount, "min-count", 3, "only pairs with at least this many cases (a)")
	fl.StringVar(&by, "by", "", "split report signals by calendar period: quarter (local datasets only)")
	fl.BoolVar(&local, "local", false, "count the local datasets only, even when a node runs")
	fl.StringVar(&format, "format", query.FormatTable, "table, csv, json or jsonl")
	return cmd
}
