package scrub_test

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/cohortnet/cohortnet/deid"
	"github.com/cohortnet/cohortnet/deid/scrub"
	"github.com/cohortnet/cohortnet/deid/source"
	"github.com/cohortnet/cohortnet/internal/sampledata"
	"github.com/cohortnet/cohortnet/internal/synth"
)

func readJSONL[T any](t *testing.T, path string) []T {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []T
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	return out
}

// counts of one PHI type
type tally struct{ truth, found int }

// TestRecallPrecisionSynth scrubs the notes of a `cohortnet synth` export with
// each note's own patient's identifiers, as deid does, and measures recall
// (a true span counts as found when any scrubbed span overlaps it) and
// precision (a scrubbed span counts as right when it overlaps a true one).
// Ages under 90 are not PHI under HIPAA (only ages over 89 are), so synth's
// AGE spans below 90 count neither way.
func TestRecallPrecisionSynth(t *testing.T) {
	for _, c := range []struct {
		format   string
		identity bool
	}{{synth.FormatSyntheaCSV, true}, {synth.FormatFHIR, true}, {synth.FormatSyntheaCSV, false}} {
		format := c.format
		name := format + "/with-identities"
		if !c.identity {
			name = format + "/patterns-only"
		}
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "export")
			if _, err := synth.Generate(t.Context(), synth.Config{Patients: 150, Seed: 7, Format: format, Out: dir}); err != nil {
				t.Fatal(err)
			}
			exp, err := source.Open(dir, source.FormatAuto)
			if err != nil {
				t.Fatal(err)
			}
			ids, err := deid.Identities(t.Context(), exp)
			if err != nil {
				t.Fatal(err)
			}
			notes := readJSONL[synth.Note](t, filepath.Join(dir, synth.NotesFile))
			truth := map[string][]synth.Span{}
			for _, p := range readJSONL[synth.NotePHI](t, filepath.Join(dir, synth.PHIFile)) {
				truth[p.ID] = p.Spans
			}
			if len(notes) < 50 {
				t.Fatalf("only %d notes", len(notes))
			}
			s := scrub.New(scrub.Config{})
			byType := map[string]*tally{}
			predicted, correct := 0, 0
			missed := map[string][]string{}
			for _, n := range notes {
				var id *scrub.Identity
				if c.identity {
					id = ids[n.Patient]
				}
				res := s.Scrub(n.Text, id)
				for _, sp := range truth[n.ID] {
					if sp.Type == synth.PHIAge {
						if a, _ := strconv.Atoi(sp.Text); a < 90 {
							continue
						}
					}
					tl := byType[sp.Type]
					if tl == nil {
						tl = &tally{}
						byType[sp.Type] = tl
					}
					tl.truth++
					if overlaps(sp.Start, sp.End, res.Spans) {
						tl.found++
					} else if len(missed[sp.Type]) < 5 {
						missed[sp.Type] = append(missed[sp.Type], fmt.Sprintf("%q in %q", sp.Text, context(n.Text, sp.Start, sp.End)))
					}
				}
				for _, sp := range res.Spans {
					predicted++
					hit := false
					for _, tr := range truth[n.ID] {
						if sp.Start < tr.End && tr.Start < sp.End {
							hit = true
							break
						}
					}
					if hit {
						correct++
					} else if len(missed["false positive"]) < 8 {
						missed["false positive"] = append(missed["false positive"], fmt.Sprintf("%s %q", sp.Type, n.Text[sp.Start:sp.End]))
					}
				}
			}
			totalT, totalF := 0, 0
			types := make([]string, 0, len(byType))
			for ty := range byType {
				types = append(types, ty)
			}
			sort.Strings(types)
			for _, ty := range types {
				tl := byType[ty]
				totalT += tl.truth
				totalF += tl.found
				t.Logf("%-8s recall %.4f (%d of %d)", ty, float64(tl.found)/float64(tl.truth), tl.found, tl.truth)
			}
			recall := float64(totalF) / float64(totalT)
			precision := float64(correct) / float64(predicted)
			t.Logf("overall recall %.4f (%d of %d), precision %.4f (%d of %d)", recall, totalF, totalT, precision, correct, predicted)
			if recall < 0.97 || precision < 0.75 {
				for k, v := range missed {
					t.Logf("%s: %s", k, strings.Join(v, "; "))
				}
				t.Errorf("recall %.4f (want ≥ 0.97), precision %.4f (want ≥ 0.75)", recall, precision)
			}
		})
	}
}

