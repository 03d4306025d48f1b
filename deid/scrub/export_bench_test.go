package scrub_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/cohortnet/cohortnet/deid"
	"github.com/cohortnet/cohortnet/deid/scrub"
	"github.com/cohortnet/cohortnet/deid/source"
	"github.com/cohortnet/cohortnet/internal/synth"
)

// BenchmarkScrubExport scrubs the notes of the `cohortnet synth` export in
// COHORTNET_SCRUB_EXPORT (skipped when unset), each with its own patient's
// identifiers as deid does, and logs a digest of every result (text and
// spans), so a change meant only to speed scrubbing up can show that it
// changed nothing: the digest must stay the same.
func BenchmarkScrubExport(b *testing.B) {
	dir := os.Getenv("COHORTNET_SCRUB_EXPORT")
	if dir == "" {
		b.Skip("COHORTNET_SCRUB_EXPORT is not set")
	}
	exp, err := source.Open(dir, source.FormatAuto)
	if err != nil {
		b.Fatal(err)
	}
	ids, err := deid.Identities(b.Context(), exp)
	exp.Close()
	if err != nil {
		b.Fatal(err)
	}
	notes := readJSONLB[synth.Note](b, filepath.Join(dir, synth.NotesFile))
	var size int64
	for _, n := range notes {
		size += int64(len(n.Text))
	}
	s := scrub.New(scrub.Config{})
	b.SetBytes(size)
	var digest string
	for b.Loop() {
		h := sha256.New()
		enc := json.NewEncoder(h)
		for _, n := range notes {
			res := s.Scrub(n.Text, ids[n.Patient])
			if err := enc.Encode(res); err != nil {
				b.Fatal(err)
			}
		}
		digest = hex.EncodeToString(h.Sum(nil))
	}
	b.ReportMetric(float64(len(notes))*float64(b.N)/b.Elapsed().Seconds(), "notes/s")
	b.Logf("%d notes, digest of the results %s", len(notes), digest)
}

func readJSONLB[T any](b *testing.B, path string) []T {
	b.Helper()
	f, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	var out []T
	dec := json.NewDecoder(bytes.NewReader(f))
	for dec.More() {
		var v T
		if err := dec.Decode(&v); err != nil {
			b.Fatal(err)
		}
		out = append(out, v)
	}
	return out
}
