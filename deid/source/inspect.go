package source

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// Summary is the steward's first look at an export: what [Inspect] found.
type Summary struct {
	Format string `json:"format"`
	Layout string `json:"layout"`
	// Tables counts the rows of each table in the cohort data model.
	Tables map[string]int64 `json:"tables"`
	// Identifiers lists the identifying columns that hold values, as
	// "table.column", in table order.
	Identifiers []string `json:"identifiers"`
	// Unmapped counts the source rows that could not be mapped, by reason.
	Unmapped map[string]int64 `json:"unmapped"`
}

// identifying lists, per table, the columns that identify a person or
// carry dates or free text that can (HIPAA Safe Harbor's 18 kinds).
var identifying = map[string][]string{
	Person: {"source_person_id", "given_name", "family_name", "maiden_name", "prefix", "birth_date", "death_date",
		"ssn", "mrn", "drivers_license", "passport", "phone", "email", "address_line", "city", "county", "zip",
		"lat", "lon", "birthplace", "age_years"},
	Visit:        {"source_visit_id", "source_person_id", "visit_start_date", "visit_end_date"},
	Condition:    {"source_person_id", "source_visit_id", "condition_start_date", "condition_end_date"},
	Drug:         {"source_person_id", "source_visit_id", "drug_exposure_start_date", "drug_exposure_end_date"},
	Measurement:  {"source_person_id", "source_visit_id", "measurement_date"},
	Procedure:    {"source_person_id", "source_visit_id", "procedure_date"},
	AdverseEvent: {"source_person_id", "onset_date"},
	Note:         {"source_note_id", "source_person_id", "source_visit_id", "note_date", "note_text"},
}

// identifyingName tells, by its name, whether a plain table's column looks
// like one of the identifiers HIPAA names.
func identifyingName(col string) bool {
	c := strings.ToLower(col)
	for _, w := range []string{"name", "ssn", "social", "mrn", "record", "birth", "dob", "date", "phone", "fax",
		"email", "mail", "address", "street", "city", "zip", "postal", "license", "passport", "account",
		"ip", "url", "device", "serial", "plate", "vin", "lat", "lon", "photo", "id"} {
		if strings.Contains(c, w) {
			return true
		}
	}
	return false
}

// Inspect reads every table of e once, streaming, and summarises it.
func Inspect(ctx context.Context, e Export) (*Summary, error) {
	s := &Summary{Format: e.Format(), Layout: e.Layout(), Tables: map[string]int64{}}
	for _, table := range e.Tables() {
		rr, err := e.Read(ctx, table)
		if err != nil {
			return nil, err
		}
		schema := rr.Schema()
		var cols []int
		for i, f := range schema.Fields() {
			if slices.Contains(identifying[table], f.Name) || table == FormatTable && identifyingName(f.Name) {
				cols = append(cols, i)
			}
		}
		found := make([]bool, len(schema.Fields()))
		var n int64
		for rr.Next() {
			rec := rr.RecordBatch()
			n += rec.NumRows()
			for _, i := range cols {
				if !found[i] && rec.Column(i).NullN() < rec.Column(i).Len() {
					found[i] = true
				}
			}
		}
		err = rr.Err()
		rr.Release()
		if err != nil {
			return nil, err
		}
		s.Tables[table] = n
		for _, i := range cols {
			if found[i] {
				s.Identifiers = append(s.Identifiers, table+"."+schema.Field(i).Name)
			}
		}
	}
	s.Unmapped = e.Unmapped()
	return s, nil
}

// Rows is the number of rows in every table together.
func (s *Summary) Rows() int64 {
	var n int64
	for _, r := range s.Tables {
		n += r
	}
	return n
}

// String renders the summary for a terminal.
func (s *Summary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "format   %s (layout %s)\n\n", s.Format, s.Layout)
	fmt.Fprintf(&b, "%-22s %12s\n", "table", "rows")
	order := append(slices.Clone(Tables), FormatTable)
	for _, t := range order {
		if n, ok := s.Tables[t]; ok {
			fmt.Fprintf(&b, "%-22s %12d\n", t, n)
		}
	}
	b.WriteString("\nidentifying columns with values:\n")
	if len(s.Identifiers) == 0 {
		b.WriteString("  none\n")
	}
	for _, id := range s.Identifiers {
		b.WriteString("  " + id + "\n")
	}
	b.WriteString("\nrows not mapped:\n")
	if len(s.Unmapped) == 0 {
		b.WriteString("  none\n")
	}
	reasons := make([]string, 0, len(s.Unmapped))
	for r := range s.Unmapped {
		reasons = append(reasons, r)
	}
	slices.Sort(reasons)
	for _, r := range reasons {
		fmt.Fprintf(&b, "  %-60s %10d\n", r, s.Unmapped[r])
	}
	return b.String()
}
