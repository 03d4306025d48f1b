package query

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"time"
)

// Provenance says what a result was computed from, so it can be cited: the
// manifest CID of every dataset version the query could have read and the
// ledger checkpoint at the time.
type Provenance struct {
	// Datasets are the dataset versions read, sorted by name.
	Datasets []DatasetRef `json:"datasets"`
	// Checkpoint is the ledger checkpoint passed in by the caller.
	Checkpoint string `json:"checkpoint,omitempty"`
	// SQL is the sha256 of the statement text, hex.
	SQL string `json:"sql_sha256"`
	// Rows is the number of result rows.
	Rows int64 `json:"rows"`
	// Started is when the query was received; Duration how long it took
	// until the result was closed.
	Started  time.Time `json:"started"`
	Duration string    `json:"duration,omitempty"`
}

// DatasetRef names one dataset version.
type DatasetRef struct {
	Name        string `json:"name"`
	Institution string `json:"institution"`
	Manifest    string `json:"manifest"`
}

// Manifests returns the manifest CIDs of the datasets read.
func (p Provenance) Manifests() []string {
	var out []string
	for _, d := range p.Datasets {
		out = append(out, d.Manifest)
	}
	return out
}

// provenance finds the datasets a statement can read from DuckDB's parse
// tree of it. It errs on the side of listing more: a base table in a union
// schema counts every dataset in that union's view; an unqualified table
// name counts every union's view of that name; any string in the statement
// (a read_parquet path, the text given to query()) that names a dataset's
// file or schema counts that dataset.
func (e *Engine) provenance(tree any, query string) Provenance {
	seen := map[int]bool{}
	mark := func(schema, table string) {
		schema, table = strings.ToLower(schema), strings.ToLower(table)
		switch schema {
		case UnionDates, UnionYears, UnionDays:
			for _, i := range e.unions[schema][table] {
				seen[i] = true
			}
			return
		case "":
			for _, u := range e.unions {
				for _, i := range u[table] {
					seen[i] = true
				}
			}
		}
		for i, d := range e.datasets {
			if d.Schema() == schema || schema == "" && d.Schema() == table {
				seen[i] = true
			}
		}
	}
	markText := func(s string) {
		low := strings.ToLower(s)
		for f, i := range e.files {
			if strings.Contains(s, f) {
				seen[i] = true
			}
		}
		for i, d := range e.datasets {
			if strings.Contains(low, d.Schema()) {
				seen[i] = true
			}
		}
		for _, u := range []string{UnionDates, UnionYears, UnionDays} {
			if strings.Contains(low, u) {
				for _, idx := range e.unions[u] {
					for _, i := range idx {
						seen[i] = true
					}
				}
			}
		}
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			base := v["type"] == "BASE_TABLE"
			if base {
				schema, _ := v["schema_name"].(string)
				table, _ := v["table_name"].(string)
				mark(schema, table)
			}
			for k, c := range v {
				if base && (k == "schema_name" || k == "table_name" || k == "catalog_name") {
					continue
				}
				walk(c)
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		case string:
			markText(v)
		}
	}
	walk(tree)

	sum := sha256.Sum256([]byte(query))
	p := Provenance{SQL: hex.EncodeToString(sum[:])}
	for i := range seen {
		d := e.datasets[i]
		p.Datasets = append(p.Datasets, DatasetRef{Name: d.Name, Institution: d.Institution, Manifest: d.Manifest})
	}
	slices.SortFunc(p.Datasets, func(a, b DatasetRef) int { return strings.Compare(a.Name, b.Name) })
	return p
}
