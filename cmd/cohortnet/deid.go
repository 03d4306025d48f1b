package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/cohortnet/cohortnet/deid"
	"github.com/cohortnet/cohortnet/deid/scrub"
	"github.com/cohortnet/cohortnet/deid/source"
	"github.com/cohortnet/cohortnet/internal/datadir"
)

func init() { register(newDeidCmd) }

// deidFlags are the flags of `cohortnet deid`.
type deidFlags struct {
	in, out, format, mode, policy, keyFile, optOut, refDate string
	k                                                       int
	maxSupp                                                 float64
	qi, hierarchy                                           []string
	intervals, progress                                     bool
}

func newDeidCmd() *cobra.Command {
	var fl deidFlags
	cmd := &cobra.Command{
		Use:   "deid",
		Short: "De-identify a hospital export into a Parquet dataset",
		Long: `deid reads a hospital export (Synthea CSV, FHIR R4, OMOP CSV, FAERS; --source
auto detects it) and writes a de-identified dataset in the cohort data model:
OUT/<table>/part-NNNN.parquet, OUT/policy.yaml (the policy applied, presets
expanded) and OUT/deid-report.json (rows, transforms, suppression, k, risk,
every file with its sha256). The dataset is written beside OUT and renamed into
place when complete; Ctrl-C leaves nothing.

Modes: expert (default: per-person date shifts, keyed pseudonyms, zip3,
k-anonymity over --qi), safe-harbor (HIPAA 164.514(b)(2): years, or day offsets
with --intervals; random surrogate ids kept in the data directory; restricted
ZIP3s as 000; ages over 89 top-coded) and limited (HIPAA limited data set: real
dates, city, 5-digit ZIP, direct identifiers removed).

The key is the data directory's de-identification secret (cohortnet init) or
--key-file; without one nothing runs.`,
		Example: `  cohortnet deid --in export/ --out datasets/diabetes
  cohortnet deid --in export/ --out open/ --mode safe-harbor --intervals --opt-out optout.txt
  cohortnet deid --in export/ --out ds/ --k 5 --max-suppression 0.02 --qi year_of_birth,gender,zip3 --hierarchy zip3=zip3.csv
  cohortnet deid table --in survey.csv --out survey-deid/ --policy survey.yaml
  cohortnet deid scrub --in notes.jsonl --out scrubbed.jsonl --export export/`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDeid(cmd, &fl)
		},
	}
	f := cmd.Flags()
	f.StringVar(&fl.in, "in", "", "the export directory (required)")
	f.StringVar(&fl.out, "out", "", "the dataset directory to create (required; must not exist)")
	f.StringVar(&fl.format, "source", "auto", "export format: auto, "+strings.Join(source.Formats, ", "))
	f.StringVar(&fl.mode, "mode", "", "expert (default), safe-harbor or limited")
	f.StringVar(&fl.policy, "policy", "", "policy YAML; what it leaves out comes from the mode's preset")
	f.StringVar(&fl.keyFile, "key-file", "", "de-identification key file (default: the data directory's secret)")
	f.IntVar(&fl.k, "k", 11, "k of k-anonymity (expert mode; 0 or 1 turns it off)")
	f.Float64Var(&fl.maxSupp, "max-suppression", 0.05, "largest share of persons suppressed to reach k")
	f.StringSliceVar(&fl.qi, "qi", nil, "quasi-identifiers (default year_of_birth,gender,zip3,race,ethnicity)")
	f.StringArrayVar(&fl.hierarchy, "hierarchy", nil, "COL=FILE: an ARX hierarchy CSV for a quasi-identifier (repeat)")
	f.StringVar(&fl.optOut, "opt-out", "", "file of source patient ids (one per line) who never enter the dataset")
	f.StringVar(&fl.refDate, "reference-date", "", "date ages are measured at, YYYY-MM-DD (default: January 1 of this year)")
	f.BoolVar(&fl.intervals, "intervals", false, "safe-harbor: days since the person's first record instead of years")
	f.BoolVar(&fl.progress, "progress", true, "show progress on stderr when it is a terminal")
	cmd.AddCommand(newDeidTableCmd(), newDeidScrubCmd())
	return cmd
}

func deidKey(keyFile string) ([]byte, error) {
	if keyFile != "" {
		return datadir.ReadSecret(keyFile)
	}
	return dataDir().Secret()
}

