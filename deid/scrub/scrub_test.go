package scrub

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestScrubKinds(t *testing.T) {
	s := New(Config{})
	tests := []struct {
		name, in, want string
	}{
		{"email", "write to jane.doe@example.org today", "write to [EMAIL] today"},
		{"url", "see https://portal.example.org/p/123 now", "see [URL] now"},
		{"ip", "from 192.168.10.4 at night", "from [IP] at night"},
		{"ssn", "SSN 999-12-3456.", "SSN [ID]."},
		{"mrn", "MRN: 55728837 on file", "MRN: [ID] on file"},
		{"phone", "call (617) 555-0199 or 555.753.0076", "call [PHONE] or [PHONE]"},
		{"iso date", "seen 2021-03-04 again", "seen [DATE] again"},
		{"us date", "follow-up on 9/5/15.", "follow-up on [DATE]."},
		{"month date", "on January 19, 2021 she", "on [DATE] she"},
		{"day month", "DOB: 5 Jun 1989", "DOB: [DATE]"},
		{"old age", "a 93 year-old man", "a [AGE>89] man"},
		{"young age kept", "a 26 yo woman", "a 26 yo woman"},
		{"titled name", "Mrs. Okonkwo was seen", "Mrs. [NAME] was seen"},
		{"dictionary name", "her brother, Gregory Whitfield, called", "her brother, [NAME], called"},
		{"clinician", "Samantha Kelly, NP", "[NAME], NP"},
		{"synthea name", "Sumiko254 Larue605 is a", "[NAME] is a"},
		{"street", "lives at 671 Mill Terrace, Philadelphia, PA 19111.", "lives at [ADDRESS]."},
		{"clinical words kept", "Patient has a history of viral sinusitis (disorder).", "Patient has a history of viral sinusitis (disorder)."},
		{"doses kept", "acetaminophen 325 mg oral tablet; 10 ml", "acetaminophen 325 mg oral tablet; 10 ml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := s.Scrub(tt.in, nil)
			if got.Text != tt.want {
				t.Errorf("Scrub(%q) = %q, want %q", tt.in, got.Text, tt.want)
			}
			for _, sp := range got.Spans {
				if sp.Start < 0 || sp.End > len(tt.in) || sp.Start >= sp.End {
					t.Errorf("bad span %+v", sp)
				}
			}
		})
	}
}

func TestScrubIdentity(t *testing.T) {
	id := &Identity{
		Names:     []string{"Zubenelgenubi42", "Quillfeather"},
		IDs:       []string{"X12345678X"},
		Phones:    []string{"555-810-7203"},
		Addresses: []string{"633 Abernathy Landing", "Emporia"},
		Dates:     []CalendarDate{{1927, 5, 21}},
	}
	in := "zubenelgenubi quillfeather (passport X12345678X, tel 555 810 7203) of Emporia, born 05/21/1927, lives at 633 Abernathy Landing."
	got := New(Config{}).Scrub(in, id).Text
	for _, phi := range []string{"ubenel", "uillfeather", "X12345678X", "7203", "Emporia", "1927", "Abernathy"} {
		if strings.Contains(strings.ToLower(got), strings.ToLower(phi)) {
			t.Errorf("%q survives: %s", phi, got)
		}
	}
}

func TestJSONLPassThrough(t *testing.T) {
	in := `{"id":"n1","patient":"p1","text":"Call 555-753-0076 now","extra":[1,2]}` + "\n\n" + `{"id":2,"text":"nothing here"}` + "\n"
	var out bytes.Buffer
	st, err := New(Config{}).JSONL(t.Context(), strings.NewReader(in), &out, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Records != 2 || st.Spans[Phone] != 1 {
		t.Errorf("stats %+v", st)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var rec struct {
		ID    string          `json:"id"`
		Text  string          `json:"text"`
		Extra json.RawMessage `json:"extra"`
		Spans []Span          `json:"spans"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatal(err)
	}
	if rec.ID != "n1" || rec.Text != "Call [PHONE] now" || string(rec.Extra) != "[1,2]" || len(rec.Spans) != 1 || rec.Spans[0] != (Span{5, 17, Phone}) {
		t.Errorf("got %+v", rec)
	}
	for _, bad := range []string{"not json\n", `{"id":1}` + "\n", `{"text":3}` + "\n", "[1]\n"} {
		_, err := New(Config{}).JSONL(t.Context(), strings.NewReader(bad), &out, nil)
		if err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("%q: err = %v, want one naming line 1", bad, err)
		}
	}
}

func FuzzJSONL(f *testing.F) {
	f.Add([]byte(`{"id":"n1","text":"Mrs. White called 555-753-0076 on 2021-03-04"}` + "\n"))
	f.Add([]byte(`{"id":1,"text":"1038 Washington Lock, Springfield, MA 01104"}`))
	f.Add([]byte("{}\n"))
	s := New(Config{})
	f.Fuzz(func(t *testing.T, data []byte) {
		var out bytes.Buffer
		if _, err := s.JSONL(t.Context(), bytes.NewReader(data), &out, nil); err != nil {
			return
		}
		for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			if l == "" {
				continue
			}
			var rec struct {
				Text  string `json:"text"`
				Spans []Span `json:"spans"`
			}
			if err := json.Unmarshal([]byte(l), &rec); err != nil {
				t.Fatalf("output line is not JSON: %v", err)
			}
			last := 0
			for _, sp := range rec.Spans {
				if sp.Start < last || sp.End <= sp.Start {
					t.Fatalf("spans overlap or are empty: %+v", rec.Spans)
				}
				last = sp.End
			}
		}
	})
}

func FuzzScrub(f *testing.F) {
	f.Add("Mrs. White, 93 yo, 671 Mill Terrace, Philadelphia, PA 19111, 555-753-0076")
	f.Add("Sumiko254 Larue605 born 1927-05-21")
	s := New(Config{})
	f.Fuzz(func(t *testing.T, text string) {
		res := s.Scrub(text, &Identity{Names: []string{"White"}, Phones: []string{"5557530076"}})
		last := 0
		for _, sp := range res.Spans {
			if sp.Start < last || sp.End <= sp.Start || sp.End > len(text) {
				t.Fatalf("bad spans %+v for %q", res.Spans, text)
			}
			last = sp.End
		}
	})
}
