package source

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDetect(t *testing.T) {
	tests := []struct {
		dir, format, layout string
	}{
		{"synthea-csv-27", FormatSyntheaCSV, LayoutSynthea30},
		{"synthea-csv-111", FormatSyntheaCSV, LayoutSynthea3x},
		{"fhir-bulk-10", FormatFHIR, LayoutBulk},
		{"fhir-r4-examples", FormatFHIR, LayoutResources},
		{"omop-synthea27", FormatOMOP, "v5.4"},
		{"faers-2017q2", FormatFAERS, "ascii"},
	}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			f, l, err := Detect(sharedData(t, tt.dir))
			if err != nil {
				t.Fatal(err)
			}
			if f != tt.format || l != tt.layout {
				t.Errorf("Detect = %s %s, want %s %s", f, l, tt.format, tt.layout)
			}
		})
	}
}

// Every CDM table's row count equals an independent count of the source
// records it comes from, counted here from the files themselves.
func TestSampleCounts(t *testing.T) {
	csvLines := func(dir, file string) int { return lines(t, filepath.Join(dir, file), 1) }
	ndjson := func(dir, file string) int { return lines(t, filepath.Join(dir, file), 0) }
	globCount := func(dir, pattern string) int {
		m, err := filepath.Glob(filepath.Join(dir, pattern))
		if err != nil {
			t.Fatal(err)
		}
		return len(m)
	}
	tests := []struct {
		dir  string
		want func(dir string) map[string]int
	}{
		{"synthea-csv-27", func(d string) map[string]int {
			return map[string]int{
				Person:    csvLines(d, "patients.csv"),
				Visit:     csvLines(d, "encounters.csv"),
				Condition: csvLines(d, "conditions.csv"),
				Drug:      csvLines(d, "medications.csv") + csvLines(d, "immunizations.csv"),
				Measurement: linesWhere(t, filepath.Join(d, "observations.csv"), 1, func(l string) bool {
					return strings.HasSuffix(l, ",numeric")
				}),
				Procedure: csvLines(d, "procedures.csv"),
			}
		}},
		{"synthea-csv-111", func(d string) map[string]int {
			return map[string]int{
				Person:    csvLines(d, "patients.csv"),
				Visit:     csvLines(d, "encounters.csv"),
				Condition: csvLines(d, "conditions.csv"),
				Drug:      csvLines(d, "medications.csv") + csvLines(d, "immunizations.csv"),
				Procedure: csvLines(d, "procedures.csv"),
			}
		}},
		{"fhir-bulk-10", func(d string) map[string]int {
			return map[string]int{
				Person:    ndjson(d, "Patient.000.ndjson"),
				Visit:     ndjson(d, "Encounter.000.ndjson"),
				Condition: ndjson(d, "Condition.000.ndjson"),
				Drug:      ndjson(d, "MedicationRequest.000.ndjson") + ndjson(d, "Immunization.000.ndjson"),
				Procedure: ndjson(d, "Procedure.000.ndjson"),
				Note: linesWhere(t, filepath.Join(d, "DocumentReference.000.ndjson"), 0, func(l string) bool {
					return strings.Contains(l, `"data":"`)
				}),
			}
		}},
		{"fhir-r4-examples", func(d string) map[string]int {
			return map[string]int{
				Person:       globCount(d, "Patient-*.json"),
				Condition:    globCount(d, "Condition-*.json"),
				Drug:         globCount(d, "MedicationRequest-*.json"),
				AdverseEvent: globCount(d, "AdverseEvent-*.json"), // one suspect entity each
			}
		}},
		{"omop-synthea27", func(d string) map[string]int {
			return map[string]int{
				Person:      csvLines(d, "PERSON.csv"),
				Visit:       csvLines(d, "VISIT_OCCURRENCE.csv"),
				Condition:   csvLines(d, "CONDITION_OCCURRENCE.csv"),
				Drug:        csvLines(d, "DRUG_EXPOSURE.csv"),
				Measurement: csvLines(d, "MEASUREMENT.csv"),
				Procedure:   csvLines(d, "PROCEDURE_OCCURRENCE.csv"),
				Note:        csvLines(d, "NOTE.csv"),
			}
		}},
		{"faers-2017q2", func(d string) map[string]int {
			persons, events := faersCounts(t, d)
			return map[string]int{Person: persons, AdverseEvent: events}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			dir := sharedData(t, tt.dir)
			e := openT(t, dir, FormatAuto)
			want := tt.want(dir)
			var tables []string
			for tb := range want {
				tables = append(tables, tb)
			}
			got := e.Tables()
			if len(got) != len(want) {
				t.Errorf("Tables() = %v, want %d tables", got, len(want))
			}
			for tb, n := range want {
				if g := countRows(t, e, tb); g != n {
					t.Errorf("%s: %d rows, source has %d", tb, g, n)
				}
			}
		})
	}
}

