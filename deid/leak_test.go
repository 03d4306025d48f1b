package deid

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/cohortnet/cohortnet/deid/source"
	"github.com/cohortnet/cohortnet/internal/sampledata"
	"github.com/cohortnet/cohortnet/internal/synth"
)

// planted is what an export identifies its persons with.
type planted struct {
	exact     map[string]string // value -> kind; found anywhere as a substring
	words     map[string]string // names without Synthea's digits; found as whole words in free text
	birthDays map[int32]bool
	coords    map[float64]bool
}

// collectIdentifiers reads the identified person table of an export.
func collectIdentifiers(t *testing.T, exp source.Export, mode Mode) planted {
	t.Helper()
	p := planted{exact: map[string]string{}, words: map[string]string{}, birthDays: map[int32]bool{}, coords: map[float64]bool{}}
	rd, err := exp.Read(t.Context(), source.Person)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Release()
	digitsRe := regexp.MustCompile(`\d+$`)
	for rd.Next() {
		c := newCols(rd.RecordBatch())
		n := int(c.rec.NumRows())
		add := func(col, kind string, minLen int) {
			a, _ := c.str(col)
			for i := 0; i < n; i++ {
				v := strings.TrimSpace(sv(a, i))
				if len(v) >= minLen {
					p.exact[v] = kind
				}
			}
		}
		for _, col := range []string{"given_name", "family_name", "maiden_name"} {
			add(col, "name", 4)
			a, _ := c.str(col)
			for i := 0; i < n; i++ {
				for _, w := range strings.Fields(sv(a, i)) {
					if b := digitsRe.ReplaceAllString(w, ""); len(b) >= 4 {
						p.words[b] = "name " + col
					}
				}
			}
		}
		add("ssn", "ssn", 4)
		add("mrn", "mrn", 4)
		add("phone", "phone", 7)
		add("email", "email", 4)
		add("address_line", "street address", 6)
		add("drivers_license", "licence", 4)
		add("passport", "passport", 4)
		add("source_person_id", "source id", 4)
		if mode != Limited {
			a, _ := c.str("zip")
			for i := 0; i < n; i++ {
				if z := ToZip5(sv(a, i)); z != "" {
					p.exact[z] = "full zip"
				}
			}
			b, _ := c.date("birth_date")
			for i := 0; i < n; i++ {
				if d, ok := dv(b, i); ok {
					p.birthDays[d] = true
					y, m, dd := civil(d)
					p.exact[fmt.Sprintf("%04d-%02d-%02d", y, m, dd)] = "birth date"
					p.exact[fmt.Sprintf("%02d/%02d/%04d", m, dd, y)] = "birth date"
				}
			}
		}
		for _, col := range []string{"lat", "lon"} {
			if i, ok := c.idx[col]; ok {
				a := c.rec.Column(i).(*array.Float64)
				for j := 0; j < n; j++ {
					if !a.IsNull(j) {
						p.coords[a.Value(j)] = true
						p.exact[strconv.FormatFloat(a.Value(j), 'f', -1, 64)] = "coordinate"
					}
				}
			}
		}
	}
	return p
}

