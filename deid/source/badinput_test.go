package source

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// firstErr opens dir and reads table to the end, returning the first error.
func firstErr(t *testing.T, dir, format, table string) error {
	t.Helper()
	e, err := Open(dir, format)
	if err != nil {
		return err
	}
	defer e.Close()
	rr, err := e.Read(t.Context(), table)
	if err != nil {
		return err
	}
	defer rr.Release()
	for rr.Next() {
	}
	return rr.Err()
}

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const (
	patientsCSV = "Id,BIRTHDATE,DEATHDATE,SSN,DRIVERS,PASSPORT,PREFIX,FIRST,LAST,SUFFIX,MAIDEN,MARITAL,RACE,ETHNICITY,GENDER,BIRTHPLACE,ADDRESS,CITY,STATE,COUNTY,ZIP,LAT,LON,HEALTHCARE_EXPENSES,HEALTHCARE_COVERAGE\n" +
		"p1,2014-10-06,,999-17-5017,,,,Ann1,Lee2,,,,white,nonhispanic,F,Boston  Massachusetts  US,1 Main St,Somerville,Massachusetts,Middlesex County,02155,42.3,-71.1,1.0,2.0\n" +
		"p2,1950-01-31,2020-02-29,999-17-5018,,,Mr.,Bob3,Ray4,,,,black,hispanic,M,Boston  Massachusetts  US,2 Main St,Somerville,Massachusetts,Middlesex County,02155,42.3,-71.1,1.0,2.0\n"
	conditionsHdr = "START,STOP,PATIENT,ENCOUNTER,CODE,DESCRIPTION\n"
	conditionOK   = "2023-01-27,2023-02-09,p1,e1,195662009,Acute viral pharyngitis (disorder)\n"
	patientJSON   = `{"resourceType":"Patient","id":"p1","gender":"female","birthDate":"2014-10-06"}`
	conditionJSON = `{"resourceType":"Condition","id":"c1","subject":{"reference":"Patient/p1"},"code":{"coding":[{"system":"http://snomed.info/sct","code":"1"}]},"onsetDateTime":"2020-01-01"}`
)

