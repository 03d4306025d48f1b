package deid

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cohortnet/cohortnet/deid/source"
	"github.com/cohortnet/cohortnet/internal/synth"
)

// handExport is a small export worked out by hand: top-coding at the edge
// (89 and 90 at 2026-01-01), a restricted ZIP prefix, an opt-out, a note.
func handExport() *memExport {
	return &memExport{rows: map[string][]map[string]any{
		source.Person: {
			{"source_person_id": "P1", "given_name": "Alice", "family_name": "Quarrington", "birth_date": day("1930-03-04"),
				"gender": "F", "race": "white", "ethnicity": "nonhispanic", "ssn": "999-11-2222", "phone": "555-123-4567",
				"address_line": "12 Elm Street", "city": "Hanover", "state": "NH", "zip": "03601", "lat": 43.7, "lon": -72.29},
			{"source_person_id": "P2", "given_name": "Bob", "family_name": "Okafor", "birth_date": day("1980-06-15"),
				"death_date": day("2020-02-29"), "gender": "M", "race": "black", "ethnicity": "nonhispanic",
				"city": "Cambridge", "state": "MA", "zip": "02139-4307", "mrn": "MRN-778899"},
			{"source_person_id": "P3", "given_name": "Carol", "family_name": "Optedout", "birth_date": day("1990-01-01"),
				"gender": "F", "state": "MA", "zip": "02140"},
			{"source_person_id": "P4", "given_name": "Dan", "family_name": "Edge", "birth_date": day("1936-01-02"),
				"gender": "M", "state": "NY", "zip": "12345"},
			{"source_person_id": "P5", "given_name": "Eve", "family_name": "Edge", "birth_date": day("1936-01-01"),
				"gender": "F", "state": "NY", "zip": "12345"},
		},
		source.Visit: {
			{"source_visit_id": "V1", "source_person_id": "P1", "visit_type": "inpatient", "visit_start_date": day("1933-05-01"), "visit_end_date": day("1933-05-09")},
			{"source_visit_id": "V2", "source_person_id": "P1", "visit_type": "ambulatory", "visit_start_date": day("2019-12-30"), "visit_end_date": day("2020-01-02")},
			{"source_visit_id": "V3", "source_person_id": "P2", "visit_type": "emergency", "visit_start_date": day("2010-07-04"), "visit_end_date": day("2010-07-05")},
			{"source_visit_id": "V4", "source_person_id": "P3", "visit_type": "wellness", "visit_start_date": day("2015-01-01"), "visit_end_date": day("2015-01-01")},
			{"source_visit_id": "V5", "source_person_id": "P4", "visit_type": "wellness", "visit_start_date": day("2000-03-01"), "visit_end_date": day("2000-03-01")},
			{"source_visit_id": "V6", "source_person_id": "NOBODY", "visit_type": "wellness", "visit_start_date": day("2000-03-01")},
		},
		source.Condition: {
			{"source_person_id": "P1", "source_visit_id": "V2", "condition_vocabulary": "SNOMED", "condition_code": "44054006", "condition_name": "Diabetes", "condition_start_date": day("2019-12-30")},
			{"source_person_id": "P2", "source_visit_id": "V3", "condition_vocabulary": "SNOMED", "condition_code": "44054006", "condition_name": "Diabetes", "condition_start_date": day("2010-07-04"), "condition_end_date": day("2011-01-01")},
			{"source_person_id": "P3", "source_visit_id": "V4", "condition_vocabulary": "SNOMED", "condition_code": "38341003", "condition_name": "Hypertension", "condition_start_date": day("2015-01-01")},
		},
		source.Note: {
			{"source_note_id": "N1", "source_person_id": "P1", "source_visit_id": "V2", "note_date": day("2019-12-30"), "note_type": "progress",
				"note_text": "Alice Quarrington (DOB 03/04/1930, SSN 999-11-2222) called from 555-123-4567; lives at 12 Elm Street, Hanover. She is 95 years old."},
			{"source_note_id": "N2", "source_person_id": "P3", "source_visit_id": "V4", "note_date": day("2015-01-01"), "note_type": "progress",
				"note_text": "Carol Optedout is well."},
		},
	}}
}

