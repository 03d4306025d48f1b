package cohort

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestCatalogSearch publishes as two institutions into one store (as a node
// holds its own datasets and those it received) and searches the summaries.
func TestCatalogSearch(t *testing.T) {
	st := newStore(t)
	dir := writeDataset(t, ModeSafeHarbor)
	a := testSigner(t)
	b := testSigner(t)
	b.Institution, b.Name = "hospital-b", "Hospital B"
	for _, p := range []struct {
		who   Signer
		name  string
		title string
	}{{a, "synthea", "Synthea sample"}, {a, "other", "Another cohort"}, {b, "synthea", "Synthea at B"}} {
		if _, err := Publish(t.Context(), st, p.who, PublishOptions{Dir: dir, Name: p.name, Title: p.title, Access: AccessOpen, Now: fixedNow}); err != nil {
			t.Fatal(err)
		}
	}
	cat, err := st.Catalog(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got := cat.Datasets(); !slices.Equal(got, []string{"hospital-a/other", "hospital-a/synthea", "hospital-b/synthea"}) {
		t.Fatalf("datasets = %v", got)
	}
	names := func(es []Entry) []string {
		var out []string
		for _, e := range es {
			out = append(out, e.Manifest.Name)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		f    Filter
		want []string
	}{
		{"all", Filter{}, []string{"hospital-a/other", "hospital-a/synthea", "hospital-b/synthea"}},
		{"institution", Filter{Institution: "hospital-b"}, []string{"hospital-b/synthea"}},
		{"condition by code", Filter{Condition: "73595000", Institution: "hospital-a"}, []string{"hospital-a/other", "hospital-a/synthea"}},
		{"condition by text, any case", Filter{Condition: "STRESS", Institution: "hospital-b"}, []string{"hospital-b/synthea"}},
		{"condition below the small-count threshold is not in the summary", Filter{Condition: "pharyngitis"}, nil},
		{"drug (none in the sample summary)", Filter{Drug: "metformin"}, nil},
		{"min persons met", Filter{MinPersons: 27, Institution: "hospital-b"}, []string{"hospital-b/synthea"}},
		{"min persons not met", Filter{MinPersons: 28}, nil},
		{"text", Filter{Text: "another"}, []string{"hospital-a/other"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := names(cat.Search(tc.f)); !slices.Equal(got, tc.want) {
				t.Errorf("Search = %v, want %v", got, tc.want)
			}
		})
	}
	l := cat.Search(Filter{Institution: "hospital-b"})[0].Listing()
	if l.Persons != 27 || l.Publisher != "Hospital B" || l.Access != AccessOpen || l.Mode != ModeSafeHarbor || l.Tables != 2 || l.Rows != 27+438 {
		t.Errorf("listing = %+v", l)
	}
}

func TestCatalogSkipsForgedManifest(t *testing.T) {
	st := newStore(t)
	p, err := Publish(t.Context(), st, testSigner(t), PublishOptions{Dir: writeDataset(t, ModeExpert), Name: "synthea", Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	damage(t, st.manifestPath(p.CID), func(b []byte) []byte { b[len(b)-1] ^= 1; return b })
	cat, err := st.Catalog(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(cat.Datasets()) != 0 || len(cat.Problems) != 1 {
		t.Errorf("datasets %v, problems %v: a forged manifest must be left out and reported", cat.Datasets(), cat.Problems)
	}
	if _, err := cat.Resolve("hospital-a/synthea"); !errors.Is(err, ErrUnknownDataset) {
		t.Errorf("Resolve = %v", err)
	}
}

func FuzzParseReport(f *testing.F) {
	dir := writeDataset(f, ModeExpert)
	b, err := os.ReadFile(filepath.Join(dir, ReportName))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`{"format":"cohortnet-deid-report/1","mode":"limited","files":[{"path":"a","table":"t","sha256":"00"}]}`))
	f.Add([]byte(`{"format":"cohortnet-deid-report/1","mode":"expert","risk":null,"summary":{"conditions":[{}]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseReport(b)
		if err != nil {
			return
		}
		r.summary()
		r.highestRisk()
	})
}
