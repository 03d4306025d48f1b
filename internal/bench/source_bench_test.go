package bench

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/cohortnet/cohortnet/deid/source"
	"github.com/cohortnet/cohortnet/internal/synth"
)

// sourcePatients is the export size of the source benchmarks: 100,000
// patients, or COHORTNET_SOURCE_PATIENTS.
func sourcePatients() int {
	if v, err := strconv.Atoi(os.Getenv("COHORTNET_SOURCE_PATIENTS")); err == nil && v > 0 {
		return v
	}
	return 100_000
}

// The source benchmarks also report the adapter's peak RSS: streaming keeps it
// flat as the export grows (only id sets are held).

// BenchmarkSourceSyntheaCSV reads a synthetic Synthea CSV export of 100,000
// patients (about 0.9 GB; COHORTNET_SOURCE_PATIENTS overrides) through the
// adapter (every CDM table to Arrow batches, rows counted) and, as the
// baseline, DuckDB counting the rows of the same files with read_csv
// (read_json for notes.jsonl). Each iteration runs both; the metrics are
// medians over iterations: run with -benchtime 3x.
func BenchmarkSourceSyntheaCSV(b *testing.B) {
	files := []string{"patients.csv", "encounters.csv", "conditions.csv", "medications.csv",
		"immunizations.csv", "observations.csv", "procedures.csv", "notes.jsonl"}
	benchSource(b, synth.FormatSyntheaCSV, files, func(path string) string {
		if filepath.Ext(path) == ".jsonl" {
			return fmt.Sprintf("SELECT count(*) FROM read_json('%s', format = 'newline_delimited')", path)
		}
		return fmt.Sprintf("SELECT count(*) FROM read_csv('%s', header = true)", path)
	}, nil)
}

// BenchmarkSourceFHIRNDJSON reads a synthetic FHIR Bulk Data export (NDJSON)
// of 100,000 patients (about 5 GB; COHORTNET_SOURCE_PATIENTS overrides)
// through the adapter and, as the baseline, DuckDB counting the resources of
// the same files with read_json. Counting lets DuckDB parse each line
// without building a value from it, so a second baseline, reported beside
// the first (duckdb-fields-*), has DuckDB extract from every resource the
// fields the adapter maps (json_extract_string over read_ndjson_objects)
// and count the values found, as the adapter must.
func BenchmarkSourceFHIRNDJSON(b *testing.B) {
	files := []string{"Patient.000.ndjson", "Encounter.000.ndjson", "Condition.000.ndjson",
		"MedicationRequest.000.ndjson", "Immunization.000.ndjson", "Observation.000.ndjson",
		"Procedure.000.ndjson", "AdverseEvent.000.ndjson", "DocumentReference.000.ndjson", "notes.jsonl"}
	benchSource(b, synth.FormatFHIR, files, func(path string) string {
		return fmt.Sprintf("SELECT count(*) FROM read_json('%s', format = 'newline_delimited')", path)
	}, fhirFieldsSQL)
}

// fhirMappedPaths are, per file, the JSON paths of the fields the FHIR
// adapter reads from a resource of that type (codings: the first one's
// system, code and display).
var fhirMappedPaths = map[string][]string{
	"Patient": {"$.resourceType", "$.id", "$.birthDate", "$.deceasedDateTime", "$.gender",
		"$.name[0].use", "$.name[0].family", "$.name[0].given[0]", "$.name[0].prefix[0]",
		"$.identifier[0].type.coding[0].code", "$.identifier[0].value", "$.identifier[1].value",
		"$.identifier[2].value", "$.telecom[0].system", "$.telecom[0].value",
		"$.address[0].line[0]", "$.address[0].city", "$.address[0].state", "$.address[0].postalCode",
		"$.address[0].extension[0].extension[0].valueDecimal", "$.address[0].extension[0].extension[1].valueDecimal",
		"$.extension[0].url", "$.extension[0].extension[0].valueCoding.code",
		"$.extension[1].extension[0].valueCoding.code"},
	"Encounter": {"$.resourceType", "$.id", "$.subject.reference", "$.class.code", "$.period.start", "$.period.end"},
	"Condition": {"$.resourceType", "$.subject.reference", "$.encounter.reference", "$.code.coding[0].system",
		"$.code.coding[0].code", "$.code.coding[0].display", "$.onsetDateTime", "$.abatementDateTime", "$.recordedDate"},
	"MedicationRequest": {"$.resourceType", "$.subject.reference", "$.encounter.reference",
		"$.medicationCodeableConcept.coding[0].system", "$.medicationCodeableConcept.coding[0].code",
		"$.medicationCodeableConcept.coding[0].display", "$.authoredOn", "$.dispenseRequest.validityPeriod.end"},
	"Immunization": {"$.resourceType", "$.patient.reference", "$.encounter.reference", "$.vaccineCode.coding[0].system",
		"$.vaccineCode.coding[0].code", "$.vaccineCode.coding[0].display", "$.occurrenceDateTime"},
	"Observation": {"$.resourceType", "$.subject.reference", "$.encounter.reference", "$.code.coding[0].system",
		"$.code.coding[0].code", "$.code.coding[0].display", "$.effectiveDateTime", "$.valueQuantity.value",
		"$.valueQuantity.unit", "$.valueQuantity.code", "$.component[0].code.coding[0].code",
		"$.component[0].valueQuantity.value", "$.component[1].code.coding[0].code", "$.component[1].valueQuantity.value"},
	"Procedure": {"$.resourceType", "$.subject.reference", "$.encounter.reference", "$.code.coding[0].system",
		"$.code.coding[0].code", "$.code.coding[0].display", "$.performedDateTime", "$.performedPeriod.start"},
	"AdverseEvent": {"$.resourceType", "$.subject.reference", "$.date", "$.event.coding[0].system",
		"$.event.coding[0].code", "$.event.coding[0].display", "$.seriousness.coding[0].code",
		"$.outcome.coding[0].code", "$.suspectEntity[0].instance.reference", "$.suspectEntity[0].instance.display"},
	"DocumentReference": {"$.resourceType", "$.id", "$.subject.reference", "$.context.encounter[0].reference",
		"$.date", "$.type.coding[0].display", "$.content[0].attachment.contentType", "$.content[0].attachment.data"},
	"notes": {"$.id", "$.patient", "$.encounter", "$.date", "$.type", "$.text"},
}

