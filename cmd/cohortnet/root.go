package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/cohortnet/cohortnet/internal/datadir"
)

// globals are the flags every command shares.
type globals struct {
	data     string
	logLevel string
	json     bool
}

var g globals

// commands holds the constructors of the top-level subcommands. Each command
// file adds its own in an init function, so command groups stay in their files.
var commands []func() *cobra.Command

func register(newCmd func() *cobra.Command) { commands = append(commands, newCmd) }

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "cohortnet",
		Short: "Share de-identified patient cohorts over a verifiable network",
		Long: `cohortnet turns hospital exports into de-identified Parquet datasets, publishes
them as signed, content-addressed cohort manifests over a libp2p network, anchors
every publication, grant and access in a witnessed append-only ledger, and lets
researchers query the cohorts they may see with DuckDB.`,
		Example: `  cohortnet init --name "Hospital A" --short-name hospital-a --role hospital
  cohortnet synth --patients 1000 --out export/
  cohortnet --data ~/.cohortnet-b version`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	pf := root.PersistentFlags()
	pf.StringVar(&g.data, "data", defaultDataDir(), "data directory (default $COHORTNET_DATA, else ~/.cohortnet)")
	pf.StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	pf.BoolVar(&g.json, "json", false, "print results as JSON for programs")
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		var level slog.Level
		if err := level.UnmarshalText([]byte(g.logLevel)); err != nil {
			return fmt.Errorf("--log-level %q: use debug, info, warn or error", g.logLevel)
		}
		slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})))
		return nil
	}
	for _, newCmd := range commands {
		root.AddCommand(newCmd())
	}
	return root
}

func defaultDataDir() string {
	if d := os.Getenv("COHORTNET_DATA"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ".cohortnet"
	}
	return filepath.Join(home, ".cohortnet")
}

// dataDir is the data directory named by --data.
func dataDir() datadir.Dir { return datadir.Open(g.data) }

// run executes the command line and returns the exit status. Ctrl-C and
// SIGTERM cancel the command's context, so long work stops cleanly.
func run(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRootCmd()
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		fmt.Fprintln(os.Stderr, "cohortnet: interrupted")
		return 130
	}
	var ee exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintln(os.Stderr, "cohortnet: "+ee.msg)
		}
		return ee.code
	}
	msg := err.Error()
	if strings.HasPrefix(msg, "unknown command") || strings.HasPrefix(msg, "unknown flag") ||
		strings.Contains(msg, "accepts") || strings.Contains(msg, "required flag") {
		msg += " (see --help)"
	}
	fmt.Fprintln(os.Stderr, "cohortnet: "+msg)
	return 1
}

// exitError ends a command with a specific status, e.g. 1 from a verification
// that found problems it already printed.
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string { return e.msg }

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