func parseHierarchies(specs []string) (map[string]*deid.Hierarchy, error) {
	m := map[string]*deid.Hierarchy{}
	for _, s := range specs {
		col, file, ok := strings.Cut(s, "=")
		if !ok || col == "" || file == "" {
			return nil, fmt.Errorf("--hierarchy %q: use COL=FILE", s)
		}
		h, err := deid.LoadHierarchy(file)
		if err != nil {
			return nil, err
		}
		m[col] = h
	}
	return m, nil
}

func readOptOut(path string) ([]string, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--opt-out: %w", err)
	}
	defer f.Close()
	var ids []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l != "" && !strings.HasPrefix(l, "#") {
			ids = append(ids, l)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("--opt-out %s: %w", path, err)
	}
	return ids, nil
}

func runDeid(cmd *cobra.Command, fl *deidFlags) error {
	if fl.in == "" || fl.out == "" {
		return fmt.Errorf("deid: --in DIR and --out DIR are required")
	}
	key, err := deidKey(fl.keyFile)
	if err != nil {
		return fmt.Errorf("deid: %w", err)
	}
	ref := fl.refDate
	if ref == "" {
		ref = fmt.Sprintf("%d-01-01", time.Now().UTC().Year())
	}
	defaults := &deid.Policy{Mode: deid.Mode(fl.mode), Intervals: fl.intervals, ReferenceDate: ref}
	var polBytes []byte
	if fl.policy != "" {
		if polBytes, err = os.ReadFile(fl.policy); err != nil {
			return fmt.Errorf("deid: --policy: %w", err)
		}
	}
	pol, err := deid.ParsePolicy(polBytes, defaults)
	if err != nil {
		return fmt.Errorf("deid: %s: %w", orDefault(fl.policy, "flags"), err)
	}
	if pol.KAnonymity != nil && fl.policy != "" {
		// hierarchy files named in the policy are relative to it
		for c, f := range pol.KAnonymity.Hierarchies {
			if !filepath.IsAbs(f) {
				pol.KAnonymity.Hierarchies[c] = filepath.Join(filepath.Dir(fl.policy), f)
			}
		}
	}
	// explicit flags win over the policy file
	fs := cmd.Flags()
	if fs.Changed("mode") && pol.Mode != deid.Mode(fl.mode) {
		return fmt.Errorf("deid: --mode %s disagrees with the policy's mode %s", fl.mode, pol.Mode)
	}
	if fs.Changed("reference-date") {
		pol.ReferenceDate = fl.refDate
	}
	if pol.KAnonymity != nil {
		if fs.Changed("k") {
			pol.KAnonymity.K = fl.k
		}
		if fs.Changed("max-suppression") {
			pol.KAnonymity.MaxSuppression = fl.maxSupp
		}
		if fs.Changed("qi") {
			pol.KAnonymity.QuasiIdentifiers = fl.qi
		}
	} else if fs.Changed("k") || fs.Changed("qi") || fs.Changed("max-suppression") {
		if pol.Mode != deid.Expert {
			return fmt.Errorf("deid: --k, --qi and --max-suppression apply to expert mode")
		}
	}
	hier, err := parseHierarchies(fl.hierarchy)
	if err != nil {
		return fmt.Errorf("deid: %w", err)
	}
	if pol.KAnonymity != nil {
		for col := range hier {
			if pol.KAnonymity.Hierarchies == nil {
				pol.KAnonymity.Hierarchies = map[string]string{}
			}
			pol.KAnonymity.Hierarchies[col] = flagHierarchyPath(fl.hierarchy, col)
		}
	}
	if err := pol.Validate(); err != nil {
		return fmt.Errorf("deid: %w", err)
	}
	optOut, err := readOptOut(fl.optOut)
	if err != nil {
		return fmt.Errorf("deid: %w", err)
	}
	exp, err := source.Open(fl.in, fl.format)
	if err != nil {
		return fmt.Errorf("deid: %w", err)
	}
	defer exp.Close()
	defer deid.TuneGC()() // a batch job: a soft memory limit keeps garbage under 1.5 GiB of RSS
	cfg := deid.Config{Policy: pol, Key: key, SurrogateDir: dataDir().Join(datadir.DeidDir), OptOut: optOut,
		Hierarchies: hier, Logger: nil}
	if fl.progress && !g.json && isTerminal(os.Stderr) {
		bar := progressbar.NewOptions64(-1, progressbar.OptionSetWriter(os.Stderr), progressbar.OptionShowCount(),
			progressbar.OptionThrottle(200*time.Millisecond), progressbar.OptionClearOnFinish())
		cfg.Progress = func(table string, rows int64) {
			bar.Describe(table)
			bar.Set64(rows)
		}
		defer bar.Finish()
	}
	rep, err := deid.Run(cmd.Context(), exp, fl.out, cfg)
	if err != nil {
		return err
	}
	return printDeidReport(cmd, fl.out, rep)
}