func runHand(t *testing.T, pol *Policy, optOut []string, surr string) (string, *Report) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out")
	rep, err := Run(t.Context(), handExport(), out, Config{Policy: pol, Key: testKey, OptOut: optOut, SurrogateDir: surr})
	if err != nil {
		t.Fatal(err)
	}
	return out, rep
}

func byPerson(rows []map[string]any) map[string][]map[string]any {
	m := map[string][]map[string]any{}
	for _, r := range rows {
		id, _ := r["person_id"].(string)
		m[id] = append(m[id], r)
	}
	return m
}

func TestSafeHarborHandWorked(t *testing.T) {
	pol := Preset(SafeHarbor, false, "2026-01-01")
	surr := t.TempDir()
	out, rep := runHand(t, pol, []string{"P3"}, surr)
	persons := readTable(t, out, source.Person)
	if len(persons) != 4 {
		t.Fatalf("persons = %d, want 4 (one opted out)", len(persons))
	}
	cols := slices.Sorted(func(yield func(string) bool) {
		for k := range persons[0] {
			if !yield(k) {
				return
			}
		}
	})
	want := []string{"death_year", "ethnicity", "gender", "person_id", "race", "state", "year_of_birth", "zip3"}
	if !slices.Equal(cols, want) {
		t.Errorf("person columns = %v, want %v", cols, want)
	}
	// The persons in input order: P1, P2, P4, P5.
	type exp struct {
		yob  int32
		zip3 any
	}
	wants := []exp{{1936, "000"}, {1980, "021"}, {1936, "123"}, {1936, "123"}}
	for i, w := range wants {
		if persons[i]["year_of_birth"] != w.yob || persons[i]["zip3"] != w.zip3 {
			t.Errorf("person %d: year_of_birth %v zip3 %v, want %d %v", i, persons[i]["year_of_birth"], persons[i]["zip3"], w.yob, w.zip3)
		}
	}
	if persons[1]["death_year"] != int32(2020) {
		t.Errorf("death_year = %v, want 2020", persons[1]["death_year"])
	}
	visits := readTable(t, out, source.Visit)
	if len(visits) != 4 {
		t.Fatalf("visits = %d, want 4 (opt-out and orphan left out)", len(visits))
	}
	// P1 is top-coded (95): a 1933 visit would imply an age over 90, raised to 1936.
	if visits[0]["visit_start_year"] != int32(1936) || visits[1]["visit_start_year"] != int32(2019) || visits[1]["visit_end_year"] != int32(2020) {
		t.Errorf("P1 visit years = %v %v %v", visits[0]["visit_start_year"], visits[1]["visit_start_year"], visits[1]["visit_end_year"])
	}
	if visits[0]["person_id"] != persons[0]["person_id"] {
		t.Errorf("visit person_id does not join to person")
	}
	if rep.Suppressed.OptOut != 1 || rep.Tables[source.Visit].Orphans != 1 {
		t.Errorf("suppressed %+v orphans %d", rep.Suppressed, rep.Tables[source.Visit].Orphans)
	}
	// Surrogates are random but kept: a second run gives the same ids.
	out2, _ := runHand(t, pol, []string{"P3"}, surr)
	p2 := readTable(t, out2, source.Person)
	if p2[0]["person_id"] != persons[0]["person_id"] {
		t.Errorf("surrogate ids changed between runs")
	}
	if Pseudonym(testKey, "person", "P1") == persons[0]["person_id"] {
		t.Errorf("safe-harbor ids are keyed pseudonyms, want random surrogates")
	}
	if _, err := os.Stat(filepath.Join(surr, "person.sur")); err != nil {
		t.Errorf("no surrogate mapping kept: %v", err)
	}
	notes := readTable(t, out, source.Note)
	if len(notes) != 1 {
		t.Fatalf("notes = %d, want 1", len(notes))
	}
	text := notes[0]["note_text"].(string)
	for _, phi := range []string{"Alice", "Quarrington", "1930", "999-11-2222", "555-123-4567", "Elm", "Hanover", "95 years"} {
		if strings.Contains(text, phi) {
			t.Errorf("note still holds %q: %s", phi, text)
		}
	}
}

