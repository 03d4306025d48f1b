package deid

import (
	"errors"
	"strings"
	"testing"

	"github.com/cohortnet/cohortnet/deid/source"
)

func TestParsePolicy(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantErr string // substring; "" means valid
		check   func(t *testing.T, p *Policy)
	}{
		{name: "empty is the expert preset", yaml: "", check: func(t *testing.T, p *Policy) {
			if p.Mode != Expert || p.KAnonymity == nil || p.KAnonymity.K != 11 || p.Tables[source.Visit]["visit_start_date"] != Shift {
				t.Errorf("got %+v", p)
			}
		}},
		{name: "safe-harbor preset", yaml: "mode: safe-harbor\n", check: func(t *testing.T, p *Policy) {
			if p.Tables[source.Person]["person_id"] != Surrogate || p.Tables[source.Visit]["visit_start_year"] != Year || p.AgeTopCode != 90 {
				t.Errorf("got %+v", p.Tables[source.Person])
			}
			if _, ok := p.Tables[source.Person]["birth_date"]; ok {
				t.Error("safe-harbor has birth_date")
			}
		}},
		{name: "safe-harbor intervals", yaml: "mode: safe-harbor\nintervals: true\n", check: func(t *testing.T, p *Policy) {
			if p.Tables[source.Condition]["condition_start_day"] != Day {
				t.Errorf("got %v", p.Tables[source.Condition])
			}
		}},
		{name: "drop a column", yaml: "tables:\n  person:\n    race: drop\n", check: func(t *testing.T, p *Policy) {
			if p.Tables[source.Person]["race"] != Drop || p.Tables[source.Person]["gender"] != Keep {
				t.Errorf("got %v", p.Tables[source.Person])
			}
		}},
		{name: "limited may shift", yaml: "mode: limited\ntables:\n  visit_occurrence:\n    visit_start_date: shift\n    visit_end_date: shift\n"},
		{name: "k settings", yaml: "k_anonymity:\n  k: 5\n  max_suppression: 0.1\n  quasi_identifiers: [year_of_birth, gender]\n", check: func(t *testing.T, p *Policy) {
			if p.KAnonymity.K != 5 || len(p.KAnonymity.QuasiIdentifiers) != 2 {
				t.Errorf("got %+v", p.KAnonymity)
			}
		}},
		{name: "not yaml", yaml: "mode: [", wantErr: "invalid policy"},
		{name: "unknown field", yaml: "mdoe: expert\n", wantErr: "field mdoe not found"},
		{name: "unknown mode", yaml: "mode: lax\n", wantErr: `mode "lax"`},
		{name: "unknown table", yaml: "tables:\n  patients:\n    x: keep\n", wantErr: `unknown table "patients"`},
		{name: "unknown column", yaml: "tables:\n  person:\n    ssn: keep\n", wantErr: `unknown column "ssn"`},
		{name: "safe-harbor column name", yaml: "mode: safe-harbor\ntables:\n  person:\n    death_date: keep\n", wantErr: `unknown column "death_date"`},
		{name: "transform not allowed", yaml: "mode: safe-harbor\ntables:\n  visit_occurrence:\n    visit_start_year: keep\n", wantErr: `transform "keep" is not allowed`},
		{name: "keep dates in expert", yaml: "tables:\n  condition_occurrence:\n    condition_start_date: keep\n", wantErr: "not allowed in mode expert"},
		{name: "bad reference date", yaml: "reference_date: 2026-13-01\n", wantErr: "reference_date"},
		{name: "intervals outside safe-harbor", yaml: "intervals: true\n", wantErr: "intervals apply to safe-harbor"},
		{name: "safe-harbor without top-coding", yaml: "mode: safe-harbor\nage_top_code: 0\n", wantErr: "age_top_code"},
		{name: "small shift", yaml: "date_shift_days: 30\n", wantErr: "date_shift_days"},
		{name: "bad suppression", yaml: "k_anonymity:\n  k: 5\n  max_suppression: 2\n", wantErr: "max_suppression"},
		{name: "qi not a person column", yaml: "k_anonymity:\n  k: 5\n  quasi_identifiers: [ssn]\n", wantErr: `quasi-identifier "ssn"`},
		{name: "qi dropped", yaml: "tables:\n  person:\n    race: drop\nk_anonymity:\n  k: 5\n  quasi_identifiers: [race]\n", wantErr: "dropped"},
		{name: "hierarchy for a non-qi", yaml: "k_anonymity:\n  k: 5\n  quasi_identifiers: [gender]\n  hierarchies: {race: r.csv}\n", wantErr: "not a quasi-identifier"},
		{name: "wrong format", yaml: "format: other/2\n", wantErr: "format"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParsePolicy([]byte(tt.yaml), &Policy{Mode: Expert, ReferenceDate: "2026-01-01"})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrPolicy) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				if strings.Count(err.Error(), "\n") > 0 {
					t.Errorf("error spans lines: %q", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.check != nil {
				tt.check(t, p)
			}
		})
	}
}

// The applied policy written to policy.yaml reads back as the same policy.
func TestPolicyRoundTrip(t *testing.T) {
	for _, m := range Modes {
		p := Preset(m, false, "2026-01-01")
		b, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		q, err := ParsePolicy(b, nil)
		if err != nil {
			t.Fatalf("%s: %v\n%s", m, err, b)
		}
		b2, _ := q.Marshal()
		if string(b) != string(b2) {
			t.Errorf("%s: policy changed on a round trip:\n%s\n---\n%s", m, b, b2)
		}
	}
}

func FuzzParsePolicy(f *testing.F) {
	for _, m := range Modes {
		b, _ := Preset(m, m == SafeHarbor, "2026-01-01").Marshal()
		f.Add(b)
	}
	f.Add([]byte("mode: safe-harbor\ntables:\n  person:\n    race: drop\n"))
	f.Add([]byte("k_anonymity:\n  k: 5\n  quasi_identifiers: [gender]\n"))
	f.Add([]byte("mode: [\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePolicy(data, &Policy{ReferenceDate: "2026-01-01"})
		if err != nil {
			if !errors.Is(err, ErrPolicy) {
				t.Fatalf("error does not wrap ErrPolicy: %v", err)
			}
			return
		}
		// a valid policy encodes and reads back valid and equal
		b, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		q, err := ParsePolicy(b, nil)
		if err != nil {
			t.Fatalf("re-parse: %v\n%s", err, b)
		}
		b2, _ := q.Marshal()
		if string(b) != string(b2) {
			t.Fatalf("round trip changed the policy")
		}
	})
}
