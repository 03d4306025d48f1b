package source

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/cohortnet/cohortnet/internal/synth"
)

// BenchmarkFHIRNDJSON reads every table of a synthetic FHIR Bulk Data export
// through the adapter: 5,000 patients, or COHORTNET_FHIR_PATIENTS; an export
// can be kept in COHORTNET_FHIR_DIR (written there when absent, read again
// by later runs, so that profiles show the adapter alone). It reports MB/s of
// NDJSON input and rows/s of CDM rows.
func BenchmarkFHIRNDJSON(b *testing.B) {
	ctx := context.Background()
	dir := os.Getenv("COHORTNET_FHIR_DIR")
	if dir == "" {
		dir = filepath.Join(b.TempDir(), "fhir")
	}
	if _, err := os.Stat(dir); err != nil {
		n := 5000
		if v, err := strconv.Atoi(os.Getenv("COHORTNET_FHIR_PATIENTS")); err == nil && v > 0 {
			n = v
		}
		if _, err := synth.Generate(ctx, synth.Config{Patients: n, Seed: 1, Format: synth.FormatFHIR, Out: dir}); err != nil {
			b.Fatal(err)
		}
	}
	var size int64
	ents, err := os.ReadDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range ents {
		if st, err := e.Info(); err == nil && !e.IsDir() {
			size += st.Size()
		}
	}
	b.SetBytes(size)
	cpu0 := cpuSeconds()
	b.ResetTimer()
	var rows int64
	for range b.N {
		e, err := Open(dir, FormatAuto)
		if err != nil {
			b.Fatal(err)
		}
		sum, err := Inspect(ctx, e)
		if err != nil {
			b.Fatal(err)
		}
		rows = sum.Rows()
		e.Close()
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	// CPU seconds per read: a machine shared with other work slows the
	// wall clock more than this.
	b.ReportMetric((cpuSeconds()-cpu0)/float64(b.N), "cpu-s/op")
}

// cpuSeconds is the process's user and system CPU time so far.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
