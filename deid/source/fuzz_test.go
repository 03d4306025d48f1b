package source

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// headLines returns the first n lines of a sample file, for seeds.
func headLines(t testing.TB, path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	var b strings.Builder
	for i := 0; i < n && sc.Scan(); i++ {
		b.WriteString(sc.Text())
		b.WriteByte('\n')
	}
	return b.String()
}

// The fuzz targets write their input to files and read them through the
// adapters, so each run costs a few milliseconds and minimising an
// interesting input can take the default minute; fuzz with
//
//	go test -run '^$' -fuzz FuzzSyntheaCSV -fuzzminimizetime 1s ./deid/source

// drain opens dir as format and reads every table to the end; errors are
// fine, panics and hangs are not.
func drain(t *testing.T, dir, format string) {
	e, err := Open(dir, format)
	if err != nil {
		return
	}
	defer e.Close()
	for _, tb := range e.Tables() {
		rr, err := e.Read(t.Context(), tb)
		if err != nil {
			continue
		}
		for rr.Next() {
			rec := rr.RecordBatch()
			if want := Schema(tb); want != nil && !rec.Schema().Equal(want) {
				t.Fatalf("%s: schema %v", tb, rec.Schema())
			}
		}
		rr.Release()
	}
	e.Unmapped()
}

func FuzzSyntheaCSV(f *testing.F) {
	d := sharedData(f, "synthea-csv-27")
	f.Add(headLines(f, filepath.Join(d, "patients.csv"), 3), headLines(f, filepath.Join(d, "conditions.csv"), 4))
	f.Add(patientsCSV, conditionsHdr+conditionOK+"2023-01-27,,p1,e1,1,\"quoted, text\"\n")
	f.Add(patientsCSV, conditionsHdr+"\"unterminated\n")
	f.Add("Id,BIRTHDATE,GENDER,MIDDLE\np1,2000-02-29,F,Jo\n", "START,STOP,PATIENT,ENCOUNTER,SYSTEM,CODE,DESCRIPTION\n2001-01-01,,p1,,SNOMED-CT,1,x\n")
	f.Fuzz(func(t *testing.T, patients, conditions string) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "patients.csv"), []byte(patients), 0o644)
		os.WriteFile(filepath.Join(dir, "conditions.csv"), []byte(conditions), 0o644)
		os.WriteFile(filepath.Join(dir, "observations.csv"), []byte(conditions), 0o644)
		drain(t, dir, FormatSyntheaCSV)
	})
}

func FuzzFHIRNDJSON(f *testing.F) {
	d := sharedData(f, "fhir-bulk-10")
	f.Add(headLines(f, filepath.Join(d, "Patient.000.ndjson"), 2), headLines(f, filepath.Join(d, "Condition.000.ndjson"), 2))
	f.Add(patientJSON+"\n", conditionJSON+"\n")
	f.Add(patientJSON+"\n", `{"resourceType":"Observation","subject":{"reference":"Patient/p1"},"component":[{"valueQuantity":{"value":1}}]}`+"\n")
	f.Add(patientJSON+"\n", `{"resourceType":"MedicationRequest","subject":{"reference":"Patient/p1"},"medicationReference":{"reference":"#m"},"contained":[{"resourceType":"Medication","id":"m"}]}`+"\n")
	f.Add(`{"resourceType":"Patient","id":"p1","identifier":{}}`+"\n", `{"resourceType":"AdverseEvent","subject":{"reference":"Patient/p1"},"suspectEntity":[{}]}`)
	f.Fuzz(func(t *testing.T, patients, other string) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "Patient.000.ndjson"), []byte(patients), 0o644)
		os.WriteFile(filepath.Join(dir, "Export.000.ndjson"), []byte(other), 0o644)
		drain(t, dir, FormatFHIR)
	})
}

func FuzzFHIRBundle(f *testing.F) {
	f.Add(`{"resourceType":"Bundle","type":"collection","entry":[{"fullUrl":"urn:uuid:a","resource":` + strings.Replace(patientJSON, `"p1"`, `"a"`, 1) +
		`},{"resource":` + strings.Replace(conditionJSON, "Patient/p1", "urn:uuid:a", 1) + `}]}`)
	f.Add(`{"resourceType":"Condition"}`)
	f.Add(`{"resourceType":"Bundle","entry":[null,{},{"resource":null}]}`)
	f.Fuzz(func(t *testing.T, bundle string) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "a.json"), []byte(bundle), 0o644)
		drain(t, dir, FormatFHIR)
	})
}

func FuzzParseDate(f *testing.F) {
	for _, s := range []string{"2014-10-06", "1989-05-09T20:35:22-04:00", "2012", "2012-05", "2000-02-30", "", "9999-12-31", "0000-01-01"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, ok, err := parseDate(s)
		if err != nil || !ok {
			return
		}
		// a parsed date prints back as the date part it came from
		if len(s) >= 10 && d.FormattedString() != s[:10] && s[:4] != "0000" {
			t.Fatalf("parseDate(%q) = %s", s, d.FormattedString())
		}
	})
}