// faersCounts counts cases (latest versions) and (case, suspect drug,
// reaction) triples by reading the $-separated files naively.
func faersCounts(t *testing.T, dir string) (persons, events int) {
	read := func(name string) [][]string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		var out [][]string
		for i, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if i > 0 {
				out = append(out, strings.Split(strings.TrimRight(l, "\r"), "$"))
			}
		}
		return out
	}
	latest := map[string]string{} // caseid -> primaryid
	version := map[string]string{}
	for _, r := range read("DEMO17Q2.txt") {
		if v, ok := version[r[1]]; !ok || len(r[2]) > len(v) || len(r[2]) == len(v) && r[2] > v {
			latest[r[1]], version[r[1]] = r[0], r[2]
		}
	}
	isLatest := map[string]bool{}
	for _, p := range latest {
		isLatest[p] = true
	}
	suspects := map[string]int{}
	for _, r := range read("DRUG17Q2.txt") {
		if isLatest[r[0]] && (r[3] == "PS" || r[3] == "SS") {
			suspects[r[0]]++
		}
	}
	for _, r := range read("REAC17Q2.txt") {
		if isLatest[r[0]] {
			events += suspects[r[0]]
		}
	}
	return len(latest), events
}

// find returns the rows whose column col equals v.
func find(rows []row, col string, v any) []row {
	var out []row
	for _, r := range rows {
		if r[col] == v {
			out = append(out, r)
		}
	}
	return out
}

func one(t *testing.T, rows []row, col string, v any) row {
	t.Helper()
	m := find(rows, col, v)
	if len(m) != 1 {
		t.Fatalf("%d rows with %s = %v, want 1", len(m), col, v)
	}
	return m[0]
}

func checkRow(t *testing.T, got row, want row) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %#v, want %#v", k, got[k], v)
		}
	}
}

