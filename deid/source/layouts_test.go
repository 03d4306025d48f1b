package source

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func copyFile(t *testing.T, src, dst string, edit func(string) string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if edit != nil {
		s = edit(s)
	}
	if err := os.WriteFile(dst, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// The later Synthea layout with MIDDLE is detected from the header, and the
// middle name joins the given name as FHIR writes it.
func TestSyntheaMiddleLayout(t *testing.T) {
	src := sharedData(t, "synthea-csv-111")
	dir := t.TempDir()
	copyFile(t, filepath.Join(src, "patients.csv"), filepath.Join(dir, "patients.csv"), func(s string) string {
		var b strings.Builder
		for i, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
			f := strings.Split(l, ",")
			mid := "Quincy"
			if i == 0 {
				mid = "MIDDLE"
			} else if i%2 == 0 {
				mid = ""
			}
			// Id,BIRTHDATE,DEATHDATE,SSN,DRIVERS,PASSPORT,PREFIX,FIRST,MIDDLE,LAST...
			f = append(f[:8], append([]string{mid}, f[8:]...)...)
			b.WriteString(strings.Join(f, ",") + "\n")
		}
		return b.String()
	})
	copyFile(t, filepath.Join(src, "conditions.csv"), filepath.Join(dir, "conditions.csv"), nil)
	_, layout, err := Detect(dir)
	if err != nil || layout != LayoutSyntheaMiddle {
		t.Fatalf("Detect layout %q, %v; want %s", layout, err, LayoutSyntheaMiddle)
	}
	e := openT(t, dir, FormatAuto)
	p := readTable(t, e, Person)
	if len(p) != lines(t, filepath.Join(src, "patients.csv"), 1) {
		t.Fatalf("%d persons", len(p))
	}
	checkRow(t, one(t, p, "source_person_id", "982192b6-6843-4011-ef46-32caaf87d8a9"), row{"given_name": "Alice368 Quincy", "family_name": "Gleason633", "zip": "68504"})
	if n := countRows(t, e, Condition); n != lines(t, filepath.Join(src, "conditions.csv"), 1) {
		t.Errorf("%d conditions", n)
	}
}

// OMOP file names may be lower-case.
func TestOMOPLowerCase(t *testing.T) {
	src := sharedData(t, "omop-synthea27")
	dir := t.TempDir()
	for _, f := range []string{"PERSON.csv", "DEATH.csv", "CONDITION_OCCURRENCE.csv", "CONCEPT.csv"} {
		copyFile(t, filepath.Join(src, f), filepath.Join(dir, strings.ToLower(f)), nil)
	}
	e := openT(t, dir, FormatAuto)
	if e.Format() != FormatOMOP {
		t.Fatalf("format %s", e.Format())
	}
	c := readTable(t, e, Condition)
	if len(c) != lines(t, filepath.Join(src, "CONDITION_OCCURRENCE.csv"), 1) {
		t.Errorf("%d conditions", len(c))
	}
	checkRow(t, find(c, "condition_start_date", "2002-10-15")[0], row{"condition_code": "65363002", "condition_name": "Otitis media"})
	if got := e.Unmapped(); len(got) != 0 {
		t.Errorf("unmapped %v", got)
	}
}

// Without CONCEPT.csv the source value is kept as the code and counted.
func TestOMOPWithoutConcepts(t *testing.T) {
	src := sharedData(t, "omop-synthea27")
	dir := t.TempDir()
	for _, f := range []string{"PERSON.csv", "CONDITION_OCCURRENCE.csv"} {
		copyFile(t, filepath.Join(src, f), filepath.Join(dir, f), nil)
	}
	e := openT(t, dir, FormatOMOP)
	c := readTable(t, e, Condition)
	checkRow(t, find(c, "condition_start_date", "2002-10-15")[0], row{"condition_code": "65363002", "condition_vocabulary": nil})
	if got := e.Unmapped()["no CONCEPT.csv: source value kept as code"]; got != int64(len(c)) {
		t.Errorf("unmapped %v, want %d", e.Unmapped(), len(c))
	}
}

// ndjsonResources reads the resources of an NDJSON file.
func ndjsonResources(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	var out []map[string]any
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// A Bulk export split over several files per type, and the same patients
// as one transaction Bundle per patient with urn:uuid references, map to
// the same rows as the export itself.
func TestFHIRSplitFilesAndBundles(t *testing.T) {
	src := sharedData(t, "fhir-bulk-10")
	types := []string{"Patient", "Encounter", "Condition", "MedicationRequest", "Immunization", "Procedure"}

	split := t.TempDir()
	for _, typ := range types {
		rs := ndjsonResources(t, filepath.Join(src, typ+".000.ndjson"))
		for part := 0; part < 2; part++ {
			var b strings.Builder
			for i, r := range rs {
				if i%2 == part {
					line, _ := json.Marshal(r)
					b.Write(line)
					b.WriteByte('\n')
				}
			}
			os.WriteFile(filepath.Join(split, typ+".00"+string(rune('0'+part))+".ndjson"), []byte(b.String()), 0o644)
		}
	}

	bundles := t.TempDir()
	byPatient := map[string][]any{}
	for _, typ := range types {
		for _, r := range ndjsonResources(t, filepath.Join(src, typ+".000.ndjson")) {
			var pid string
			if typ == "Patient" {
				pid = r["id"].(string)
			} else {
				key := "subject"
				if typ == "Immunization" {
					key = "patient"
				}
				ref := r[key].(map[string]any)
				pid = strings.TrimPrefix(ref["reference"].(string), "Patient/")
				ref["reference"] = "urn:uuid:" + pid
				if enc, ok := r["encounter"].(map[string]any); ok {
					enc["reference"] = "urn:uuid:" + strings.TrimPrefix(enc["reference"].(string), "Encounter/")
				}
			}
			byPatient[pid] = append(byPatient[pid], map[string]any{"fullUrl": "urn:uuid:" + r["id"].(string), "resource": r,
				"request": map[string]any{"method": "POST", "url": typ}})
		}
	}
	for pid, entries := range byPatient {
		b, _ := json.Marshal(map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": entries})
		os.WriteFile(filepath.Join(bundles, pid+".json"), b, 0o644)
	}

	ref := openT(t, src, FormatAuto)
	for _, tc := range []struct{ dir, layout string }{{split, LayoutBulk}, {bundles, LayoutBundles}} {
		t.Run(tc.layout, func(t *testing.T) {
			e := openT(t, tc.dir, FormatAuto)
			if e.Layout() != tc.layout {
				t.Errorf("layout %s, want %s", e.Layout(), tc.layout)
			}
			for _, table := range []string{Person, Visit, Condition, Drug, Procedure} {
				want, got := readTable(t, ref, table), readTable(t, e, table)
				if len(got) != len(want) {
					t.Errorf("%s: %d rows, want %d", table, len(got), len(want))
					continue
				}
				// same multiset of rows
				count := map[string]int{}
				for _, r := range want {
					count[rowKey(r)]++
				}
				for _, r := range got {
					count[rowKey(r)]--
				}
				for k, n := range count {
					if n != 0 {
						t.Errorf("%s: row %s differs (%+d)", table, k, n)
						break
					}
				}
			}
		})
	}
}

func rowKey(r row) string {
	b, _ := json.Marshal(r) // maps marshal with sorted keys
	return string(b)
}

// OMOP birth dates come from the year, month and day columns when
// birth_datetime is empty; an unknown month or day is the first.
func TestOMOPBirthFromParts(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"person.csv": "person_id,gender_concept_id,year_of_birth,month_of_birth,day_of_birth,birth_datetime,race_concept_id,race_source_value\n" +
			"1,8532,1990,7,14,,8516,\n2,0,1985,,,,0,asian\n3,8507,1970,1,1,1970-03-04 00:00:00,0,\n",
		"death.csv": "person_id,death_date\n3,20200105\n",
	})
	e := openT(t, dir, FormatAuto)
	p := readTable(t, e, Person)
	checkRow(t, one(t, p, "source_person_id", "1"), row{"birth_date": "1990-07-14", "gender": "F", "race": "black"})
	checkRow(t, one(t, p, "source_person_id", "2"), row{"birth_date": "1985-01-01", "gender": "U", "race": "asian"})
	checkRow(t, one(t, p, "source_person_id", "3"), row{"birth_date": "1970-03-04", "gender": "M", "death_date": "2020-01-05"})
}