// fhirFieldsSQL has DuckDB extract the mapped fields of every resource of a
// file and count the values found (so that none is optimised away).
func fhirFieldsSQL(path string) string {
	typ, _, _ := strings.Cut(filepath.Base(path), ".")
	paths := fhirMappedPaths[typ]
	quoted := make([]string, len(paths))
	for i, p := range paths {
		quoted[i] = "'" + p + "'"
	}
	return fmt.Sprintf("SELECT sum(len(list_filter(f, x -> x IS NOT NULL))) FROM "+
		"(SELECT json_extract_string(json, [%s]) AS f FROM read_ndjson_objects('%s'))",
		strings.Join(quoted, ", "), path)
}

// benchSource times the adapter and DuckDB's countSQL over the same files
// in each iteration and, when fieldsSQL is not nil, DuckDB's fieldsSQL too.
func benchSource(b *testing.B, format string, files []string, countSQL, fieldsSQL func(path string) string) {
	ctx := context.Background()
	dir := filepath.Join(b.TempDir(), "export")
	if _, err := synth.Generate(ctx, synth.Config{Patients: sourcePatients(), Seed: 1, Format: format, Out: dir}); err != nil {
		b.Fatal(err)
	}
	var size int64
	var present []string
	for _, f := range files {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			continue // a table the generator did not write
		}
		size += st.Size()
		present = append(present, filepath.Join(dir, f))
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()

	b.ResetTimer()
	var adapter, duck, fields []float64
	var peak int64
	var rows, duckRows int64
	for range b.N {
		runtime.GC()
		debug.FreeOSMemory() // the generator's heap is not the adapter's
		resetPeakRSS()
		start := time.Now()
		e, err := source.Open(dir, source.FormatAuto)
		if err != nil {
			b.Fatal(err)
		}
		sum, err := source.Inspect(ctx, e)
		if err != nil {
			b.Fatal(err)
		}
		rows = sum.Rows()
		e.Close()
		adapter = append(adapter, time.Since(start).Seconds())
		peak = max(peak, peakRSS())

		start = time.Now()
		duckRows = 0
		for _, p := range present {
			var n int64
			if err := db.QueryRowContext(ctx, countSQL(p)).Scan(&n); err != nil {
				b.Fatalf("duckdb %s: %v", filepath.Base(p), err)
			}
			duckRows += n
		}
		duck = append(duck, time.Since(start).Seconds())

		if fieldsSQL != nil {
			start = time.Now()
			for _, p := range present {
				var n sql.NullInt64
				if err := db.QueryRowContext(ctx, fieldsSQL(p)).Scan(&n); err != nil {
					b.Fatalf("duckdb fields %s: %v", filepath.Base(p), err)
				}
				if !n.Valid || n.Int64 == 0 {
					b.Fatalf("duckdb fields %s: no values extracted", filepath.Base(p))
				}
			}
			fields = append(fields, time.Since(start).Seconds())
		}
	}
	b.StopTimer()
	a, d := medianSeconds(adapter), medianSeconds(duck)
	b.ReportMetric(float64(size), "input-bytes")
	b.ReportMetric(float64(size)/a/1e6, "adapter-MB/s")
	b.ReportMetric(float64(rows)/a, "adapter-rows/s")
	b.ReportMetric(float64(size)/d/1e6, "duckdb-MB/s")
	b.ReportMetric(float64(duckRows)/d, "duckdb-rows/s")
	b.ReportMetric(d/a, "adapter/duckdb")
	if len(fields) > 0 {
		fd := medianSeconds(fields)
		b.ReportMetric(float64(size)/fd/1e6, "duckdb-fields-MB/s")
		b.ReportMetric(float64(duckRows)/fd, "duckdb-fields-rows/s")
		b.ReportMetric(fd/a, "adapter/duckdb-fields")
	}
	if peak > 0 {
		b.ReportMetric(float64(peak)/(1<<20), "adapter-peak-RSS-MiB")
	}
}

func medianSeconds(v []float64) float64 {
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// resetPeakRSS resets the process's peak resident set size (Linux), so that
// peakRSS measures the adapter alone, not the generator before it.
func resetPeakRSS() { os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// peakRSS is the process's peak resident set size in bytes (VmHWM), or 0.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