func TestSafeHarborIntervals(t *testing.T) {
	out, rep := runHand(t, Preset(SafeHarbor, true, "2026-01-01"), nil, t.TempDir())
	if !rep.Intervals {
		t.Error("report says intervals false")
	}
	visits := readTable(t, out, source.Visit)
	for _, v := range visits {
		for k := range v {
			if strings.HasSuffix(k, "_year") || strings.HasSuffix(k, "_date") {
				t.Fatalf("intervals mode has column %s", k)
			}
		}
	}
	// P1's first record is the 1933 visit: day 0, then 8; the 2019 visit is later.
	if visits[0]["visit_start_day"] != int32(0) || visits[0]["visit_end_day"] != int32(8) {
		t.Errorf("P1 first visit days = %v %v, want 0 8", visits[0]["visit_start_day"], visits[0]["visit_end_day"])
	}
	if got, want := visits[1]["visit_start_day"], day("2019-12-30")-day("1933-05-01"); got != want {
		t.Errorf("P1 second visit day = %v, want %d", got, want)
	}
}

func TestExpertShiftsAndPseudonyms(t *testing.T) {
	pol := Preset(Expert, false, "2026-01-01")
	pol.KAnonymity.K = 0 // transforms only; k-anonymity has its own tests
	out, rep := runHand(t, pol, []string{"P3"}, "")
	if rep.KAnonymity != nil {
		t.Errorf("k-anonymity reported though off")
	}
	persons := readTable(t, out, source.Person)
	if got := persons[0]["person_id"]; got != Pseudonym(testKey, "person", "P1") {
		t.Errorf("person_id = %v, want the keyed pseudonym", got)
	}
	visits := readTable(t, out, source.Visit)
	var in []map[string]any
	for _, v := range handExport().rows[source.Visit] {
		if v["source_person_id"] != "P3" && v["source_person_id"] != "NOBODY" {
			in = append(in, v)
		}
	}
	if len(visits) != len(in) {
		t.Fatalf("visits = %d, want %d", len(visits), len(in))
	}
	shifts := map[string]int32{}
	for i, v := range visits {
		orig := in[i]
		if v["visit_occurrence_id"] != Pseudonym(testKey, "visit", orig["source_visit_id"].(string)) {
			t.Errorf("visit %d id is not the keyed pseudonym", i)
		}
		if orig["source_visit_id"] == "V1" {
			// P1 is top-coded (born 1930, shown 1936): a 1933 date would show
			// a person older than 90, so it is dropped
			if v["visit_start_date"] != nil || v["visit_end_date"] != nil {
				t.Errorf("top-coded person's 1933 visit dates kept: %v", v)
			}
			continue
		}
		s := v["visit_start_date"].(int32) - orig["visit_start_date"].(int32)
		if s == 0 || s < -365 || s > 365 {
			t.Errorf("visit %d shifted by %d days", i, s)
		}
		if e, ok := v["visit_end_date"].(int32); ok && e-v["visit_start_date"].(int32) != orig["visit_end_date"].(int32)-orig["visit_start_date"].(int32) {
			t.Errorf("visit %d: interval not preserved", i)
		}
		pid := v["person_id"].(string)
		if prev, ok := shifts[pid]; ok && prev != s {
			t.Errorf("person %s shifted by %d and %d", pid, prev, s)
		}
		shifts[pid] = s
	}
	// the same person's shift in another table
	conds := readTable(t, out, source.Condition)
	for _, c := range conds {
		pid := c["person_id"].(string)
		if s, ok := shifts[pid]; ok {
			if got := c["condition_start_date"].(int32); got != day("2019-12-30")+s && got != day("2010-07-04")+s {
				t.Errorf("condition date %d not shifted like the person's visits (%d)", got, s)
			}
		}
		if c["person_id"] == Pseudonym(testKey, "person", "P3") {
			t.Error("opted-out person in condition_occurrence")
		}
	}
	if persons[0]["year_of_birth"] != int32(1936) {
		t.Errorf("P1 (95) year_of_birth = %v, want top-coded 1936", persons[0]["year_of_birth"])
	}
}