// Each bad-input kind stops with its own error naming the file, the line
// (or Bundle entry) and the field.
func TestBadInput(t *testing.T) {
	tests := []struct {
		name   string
		files  map[string]string
		format string
		table  string
		want   error
		file   string
		line   int
		entry  int
		field  string
	}{
		{name: "csv malformed quote", format: FormatSyntheaCSV, table: Condition, want: ErrSyntax, file: "conditions.csv", line: 3, entry: -1,
			files: map[string]string{"patients.csv": patientsCSV, "conditions.csv": conditionsHdr + conditionOK + "2023-01-27,,p1,e1,1,bad \"quote\" here\n"}},
		{name: "csv wrong field count", format: FormatSyntheaCSV, table: Condition, want: ErrSyntax, file: "conditions.csv", line: 4, entry: -1,
			files: map[string]string{"patients.csv": patientsCSV, "conditions.csv": conditionsHdr + conditionOK + conditionOK + "2023-01-27,p1,e1,1\n"}},
		{name: "csv missing column", format: FormatSyntheaCSV, table: Person, want: ErrMissingColumn, file: "patients.csv", line: 1, entry: -1, field: "BIRTHDATE",
			files: map[string]string{"patients.csv": strings.Replace(patientsCSV, "BIRTHDATE", "BORN", 1)}},
		{name: "csv bad date", format: FormatSyntheaCSV, table: Condition, want: ErrBadValue, file: "conditions.csv", line: 3, entry: -1, field: "START",
			files: map[string]string{"patients.csv": patientsCSV, "conditions.csv": conditionsHdr + conditionOK + "2023-13-27,,p1,e1,1,x\n"}},
		{name: "csv bad number", format: FormatSyntheaCSV, table: Person, want: ErrBadValue, file: "patients.csv", line: 2, entry: -1, field: "LAT",
			files: map[string]string{"patients.csv": strings.Replace(patientsCSV, "42.3,-71.1,1.0,2.0\n", "north,-71.1,1.0,2.0\n", 2)}},
		{name: "csv missing patient id", format: FormatSyntheaCSV, table: Condition, want: ErrMissingField, file: "conditions.csv", line: 2, entry: -1, field: "PATIENT",
			files: map[string]string{"patients.csv": patientsCSV, "conditions.csv": conditionsHdr + "2023-01-27,,,e1,1,x\n"}},
		{name: "csv unknown patient", format: FormatSyntheaCSV, table: Condition, want: ErrUnknownPatient, file: "conditions.csv", line: 3, entry: -1, field: "PATIENT",
			files: map[string]string{"patients.csv": patientsCSV, "conditions.csv": conditionsHdr + conditionOK + "2023-01-27,,p9,e1,1,x\n"}},
		{name: "csv unknown patient after repeats of a known one", format: FormatSyntheaCSV, table: Condition, want: ErrUnknownPatient, file: "conditions.csv", line: 4, entry: -1, field: "PATIENT",
			files: map[string]string{"patients.csv": patientsCSV, "conditions.csv": conditionsHdr + conditionOK + conditionOK + "2023-01-27,,p,e1,1,x\n"}},
		{name: "ndjson syntax", format: FormatFHIR, table: Person, want: ErrSyntax, file: "Patient.000.ndjson", line: 2, entry: -1,
			files: map[string]string{"Patient.000.ndjson": patientJSON + "\n" + `{"resourceType":"Patient","id":"p2",` + "\n"}},
		{name: "ndjson wrong type", format: FormatFHIR, table: Person, want: ErrBadValue, file: "Patient.000.ndjson", line: 2, entry: -1, field: "birthDate",
			files: map[string]string{"Patient.000.ndjson": patientJSON + "\n" + `{"resourceType":"Patient","id":"p2","birthDate":19270521}` + "\n"}},
		{name: "ndjson bad date", format: FormatFHIR, table: Person, want: ErrBadValue, file: "Patient.000.ndjson", line: 1, entry: -1, field: "birthDate",
			files: map[string]string{"Patient.000.ndjson": `{"resourceType":"Patient","id":"p2","birthDate":"21 May 1927"}` + "\n"}},
		{name: "ndjson missing field", format: FormatFHIR, table: Condition, want: ErrMissingField, file: "Condition.000.ndjson", line: 2, entry: -1, field: "subject",
			files: map[string]string{"Patient.000.ndjson": patientJSON + "\n", "Condition.000.ndjson": conditionJSON + "\n" + strings.Replace(conditionJSON, `"subject":{"reference":"Patient/p1"},`, "", 1) + "\n"}},
		{name: "ndjson unknown patient", format: FormatFHIR, table: Condition, want: ErrUnknownPatient, file: "Condition.000.ndjson", line: 3, entry: -1, field: "subject",
			files: map[string]string{"Patient.000.ndjson": patientJSON + "\n", "Condition.000.ndjson": conditionJSON + "\n\n" + strings.Replace(conditionJSON, "Patient/p1", "Patient/p9", 1) + "\n"}},
		{name: "ndjson bad base64", format: FormatFHIR, table: Note, want: ErrBadValue, file: "DocumentReference.000.ndjson", line: 1, entry: -1, field: "content[0].attachment.data",
			files: map[string]string{"Patient.000.ndjson": patientJSON + "\n", "DocumentReference.000.ndjson": `{"resourceType":"DocumentReference","id":"d1","subject":{"reference":"Patient/p1"},"content":[{"attachment":{"contentType":"text/plain","data":"@@@"}}]}` + "\n"}},
		{name: "bundle unknown patient", format: FormatFHIR, table: Condition, want: ErrUnknownPatient, file: "p1.json", entry: 2, field: "subject",
			files: map[string]string{"p1.json": `{"resourceType":"Bundle","type":"transaction","entry":[` +
				`{"fullUrl":"urn:uuid:aaa","resource":{"resourceType":"Patient","id":"aaa","gender":"male"}},` +
				`{"fullUrl":"urn:uuid:c1","resource":{"resourceType":"Condition","id":"c1","subject":{"reference":"urn:uuid:aaa"}}},` +
				`{"fullUrl":"urn:uuid:c2","resource":{"resourceType":"Condition","id":"c2","subject":{"reference":"urn:uuid:bbb"}}}]}`}},
		{name: "bundle syntax", format: FormatFHIR, table: Person, want: ErrSyntax, file: "p1.json", entry: -1,
			files: map[string]string{"p1.json": `{"resourceType":"Bundle","type":"transaction","entry":[{"resource":{"resourceType":"Patient","id":"x"}},]}`}},
		{name: "notes unknown patient", format: FormatSyntheaCSV, table: Note, want: ErrUnknownPatient, file: NotesFile, line: 2, entry: -1, field: "patient",
			files: map[string]string{"patients.csv": patientsCSV, NotesFile: `{"id":"n1","patient":"p1","date":"2020-01-01","type":"progress","text":"ok"}` + "\n" + `{"id":"n2","patient":"zz","text":"x"}` + "\n"}},
		{name: "omop unknown person", format: FormatOMOP, table: Condition, want: ErrUnknownPatient, file: "condition_occurrence.csv", line: 2, entry: -1, field: "person_id",
			files: map[string]string{"person.csv": "person_id,gender_concept_id,year_of_birth\n1,8507,1990\n", "condition_occurrence.csv": "person_id,condition_concept_id,condition_start_date\n7,1,2020-01-01\n"}},
		{name: "faers bad outcome", format: FormatFAERS, table: AdverseEvent, want: ErrBadValue, file: "OUTC17Q2.txt", line: 2, entry: -1, field: "outc_cod",
			files: map[string]string{"DEMO17Q2.txt": "primaryid$caseid$caseversion$sex\n11$1$1$F\n", "DRUG17Q2.txt": "primaryid$caseid$drug_seq$role_cod$drugname\n11$1$1$PS$X\n",
				"REAC17Q2.txt": "primaryid$caseid$pt\n11$1$Rash\n", "OUTC17Q2.txt": "primaryid$caseid$outc_cod\n11$1$ZZ\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeFiles(t, tt.files)
			err := firstErr(t, dir, tt.format, tt.table)
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("error %q is not %q", err, tt.want)
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %q is not a *ParseError", err)
			}
			if filepath.Base(pe.File) != tt.file || pe.Line != tt.line || pe.Entry != tt.entry || pe.Field != tt.field {
				t.Errorf("at %s line %d entry %d field %q, want %s line %d entry %d field %q",
					filepath.Base(pe.File), pe.Line, pe.Entry, pe.Field, tt.file, tt.line, tt.entry, tt.field)
			}
			if !strings.Contains(err.Error(), tt.file) {
				t.Errorf("message %q does not name %s", err, tt.file)
			}
		})
	}
}