// scanLeaks checks every value of every output file for planted identifiers.
// Distinct strings are scanned once.
func scanLeaks(t *testing.T, out string, rep *Report, p planted, mode Mode) {
	t.Helper()
	wordRe := regexp.MustCompile(`[\p{L}']+`)
	where := map[string]string{} // distinct string -> first place seen
	notes := map[string]string{}
	for _, f := range rep.Files {
		for ri, row := range readParquet(t, filepath.Join(out, f.Path)) {
			for col, v := range row {
				switch v := v.(type) {
				case string:
					if mode == Limited && f.Table == source.Person && col == "city" {
						continue // released in limited mode; towns named like people ("Austin") are not leaks
					}
					if _, ok := where[v]; !ok {
						where[v] = fmt.Sprintf("%s row %d column %s", f.Path, ri, col)
					}
					if col == "note_text" {
						notes[v] = fmt.Sprintf("%s row %d", f.Path, ri)
					}
				case int32:
					if mode != Limited && f.Table == source.Person && col == "birth_date" {
						t.Errorf("%s has birth_date", f.Path)
					}
				case float64:
					if p.coords[v] {
						t.Errorf("%s row %d column %s holds a coordinate", f.Path, ri, col)
					}
				}
			}
		}
	}
	found := 0
	debugV := ""
	report := func(place, kind string) {
		found++
		if found < 10 {
			t.Errorf("%s holds a %s", place, kind)
			if os.Getenv("DEID_TEST_SHOW_PHI") != "" { // synthetic data only: shows what leaked
				t.Log(debugV)
			}
		}
	}
	for v, place := range where {
		for id, kind := range p.exact {
			i := strings.Index(v, id)
			if i < 0 {
				continue
			}
			if kind == "full zip" && (i > 0 && isDigit(v[i-1]) || i+len(id) < len(v) && isDigit(v[i+len(id)])) {
				continue // part of a longer number (a code), not a ZIP
			}
			debugV = id
			report(place, kind)
		}
	}
	for v, place := range notes {
		for _, w := range wordRe.FindAllString(v, -1) {
			if kind, ok := p.words[w]; ok {
				debugV = w + " in " + v
				report(place, kind)
			}
		}
	}
	if found > 0 {
		t.Errorf("%d identifiers found in the output", found)
	}
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// TestLeakRealSamples de-identifies the real sample exports in every mode and
// looks for every identifier they hold in every output value.
func TestLeakRealSamples(t *testing.T) {
	data := sampledata.Dir(t)
	for _, sample := range []string{"synthea-csv-27", "synthea-csv-111", "fhir-bulk-10", "omop-synthea27"} {
		for _, mode := range Modes {
			t.Run(sample+"/"+string(mode), func(t *testing.T) {
				exp, err := source.Open(filepath.Join(data, sample), source.FormatAuto)
				if err != nil {
					t.Fatal(err)
				}
				defer exp.Close()
				pol := Preset(mode, false, "2026-01-01")
				if mode == Expert {
					pol.KAnonymity.K = 2 // a few dozen persons cannot be 11-anonymous on five attributes
					pol.KAnonymity.MaxSuppression = 0.5
				}
				out := filepath.Join(t.TempDir(), "out")
				rep, err := Run(t.Context(), exp, out, Config{Policy: pol, Key: testKey, SurrogateDir: t.TempDir()})
				if err != nil {
					t.Fatal(err)
				}
				if rep.Tables[source.Person].RowsOut == 0 {
					t.Fatal("no persons written")
				}
				scanLeaks(t, out, rep, collectIdentifiers(t, exp, mode), mode)
				if mode == Expert {
					checkKAnonymous(t, out, rep)
				}
			})
		}
	}
}

// checkKAnonymous recounts the equivalence classes of the person table.
func checkKAnonymous(t *testing.T, out string, rep *Report) {
	t.Helper()
	kr := rep.KAnonymity
	if kr == nil {
		t.Fatal("no k-anonymity in the report")
	}
	classes := map[string]int{}
	persons := readTable(t, out, source.Person)
	for _, p := range persons {
		var key []string
		for _, q := range kr.QuasiIdentifiers {
			key = append(key, fmt.Sprint(p[q]))
		}
		if slices := kr.Levels["zip3"]; slices >= 0 {
			key = append(key, fmt.Sprint(p["state"]))
		}
		classes[strings.Join(key, "|")]++
	}
	minSize := len(persons)
	for _, n := range classes {
		minSize = min(minSize, n)
	}
	if minSize < kr.KRequested {
		t.Errorf("smallest class has %d persons, k = %d", minSize, kr.KRequested)
	}
	if minSize != kr.KAchieved {
		t.Errorf("smallest class %d, report says k achieved %d", minSize, kr.KAchieved)
	}
	if len(classes) != kr.Classes {
		t.Errorf("%d classes, report says %d", len(classes), kr.Classes)
	}
}

// TestLeakSynth de-identifies `cohortnet synth` exports (Synthea CSV and FHIR
// NDJSON, with notes) in every mode and scans every output value for every
// identifier the generator planted.
func TestLeakSynth(t *testing.T) {
	for _, format := range []string{synth.FormatSyntheaCSV, synth.FormatFHIR} {
		dir := filepath.Join(t.TempDir(), "export")
		if _, err := synth.Generate(t.Context(), synth.Config{Patients: 300, Seed: 3, Format: format, Out: dir}); err != nil {
			t.Fatal(err)
		}
		for _, mode := range Modes {
			t.Run(format+"/"+string(mode), func(t *testing.T) {
				exp, err := source.Open(dir, source.FormatAuto)
				if err != nil {
					t.Fatal(err)
				}
				defer exp.Close()
				pol := Preset(mode, false, "2026-01-01")
				if mode == Expert {
					pol.KAnonymity.K = 3
					pol.KAnonymity.MaxSuppression = 0.1
				}
				out := filepath.Join(t.TempDir(), "out")
				rep, err := Run(t.Context(), exp, out, Config{Policy: pol, Key: testKey, SurrogateDir: t.TempDir()})
				if err != nil {
					t.Fatal(err)
				}
				if rep.Tables[source.Note] == nil || rep.Tables[source.Note].RowsOut == 0 {
					t.Fatal("no notes written")
				}
				// the identifiers spilled for scrubbing notes leave no file
				if left, _ := os.ReadDir(filepath.Dir(out)); len(left) != 1 {
					t.Errorf("beside the dataset: %v, want only the dataset", left)
				}
				p := collectIdentifiers(t, exp, mode)
				for _, n := range plantedInNotes(t, dir, mode) {
					if len(n) >= 4 {
						p.exact[n] = "identifier planted in a note"
					}
				}
				scanLeaks(t, out, rep, p, mode)
				if mode == Expert {
					checkKAnonymous(t, out, rep)
				}
			})
		}
	}
}

// plantedInNotes returns the text of every PHI span synth planted in notes
// (names of relatives and clinicians too), except ages, and in limited mode
// the towns, ZIP codes and dates that mode releases in the person table.
func plantedInNotes(t *testing.T, dir string, mode Mode) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, synth.PHIFile))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var np synth.NotePHI
		if err := json.Unmarshal([]byte(line), &np); err != nil {
			t.Fatal(err)
		}
		for _, s := range np.Spans {
			if s.Type == synth.PHIAge {
				continue
			}
			if mode == Limited && (s.Type == synth.PHICity || s.Type == synth.PHIZIP || s.Type == synth.PHIDate) {
				continue
			}
			out = append(out, s.Text)
		}
	}
	return out
}