func TestShiftsSpreadAndDiffer(t *testing.T) {
	seen := map[int32]int{}
	lo, hi := int32(0), int32(0)
	for i := range 2000 {
		s := DateShift(testKey, "person-"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+itoa(i), 365)
		if s == 0 {
			t.Fatal("zero shift")
		}
		seen[s]++
		lo, hi = min(lo, s), max(hi, s)
	}
	if lo > -180 || hi < 180 {
		t.Errorf("shifts span [%d, %d], want at least ±180", lo, hi)
	}
	if len(seen) < 400 {
		t.Errorf("only %d distinct shifts over 2000 persons", len(seen))
	}
	if DateShift(testKey, "a", 365) == DateShift([]byte("another key, another shift....."), "a", 365) &&
		DateShift(testKey, "b", 365) == DateShift([]byte("another key, another shift....."), "b", 365) {
		t.Error("shift does not depend on the key")
	}
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

func TestLimitedKeepsDatesAndZip(t *testing.T) {
	out, _ := runHand(t, Preset(Limited, false, "2026-01-01"), nil, "")
	persons := readTable(t, out, source.Person)
	if persons[1]["zip"] != "02139" || persons[1]["city"] != "Cambridge" || persons[1]["birth_date"] != day("1980-06-15") {
		t.Errorf("limited person = %v", persons[1])
	}
	for _, p := range persons {
		for _, k := range []string{"given_name", "family_name", "ssn", "mrn", "phone", "address_line", "lat"} {
			if _, ok := p[k]; ok {
				t.Errorf("limited mode kept %s", k)
			}
		}
	}
	if persons[0]["year_of_birth"] != int32(1930) {
		t.Errorf("limited year_of_birth = %v, want the real 1930", persons[0]["year_of_birth"])
	}
}

func TestReproducibleBytes(t *testing.T) {
	pol := Preset(Expert, false, "2026-01-01")
	pol.KAnonymity.K = 2
	pol.KAnonymity.MaxSuppression = 1
	var reports [][]byte
	var files []map[string][]byte
	for _, batch := range []int{1, 2, 1000} {
		exp := handExport()
		exp.batch = batch
		out := filepath.Join(t.TempDir(), "out")
		if _, err := Run(t.Context(), exp, out, Config{Policy: pol, Key: testKey, RowGroupRows: 2}); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(out, ReportFile))
		if err != nil {
			t.Fatal(err)
		}
		reports = append(reports, b)
		m := map[string][]byte{}
		filepath.Walk(out, func(p string, info os.FileInfo, err error) error {
			if err == nil && !info.IsDir() {
				m[p[len(out):]], _ = os.ReadFile(p)
			}
			return nil
		})
		files = append(files, m)
	}
	for i := 1; i < len(reports); i++ {
		if !bytes.Equal(reports[0], reports[i]) {
			t.Errorf("report differs between runs with different input batching")
		}
		for p, b := range files[0] {
			if !bytes.Equal(b, files[i][p]) {
				t.Errorf("%s differs between runs", p)
			}
		}
		if len(files[0]) != len(files[i]) {
			t.Errorf("runs wrote %d and %d files", len(files[0]), len(files[i]))
		}
	}
}

