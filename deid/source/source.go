package source

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/cohortnet/cohortnet/deid/internal/idset"
)

// Format names, as --source takes them.
const (
	FormatAuto       = "auto"
	FormatSyntheaCSV = "synthea-csv"
	FormatFHIR       = "fhir"
	FormatOMOP       = "omop-csv"
	FormatFAERS      = "faers"
	FormatTable      = "table"
)

// Formats lists the formats Open accepts besides "auto".
var Formats = []string{FormatSyntheaCSV, FormatFHIR, FormatOMOP, FormatFAERS, FormatTable}

// NotesFile is the clinical notes file read beside any export: JSON lines
// {"id", "patient", "date", "type", "text"}.
const NotesFile = "notes.jsonl"

// Memory: every table is streamed in batches of [BatchRows] rows. What an
// adapter holds besides is an id set: the patient ids of the export (to
// check references), FHIR Medication codes and DocumentReference ids, the
// OMOP concepts a table uses and its deaths and locations, and FAERS's
// latest case versions with their suspect drugs and outcomes.

// Open opens the export in dir as format ("auto" or "" to detect it, or one
// of [Formats]). For "table", dir may be a single CSV or Parquet file.
// Open reads only headers and the patient ids needed to resolve references;
// the tables are read by [Export.Read].
func Open(dir string, format string) (Export, error) {
	if format == "" || format == FormatAuto {
		f, _, err := Detect(dir)
		if err != nil {
			return nil, err
		}
		format = f
	}
	switch format {
	case FormatSyntheaCSV:
		return openSynthea(dir)
	case FormatFHIR:
		return openFHIR(dir)
	case FormatOMOP:
		return openOMOP(dir)
	case FormatFAERS:
		return openFAERS(dir)
	case FormatTable:
		return openTable(dir)
	}
	return nil, fmt.Errorf("source: unknown format %q: use auto, %s", format, strings.Join(Formats, ", "))
}

// Detect recognises the format of the export in dir from its files and
// headers, and the layout variant within the format.
func Detect(dir string) (format, layout string, err error) {
	st, err := os.Stat(dir)
	if err != nil {
		return "", "", fmt.Errorf("source: detect: %w", err)
	}
	if !st.IsDir() {
		l, err := tableLayout(dir)
		if err != nil {
			return "", "", err
		}
		return FormatTable, l, nil
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return "", "", fmt.Errorf("source: detect: %w", err)
	}
	var names []string
	for _, e := range ents {
		if !e.IsDir() {
			names = append(names, e.Name())
		}
	}
	has := func(pred func(string) bool) bool { return slices.ContainsFunc(names, pred) }
	switch {
	case has(func(n string) bool { return n == "patients.csv" }):
		l, err := syntheaLayout(filepath.Join(dir, "patients.csv"))
		return FormatSyntheaCSV, l, err
	case findFold(dir, names, "PERSON.csv") != "":
		return FormatOMOP, "v5.4", nil
	case has(func(n string) bool { return faersKind(n) == "DEMO" }):
		return FormatFAERS, "ascii", nil
	case has(func(n string) bool { return strings.HasSuffix(n, ".ndjson") && n != "log.ndjson" && n != NotesFile }):
		return FormatFHIR, LayoutBulk, nil
	case has(func(n string) bool { return strings.HasSuffix(n, ".json") && n != "package.json" }):
		l, err := fhirFilesLayout(dir)
		return FormatFHIR, l, err
	}
	return "", "", fmt.Errorf("source: detect %s: %w (expected patients.csv, PERSON.csv, DEMO*.txt, *.ndjson or FHIR *.json)", dir, ErrUnknownFormat)
}

// findFold returns the path of the file in names equal to name ignoring
// case, or "".
func findFold(dir string, names []string, name string) string {
	for _, n := range names {
		if strings.EqualFold(n, name) {
			return filepath.Join(dir, n)
		}
	}
	return ""
}

// export is what every adapter shares: names, the table readers and the
// count of unmapped rows.
type export struct {
	format, layout string
	dir            string
	tables         []string
	readers        map[string]func(ctx context.Context) (array.RecordReader, error)
	un             unmapped
}

func newExport(format, layout, dir string) *export {
	return &export{format: format, layout: layout, dir: dir,
		readers: make(map[string]func(ctx context.Context) (array.RecordReader, error))}
}

// add registers a table reader; tables end up in the order of [Tables].
func (e *export) add(table string, read func(ctx context.Context) (array.RecordReader, error)) {
	e.readers[table] = read
	e.tables = e.tables[:0]
	for _, t := range Tables {
		if e.readers[t] != nil {
			e.tables = append(e.tables, t)
		}
	}
	if e.readers[FormatTable] != nil {
		e.tables = append(e.tables, FormatTable)
	}
}

func (e *export) Format() string   { return e.format }
func (e *export) Layout() string   { return e.layout }
func (e *export) Tables() []string { return slices.Clone(e.tables) }
func (e *export) Unmapped() map[string]int64 {
	return e.un.snapshot()
}
func (e *export) Close() error { return nil }

func (e *export) Read(ctx context.Context, table string) (array.RecordReader, error) {
	read := e.readers[table]
	if read == nil {
		return nil, fmt.Errorf("source: read %s from %s export: %w", table, e.format, ErrNoTable)
	}
	return read(ctx)
}

// idSet is a set of source patient ids, built once per export. It keeps
// salted 64-bit hashes of the ids, not the ids (see [idset.Set]): an
// unknown id whose hash collides with a known one passes the check, and
// package deid, finding no such person, drops its rows as orphans.
type idSet struct {
	once sync.Once
	ids  *idset.Set
	err  error
}

func (s *idSet) get(load func() (*idset.Set, error)) (*idset.Set, error) {
	s.once.Do(func() { s.ids, s.err = load() })
	return s.ids, s.err
}
