package synth

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cohortnet/cohortnet/internal/sampledata"
)

// collectRefs gathers every "reference" value in a decoded resource.
func collectRefs(v any, out *[]string) {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if s, ok := val.(string); ok && k == "reference" {
				*out = append(*out, s)
				continue
			}
			collectRefs(val, out)
		}
	case []any:
		for _, e := range x {
			collectRefs(e, out)
		}
	}
}

// path walks a decoded resource by keys and array indexes ("0").
func path(v any, keys ...string) any {
	for _, k := range keys {
		switch x := v.(type) {
		case map[string]any:
			v = x[k]
		case []any:
			i := int(k[0] - '0')
			if i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

func str(v any, keys ...string) string {
	s, _ := path(v, keys...).(string)
	return s
}

func TestFHIRResources(t *testing.T) {
	out, res := generate(t, Config{Patients: 1000, Seed: 21, Format: FormatFHIR})
	if len(res.Files) != len(FHIRFiles)+3 {
		t.Fatalf("wrote %d files, want %d", len(res.Files), len(FHIRFiles)+3)
	}
	// First pass: every id written, by type. Second pass (below): checks.
	ids := map[string]bool{} // "Type/id"
	counts := map[string]int{}
	for _, name := range FHIRFiles {
		typ := strings.TrimSuffix(name, ".000.ndjson")
		readLines(t, filepath.Join(out, name), func(line []byte) {
			var head struct {
				ResourceType string `json:"resourceType"`
				ID           string `json:"id"`
			}
			if err := json.Unmarshal(line, &head); err != nil {
				t.Fatalf("%s: invalid JSON: %v", name, err)
			}
			if head.ResourceType != typ {
				t.Fatalf("%s: resourceType %q", name, head.ResourceType)
			}
			if head.ID == "" || ids[typ+"/"+head.ID] {
				t.Fatalf("%s: missing or repeated id %q", name, head.ID)
			}
			ids[typ+"/"+head.ID] = true
			counts[typ]++
		})
	}
	for _, typ := range []string{"Patient", "Encounter", "Condition", "MedicationRequest", "Immunization", "Observation", "Procedure", "AdverseEvent", "DocumentReference"} {
		if counts[typ] == 0 {
			t.Errorf("no %s resources at 1,000 patients", typ)
		}
	}
	if counts["Patient"] != 1000 {
		t.Errorf("%d Patient resources, want 1000", counts["Patient"])
	}
	required := map[string][][]string{
		"Patient":           {{"birthDate"}, {"gender"}, {"name", "0", "family"}, {"name", "0", "given", "0"}, {"telecom", "0", "value"}, {"address", "0", "line", "0"}, {"address", "0", "city"}, {"address", "0", "state"}, {"extension", "0", "url"}},
		"Encounter":         {{"status"}, {"class", "code"}, {"subject", "reference"}, {"period", "start"}, {"type", "0", "coding", "0", "code"}},
		"Condition":         {{"code", "coding", "0", "code"}, {"subject", "reference"}, {"encounter", "reference"}, {"onsetDateTime"}, {"clinicalStatus", "coding", "0", "code"}},
		"MedicationRequest": {{"status"}, {"intent"}, {"medicationCodeableConcept", "coding", "0", "code"}, {"subject", "reference"}, {"authoredOn"}},
		"Immunization":      {{"status"}, {"vaccineCode", "coding", "0", "code"}, {"patient", "reference"}, {"occurrenceDateTime"}},
		"Observation":       {{"status"}, {"code", "coding", "0", "code"}, {"subject", "reference"}, {"effectiveDateTime"}},
		"Procedure":         {{"status"}, {"code", "coding", "0", "code"}, {"subject", "reference"}, {"performedPeriod", "start"}},
		"AdverseEvent":      {{"actuality"}, {"subject", "reference"}, {"event", "coding", "0", "code"}, {"date"}, {"suspectEntity", "0", "instance", "reference"}, {"contained", "0", "code", "coding", "0", "code"}},
		"Organization":      {{"name"}},
		"Practitioner":      {{"name", "0", "family"}},
		"DocumentReference": {{"status"}, {"subject", "reference"}, {"content", "0", "attachment", "data"}, {"type", "coding", "0", "code"}},
	}
	notes := map[string]string{}
	readLines(t, filepath.Join(out, NotesFile), func(line []byte) {
		var n Note
		if err := json.Unmarshal(line, &n); err != nil {
			t.Fatal(err)
		}
		notes[n.ID] = n.Text
	})
	systems := map[string][2]string{
		"Condition":         {"code", "http://snomed.info/sct"},
		"MedicationRequest": {"medicationCodeableConcept", "http://www.nlm.nih.gov/research/umls/rxnorm"},
		"Immunization":      {"vaccineCode", "http://hl7.org/fhir/sid/cvx"},
		"Observation":       {"code", "http://loinc.org"},
		"Procedure":         {"code", "http://snomed.info/sct"},
		"AdverseEvent":      {"event", "http://snomed.info/sct"},
	}
	type resource struct {
		typ string
		m   map[string]any
	}
	check := func(r resource) {
		for _, keys := range required[r.typ] {
			if path(r.m, keys...) == nil {
				t.Fatalf("%s/%s lacks %s", r.typ, r.m["id"], strings.Join(keys, "."))
			}
		}
		if sys, ok := systems[r.typ]; ok {
			if got := str(r.m, sys[0], "coding", "0", "system"); got != sys[1] {
				t.Fatalf("%s/%s: %s system %q, want %q", r.typ, r.m["id"], sys[0], got, sys[1])
			}
		}
		if r.typ == "DocumentReference" {
			text, err := base64.StdEncoding.DecodeString(str(r.m, "content", "0", "attachment", "data"))
			if err != nil || string(text) != notes[str(r.m, "id")] {
				t.Fatalf("DocumentReference/%s: attachment is not the text of the note with its id (%v)", r.m["id"], err)
			}
		}
		if r.typ == "Observation" && path(r.m, "valueQuantity", "value") == nil && path(r.m, "valueString") == nil {
			t.Fatalf("Observation/%s has no value", r.m["id"])
		}
		var refs []string
		collectRefs(r.m, &refs)
		for _, ref := range refs {
			if strings.HasPrefix(ref, "#") {
				if str(r.m, "contained", "0", "id") != ref[1:] {
					t.Fatalf("%s/%s: contained reference %s does not resolve", r.typ, r.m["id"], ref)
				}
				continue
			}
			if !ids[ref] {
				t.Fatalf("%s/%s: reference %s does not resolve to a written resource", r.typ, r.m["id"], ref)
			}
		}
		if r.typ == "Condition" && !strings.HasPrefix(str(r.m, "subject", "reference"), "Patient/") {
			t.Fatalf("Condition/%s subject is not a Patient", r.m["id"])
		}
		if r.typ == "Patient" {
			types := map[string]string{}
			for _, id := range path(r.m, "identifier").([]any) {
				types[str(id, "type", "coding", "0", "code")] = str(id, "value")
			}
			if types["MR"] == "" || !reSSN.MatchString(types["SS"]) {
				t.Fatalf("Patient/%s identifiers %v: want MR and SS", r.m["id"], types)
			}
		}
	}
	for _, name := range FHIRFiles {
		typ := strings.TrimSuffix(name, ".000.ndjson")
		readLines(t, filepath.Join(out, name), func(line []byte) {
			var m map[string]any
			if err := json.Unmarshal(line, &m); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			check(resource{typ, m})
		})
	}
}

// TestFHIRShapedLikeSynthea compares the identifiers, extensions and
// reference style of our Patient and Condition with the real Synthea export.
func TestFHIRShapedLikeSynthea(t *testing.T) {
	real := sampledata.Dir(t, "fhir-bulk-10")
	out, _ := generate(t, Config{Patients: 50, Seed: 2, Format: FormatFHIR})
	first := func(dir, file string) map[string]any {
		var m map[string]any
		readLines(t, filepath.Join(dir, file), func(line []byte) {
			if m == nil {
				if err := json.Unmarshal(line, &m); err != nil {
					t.Fatalf("%s: %v", file, err)
				}
			}
		})
		return m
	}
	identifierTypes := func(p map[string]any) map[string]string {
		got := map[string]string{}
		for _, id := range path(p, "identifier").([]any) {
			if c := str(id, "type", "coding", "0", "code"); c != "" {
				got[c] = str(id, "type", "coding", "0", "system")
			}
		}
		return got
	}
	extensions := func(p map[string]any) map[string]bool {
		got := map[string]bool{}
		for _, e := range path(p, "extension").([]any) {
			got[str(e, "url")] = true
		}
		return got
	}
	rp, op := first(real, "Patient.000.ndjson"), first(out, "Patient.000.ndjson")
	for _, c := range []string{"MR", "SS"} {
		if identifierTypes(op)[c] != identifierTypes(rp)[c] {
			t.Errorf("identifier type %s coded with %q, Synthea uses %q", c, identifierTypes(op)[c], identifierTypes(rp)[c])
		}
	}
	for _, url := range []string{
		"http://hl7.org/fhir/us/core/StructureDefinition/us-core-race",
		"http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity",
		"http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex",
	} {
		if !extensions(rp)[url] || !extensions(op)[url] {
			t.Errorf("extension %s: in Synthea %v, in ours %v", url, extensions(rp)[url], extensions(op)[url])
		}
	}
	if str(op, "telecom", "0", "system") != str(rp, "telecom", "0", "system") {
		t.Errorf("telecom system %q, Synthea %q", str(op, "telecom", "0", "system"), str(rp, "telecom", "0", "system"))
	}
	rc, oc := first(real, "Condition.000.ndjson"), first(out, "Condition.000.ndjson")
	for _, k := range []string{"subject", "encounter"} {
		rs, os_ := str(rc, k, "reference"), str(oc, k, "reference")
		if rs[:strings.Index(rs, "/")+1] != os_[:strings.Index(os_, "/")+1] {
			t.Errorf("Condition.%s reference %q, Synthea writes %q", k, os_, rs)
		}
	}
	if str(rc, "code", "coding", "0", "system") != str(oc, "code", "coding", "0", "system") {
		t.Errorf("Condition code system differs from Synthea's")
	}
}

// TestFormatsSharePatients checks that the CSV and FHIR exports of the same
// seed describe the same patients.
func TestFormatsSharePatients(t *testing.T) {
	csvOut, _ := generate(t, Config{Patients: 100, Seed: 9})
	fhirOut, _ := generate(t, Config{Patients: 100, Seed: 9, Format: FormatFHIR})
	want := map[string]string{}
	readCSV(t, filepath.Join(csvOut, "patients.csv"), func(r map[string]string) { want[r["Id"]] = r["BIRTHDATE"] })
	n := 0
	readLines(t, filepath.Join(fhirOut, "Patient.000.ndjson"), func(line []byte) {
		var p struct {
			ID        string `json:"id"`
			BirthDate string `json:"birthDate"`
		}
		if err := json.Unmarshal(line, &p); err != nil {
			t.Fatal(err)
		}
		if want[p.ID] != p.BirthDate {
			t.Fatalf("Patient %s born %s in FHIR, %q in CSV", p.ID, p.BirthDate, want[p.ID])
		}
		n++
	})
	if n != len(want) {
		t.Fatalf("%d FHIR patients, %d CSV patients", n, len(want))
	}
	a, _ := os.ReadFile(filepath.Join(csvOut, NotesFile))
	b, _ := os.ReadFile(filepath.Join(fhirOut, NotesFile))
	if string(a) != string(b) {
		t.Error("notes differ between formats of the same seed")
	}
}
