// Package source reads hospital exports (Synthea CSV, FHIR R4, OMOP CDM CSV,
// FAERS, plain tables, clinical notes) into the cohort data model with the
// identifying columns still attached.
//
// This file is the contract between source and its consumer, package deid:
// the table names, the Arrow schema of every identified table, and [Export],
// the streaming reader an adapter hands over. It is not de-identification:
// nothing here removes or transforms an identifier.
package source

import (
	"context"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// The cohort data model tables, named as in OMOP CDM v5.4 where OMOP has them.
const (
	Person       = "person"
	Visit        = "visit_occurrence"
	Condition    = "condition_occurrence"
	Drug         = "drug_exposure"
	Measurement  = "measurement"
	Procedure    = "procedure_occurrence"
	AdverseEvent = "adverse_event"
	Note         = "note"
)

// Tables lists the cohort data model tables in a stable order.
var Tables = []string{Person, Visit, Condition, Drug, Measurement, Procedure, AdverseEvent, Note}

// Values of the normalised columns.
const (
	GenderFemale  = "F"
	GenderMale    = "M"
	GenderOther   = "O"
	GenderUnknown = "U"

	AESourceReport  = "report"  // a recorded adverse event (FHIR AdverseEvent, FAERS)
	AESourceDerived = "derived" // computed from exposures
)

func str(name string) arrow.Field {
	return arrow.Field{Name: name, Type: arrow.BinaryTypes.String, Nullable: true}
}
func date(name string) arrow.Field {
	return arrow.Field{Name: name, Type: arrow.FixedWidthTypes.Date32, Nullable: true}
}
func f64(name string) arrow.Field {
	return arrow.Field{Name: name, Type: arrow.PrimitiveTypes.Float64, Nullable: true}
}
func boolean(name string) arrow.Field {
	return arrow.Field{Name: name, Type: arrow.FixedWidthTypes.Boolean, Nullable: true}
}

// Identified schemas: what adapters produce and de-identification consumes.
// Dates are Date32 (days since 1970-01-01); absent values are null.
// source_person_id and source_visit_id are the export's own ids; deid replaces
// them with pseudonyms (person_id, visit_occurrence_id).
var schemas = map[string]*arrow.Schema{
	Person: arrow.NewSchema([]arrow.Field{
		str("source_person_id"), str("given_name"), str("family_name"), str("maiden_name"), str("prefix"),
		date("birth_date"), date("death_date"),
		str("gender"), str("race"), str("ethnicity"),
		str("ssn"), str("mrn"), str("drivers_license"), str("passport"), str("phone"), str("email"),
		str("address_line"), str("city"), str("county"), str("state"), str("zip"),
		f64("lat"), f64("lon"), str("birthplace"),
		// Added with the adapters: the age in years at the report, for sources
		// that give an age instead of a birth date (FAERS); null elsewhere.
		f64("age_years"),
	}, nil),
	Visit: arrow.NewSchema([]arrow.Field{
		str("source_visit_id"), str("source_person_id"), str("visit_type"),
		date("visit_start_date"), date("visit_end_date"),
	}, nil),
	Condition: arrow.NewSchema([]arrow.Field{
		str("source_person_id"), str("source_visit_id"),
		str("condition_vocabulary"), str("condition_code"), str("condition_name"),
		date("condition_start_date"), date("condition_end_date"),
	}, nil),
	Drug: arrow.NewSchema([]arrow.Field{
		str("source_person_id"), str("source_visit_id"),
		str("drug_vocabulary"), str("drug_code"), str("drug_name"),
		date("drug_exposure_start_date"), date("drug_exposure_end_date"),
	}, nil),
	Measurement: arrow.NewSchema([]arrow.Field{
		str("source_person_id"), str("source_visit_id"),
		str("measurement_vocabulary"), str("measurement_code"), str("measurement_name"),
		date("measurement_date"), f64("value_as_number"), str("unit"),
	}, nil),
	Procedure: arrow.NewSchema([]arrow.Field{
		str("source_person_id"), str("source_visit_id"),
		str("procedure_vocabulary"), str("procedure_code"), str("procedure_name"),
		date("procedure_date"),
	}, nil),
	AdverseEvent: arrow.NewSchema([]arrow.Field{
		str("source_person_id"),
		str("drug_vocabulary"), str("drug_code"), str("drug_name"),
		str("event_vocabulary"), str("event_code"), str("event_name"),
		date("onset_date"), boolean("serious"), str("outcome"), str("source"),
	}, nil),
	Note: arrow.NewSchema([]arrow.Field{
		str("source_note_id"), str("source_person_id"), str("source_visit_id"),
		date("note_date"), str("note_type"), str("note_text"),
	}, nil),
}

// Schema returns the identified schema of a cohort data model table, or nil
// for a name that is not one of [Tables].
func Schema(table string) *arrow.Schema { return schemas[table] }

// Export is one opened hospital export. Every table is streamed: Read may be
// called once per table, in any order, and each call reads the files anew, so
// memory does not grow with the export.
type Export interface {
	// Format names the adapter: "synthea-csv", "fhir", "omop-csv", "faers", "table".
	Format() string
	// Layout names the variant detected, e.g. "v3.0", "v3.x", "bulk-ndjson", "bundles".
	Layout() string
	// Tables lists the tables the export has, in the order of [Tables]
	// (for "table", the single name "table").
	Tables() []string
	// Read streams a table as record batches with the table's [Schema]
	// (for "table", the file's own schema). The reader's Err reports a
	// failure naming the file, line or record, and field.
	Read(ctx context.Context, table string) (array.RecordReader, error)
	// Unmapped counts the rows read so far that could not be mapped, by reason.
	Unmapped() map[string]int64
	Close() error
}