func flagHierarchyPath(specs []string, col string) string {
	for _, s := range specs {
		if c, f, _ := strings.Cut(s, "="); c == col {
			if abs, err := filepath.Abs(f); err == nil {
				return abs
			}
			return f
		}
	}
	return ""
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func printDeidReport(cmd *cobra.Command, out string, rep *deid.Report) error {
	if g.json {
		return printJSON(cmd.OutOrStdout(), rep)
	}
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "wrote %s (%s mode, key %s)\n", out, rep.Mode, rep.KeyFingerprint)
	for _, t := range sortedTableNames(rep) {
		tr := rep.Tables[t]
		fmt.Fprintf(w, "  %-22s %10d rows in %10d out\n", t, tr.RowsIn, tr.RowsOut)
	}
	fmt.Fprintf(w, "suppressed persons: %d opted out, %d for k-anonymity\n", rep.Suppressed.OptOut, rep.Suppressed.KAnonymity)
	if k := rep.KAnonymity; k != nil {
		fmt.Fprintf(w, "k-anonymity: k=%d achieved (requested %d) over %s, levels %v, loss %.4g\n",
			k.KAchieved, k.KRequested, strings.Join(k.QuasiIdentifiers, ","), k.Levels, k.Loss)
	}
	if r := rep.Risk; r != nil {
		fmt.Fprintf(w, "risk: prosecutor highest %.4g average %.4g; journalist the same (no population table); marketer %.4g\n", r.Prosecutor.Highest, r.Prosecutor.Average, r.Marketer.Average)
	}
	return nil
}

func sortedTableNames(rep *deid.Report) []string {
	var names []string
	for _, t := range source.Tables {
		if _, ok := rep.Tables[t]; ok {
			names = append(names, t)
		}
	}
	for t := range rep.Tables {
		found := false
		for _, n := range names {
			found = found || n == t
		}
		if !found {
			names = append(names, t)
		}
	}
	return names
}