func overlaps(a, b int, spans []scrub.Span) bool {
	for _, s := range spans {
		if s.Start < b && a < s.End {
			return true
		}
	}
	return false
}

func context(text string, a, b int) string {
	return text[max(0, a-25):min(len(text), b+25)]
}

// TestRealSyntheaNotes scrubs the DocumentReference notes of fhir-bulk-10
// (real Synthea output) with each patient's identifiers from Patient.000.ndjson
// and checks that no name, phone, address or birth date of the note's own
// patient survives.
func TestRealSyntheaNotes(t *testing.T) {
	dir := sampledata.Dir(t, "fhir-bulk-10")
	type patient struct {
		ID   string `json:"id"`
		Name []struct {
			Family string   `json:"family"`
			Given  []string `json:"given"`
			Prefix []string `json:"prefix"`
		} `json:"name"`
		Telecom []struct {
			Value string `json:"value"`
		} `json:"telecom"`
		BirthDate string `json:"birthDate"`
		Address   []struct {
			Line       []string `json:"line"`
			City       string   `json:"city"`
			PostalCode string   `json:"postalCode"`
		} `json:"address"`
	}
	type docRef struct {
		Subject struct {
			Reference string `json:"reference"`
		} `json:"subject"`
		Content []struct {
			Attachment struct {
				Data string `json:"data"`
			} `json:"attachment"`
		} `json:"content"`
	}
	exp, err := source.Open(dir, source.FormatAuto)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := deid.Identities(t.Context(), exp)
	if err != nil {
		t.Fatal(err)
	}
	patients := map[string]patient{}
	for _, p := range readJSONL[patient](t, filepath.Join(dir, "Patient.000.ndjson")) {
		patients[p.ID] = p
	}
	s := scrub.New(scrub.Config{})
	checked := 0
	for _, d := range readJSONL[docRef](t, filepath.Join(dir, "DocumentReference.000.ndjson")) {
		pid := strings.TrimPrefix(d.Subject.Reference, "Patient/")
		p, ok := patients[pid]
		if !ok || len(d.Content) == 0 {
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(d.Content[0].Attachment.Data)
		if err != nil {
			t.Fatal(err)
		}
		out := s.Scrub(string(raw), ids[pid]).Text
		var phi []string
		for _, n := range p.Name {
			phi = append(phi, n.Family)
			phi = append(phi, n.Given...)
		}
		for _, tc := range p.Telecom {
			phi = append(phi, tc.Value)
		}
		for _, a := range p.Address {
			phi = append(phi, a.Line...)
			phi = append(phi, a.City, a.PostalCode)
		}
		phi = append(phi, p.BirthDate)
		for _, v := range phi {
			if len(v) >= 3 && strings.Contains(out, v) {
				t.Errorf("note of patient %s still holds %q", pid[:8], v)
			}
			// Synthea's names carry digits; the bare name must go too
			if bare := strings.TrimRight(v, "0123456789"); len(bare) >= 3 && bare != v && containsWord(out, bare) {
				t.Errorf("note of patient %s still holds the name %q", pid[:8], bare)
			}
		}
		checked++
	}
	if checked < 10 {
		t.Fatalf("checked %d notes", checked)
	}
	t.Logf("checked %d real notes", checked)
}

func containsWord(text, w string) bool {
	for off := 0; ; {
		i := strings.Index(text[off:], w)
		if i < 0 {
			return false
		}
		a, b := off+i, off+i+len(w)
		if (a == 0 || !isLetter(text[a-1])) && (b == len(text) || !isLetter(text[b])) {
			return true
		}
		off = b
	}
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
