package synth

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// peakRSS reads the process's peak resident set size (VmHWM) in bytes.
func peakRSS(b *testing.B) float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		b.Logf("peak RSS unavailable: %v", err)
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err == nil {
				return kb * 1024
			}
		}
	}
	return 0
}

func benchSynth(b *testing.B, patients int, format string) {
	dir := b.TempDir()
	var rows, bytes int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out := filepath.Join(dir, "export-"+strconv.Itoa(i))
		res, err := Generate(b.Context(), Config{Patients: patients, Seed: int64(i + 1), Format: format, Out: out})
		if err != nil {
			b.Fatal(err)
		}
		rows, bytes = res.Rows, res.Bytes
		b.StopTimer()
		if err := os.RemoveAll(out); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.StopTimer()
	perOp := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(float64(rows)/perOp, "rows/s")
	b.ReportMetric(float64(bytes)/perOp/1e6, "MB/s")
	b.ReportMetric(float64(rows), "rows")
	b.ReportMetric(float64(bytes), "bytes")
	b.ReportMetric(float64(rows)/float64(patients), "rows/patient")
	rss := peakRSS(b)
	b.ReportMetric(rss/1e6, "peak-RSS-MB")
	if rss > 500e6 {
		b.Errorf("peak RSS %.0f MB, want < 500 MB", rss/1e6)
	}
}

// BenchmarkSynth1M is the figure: 1,000,000 patients of Synthea CSV
// (about 50 million rows, several GB on disk). Run it alone:
//
//	nice go test -run '^$' -bench Synth1M -benchtime 1x ./internal/synth
func BenchmarkSynth1M(b *testing.B) { benchSynth(b, 1_000_000, FormatSyntheaCSV) }

// BenchmarkSynth10k is the quick version.
func BenchmarkSynth10k(b *testing.B) { benchSynth(b, 10_000, FormatSyntheaCSV) }

// BenchmarkSynthFHIR10k measures the FHIR NDJSON writer.
func BenchmarkSynthFHIR10k(b *testing.B) { benchSynth(b, 10_000, FormatFHIR) }