func TestReportListsEveryFile(t *testing.T) {
	out, rep := runHand(t, Preset(Limited, false, "2026-01-01"), nil, "")
	var onDisk []string
	filepath.Walk(out, func(p string, info os.FileInfo, err error) error {
		if err == nil && strings.HasSuffix(p, ".parquet") {
			rel, _ := filepath.Rel(out, p)
			onDisk = append(onDisk, filepath.ToSlash(rel))
		}
		return nil
	})
	var listed []string
	for _, f := range rep.Files {
		listed = append(listed, f.Path)
		b, err := os.ReadFile(filepath.Join(out, f.Path))
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(b)) != f.Bytes || sha256hex(b) != f.SHA256 {
			t.Errorf("%s: size or sha256 does not match the report", f.Path)
		}
		if rows := readParquet(t, filepath.Join(out, f.Path)); int64(len(rows)) != f.Rows {
			t.Errorf("%s: %d rows, report says %d", f.Path, len(rows), f.Rows)
		}
	}
	slices.Sort(onDisk)
	slices.Sort(listed)
	if !slices.Equal(onDisk, listed) {
		t.Errorf("files on disk %v, listed %v", onDisk, listed)
	}
	var raw map[string]any
	b, _ := os.ReadFile(filepath.Join(out, ReportFile))
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"format", "mode", "intervals", "reference_date", "key_fingerprint", "source", "tables", "files", "suppressed", "k_anonymity", "l_diversity", "risk", "summary"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("report has no %q", k)
		}
	}
	if bytes.Contains(b, testKey) {
		t.Error("report holds the key")
	}
	if _, err := os.Stat(filepath.Join(out, PolicyFile)); err != nil {
		t.Error(err)
	}
}

func TestRunRefusals(t *testing.T) {
	dir := t.TempDir()
	if _, err := Run(t.Context(), handExport(), filepath.Join(dir, "o"), Config{}); !errors.Is(err, ErrNoKey) {
		t.Errorf("no key: %v", err)
	}
	if _, err := Run(t.Context(), handExport(), dir, Config{Key: testKey}); !errors.Is(err, ErrOutputExists) {
		t.Errorf("existing output: %v", err)
	}
	if _, err := Run(t.Context(), handExport(), filepath.Join(dir, "o"), Config{Key: testKey, Policy: Preset(SafeHarbor, false, "2026-01-01")}); err == nil {
		t.Error("safe-harbor without a surrogate directory ran")
	}
	ctx, cancel := contextWithCancel(t)
	cancel()
	if _, err := Run(ctx, handExport(), filepath.Join(dir, "c"), Config{Key: testKey}); err == nil {
		t.Error("cancelled run succeeded")
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 0 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("failed runs left %v behind", names)
	}
}

func TestRunHierarchyMissesValue(t *testing.T) {
	h, err := NewHierarchy([][]string{{"M", "*"}, {"O", "*"}})
	if err != nil {
		t.Fatal(err)
	}
	pol := Preset(Expert, false, "2026-01-01")
	pol.KAnonymity.K = 2
	out := filepath.Join(t.TempDir(), "out")
	_, err = Run(t.Context(), handExport(), out, Config{Policy: pol, Key: testKey, Hierarchies: map[string]*Hierarchy{"gender": h}})
	if !errors.Is(err, ErrHierarchy) || !strings.Contains(err.Error(), `hierarchy of gender misses the value "F"`) {
		t.Errorf("err = %v", err)
	}
	if _, serr := os.Stat(out); serr == nil {
		t.Error("a failed run left its output")
	}
}

// Two runs over a synth export, cut into many row groups and files, write
// byte-identical datasets (prefetching, parallel scrubbing and the encoder
// goroutine keep the order).
func TestReproducibleSynth(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "export")
	if _, err := synth.Generate(t.Context(), synth.Config{Patients: 120, Seed: 5, Out: dir}); err != nil {
		t.Fatal(err)
	}
	var outs []string
	for range 2 {
		exp, err := source.Open(dir, source.FormatAuto)
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), "out")
		pol := Preset(Expert, false, "2026-01-01")
		pol.KAnonymity.K = 3
		pol.KAnonymity.MaxSuppression = 0.2
		rep, err := Run(t.Context(), exp, out, Config{Policy: pol, Key: testKey, RowGroupRows: 300, RowsPerFile: 900})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Files) < 8 {
			t.Fatalf("only %d files; the test wants several per table", len(rep.Files))
		}
		outs = append(outs, out)
	}
	filepath.Walk(outs[0], func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(outs[0], p)
		a, _ := os.ReadFile(p)
		b, err := os.ReadFile(filepath.Join(outs[1], rel))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("%s differs between runs", rel)
		}
		return nil
	})
}
