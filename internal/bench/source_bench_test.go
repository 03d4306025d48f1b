package bench

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/cohortnet/cohortnet/deid/source"
	"github.com/cohortnet/cohortnet/internal/synth"
)

// sourcePatients is the export size of the source benchmarks: 100,000
// patients, or COHORTNET_SOURCE_PATIENTS.
func sourcePatients() int {
	if v, err := strconv.Atoi(os.Getenv("COHORTNET_SOURCE_PATIENTS")); err == nil && v > 0 {
		return v
	}
	return 100_000
}

// The source benchmarks also report the adapter's peak RSS: streaming keeps it
// flat as the export grows (only id sets are held).

// BenchmarkSourceSyntheaCSV reads a synthetic Synthea CSV export of 100,000
// patients (about 0.9 GB; COHORTNET_SOURCE_PATIENTS overrides) through the
// adapter (every CDM table to Arrow batches, rows counted) and, as the
// baseline, DuckDB counting the rows of the same files with read_csv
// (read_json for notes.jsonl). Each iteration runs both; the metrics are
// medians over iterations: run with -benchtime 3x.
func BenchmarkSourceSyntheaCSV(b *testing.B) {
	files := []string{"patients.csv", "encounters.csv", "conditions.csv", "medications.csv",
		"immunizations.csv", "observations.csv", "procedures.csv", "notes.jsonl"}
	benchSource(b, synth.FormatSyntheaCSV, files, func(path string) string {
		if filepath.Ext(path) == ".jsonl" {
			return fmt.Sprintf("SELECT count(*) FROM read_json('%s', format = 'newline_delimited')", path)
		}
		return fmt.Sprintf("SELECT count(*) FROM read_csv('%s', header = true)", path)
	})
}

// BenchmarkSourceFHIRNDJSON reads a synthetic FHIR Bulk Data export (NDJSON)
// of 100,000 patients (about 5 GB; COHORTNET_SOURCE_PATIENTS overrides)
// through the adapter and, as the baseline, DuckDB counting the resources of
// the same files with read_json.
func BenchmarkSourceFHIRNDJSON(b *testing.B) {
	files := []string{"Patient.000.ndjson", "Encounter.000.ndjson", "Condition.000.ndjson",
		"MedicationRequest.000.ndjson", "Immunization.000.ndjson", "Observation.000.ndjson",
		"Procedure.000.ndjson", "AdverseEvent.000.ndjson", "DocumentReference.000.ndjson", "notes.jsonl"}
	benchSource(b, synth.FormatFHIR, files, func(path string) string {
		return fmt.Sprintf("SELECT count(*) FROM read_json('%s', format = 'newline_delimited')", path)
	})
}

func benchSource(b *testing.B, format string, files []string, countSQL func(path string) string) {
	ctx := context.Background()
	dir := filepath.Join(b.TempDir(), "export")
	if _, err := synth.Generate(ctx, synth.Config{Patients: sourcePatients(), Seed: 1, Format: format, Out: dir}); err != nil {
		b.Fatal(err)
	}
	var size int64
	var present []string
	for _, f := range files {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			continue // a table the generator did not write
		}
		size += st.Size()
		present = append(present, filepath.Join(dir, f))
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()

	b.ResetTimer()
	var adapter, duck []float64
	var peak int64
	var rows, duckRows int64
	for range b.N {
		runtime.GC()
		debug.FreeOSMemory() // the generator's heap is not the adapter's
		resetPeakRSS()
		start := time.Now()
		e, err := source.Open(dir, source.FormatAuto)
		if err != nil {
			b.Fatal(err)
		}
		rows = 0
		for _, t := range e.Tables() {
			rr, err := e.Read(ctx, t)
			if err != nil {
				b.Fatal(err)
			}
			for rr.Next() {
				rows += rr.RecordBatch().NumRows()
			}
			if err := rr.Err(); err != nil {
				b.Fatal(err)
			}
			rr.Release()
		}
		e.Close()
		adapter = append(adapter, time.Since(start).Seconds())
		peak = max(peak, peakRSS())

		start = time.Now()
		duckRows = 0
		for _, p := range present {
			var n int64
			if err := db.QueryRowContext(ctx, countSQL(p)).Scan(&n); err != nil {
				b.Fatalf("duckdb %s: %v", filepath.Base(p), err)
			}
			duckRows += n
		}
		duck = append(duck, time.Since(start).Seconds())
	}
	b.StopTimer()
	a, d := medianSeconds(adapter), medianSeconds(duck)
	b.ReportMetric(float64(size), "input-bytes")
	b.ReportMetric(float64(size)/a/1e6, "adapter-MB/s")
	b.ReportMetric(float64(rows)/a, "adapter-rows/s")
	b.ReportMetric(float64(size)/d/1e6, "duckdb-MB/s")
	b.ReportMetric(float64(duckRows)/d, "duckdb-rows/s")
	b.ReportMetric(d/a, "adapter/duckdb")
	if peak > 0 {
		b.ReportMetric(float64(peak)/(1<<20), "adapter-peak-RSS-MiB")
	}
}

func medianSeconds(v []float64) float64 {
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// resetPeakRSS resets the process's peak resident set size (Linux), so that
// peakRSS measures the adapter alone, not the generator before it.
func resetPeakRSS() { os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// peakRSS is the process's peak resident set size in bytes (VmHWM), or 0.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
