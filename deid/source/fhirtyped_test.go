package source

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/cohortnet/cohortnet/internal/synth"
)

// mapped is what one resource becomes through a mapper: rows, error,
// unmapped counts.
type mapped struct {
	rows string
	err  string
	un   string
}

// mapOne decodes raw (typed through the small struct of its type, or into
// the union with encoding/json, the reference) and maps it.
func mapOne(t testing.TB, raw []byte, typed bool, refs map[string]string, meds map[string]code) (mapped, bool) {
	var r fhirResource
	loc := fhirLoc{"x.ndjson", 1, -1}
	if typed {
		if !decodeTyped(raw, &r, &typedBufs{}) {
			return mapped{}, false
		}
	} else if err := json.Unmarshal(raw, &r); err != nil {
		return mapped{err: err.Error()}, true
	}
	schema := Schema(fhirTables[r.ResourceType])
	if schema == nil {
		return mapped{}, true
	}
	un := &unmapped{}
	m := &fhirMapper{un: un, refs: refs, meds: meds}
	w := newRowWriter(schema)
	defer w.release()
	var out mapped
	if err := m.mapResource(&r, loc, w); err != nil {
		out.err = err.Error()
	}
	rec := w.bld.NewRecordBatch()
	defer rec.Release()
	var b strings.Builder
	for i, col := range rec.Columns() {
		fmt.Fprintf(&b, "%s=%v;", rec.ColumnName(i), col)
	}
	out.rows = b.String()
	out.un = fmt.Sprint(un.snapshot())
	return out, true
}

// sameMapping fails when the typed decode maps raw otherwise than the union.
func sameMapping(t testing.TB, where string, raw []byte, refs map[string]string, meds map[string]code) bool {
	typed, ok := mapOne(t, raw, true, refs, meds)
	if !ok {
		return false
	}
	union, _ := mapOne(t, raw, false, refs, meds)
	if typed != union {
		t.Fatalf("%s: typed decode maps to\n%+v\nthe union to\n%+v", where, typed, union)
	}
	return true
}

// Every resource of the sample Bulk export and of a synthetic one maps to
// the same rows, errors and unmapped counts through the small per-type
// structs as through the union of all fields; and the small structs do
// serve every resource type the synthetic export writes.
func TestTypedDecodeMapsAsUnion(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "fhir")
	if _, err := synth.Generate(t.Context(), synth.Config{Patients: 30, Seed: 7, Format: synth.FormatFHIR, Out: dir}); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{sharedData(t, "fhir-bulk-10"), dir} {
		t.Run(filepath.Base(d), func(t *testing.T) {
			e := openT(t, d, FormatFHIR)
			f := e.(*fhirExport)
			refs, err := f.patientIndex()
			if err != nil {
				t.Fatal(err)
			}
			meds, err := f.medIndex()
			if err != nil {
				t.Fatal(err)
			}
			files, _ := filepath.Glob(filepath.Join(d, "*.ndjson"))
			typedTypes := map[string]int{}
			for _, p := range files {
				data, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				for i, l := range strings.Split(string(data), "\n") {
					if strings.TrimSpace(l) == "" {
						continue
					}
					if sameMapping(t, fmt.Sprintf("%s:%d", filepath.Base(p), i+1), []byte(l), refs, meds) {
						typedTypes[string(peekType([]byte(l)))]++
					}
				}
			}
			if d == dir {
				for rt := range fhirTables {
					if typedTypes[rt] == 0 && exists(filepath.Join(d, rt+".000.ndjson")) {
						t.Errorf("no %s decoded through its small struct (%v)", rt, typedTypes)
					}
				}
			}
		})
	}
}

// A resource whose type is named first inside a contained resource, or
// which names two types, is decoded into the union.
func TestTypedDecodeFallsBack(t *testing.T) {
	for name, raw := range map[string]string{
		"contained first": `{"contained":[{"resourceType":"Medication","id":"m"}],"resourceType":"MedicationRequest","subject":{"reference":"Patient/p1"}}`,
		"type twice":      `{"resourceType":"Observation","resourceType":"Patient","id":"p"}`,
		"escaped type":    `{"resourceType":"Pati\u0065nt","id":"p"}`,
		"not a string":    `{"resourceType":5}`,
		"wrong field":     `{"resourceType":"Condition","subject":{"reference":"Patient/p1"},"onsetDateTime":7}`,
	} {
		t.Run(name, func(t *testing.T) {
			var r fhirResource
			if decodeTyped([]byte(raw), &r, &typedBufs{}) {
				t.Errorf("decoded typed as %q", r.ResourceType)
			}
		})
	}
}

// FuzzTypedDecode: whenever the small struct of a type decodes a valid JSON
// resource, it maps exactly as encoding/json's decode into the union does
// (the fast decoder into the union is not the reference: it matches keys of
// a struct of many fields case-sensitively, encoding/json does not).
func FuzzTypedDecode(f *testing.F) {
	for _, s := range []string{
		`{"resourceType":"Patient","id":"p1","gender":"female","birthDate":"1980-02-03","name":[{"given":["A"],"family":"B"}],"identifier":[{"type":{"coding":[{"code":"SS"}]},"value":"1"}]}`,
		`{"resourceType":"Encounter","id":"e","subject":{"reference":"Patient/p1"},"class":{"code":"AMB"},"period":{"start":"2020-01-01T10:00:00Z"}}`,
		`{"resourceType":"Condition","subject":{"reference":"Patient/p1"},"code":{"coding":[{"system":"http://snomed.info/sct","code":"1"}]},"onsetDateTime":"2020-01-01"}`,
		`{"resourceType":"Observation","subject":{"reference":"Patient/p1"},"effectiveDateTime":"2020-01-01","valueQuantity":{"value":1.5,"unit":"kg"},"component":[{"code":{"text":"x"},"valueQuantity":{"value":2}}]}`,
		`{"resourceType":"MedicationRequest","subject":{"reference":"Patient/p1"},"medicationReference":{"reference":"#m"},"contained":[{"resourceType":"Medication","id":"m","code":{"text":"y"}}],"authoredOn":"2021-03-04"}`,
		`{"resourceType":"AdverseEvent","subject":{"reference":"Patient/p1"},"date":"2021","suspectEntity":[{"instance":{"reference":"Medication/z","display":"z"}}]}`,
		`{"resourceType":"DocumentReference","id":"d","subject":{"reference":"Patient/p9"},"content":[{"attachment":{"contentType":"text/plain","data":"aGk="}}]}`,
		`{"resourceType":"Immunization","patient":{"reference":"Patient/p1"},"occurrenceDateTime":"2020-13-01"}`,
	} {
		f.Add([]byte(s))
	}
	refs := map[string]string{"Patient/p1": "p1"}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if !json.Valid(raw) || !utf8.Valid(raw) {
			// The fast decoder, typed or not, is lenient with some syntax
			// errors and keeps invalid UTF-8 that encoding/json replaces.
			return
		}
		sameMapping(t, "input", raw, refs, nil)
	})
}