// Unmappable rows are counted by reason, not dropped silently.
func TestUnmappedCounted(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"patients.csv": patientsCSV,
		"observations.csv": "DATE,PATIENT,ENCOUNTER,CATEGORY,CODE,DESCRIPTION,VALUE,UNITS,TYPE\n" +
			"2023-10-10T04:17:47Z,p1,e1,vital-signs,8302-2,Body Height,127.9,cm,numeric\n" +
			"2023-10-10T04:17:47Z,p1,e1,survey,72166-2,Tobacco smoking status,Never smoked,,text\n",
	})
	e := openT(t, dir, FormatAuto)
	if n := countRows(t, e, Measurement); n != 1 {
		t.Errorf("%d measurements, want 1", n)
	}
	if got := e.Unmapped()["observation not numeric"]; got != 1 {
		t.Errorf("Unmapped = %v, want 1 observation not numeric", e.Unmapped())
	}
}

// A quote that never closes stops at the record limit instead of reading
// the whole file into one field.
func TestCSVRecordLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 70 MB")
	}
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "conditions.csv"))
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(conditionsHdr + "2023-01-27,,p1,e1,1,\"never closed\n")
	line := []byte(strings.Repeat("x", 1<<20-1) + "\n")
	for range 70 {
		f.Write(line)
	}
	f.Close()
	os.WriteFile(filepath.Join(dir, "patients.csv"), []byte(patientsCSV), 0o644)
	err = firstErr(t, dir, FormatSyntheaCSV, Condition)
	if !errors.Is(err, ErrSyntax) || !strings.Contains(err.Error(), "longer than") {
		t.Errorf("error %v, want a record too long", err)
	}
}
