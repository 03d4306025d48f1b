package source

import (
	"runtime"
	"testing"
	"time"
)

// Medication resources other than MedicationRequest, coding choice, and
// Observation components map as the issue says.
func TestFHIRMappings(t *testing.T) {
	res := func(s string) string { return s + "\n" }
	dir := writeFiles(t, map[string]string{
		"Patient.000.ndjson": res(patientJSON),
		"Medication.000.ndjson": res(`{"resourceType":"Medication","id":"m1","code":{"coding":[` +
			`{"system":"http://hl7.org/fhir/sid/ndc","code":"0069-2587-10","display":"ndc name"},` +
			`{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"617314","display":"atorvastatin 10 MG"}]}}`),
		"MedicationStatement.000.ndjson": res(`{"resourceType":"MedicationStatement","id":"s1","subject":{"reference":"Patient/p1"},` +
			`"context":{"reference":"Encounter/e9"},"medicationReference":{"reference":"Medication/m1"},` +
			`"effectivePeriod":{"start":"2020-01-01T08:00:00+01:00","end":"2020-02-01"}}`),
		"MedicationAdministration.000.ndjson": res(`{"resourceType":"MedicationAdministration","id":"a1","subject":{"reference":"Patient/p1"},` +
			`"medicationCodeableConcept":{"coding":[{"system":"urn:oid:2.16.840.1.113883.6.88","code":"X1","display":"local"}]},` +
			`"effectiveDateTime":"2021-03-04T10:00:00Z"}`),
		"Observation.000.ndjson": res(`{"resourceType":"Observation","id":"o1","subject":{"reference":"Patient/p1"},`+
			`"encounter":{"reference":"Encounter/e9"},"code":{"coding":[{"system":"http://loinc.org","code":"85354-9"}]},`+
			`"component":[{"code":{"coding":[{"system":"http://loinc.org","code":"8480-6","display":"Systolic"}]},"valueQuantity":{"value":120,"unit":"mm[Hg]"}},`+
			`{"code":{"coding":[{"system":"http://loinc.org","code":"8462-4","display":"Diastolic"}]},"valueQuantity":{"value":80,"unit":"mm[Hg]"}}],`+
			`"effectiveDateTime":"2021-05-06"}`) +
			res(`{"resourceType":"Observation","id":"o2","subject":{"reference":"Patient/p1"},"code":{"text":"smoking"},"valueCodeableConcept":{"text":"never"}}`),
	})
	e := openT(t, dir, FormatFHIR)
	d := readTable(t, e, Drug)
	if len(d) != 2 {
		t.Fatalf("%d drug rows, want 2", len(d))
	}
	checkRow(t, one(t, d, "drug_code", "617314"), row{"drug_vocabulary": "RxNorm", "drug_name": "atorvastatin 10 MG",
		"source_visit_id": "e9", "drug_exposure_start_date": "2020-01-01", "drug_exposure_end_date": "2020-02-01"})
	// outside the known vocabularies: the first coding, its system as vocabulary
	checkRow(t, one(t, d, "drug_code", "X1"), row{"drug_vocabulary": "urn:oid:2.16.840.1.113883.6.88", "drug_name": "local",
		"drug_exposure_start_date": "2021-03-04", "drug_exposure_end_date": "2021-03-04"})
	m := readTable(t, e, Measurement)
	if len(m) != 2 {
		t.Fatalf("%d measurements, want 2 (the components)", len(m))
	}
	checkRow(t, one(t, m, "measurement_code", "8480-6"), row{"value_as_number": 120.0, "unit": "mm[Hg]", "measurement_date": "2021-05-06", "source_visit_id": "e9"})
	if got := e.Unmapped()["observation without valueQuantity"]; got != 1 {
		t.Errorf("unmapped %v", e.Unmapped())
	}
}

func TestNormalise(t *testing.T) {
	tests := []struct {
		name string
		f    func(string) string
		in   string
		want string
	}{
		{"gender female", normGender, "female", "F"},
		{"gender M", normGender, "M", "M"},
		{"gender other", normGender, "other", "O"},
		{"gender unknown", normGender, "unknown", "U"},
		{"gender empty", normGender, "", "U"},
		{"race OMB black", normRace, "2054-5", "black"},
		{"race word", normRace, "Asian", "asian"},
		{"race OMOP native", normRace, "8657", "native"},
		{"ethnicity OMB", normEthnicity, "2135-2", "hispanic"},
		{"ethnicity word", normEthnicity, "nonhispanic", "nonhispanic"},
		{"state name", normState, "Massachusetts", "MA"},
		{"state code", normState, "ks", "KS"},
		{"state unknown", normState, "Bavaria", "Bavaria"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.f(tt.in); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseDate(t *testing.T) {
	tests := []struct {
		in, want string
		bad      bool
	}{
		{"2014-10-06", "2014-10-06", false},
		{"1989-05-09T20:35:22-04:00", "1989-05-09", false},
		{"2023-01-27T16:17:47Z", "2023-01-27", false},
		{"2012", "2012-01-01", false},
		{"2012-05", "2012-05-01", false},
		{"1900-02-29", "", true},
		{"2000-02-29", "2000-02-29", false},
		{"1850-12-31", "1850-12-31", false},
		{"06/10/2014", "", true},
		{"", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			d, ok, err := parseDate(tt.in)
			if (err != nil) != tt.bad {
				t.Fatalf("err %v, want bad %v", err, tt.bad)
			}
			if tt.want == "" {
				if ok {
					t.Errorf("got %s, want no date", d.FormattedString())
				}
				return
			}
			if !ok || d.FormattedString() != tt.want {
				t.Errorf("got %s (%v), want %s", d.FormattedString(), ok, tt.want)
			}
		})
	}
}

// A table reader released part way stops its decoding goroutines.
func TestFHIRReaderStops(t *testing.T) {
	e := openT(t, sharedData(t, "fhir-bulk-10"), FormatAuto)
	before := runtime.NumGoroutine()
	for range 5 {
		rr, err := e.Read(t.Context(), Procedure)
		if err != nil {
			t.Fatal(err)
		}
		if !rr.Next() {
			t.Fatal("no batch")
		}
		rr.Release()
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after releasing the readers, %d before", n, before)
	}
}
