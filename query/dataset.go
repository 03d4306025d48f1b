package query

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
)

// De-identification modes of a dataset, as its manifest states them.
const (
	ModeExpert     = "expert"
	ModeSafeHarbor = "safe-harbor"
	ModeLimited    = "limited"
)

// Union schemas: one view per CDM table over every local dataset of a kind.
const (
	// UnionDates holds the datasets with calendar dates (expert, limited).
	UnionDates = "cohorts"
	// UnionYears holds safe-harbor datasets with years only (X_year columns).
	UnionYears = "cohorts_years"
	// UnionDays holds safe-harbor datasets made with --intervals (X_day columns).
	UnionDays = "cohorts_days"
)

// Tables are the cohort data model's tables, in the order views are made.
var Tables = []string{
	"person", "visit_occurrence", "condition_occurrence", "drug_exposure",
	"measurement", "procedure_occurrence", "adverse_event", "note",
}

// Dataset is what the engine needs to know of one local dataset version: the
// latest non-retracted version of a dataset, as the cohort catalogue lists it.
type Dataset struct {
	// Name is "<institution>/<name>", e.g. "hospital-a/diabetes".
	Name string `json:"name"`
	// Institution is the publisher's short name.
	Institution string `json:"institution"`
	// Manifest is the manifest CID of this version (the provenance).
	Manifest string `json:"manifest"`
	// Mode is the de-identification mode: [ModeExpert], [ModeSafeHarbor]
	// or [ModeLimited]. Empty means expert.
	Mode string `json:"mode"`
	// Intervals is true for safe-harbor datasets with X_day columns.
	Intervals bool `json:"intervals,omitempty"`
	// Own is true when this node published the dataset itself (not a
	// fetched copy); only own datasets answer federated aggregates.
	Own bool `json:"own,omitempty"`
	// Tables maps a CDM table name to the absolute paths of its Parquet files.
	Tables map[string][]string `json:"tables"`
}

// Schema is the DuckDB schema name of the dataset: its name lower-cased with
// every character other than a-z and 0-9 replaced by "_"
// ("hospital-a/diabetes" → "hospital_a_diabetes").
func (d Dataset) Schema() string {
	var b strings.Builder
	for _, r := range strings.ToLower(d.Name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	s := b.String()
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		s = "d_" + s
	}
	return s
}

// Union is the union schema the dataset belongs to: [UnionDates],
// [UnionYears] or [UnionDays].
func (d Dataset) Union() string {
	if d.Mode == ModeSafeHarbor {
		if d.Intervals {
			return UnionDays
		}
		return UnionYears
	}
	return UnionDates
}

// validate checks what the engine relies on: a name, a manifest, a known
// mode, known tables and absolute file paths.
func (d Dataset) validate() error {
	if d.Name == "" {
		return fmt.Errorf("dataset without a name")
	}
	if d.Manifest == "" {
		return fmt.Errorf("dataset %s: no manifest CID", d.Name)
	}
	switch d.Mode {
	case "", ModeExpert, ModeSafeHarbor, ModeLimited:
	default:
		return fmt.Errorf("dataset %s: unknown mode %q", d.Name, d.Mode)
	}
	if len(d.Tables) == 0 {
		return fmt.Errorf("dataset %s: no tables", d.Name)
	}
	for table, files := range d.Tables {
		if !slices.Contains(Tables, table) {
			return fmt.Errorf("dataset %s: unknown table %q", d.Name, table)
		}
		if len(files) == 0 {
			return fmt.Errorf("dataset %s: table %s has no files", d.Name, table)
		}
		for _, f := range files {
			if !filepath.IsAbs(f) {
				return fmt.Errorf("dataset %s: table %s: file %q is not an absolute path", d.Name, table, f)
			}
		}
	}
	return nil
}

// quoteIdent quotes a DuckDB identifier.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// quoteString quotes a DuckDB string literal.
func quoteString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
