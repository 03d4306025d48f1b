// Package cdmtest makes de-identified cohort-data-model datasets for tests
// and benchmarks: a synthetic hospital export (internal/synth) run through
// the real de-identification (package deid), so that code reading datasets
// is tested on the Parquet files, pseudonyms and shifted dates it meets in a
// real store.
//
// It is test support only: nothing outside tests imports it, it stops the
// test on any error, and the key it de-identifies with is a fixed constant
// (never a real institution's secret). It does not describe datasets for the
// query engine (that would import package query, whose own tests use this
// package): callers wrap [Dataset.Tables] themselves.
package cdmtest

import (
	"path/filepath"
	"testing"

	"github.com/cohortnet/cohortnet/deid"
	"github.com/cohortnet/cohortnet/deid/source"
	"github.com/cohortnet/cohortnet/internal/synth"
)

// Key is the de-identification key every dataset made here uses: a fixed
// test constant, so the same export gives the same pseudonyms, shifts and
// bytes in every run.
var Key = []byte("cohortnet cdmtest key, tests only")

// Dataset is one de-identified dataset on disk.
type Dataset struct {
	// Dir is the dataset directory deid wrote.
	Dir string
	// Mode is the de-identification mode it was made in.
	Mode deid.Mode
	// Intervals is true for safe-harbor datasets with X_day columns.
	Intervals bool
	// Tables maps each CDM table to the absolute paths of its Parquet files.
	Tables map[string][]string
	// Report is the de-identification report.
	Report *deid.Report
}

// Deidentify de-identifies the export in dir (a deid/source format, e.g.
// source.FormatSyntheaCSV) into out, which must not exist, with the preset
// policy of mode (expert: dates shifted per person by up to 365 days and
// k-anonymity; limited: real dates; safe-harbor: years, or days since the
// person's first record with intervals), keyed by [Key].
func Deidentify(tb testing.TB, export, format, out string, mode deid.Mode, intervals bool) Dataset {
	tb.Helper()
	exp, err := source.Open(export, format)
	if err != nil {
		tb.Fatalf("cdmtest: open export: %v", err)
	}
	defer exp.Close()
	pol := deid.Preset(mode, intervals, deid.DefaultReferenceDate)
	cfg := deid.Config{Policy: pol, Key: Key}
	if mode == deid.SafeHarbor {
		// the surrogate-id mapping, kept beside the dataset as a data
		// directory keeps it
		cfg.SurrogateDir = out + ".surrogates"
	}
	rep, err := deid.Run(tb.Context(), exp, out, cfg)
	if err != nil {
		tb.Fatalf("cdmtest: de-identify %s: %v", filepath.Base(export), err)
	}
	ds := Dataset{Dir: out, Mode: mode, Intervals: pol.Intervals, Tables: map[string][]string{}, Report: rep}
	for _, f := range rep.Files {
		ds.Tables[f.Table] = append(ds.Tables[f.Table], filepath.Join(out, filepath.FromSlash(f.Path)))
	}
	return ds
}

// Export generates a synthetic Synthea CSV export with cfg into dir (which
// must not exist or be empty; cfg.Out and cfg.Format are ignored) and returns
// its planted signals (truth.json).
func Export(tb testing.TB, dir string, cfg synth.Config) *synth.Truth {
	tb.Helper()
	cfg.Out, cfg.Format = dir, synth.FormatSyntheaCSV
	if _, err := synth.Generate(tb.Context(), cfg); err != nil {
		tb.Fatalf("cdmtest: generate %s: %v", filepath.Base(dir), err)
	}
	truth, err := synth.ReadTruth(dir)
	if err != nil {
		tb.Fatalf("cdmtest: %v", err)
	}
	return truth
}
