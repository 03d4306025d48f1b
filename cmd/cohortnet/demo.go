package main

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"

	"github.com/spf13/cobra"
	"k8s.io/klog/v2"

	"github.com/cohortnet/cohortnet/internal/demo"
	"github.com/cohortnet/cohortnet/node/web"
)

func init() { register(newDemoCmd) }

func newDemoCmd() *cobra.Command {
	var cfg demo.Config
	var keep, apiAddr string
	var serve bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the whole system in one process: hospitals publish, a researcher fetches and queries, an agency finds signals",
		Long: `demo starts, in one process, a consortium with a ledger operator, two
witnesses, hospitals with different synthetic populations (planted adverse-event
signals included), a researcher and an agency, each with its own data directory
and a real libp2p host on loopback, and plays the whole story:

  the hospitals de-identify (expert mode) and publish, one dataset restricted,
  one registered, one aggregate-only; the witnesses cosign the ledger;
  the researcher hears the announcements and verifies them (signature, ledger
  inclusion), asks for access, is granted by one hospital and refused by
  another, fetches (every chunk and CID verified) and runs a pooled query;
  the agency pulls signed adverse-event counts from every hospital and the
  planted drug-event pairs come out flagged; the ledger shows every grant,
  fetch and release.

It prints the story with timings, CIDs and the top signals, or one JSON object
with --json. Any failed step exits non-zero naming the step. --keep DIR leaves
every participant's data directory in DIR.

--serve keeps every node running after the story; the researcher's node
serves its local API (/api/v1, the token in its api.token) and the web
dashboard on --api, printing the dashboard's URL (with the token in its
fragment) until Ctrl-C. The notebooks in notebooks/ connect to it with
COHORTNET_API and COHORTNET_TOKEN.`,
		Example: `  cohortnet demo
  cohortnet demo --patients 2000 --json
  cohortnet demo --keep /tmp/cohortnet-demo
  cohortnet demo --serve --api 127.0.0.1:8080`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			cfg.Dir = keep
			// The story is the output: the packages' own messages show
			// only as errors unless --log-level asks for more (the refused
			// fetch, for one, logs warnings by design).
			cfg.Logger = slog.Default()
			if f := cmd.Flag("log-level"); f == nil || !f.Changed {
				cfg.Logger = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelError}))
			}
			// Tessera logs through klog; send it the same way.
			klog.SetSlogLogger(cfg.Logger)
			if !g.json {
				cfg.Out = cmd.OutOrStdout()
			}
			if serve {
				cfg.API, cfg.UI = apiAddr, web.Handler()
			}
			d, err := demo.Run(ctx, cfg)
			if err != nil {
				return exitError{code: 1, msg: err.Error()}
			}
			defer d.Close()
			w := cmd.OutOrStdout()
			if g.json {
				if err := printJSON(w, d.Result); err != nil {
					return err
				}
			}
			if keep != "" && !g.json {
				fmt.Fprintf(w, "every participant's data directory is in %s\n", keep)
			}
			if !serve {
				return nil
			}
			url, token := d.API()
			// On stderr with --json, so stdout stays one JSON object.
			info := w
			if g.json {
				info = cmd.ErrOrStderr()
			}
			fmt.Fprintf(info, "dashboard: %s/#token=%s\napi: %s/api/v1 (COHORTNET_API=%s COHORTNET_TOKEN=%s)\nthe researcher's token is also in %s; Ctrl-C stops\n",
				url, token, url, url, token, d.Researcher().Join("api.token"))
			<-ctx.Done()
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Hospitals, "hospitals", 3, "hospitals (at least 3: one per access tier)")
	f.IntVar(&cfg.Patients, "patients", 5000, "synthetic patients per hospital")
	f.Int64Var(&cfg.Seed, "seed", 1, "seed of the synthetic populations (hospital i uses seed + i)")
	f.BoolVar(&serve, "serve", false, "keep the participants running and serve the researcher's API and the dashboard until Ctrl-C")
	f.StringVar(&apiAddr, "api", "127.0.0.1:0", "address of the researcher's API and dashboard with --serve (default a free loopback port)")
	f.StringVar(&keep, "keep", "", "keep every participant's data directory in `DIR` (default: a temporary directory, removed)")
	return cmd
}