// Mapped values spot-checked against the source files.
func TestSampleValues(t *testing.T) {
	t.Run("synthea-csv-27", func(t *testing.T) {
		e := openT(t, sharedData(t, "synthea-csv-27"), FormatAuto)
		p := one(t, readTable(t, e, Person), "source_person_id", "3edac2e3-d223-6fae-d515-daf96ef6bc76")
		checkRow(t, p, row{"birth_date": "2014-10-06", "death_date": nil, "gender": "M", "race": "white",
			"ethnicity": "nonhispanic", "ssn": "999-17-5017", "given_name": "Maynard46", "family_name": "Mosciski958",
			"address_line": "784 Stamm Lock Unit 46", "city": "Somerville", "county": "Middlesex County",
			"state": "MA", "zip": "02155", "lat": 42.36877442769006, "birthplace": "Boston, Massachusetts, US"})
		c := one(t, find(readTable(t, e, Condition), "source_person_id", "3edac2e3-d223-6fae-d515-daf96ef6bc76"), "condition_code", "195662009")
		checkRow(t, c, row{"condition_vocabulary": "SNOMED", "condition_start_date": "2023-01-27", "condition_end_date": "2023-02-09",
			"source_visit_id": "57f2562b-445c-f11c-ba40-edc55af3c84f", "condition_name": "Acute viral pharyngitis (disorder)"})
		m := find(readTable(t, e, Measurement), "source_visit_id", "0622440b-ab3a-87bf-b0d7-f8145ac11cc5")
		h := one(t, m, "measurement_code", "8302-2")
		checkRow(t, h, row{"value_as_number": 127.9, "unit": "cm", "measurement_date": "2023-10-10", "measurement_vocabulary": "LOINC"})
		d := find(readTable(t, e, Drug), "drug_vocabulary", "CVX")
		checkRow(t, one(t, d, "source_visit_id", "0622440b-ab3a-87bf-b0d7-f8145ac11cc5"), row{"drug_code": "140", "drug_exposure_start_date": "2023-10-10"})
	})
	t.Run("synthea-csv-111", func(t *testing.T) {
		e := openT(t, sharedData(t, "synthea-csv-111"), FormatAuto)
		p := one(t, readTable(t, e, Person), "source_person_id", "982192b6-6843-4011-ef46-32caaf87d8a9")
		checkRow(t, p, row{"birth_date": "2022-07-20", "gender": "F", "race": "black", "state": "NE", "zip": "68504", "city": "Lincoln"})
	})
	t.Run("fhir-bulk-10", func(t *testing.T) {
		e := openT(t, sharedData(t, "fhir-bulk-10"), FormatAuto)
		id := "129c6ac7-8d06-89de-ad63-0204a93e76c3"
		p := one(t, readTable(t, e, Person), "source_person_id", id)
		checkRow(t, p, row{"birth_date": "1927-05-21", "death_date": "1989-05-09", "gender": "F", "race": "white",
			"ethnicity": "nonhispanic", "ssn": "999-94-5397", "mrn": id, "drivers_license": "S99940903",
			"passport": "X53631011X", "given_name": "Sumiko254 Larue605", "family_name": "Medhurst46",
			"maiden_name": "Cummerata161", "prefix": "Mrs.", "phone": "555-810-7203",
			"address_line": "633 Abernathy Landing", "city": "Emporia", "state": "KS", "zip": "66801",
			"lat": 38.37796654358168, "lon": -96.17060814119407, "birthplace": "Olathe, Kansas, US"})
		c := one(t, readTable(t, e, Condition), "source_visit_id", "f6003197-6507-1168-87be-ceccd5517094")
		checkRow(t, c, row{"source_person_id": id, "condition_vocabulary": "SNOMED", "condition_code": "91302008",
			"condition_name": "Sepsis (disorder)", "condition_start_date": "1976-01-19"})
		n := one(t, readTable(t, e, Note), "source_note_id", "00212c89-d070-985e-b695-b5f12fffd23e")
		checkRow(t, n, row{"source_person_id": id, "note_date": "1987-11-19", "note_type": "History and physical note"})
		if txt, _ := n["note_text"].(string); !strings.Contains(txt, "# Chief Complaint") {
			t.Errorf("note text not decoded: %.60q", txt)
		}
		v := one(t, readTable(t, e, Visit), "source_visit_id", "00c7f717-4030-5582-2ed8-888ad2bc878e")
		checkRow(t, v, row{"source_person_id": "79a66c97-6131-3213-f3c9-4606946ab056", "visit_type": "ambulatory", "visit_start_date": "1989-10-04"})
	})
	t.Run("fhir-r4-examples", func(t *testing.T) {
		e := openT(t, sharedData(t, "fhir-r4-examples"), FormatAuto)
		ae := readTable(t, e, AdverseEvent)
		checkRow(t, ae[0], row{"source_person_id": "example", "event_vocabulary": "SNOMED", "event_code": "304386008",
			"onset_date": "2017-01-29", "serious": false, "source": "report"})
		drugs := readTable(t, e, Drug)
		// a contained Medication resolved through "#med0310" (medrx0301, medrx0333)
		if n := len(find(drugs, "drug_code", "430127000")); n != 2 {
			t.Errorf("%d rows of the contained medication 430127000, want 2", n)
		}
		// a Medication resource resolved through "Medication/med0316" (medrx002)
		checkRow(t, one(t, find(drugs, "drug_code", "317935006"), "drug_exposure_start_date", "2015-03-01"), row{"drug_vocabulary": "SNOMED",
			"drug_name": "Chlorthalidone 50mg tablet (product)", "source_visit_id": "f001", "drug_exposure_end_date": nil})
		p := one(t, readTable(t, e, Person), "source_person_id", "pat3")
		checkRow(t, p, row{"gender": "M", "birth_date": "1982-01-23", "death_date": "2015-02-14"})
		checkRow(t, one(t, readTable(t, e, Person), "source_person_id", "pat2"), row{"gender": "O", "birth_date": nil})
	})
	t.Run("omop-synthea27", func(t *testing.T) {
		e := openT(t, sharedData(t, "omop-synthea27"), FormatAuto)
		persons := readTable(t, e, Person)
		checkRow(t, one(t, persons, "source_person_id", "1"), row{"birth_date": "1998-04-09", "gender": "M", "race": "white", "ethnicity": "nonhispanic", "death_date": nil})
		checkRow(t, one(t, persons, "source_person_id", "7"), row{"death_date": "2019-05-28"})
		c := find(readTable(t, e, Condition), "source_person_id", "1")
		checkRow(t, one(t, c, "condition_start_date", "2002-10-15"), row{"condition_vocabulary": "SNOMED", "condition_code": "65363002",
			"condition_name": "Otitis media", "condition_end_date": "2003-03-20", "source_visit_id": "1"})
	})
	t.Run("faers-2017q2", func(t *testing.T) {
		e := openT(t, sharedData(t, "faers-2017q2"), FormatAuto)
		checkRow(t, one(t, readTable(t, e, Person), "source_person_id", "10979236"), row{"gender": "M", "age_years": nil})
		checkRow(t, one(t, readTable(t, e, Person), "source_person_id", "11144077"), row{"gender": "M", "age_years": 40.0})
		ev := find(readTable(t, e, AdverseEvent), "source_person_id", "10979236")
		if len(ev) != 3 {
			t.Fatalf("%d events for case 10979236, want 3", len(ev))
		}
		checkRow(t, one(t, ev, "event_name", "Gynaecomastia"), row{"drug_name": "RISPERDAL", "drug_code": "RISPERIDONE",
			"event_vocabulary": "MedDRA", "onset_date": "2003-01-01", "serious": false, "source": "report"})
		ser := find(readTable(t, e, AdverseEvent), "source_person_id", "11144077")
		if len(ser) == 0 || ser[0]["serious"] != true || ser[0]["outcome"] != "other serious" {
			t.Errorf("case 11144077 (OUTC OT): %v", ser)
		}
	})
}