func newDeidTableCmd() *cobra.Command {
	var (
		in, out, policy, keyFile string
		k                        int
		maxSupp                  float64
		hierarchy                []string
	)
	cmd := &cobra.Command{
		Use:   "table",
		Short: "De-identify one plain table (CSV or Parquet) under a column policy",
		Long: `table runs the de-identification engine on one plain table where each row is a
record. The policy names every column with keep, drop, pseudonymize, generalize
(a quasi-identifier, generalized along its ARX hierarchy) or sensitive (kept,
checked for l-diversity), and k, max_suppression and l. The output is
OUT/table/part-NNNN.parquet with policy.yaml and deid-report.json.`,
		Example: `  cohortnet deid table --in survey.csv --out survey-deid/ --policy survey.yaml
  cohortnet deid table --in claims.parquet --out claims-deid/ --policy claims.yaml --k 5 --hierarchy zip=zip.csv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if in == "" || out == "" || policy == "" {
				return fmt.Errorf("deid table: --in FILE, --out DIR and --policy FILE are required")
			}
			key, err := deidKey(keyFile)
			if err != nil {
				return fmt.Errorf("deid table: %w", err)
			}
			b, err := os.ReadFile(policy)
			if err != nil {
				return fmt.Errorf("deid table: --policy: %w", err)
			}
			pol, err := deid.ParseTablePolicy(b)
			if err != nil {
				return fmt.Errorf("deid table: %s: %w", policy, err)
			}
			// hierarchy files named in the policy are relative to it
			for c, f := range pol.Hierarchies {
				if !filepath.IsAbs(f) {
					pol.Hierarchies[c] = filepath.Join(filepath.Dir(policy), f)
				}
			}
			if cmd.Flags().Changed("k") {
				pol.K = k
			}
			if cmd.Flags().Changed("max-suppression") {
				pol.MaxSuppression = maxSupp
			}
			hier, err := parseHierarchies(hierarchy)
			if err != nil {
				return fmt.Errorf("deid table: %w", err)
			}
			exp, err := source.Open(in, source.FormatTable)
			if err != nil {
				return fmt.Errorf("deid table: %w", err)
			}
			defer exp.Close()
			rep, err := deid.RunTable(cmd.Context(), exp, out, deid.TableConfig{Policy: pol, Key: key, Hierarchies: hier})
			if err != nil {
				return err
			}
			return printDeidReport(cmd, out, rep)
		},
	}
	f := cmd.Flags()
	f.StringVar(&in, "in", "", "the table: a CSV or Parquet file (required)")
	f.StringVar(&out, "out", "", "the dataset directory to create (required)")
	f.StringVar(&policy, "policy", "", "the column policy YAML (required)")
	f.StringVar(&keyFile, "key-file", "", "de-identification key file (default: the data directory's secret)")
	f.IntVar(&k, "k", 0, "k of k-anonymity (overrides the policy)")
	f.Float64Var(&maxSupp, "max-suppression", 0, "largest share of records suppressed (overrides the policy)")
	f.StringArrayVar(&hierarchy, "hierarchy", nil, "COL=FILE: an ARX hierarchy CSV (repeat)")
	return cmd
}

func newDeidScrubCmd() *cobra.Command {
	var in, out, export, format string
	cmd := &cobra.Command{
		Use:   "scrub",
		Short: "Scrub PHI from clinical notes (JSON lines)",
		Long: `scrub reads JSON lines {"id", "text", ...} and writes {"id", "text": <scrubbed>,
"spans": [{"start", "end", "type"}], ...} with the byte offsets of the PHI found in
the original text; other fields pass through. PHI becomes typed tags: [NAME],
[DATE], [PHONE], [ID], [ADDRESS], [EMAIL], [URL], [IP], [AGE>89]. With --export,
each note's own patient (its "patient" field, a source patient id) is looked up
in the export and their names, ids, phone, address and birth date are removed
too. The output file is written whole or not at all.`,
		Example: `  cohortnet deid scrub --in notes.jsonl --out scrubbed.jsonl
  cohortnet deid scrub --in export/notes.jsonl --out scrubbed.jsonl --export export/`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if in == "" || out == "" {
				return fmt.Errorf("deid scrub: --in FILE and --out FILE are required")
			}
			return runScrub(cmd.Context(), cmd, in, out, export, format)
		},
	}
	f := cmd.Flags()
	f.StringVar(&in, "in", "", "notes as JSON lines (required)")
	f.StringVar(&out, "out", "", "scrubbed JSON lines to write (required)")
	f.StringVar(&export, "export", "", "the export the notes belong to, for each patient's own identifiers")
	f.StringVar(&format, "source", "auto", "format of --export")
	return cmd
}

func runScrub(ctx context.Context, cmd *cobra.Command, in, out, export, format string) error {
	var ids map[string]*scrub.Identity
	if export != "" {
		exp, err := source.Open(export, format)
		if err != nil {
			return fmt.Errorf("deid scrub: %w", err)
		}
		ids, err = deid.Identities(ctx, exp)
		exp.Close()
		if err != nil {
			return fmt.Errorf("deid scrub: %w", err)
		}
	}
	r, err := os.Open(in)
	if err != nil {
		return fmt.Errorf("deid scrub: %w", err)
	}
	defer r.Close()
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".tmp-*")
	if err != nil {
		return fmt.Errorf("deid scrub: %w", err)
	}
	defer os.Remove(tmp.Name())
	lookup := func(rec map[string]json.RawMessage) *scrub.Identity {
		if ids == nil {
			return nil
		}
		return ids[scrub.PatientField(rec)]
	}
	st, err := scrub.New(scrub.Config{}).JSONL(ctx, r, tmp, lookup)
	if err != nil {
		tmp.Close()
		return fmt.Errorf("deid scrub: %s: %w", in, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("deid scrub: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("deid scrub: %w", err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return fmt.Errorf("deid scrub: %w", err)
	}
	if g.json {
		return printJSON(cmd.OutOrStdout(), st)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "scrubbed %d notes into %s; spans by type: %v\n", st.Records, out, st.Spans)
	return nil
}
