package deid

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cohortnet/cohortnet/deid/source"
)

func loadTablePolicy(t *testing.T, path string) *TablePolicy {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParseTablePolicy(b)
	if err != nil {
		t.Fatal(err)
	}
	for c, f := range p.Hierarchies { // relative to the policy file, as the command reads them
		p.Hierarchies[c] = filepath.Join(filepath.Dir(path), f)
	}
	return p
}

// `deid table` on the hand-worked table: ages to decades, sex kept, the two
// 40-49 records suppressed (see TestSearchHandWorked).
func TestRunTableHandWorked(t *testing.T) {
	exp, err := source.Open("testdata/table/people.csv", source.FormatTable)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	rep, err := RunTable(t.Context(), exp, out, TableConfig{Policy: loadTablePolicy(t, "testdata/table/policy.yaml"), Key: testKey})
	if err != nil {
		t.Fatal(err)
	}
	rows := readTable(t, out, source.FormatTable)
	if len(rows) != 6 {
		t.Fatalf("rows = %d, want 6", len(rows))
	}
	want := [][2]any{{"20-29", "M"}, {"20-29", "M"}, {"20-29", "M"}, {"30-39", "F"}, {"30-39", "F"}, {"30-39", "F"}}
	for i, r := range rows {
		if r["age"] != want[i][0] || r["sex"] != want[i][1] {
			t.Errorf("row %d = %v %v, want %v", i, r["age"], r["sex"], want[i])
		}
		if _, ok := r["name"]; ok {
			t.Error("name not dropped")
		}
		if v, _ := r["visit"].(string); strings.HasPrefix(v, "a") && len(v) < 5 {
			t.Errorf("visit id %q not pseudonymized", v)
		}
	}
	kr := rep.KAnonymity
	if kr.Levels["age"] != 1 || kr.Levels["sex"] != 0 || kr.KAchieved != 3 || rep.Suppressed.KAnonymity != 2 || kr.Loss != 0.4375 {
		t.Errorf("report k-anonymity = %+v, suppressed %d", kr, rep.Suppressed.KAnonymity)
	}
	if rep.Risk.Prosecutor.Highest != round6(1.0/3) {
		t.Errorf("prosecutor risk = %v", rep.Risk.Prosecutor.Highest)
	}
	// no population table: the report says journalist risk is the
	// prosecutor risk and why
	if rep.Risk.Model != RiskModelSample || rep.Risk.Journalist != rep.Risk.Prosecutor {
		t.Errorf("risk model %q, journalist %+v, prosecutor %+v", rep.Risk.Model, rep.Risk.Journalist, rep.Risk.Prosecutor)
	}
}

func TestRunTableErrors(t *testing.T) {
	tests := []struct {
		name, policy, wantErr string
	}{
		{"unlisted column", "k: 2\ncolumns: {name: drop, age: keep, sex: keep, diagnosis: keep}\n", `column "visit" of the table is not in the policy`},
		{"unknown column", "k: 2\ncolumns: {name: drop, age: keep, sex: keep, diagnosis: keep, visit: keep, zip: keep}\n", `unknown column "zip"`},
		{"missing value", "k: 2\ncolumns: {name: drop, age: generalize, sex: keep, diagnosis: keep, visit: keep}\nhierarchies: {age: testdata/table/sex.csv}\n", `misses the value`},
		{"bad transform", "k: 2\ncolumns: {name: blur}\n", `transform "blur"`},
		{"not yaml", "k: [\n", "invalid policy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pol, err := ParseTablePolicy([]byte(tt.policy))
			if err == nil {
				exp, oerr := source.Open("testdata/table/people.csv", source.FormatTable)
				if oerr != nil {
					t.Fatal(oerr)
				}
				_, err = RunTable(t.Context(), exp, filepath.Join(t.TempDir(), "out"), TableConfig{Policy: pol, Key: testKey})
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if !errors.Is(err, ErrPolicy) && !errors.Is(err, ErrHierarchy) {
				t.Errorf("err does not wrap ErrPolicy or ErrHierarchy: %v", err)
			}
		})
	}
}
