package source

import (
	"path/filepath"
	"testing"

	"github.com/cohortnet/cohortnet/internal/synth"
)

func generate(t *testing.T, format string, patients int) (string, *synth.Result) {
	t.Helper()
	out := filepath.Join(t.TempDir(), format)
	res, err := synth.Generate(t.Context(), synth.Config{Patients: patients, Seed: 42, Format: format, Out: out})
	if err != nil {
		t.Fatal(err)
	}
	return out, res
}

func fileRows(res *synth.Result, names ...string) int {
	n := 0
	for _, f := range res.Files {
		for _, name := range names {
			if f.Name == name {
				n += int(f.Rows)
			}
		}
	}
	return n
}

// A patient exported as both Synthea CSV and FHIR maps to the same person
// attributes, and each table has as many rows as the generator wrote.
func TestSynthCSVAndFHIRAgree(t *testing.T) {
	csvDir, csvRes := generate(t, synth.FormatSyntheaCSV, 40)
	fhirDir, fhirRes := generate(t, synth.FormatFHIR, 40)
	ce := openT(t, csvDir, FormatAuto)
	fe := openT(t, fhirDir, FormatAuto)
	if ce.Format() != FormatSyntheaCSV || fe.Format() != FormatFHIR || fe.Layout() != LayoutBulk {
		t.Fatalf("detected %s/%s and %s/%s", ce.Format(), ce.Layout(), fe.Format(), fe.Layout())
	}

	cp, fp := readTable(t, ce, Person), readTable(t, fe, Person)
	if len(cp) != 40 || len(fp) != 40 {
		t.Fatalf("%d CSV and %d FHIR persons, want 40", len(cp), len(fp))
	}
	same := []string{"given_name", "family_name", "maiden_name", "prefix", "birth_date", "death_date", "gender",
		"race", "ethnicity", "ssn", "drivers_license", "passport", "address_line", "city", "state", "zip",
		"lat", "lon", "birthplace"}
	for _, c := range cp {
		f := one(t, fp, "source_person_id", c["source_person_id"])
		for _, col := range same {
			if c[col] != f[col] {
				t.Errorf("person %v %s: CSV %#v, FHIR %#v", c["source_person_id"], col, c[col], f[col])
			}
		}
	}

	for _, tc := range []struct {
		e     Export
		res   *synth.Result
		table string
		files []string
	}{
		{ce, csvRes, Visit, []string{"encounters.csv"}},
		{ce, csvRes, Condition, []string{"conditions.csv"}},
		{ce, csvRes, Drug, []string{"medications.csv", "immunizations.csv"}},
		{ce, csvRes, Procedure, []string{"procedures.csv"}},
		{ce, csvRes, Note, []string{"notes.jsonl"}},
		{fe, fhirRes, Visit, []string{"Encounter.000.ndjson"}},
		{fe, fhirRes, Condition, []string{"Condition.000.ndjson"}},
		{fe, fhirRes, Drug, []string{"MedicationRequest.000.ndjson", "Immunization.000.ndjson"}},
		{fe, fhirRes, Procedure, []string{"Procedure.000.ndjson"}},
		{fe, fhirRes, Note, []string{"DocumentReference.000.ndjson"}}, // notes.jsonl holds the same notes
		{fe, fhirRes, AdverseEvent, []string{"AdverseEvent.000.ndjson"}},
	} {
		want := fileRows(tc.res, tc.files...)
		if got := countRows(t, tc.e, tc.table); got != want {
			t.Errorf("%s %s: %d rows, generator wrote %d", tc.e.Format(), tc.table, got, want)
		}
	}
	// Both formats carry the same numeric observations.
	if c, f := countRows(t, ce, Measurement), countRows(t, fe, Measurement); c != f || c == 0 {
		t.Errorf("measurements: CSV %d, FHIR %d", c, f)
	}
}
