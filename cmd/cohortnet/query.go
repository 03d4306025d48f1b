package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/cohortnet/cohortnet/internal/datadir"
	"github.com/cohortnet/cohortnet/node"
	"github.com/cohortnet/cohortnet/query"
)

func init() { register(newQueryCmd) }

// queryFlags are the engine flags query, ae and aggregate share.
type queryFlags struct {
	datasets string
	timeout  time.Duration
	memoryMB int64
	threads  int
}

func (f *queryFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.datasets, "datasets", "", "JSON file listing the datasets to open instead of the local catalogue (for datasets outside the store)")
	fl.DurationVar(&f.timeout, "timeout", 60*time.Second, "interrupt a query running longer than this")
	fl.Int64Var(&f.memoryMB, "memory-limit", 1024, "DuckDB memory limit in MiB")
	fl.IntVar(&f.threads, "threads", 0, "DuckDB threads (default: number of CPUs)")
}

// localDatasets lists the datasets the engine opens over and the ledger
// checkpoint to cite: the latest non-retracted version of every dataset in
// the store whose files are all held (node.LocalDatasets), or the --datasets
// file.
var localDatasets = func(ctx context.Context, dir datadir.Dir, file string) ([]query.Dataset, string, error) {
	if file == "" {
		ds, cp, err := node.LocalDatasets(ctx, dir)
		if err == nil && len(ds) == 0 {
			err = fmt.Errorf("no local datasets: publish or fetch one first (or pass --datasets FILE)")
		}
		return ds, cp, err
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, "", err
	}
	defer f.Close()
	ds, err := query.ReadDatasets(f)
	return ds, "", err
}

// openEngine opens the query engine over the local datasets.
func (f *queryFlags) openEngine(ctx context.Context) (*query.Engine, string, error) {
	ds, checkpoint, err := localDatasets(ctx, dataDir(), f.datasets)
	if err != nil {
		return nil, "", err
	}
	e, err := query.Open(ctx, query.Config{
		MemoryLimit: f.memoryMB << 20,
		Threads:     f.threads,
		Timeout:     f.timeout,
	}, ds)
	return e, checkpoint, err
}

func newQueryCmd() *cobra.Command {
	var qf queryFlags
	var format, out string
	var maxRows int
	cmd := &cobra.Command{
		Use:   "query SQL",
		Short: "Run a SELECT over the local cohorts in the sandbox",
		Long: `Run one SELECT statement over the local de-identified datasets.

Each dataset has a schema of views named after it (hospital-a/diabetes is
hospital_a_diabetes.person, ...). The schema cohorts unions every dataset with
calendar dates, cohorts_years the safe-harbor datasets with years, cohorts_days
those made with --intervals; each union adds source_dataset (manifest CID) and
source_institution. Only the datasets' own files are readable; nothing can be
written, attached, installed or reconfigured.

Results carry their provenance (the manifests read and the ledger checkpoint):
a footer in table format, a field in JSON, a FILE.provenance.json sidecar
beside --out, and Parquet key-value metadata.`,
		Example: `  cohortnet query "SELECT gender, count(*) FROM cohorts.person GROUP BY ALL"
  cohortnet query --format csv --out persons.csv "SELECT * FROM cohorts.person"
  cohortnet query --format parquet --out drugs.parquet --timeout 5m \
      "SELECT drug_code, count(DISTINCT person_id) FROM cohorts.drug_exposure GROUP BY 1"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if g.json && !cmd.Flags().Changed("format") {
				format = query.FormatJSON
			}
			e, checkpoint, err := qf.openEngine(ctx)
			if err != nil {
				return err
			}
			defer e.Close()
			rows, err := e.Query(ctx, args[0], query.Options{Checkpoint: checkpoint})
			if err != nil {
				return err
			}
			opts := query.WriteOptions{MaxRows: maxRows}
			if out != "" {
				prov, err := query.WriteFile(out, rows, format, opts)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "%d rows written to %s (provenance in %s.provenance.json)\n", prov.Rows, out, out)
				return nil
			}
			if format == query.FormatParquet || format == query.FormatArrow {
				rows.Close()
				return fmt.Errorf("--format %s needs --out FILE", format)
			}
			return query.Write(cmd.OutOrStdout(), rows, format, opts)
		},
	}
	qf.add(cmd)
	cmd.Flags().StringVar(&format, "format", query.FormatTable, "output format: table, csv, json, jsonl, parquet or arrow")
	cmd.Flags().StringVar(&out, "out", "", "write the result to FILE (atomically) with FILE.provenance.json beside it")
	cmd.Flags().IntVar(&maxRows, "max-rows", 100, "rows a table shows (the rest are counted); -1 for all")
	return cmd
}
