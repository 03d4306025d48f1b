package deid

import (
	"path/filepath"
	"strconv"
	"testing"

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
	var rows int64
	for i := 0; b.Loop(); i++ {
		exp, err := source.Open(dir, source.FormatAuto)
		if err != nil {
			b.Fatal(err)
		}
		rep, err := Run(b.Context(), exp, filepath.Join(b.TempDir(), "out"+strconv.Itoa(i)), Config{Key: testKey})
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
