package deid

import (
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cohortnet/cohortnet/deid/source"
	"github.com/cohortnet/cohortnet/internal/synth"
)

// BenchmarkRunExpert de-identifies a 5,000-patient synth Synthea CSV export
// in expert mode (k = 11); rows/s counts rows read over all tables.
func BenchmarkRunExpert(b *testing.B) {
	dir := filepath.Join(b.TempDir(), "export")
	if _, err := synth.Generate(b.Context(), synth.Config{Patients: 5000, Seed: 1, Out: dir}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	benchRuns(b, dir, nil)
}

// benchRuns de-identifies the export in dir in expert mode once per
// iteration and reports rows read per second over all tables.
func benchRuns(b *testing.B, dir string, log *slog.Logger) {
	var rows int64
	for i := 0; b.Loop(); i++ {
		exp, err := source.Open(dir, source.FormatAuto)
		if err != nil {
			b.Fatal(err)
		}
		rep, err := Run(b.Context(), exp, filepath.Join(b.TempDir(), "out"+strconv.Itoa(i)), Config{Key: testKey, Logger: log})
		exp.Close()
		if err != nil {
			b.Fatal(err)
		}
		rows = 0
		for _, t := range rep.Tables {
			rows += t.RowsIn
		}
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkSearch1M runs the k-anonymity search (k = 11, 5% suppression)
// over 1,000,000 persons with the five default quasi-identifiers and their
// built-in hierarchies; values are drawn like a US population: 100 birth
// years, 3 genders, ~900 zip3s in 50 states, 6 races, 2 ethnicities.
func BenchmarkSearch1M(b *testing.B) {
	const n = 1_000_000
	rng := rand.New(rand.NewPCG(1, 1))
	type rec [5]string
	recs := make([]rec, n)
	for i := range recs {
		zip := 10 + rng.IntN(900)
		recs[i] = rec{
			strconv.Itoa(1925 + int(math.Min(99, math.Abs(rng.NormFloat64()*25+45)))),
			[]string{"F", "M", "O"}[min(2, rng.IntN(201)/100)],
			fmt.Sprintf("%03d|S%02d", zip, zip/18),
			[]string{"white", "black", "asian", "native", "hawaiian", "other"}[min(5, int(math.Abs(rng.NormFloat64()*1.5)))],
			[]string{"nonhispanic", "hispanic"}[min(1, rng.IntN(6)/5)],
		}
	}
	b.ResetTimer()
	var res *Result
	for b.Loop() {
		start := time.Now()
		p := &Problem{K: 11, MaxSuppression: 0.05}
		vals := make([]*string, 5)
		seen := make([]map[string]bool, 5)
		order := make([][]string, 5)
		for i := range seen {
			seen[i] = map[string]bool{}
		}
		for i := range recs {
			for j := range vals {
				vals[j] = &recs[i][j]
				if !seen[j][recs[i][j]] {
					seen[j][recs[i][j]] = true
					order[j] = append(order[j], recs[i][j])
				}
			}
			p.Add(vals, "")
		}
		for j, q := range DefaultQuasiIdentifiers {
			slices.Sort(order[j])
			p.Attrs = append(p.Attrs, Attribute{Name: q, Hierarchy: builtinHierarchy(q, order[j])})
		}
		added := time.Since(start)
		var err error
		if res, err = p.Search(); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(added.Seconds(), "add-s")
		b.ReportMetric((time.Since(start) - added).Seconds(), "search-s")
		b.ReportMetric(float64(len(p.counts)), "distinct-tuples")
	}
	b.ReportMetric(float64(res.Evaluated), "nodes-evaluated")
	b.ReportMetric(float64(res.NodesTotal), "nodes")
	b.Logf("levels %v, k %d, suppressed %d, loss %.4f", res.Levels, res.KAchieved, res.Suppressed, res.Loss)
}

// BenchmarkRunExport de-identifies the export in COHORTNET_DEID_EXPORT (for
// example `cohortnet synth --patients 300000` output) in expert mode, to
// profile at scale without generating the input every time; skipped when
// the variable is unset. It reports rows/s and the peak RSS of the process.
func BenchmarkRunExport(b *testing.B) {
	dir := os.Getenv("COHORTNET_DEID_EXPORT")
	if dir == "" {
		b.Skip("COHORTNET_DEID_EXPORT is not set")
	}
	defer TuneGC()() // as `cohortnet deid` does
	var log *slog.Logger
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	benchRuns(b, dir, log)
	if st, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, l := range strings.Split(string(st), "\n") {
			if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
				kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
				b.ReportMetric(kb/1024, "peak-RSS-MiB")
			}
		}
	}
}
