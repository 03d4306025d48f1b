package cohort

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
)

var fixedNow = func() time.Time { return time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC) }

func testSigner(t testing.TB) Signer {
	k, _ := newKey(t)
	return Signer{Key: k, Institution: "hospital-a", Name: "Hospital A"}
}

func TestPublishAndVersionChain(t *testing.T) {
	dir := writeDataset(t, ModeExpert)
	st := newStore(t)
	who := testSigner(t)
	opts := PublishOptions{Dir: dir, Name: "synthea", Title: "Synthea 27", License: "CC0-1.0", Access: AccessRegistered, Now: fixedNow}
	v1, err := Publish(t.Context(), st, who, opts)
	if err != nil {
		t.Fatal(err)
	}
	m := v1.Manifest
	if m.Name != "hospital-a/synthea" || m.Version != 1 || m.Previous != nil {
		t.Errorf("v1: %s version %d previous %v", m.Name, m.Version, m.Previous)
	}
	if v1.Files != 4 {
		t.Errorf("files = %d, want 2 Parquet files, the policy and the report", v1.Files)
	}
	if len(m.Tables) != 2 || m.Tables[0].Name != "condition_occurrence" || m.Tables[1].Name != "person" {
		t.Fatalf("tables = %+v", m.Tables)
	}
	if m.Tables[1].Rows != 27 || m.Summary == nil || m.Summary.Persons != 27 {
		t.Errorf("person rows %d, summary %+v", m.Tables[1].Rows, m.Summary)
	}
	if got := m.Tables[1].Schema[2]; got != (Field{"year_of_birth", "int32", true}) {
		t.Errorf("person schema field 2 = %+v", got)
	}
	for _, c := range m.Summary.Conditions {
		if c.Count < MinSummaryCount {
			t.Errorf("summary shows a small count: %+v", c)
		}
	}
	if m.Deid.Mode != ModeExpert || *m.Deid.KAchieved != 12 || *m.Deid.HighestRisk != 0.0833 || m.Deid.Policy == nil || m.Deid.Report == nil {
		t.Errorf("deid = %+v", m.Deid)
	}
	for _, f := range m.Files() {
		data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f.Path)))
		if err != nil {
			t.Fatal(err)
		}
		if f.CID.String() != wantCID(data) || !st.Has(f.CID) {
			t.Errorf("%s: cid %s, want %s (in store: %v)", f.Path, f.CID, wantCID(data), st.Has(f.CID))
		}
	}
	if probs, err := VerifyDataset(t.Context(), st, v1.CID); err != nil || len(probs) != 0 {
		t.Errorf("verify a fresh publication: %v %v", probs, err)
	}

	// Publishing the same name again makes version 2 pointing at version 1.
	opts.Title = "Synthea 27, again"
	v2, err := Publish(t.Context(), st, who, opts)
	if err != nil {
		t.Fatal(err)
	}
	if v2.Manifest.Version != 2 || v2.Manifest.Previous == nil || *v2.Manifest.Previous != v1.CID {
		t.Errorf("v2: version %d previous %v, want 2 and %s", v2.Manifest.Version, v2.Manifest.Previous, v1.CID)
	}
	cat, err := st.Catalog(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ref  string
		want cid.Cid
	}{
		{"hospital-a/synthea", v2.CID},
		{"hospital-a/synthea@1", v1.CID},
		{"hospital-a/synthea@2", v2.CID},
		{v1.CID.String(), v1.CID},
	} {
		e, err := cat.Resolve(tc.ref)
		if err != nil || e.CID != tc.want {
			t.Errorf("Resolve(%s) = %v, %v; want %s", tc.ref, e.CID, err, tc.want)
		}
	}
	if _, err := cat.Resolve("hospital-a/synthea@3"); !errors.Is(err, ErrUnknownDataset) {
		t.Errorf("Resolve(@3) = %v", err)
	}

	// Retracting v2 makes v1 the latest again; the next version is still 3.
	if err := st.Retract(v2.CID, "test"); err != nil {
		t.Fatal(err)
	}
	cat, _ = st.Catalog(t.Context())
	if e, err := cat.Latest("hospital-a/synthea"); err != nil || e.CID != v1.CID {
		t.Errorf("latest after retracting v2 = %v, %v", e.CID, err)
	}
	v3, err := Publish(t.Context(), st, who, opts)
	if err != nil || v3.Manifest.Version != 3 || *v3.Manifest.Previous != v2.CID {
		t.Errorf("v3 after a retraction: %+v %v", v3, err)
	}

	// Another node cannot continue this node's dataset.
	if _, err := Publish(t.Context(), st, testSigner(t), opts); !errors.Is(err, ErrRefused) {
		t.Errorf("publish by another key = %v, want refused", err)
	}
}

