package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cohortnet/cohortnet/node"
	"github.com/cohortnet/cohortnet/query"
)

func init() { register(newAggregateCmd) }

// sendAggregate answers from this node's own datasets only, for when no node
// runs (the running node sends the request to every institution).
var sendAggregate = func(ctx context.Context, a *query.Answerer, req query.AggregateRequest) ([]*query.AggregateAnswer, []string, error) {
	ans, err := a.Answer(ctx, req)
	if err != nil {
		return nil, nil, err
	}
	return []*query.AggregateAnswer{ans}, []string{a.Institution}, nil
}

func newAggregateCmd() *cobra.Command {
	var qf queryFlags
	var req query.AggregateRequest
	var where []string
	var groupBy, format string
	cmd := &cobra.Command{
		Use:   "aggregate",
		Short: "Count persons or events per group across institutions, with disclosure control",
		Long: `Send a structured aggregate request (a table, filters and one or two group
columns from an allowed list, a measure) to every institution. Each answers only
for the datasets it published itself, suppresses counts below the minimum cell
with complementary suppression so none can be recovered from the totals, adds
Laplace noise when --dp-epsilon is given (within a per-requester budget), signs
its answer and records the release. The answers are combined here: counts that
a site suppressed make the pooled value a lower bound.

The request goes over the network through the running node; without one, only
this node's own datasets answer (and nothing is recorded in the ledger).`,
		Example: `  cohortnet aggregate --table person --group-by gender,zip3
  cohortnet aggregate --table condition_occurrence --where condition_code=44054006 \
      --group-by condition_start_year --min-cell 11 --dp-epsilon 0.5`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if g.json && !cmd.Flags().Changed("format") {
				format = query.FormatJSON
			}
			req.GroupBy = strings.Split(groupBy, ",")
			for _, w := range where {
				col, val, ok := strings.Cut(w, "=")
				if !ok {
					return fmt.Errorf("--where %q: use COLUMN=VALUE", w)
				}
				req.Filters = append(req.Filters, query.Filter{Column: col, Value: val})
			}
			if err := req.Validate(); err != nil {
				return err
			}
			dir := dataDir()
			key, err := dir.Identity()
			if err != nil {
				return err
			}
			conf, err := dir.Config()
			if err != nil {
				return err
			}
			pid, err := dir.PeerID()
			if err != nil {
				return err
			}
			req.Requester = pid.String()
			req.ID = fmt.Sprintf("%s-%d", conf.ShortName, time.Now().UnixNano())
			if c, err := node.Dial(ctx, dir); err == nil {
				var comb query.Combined
				if err := c.Do(ctx, http.MethodPost, "/api/v1/aggregate", req, &comb); err != nil {
					return err
				}
				return query.WriteCombined(cmd.OutOrStdout(), comb, format)
			} else if !errors.Is(err, node.ErrNotRunning) {
				return err
			}
			e, _, err := qf.openEngine(ctx)
			if err != nil {
				return err
			}
			defer e.Close()
			a := &query.Answerer{Engine: e, Key: key, Institution: conf.ShortName, Releases: &query.MemoryReleases{}}
			answers, asked, err := sendAggregate(ctx, a, req)
			if err != nil {
				return err
			}
			return query.WriteCombined(cmd.OutOrStdout(), query.Combine(req, asked, answers), format)
		},
	}
	qf.add(cmd)
	fl := cmd.Flags()
	fl.StringVar(&req.Table, "table", "", "CDM table to aggregate (required)")
	fl.StringArrayVar(&where, "where", nil, "COLUMN=VALUE filter (repeatable)")
	fl.StringVar(&groupBy, "group-by", "", "one or two comma-separated group columns (required)")
	fl.StringVar(&req.Measure, "measure", query.MeasurePersons, "persons (distinct) or events (rows)")
	fl.Int64Var(&req.MinCell, "min-cell", query.DefaultMinCell, "smallest count released")
	fl.Float64Var(&req.Epsilon, "dp-epsilon", 0, "add Laplace noise with this epsilon (persons only)")
	fl.StringVar(&format, "format", query.FormatTable, "table, csv or json")
	cmd.MarkFlagRequired("table")
	cmd.MarkFlagRequired("group-by")
	return cmd
}