func TestPublishRefuses(t *testing.T) {
	editReport := func(t *testing.T, dir string, f func(r map[string]any)) {
		p := filepath.Join(dir, ReportName)
		b, _ := os.ReadFile(p)
		var r map[string]any
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatal(err)
		}
		f(r)
		b, _ = json.Marshal(r)
		os.WriteFile(p, b, 0o644)
	}
	file0 := func(r map[string]any) map[string]any { return r["files"].([]any)[0].(map[string]any) }
	for _, tc := range []struct {
		name   string
		mode   string
		opts   PublishOptions
		change func(t *testing.T, dir string)
		want   string // text the refusal must contain
	}{
		{"no report", ModeExpert, PublishOptions{}, func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, ReportName))
		}, "--no-deid-report"},
		{"report and --no-deid-report", ModeExpert, PublishOptions{NoDeidReport: "plain table"}, nil, "drop --no-deid-report"},
		{"listed file missing", ModeExpert, PublishOptions{}, func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "person", "part-0000.parquet"))
		}, "person/part-0000.parquet: listed in deid-report.json but missing"},
		{"extra Parquet file", ModeExpert, PublishOptions{}, func(t *testing.T, dir string) {
			b, _ := os.ReadFile(filepath.Join(dir, "person", "part-0000.parquet"))
			os.WriteFile(filepath.Join(dir, "person", "part-0001.parquet"), b, 0o644)
		}, "person/part-0001.parquet: not listed"},
		{"file changed after de-identification", ModeExpert, PublishOptions{}, func(t *testing.T, dir string) {
			p := filepath.Join(dir, "condition_occurrence", "part-0000.parquet")
			b, _ := os.ReadFile(p)
			b[len(b)/2] ^= 1
			os.WriteFile(p, b, 0o644)
		}, "condition_occurrence/part-0000.parquet: sha256"},
		{"columns differ from the report", ModeExpert, PublishOptions{}, func(t *testing.T, dir string) {
			editReport(t, dir, func(r map[string]any) { file0(r)["columns"] = []string{"person_id"} })
		}, "condition_occurrence/part-0000.parquet: columns"},
		{"rows differ from the report", ModeExpert, PublishOptions{}, func(t *testing.T, dir string) {
			editReport(t, dir, func(r map[string]any) { file0(r)["rows"] = 1 })
		}, "condition_occurrence/part-0000.parquet: 438 rows, the report says 1"},
		{"limited mode as registered", ModeLimited, PublishOptions{Access: AccessRegistered}, nil, "access registered is looser than a limited-mode dataset allows"},
		{"limited mode as open", ModeLimited, PublishOptions{Access: AccessOpen}, nil, "looser"},
		{"expert mode as open", ModeExpert, PublishOptions{Access: AccessOpen}, nil, "looser"},
		{"no report as registered", ModeExpert, PublishOptions{NoDeidReport: "plain table", Access: AccessRegistered}, func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, ReportName))
		}, "looser than a dataset without a de-identification report allows"},
		{"report of another format", ModeExpert, PublishOptions{}, func(t *testing.T, dir string) {
			editReport(t, dir, func(r map[string]any) { r["format"] = "something/2" })
		}, "format"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeDataset(t, tc.mode)
			if tc.change != nil {
				tc.change(t, dir)
			}
			st := newStore(t)
			tc.opts.Dir, tc.opts.Name, tc.opts.Now = dir, "synthea", fixedNow
			_, err := Publish(t.Context(), st, testSigner(t), tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Publish = %v, want a refusal containing %q", err, tc.want)
			}
			cat, _ := st.Catalog(t.Context())
			if len(cat.Datasets()) != 0 {
				t.Error("a refused publication entered the catalogue")
			}
		})
	}
}

func TestPublishAllowed(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mode   string
		opts   PublishOptions
		noRep  bool
		access string
	}{
		{"safe harbor as open", ModeSafeHarbor, PublishOptions{Access: AccessOpen}, false, AccessOpen},
		{"limited as aggregate-only", ModeLimited, PublishOptions{Access: AccessAggregateOnly}, false, AccessAggregateOnly},
		{"default tier is restricted", ModeExpert, PublishOptions{}, false, AccessRestricted},
		{"no report with a reason", ModeExpert, PublishOptions{NoDeidReport: "aggregate registry extract, no persons"}, true, AccessRestricted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeDataset(t, tc.mode)
			if tc.noRep {
				os.Remove(filepath.Join(dir, ReportName))
				os.Remove(filepath.Join(dir, PolicyName))
			}
			tc.opts.Dir, tc.opts.Name, tc.opts.Now = dir, "hospital-a/synthea", fixedNow
			st := newStore(t)
			p, err := Publish(t.Context(), st, testSigner(t), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if p.Manifest.Access != tc.access {
				t.Errorf("access = %s, want %s", p.Manifest.Access, tc.access)
			}
			if tc.noRep && (p.Manifest.Deid.Mode != ModeNone || *p.Manifest.Deid.NoReportReason != tc.opts.NoDeidReport || p.Manifest.Summary != nil) {
				t.Errorf("deid without a report = %+v", p.Manifest.Deid)
			}
		})
	}
}
