package deid

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cohortnet/cohortnet/deid/source"
)

// TestVisitSurrogatesRepublished: safe-harbor visit ids are random, stay the
// same when the export is published again, and stay the same for the old
// visits when new ones arrive (in the visit table and only in another table).
func TestVisitSurrogatesRepublished(t *testing.T) {
	pol := Preset(SafeHarbor, false, "2026-01-01")
	surr := t.TempDir()
	visitIDs := func(exp *memExport) map[string]string {
		t.Helper()
		out := filepath.Join(t.TempDir(), "out")
		if _, err := Run(t.Context(), exp, out, Config{Policy: pol, Key: testKey, SurrogateDir: surr}); err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		// visit rows come out in input order, orphans (V6) left out
		var src []string
		for _, row := range exp.rows[source.Visit] {
			if row["source_person_id"] != "NOBODY" {
				src = append(src, row["source_visit_id"].(string))
			}
		}
		for i, row := range readTable(t, out, source.Visit) {
			got[src[i]] = row["visit_occurrence_id"].(string)
		}
		for i, row := range readTable(t, out, source.Condition) {
			got[fmt.Sprintf("condition/%d", i)] = row["visit_occurrence_id"].(string)
		}
		return got
	}
	first := visitIDs(handExport())
	if len(first) != 5+3 {
		t.Fatalf("got %d visit ids: %v", len(first), first)
	}
	seen := map[string]bool{}
	for src, id := range first {
		if len(id) != pseudonymChars {
			t.Errorf("%s: surrogate %q", src, id)
		}
		if id == Pseudonym(testKey, "visit", src) {
			t.Errorf("%s: surrogate is the keyed pseudonym", src)
		}
		seen[id] = true
	}
	if len(seen) != 5 { // the conditions point at V2, V3, V4
		t.Errorf("%d distinct surrogates for 5 visits", len(seen))
	}
	for i, v := range []string{"V2", "V3", "V4"} {
		if c := fmt.Sprintf("condition/%d", i); first[c] != first[v] {
			t.Errorf("%s's visit id %s does not join to %s %s", c, first[c], v, first[v])
		}
	}
	if again := visitIDs(handExport()); fmt.Sprint(again) != fmt.Sprint(first) {
		t.Errorf("second publication changed visit ids:\n%v\n%v", first, again)
	}

	// new visits: V7 in the visit table, V8 only on a condition
	exp := handExport()
	exp.rows[source.Visit] = append(exp.rows[source.Visit], map[string]any{"source_visit_id": "V7", "source_person_id": "P2",
		"visit_type": "inpatient", "visit_start_date": day("2021-03-01")})
	exp.rows[source.Condition] = append(exp.rows[source.Condition], map[string]any{"source_person_id": "P4", "source_visit_id": "V8",
		"condition_vocabulary": "SNOMED", "condition_code": "195662009", "condition_name": "Pharyngitis", "condition_start_date": day("2022-01-01")})
	third := visitIDs(exp)
	for _, v := range []string{"V1", "V2", "V3", "V4", "V5"} {
		if third[v] != first[v] {
			t.Errorf("%s changed from %s to %s when new visits came", v, first[v], third[v])
		}
	}
	if third["V7"] == "" || seen[third["V7"]] || third["condition/3"] == "" || seen[third["condition/3"]] || third["V7"] == third["condition/3"] {
		t.Errorf("new visits got %q and %q", third["V7"], third["condition/3"])
	}
	if fourth := visitIDs(exp); fmt.Sprint(fourth) != fmt.Sprint(third) {
		t.Errorf("third publication changed visit ids:\n%v\n%v", third, fourth)
	}
	// the mapping holds keyed hashes, never the source ids
	b, err := os.ReadFile(filepath.Join(surr, "visit.sur"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte(`"V7"`)) || (len(b)-surHeader)/surRecord != 7 {
		t.Errorf("visit.sur: %d bytes, want the header and 7 records of hashes", len(b))
	}
}

// TestVisitSurrogatesSpill registers more ids than fit one sort chunk, in
// several runs with repeats, looks up ids registered and not, and reopens.
func TestVisitSurrogatesSpill(t *testing.T) {
	defer func(n int) { sortChunk = n }(sortChunk)
	sortChunk = 37
	dir := t.TempDir()
	v, err := openSurrogates(dir, visitDomain)
	if err != nil {
		t.Fatal(err)
	}
	ids := func(from, to int) func(add func(string) error) error {
		return func(add func(string) error) error {
			for i := from; i < to; i++ {
				for range 1 + i%3 { // repeats
					if err := add(fmt.Sprintf("visit-%d", i)); err != nil {
						return err
					}
				}
			}
			return nil
		}
	}
	if err := v.register(ids(0, 500)); err != nil {
		t.Fatal(err)
	}
	if v.n != 500 {
		t.Fatalf("%d records, want 500", v.n)
	}
	want := map[string][pseudonymBytes]byte{}
	for i := range 500 {
		id := fmt.Sprintf("visit-%d", i)
		if want[id], err = v.get(id); err != nil {
			t.Fatal(err)
		}
	}
	if err := v.register(ids(300, 900)); err != nil {
		t.Fatal(err)
	}
	extra, err := v.get("only-at-lookup")
	if err != nil {
		t.Fatal(err)
	}
	if err := v.save(); err != nil {
		t.Fatal(err)
	}
	v.close()
	if v, err = openSurrogates(dir, visitDomain); err != nil {
		t.Fatal(err)
	}
	defer v.close()
	if v.n != 901 {
		t.Errorf("%d records, want 901", v.n)
	}
	distinct := map[[pseudonymBytes]byte]bool{}
	for i := range 900 {
		id := fmt.Sprintf("visit-%d", i)
		got, ok, err := v.find(v.hash(id))
		if err != nil || !ok {
			t.Fatalf("%s: not found (%v)", id, err)
		}
		if w, had := want[id]; had && got != w {
			t.Errorf("%s: surrogate changed", id)
		}
		distinct[got] = true
	}
	if got, ok, _ := v.find(v.hash("only-at-lookup")); !ok || got != extra {
		t.Errorf("the surrogate drawn at lookup was not kept")
	}
	if len(distinct) != 900 {
		t.Errorf("%d distinct surrogates for 900 visits", len(distinct))
	}
}

// TestVisitSurrogatesLegacy moves an earlier version's visit.map into
// visit.sur with its surrogates.
func TestVisitSurrogatesLegacy(t *testing.T) {
	dir := t.TempDir()
	old := Pseudonym(testKey, "x", "y") // any 24-character id
	if err := os.WriteFile(filepath.Join(dir, "visit.map"), []byte(`"V1"`+"\t"+old+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	v, err := openSurrogates(dir, visitDomain)
	if err != nil {
		t.Fatal(err)
	}
	defer v.close()
	got, err := v.get("V1")
	if err != nil {
		t.Fatal(err)
	}
	if pseudonymEncoding.EncodeToString(got[:]) != old {
		t.Errorf("V1 = %s, want the legacy %s", pseudonymEncoding.EncodeToString(got[:]), old)
	}
	if _, err := os.Stat(filepath.Join(dir, "visit.map")); err == nil {
		t.Error("visit.map left in place")
	}
}

// TestSurrogatesDamaged: a damaged surrogate file, key or legacy mapping is
// one clear error naming the file, never the source ids, in both domains.
func TestSurrogatesDamaged(t *testing.T) {
	ids := []string{"secret-id-1", "secret-id-2", "secret-id-3"}
	cases := []struct {
		name, file string
		damage     func(b []byte) []byte
		want       string
	}{
		{"cut short", ".sur", func(b []byte) []byte { return b[:len(b)-3] }, "cut short"},
		{"header", ".sur", func(b []byte) []byte { b[3] ^= 1; return b }, "not a surrogate file"},
		{"out of order", ".sur", func(b []byte) []byte {
			r := b[surHeader:]
			a := slices.Clone(r[:surRecord])
			copy(r[:surRecord], r[surRecord:2*surRecord])
			copy(r[surRecord:2*surRecord], a)
			return b
		}, "out of order"},
		{"key", ".key", func(b []byte) []byte { return b[:31] }, "damaged key"},
		{"legacy map", ".map", func([]byte) []byte { return []byte("\"secret-id-9\"\tX\n") }, "line 1: damaged mapping"},
	}
	for _, domain := range []string{personDomain, visitDomain} {
		for _, c := range cases {
			t.Run(domain+"/"+c.name, func(t *testing.T) {
				dir := t.TempDir()
				v, err := openSurrogates(dir, domain)
				if err != nil {
					t.Fatal(err)
				}
				err = v.register(func(add func(string) error) error {
					for _, id := range ids {
						if err := add(id); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				v.close()
				path := filepath.Join(dir, domain+c.file)
				b, _ := os.ReadFile(path)
				if err := os.WriteFile(path, c.damage(b), 0o600); err != nil {
					t.Fatal(err)
				}
				_, err = openSurrogates(dir, domain)
				if err == nil {
					t.Fatal("opened a damaged store")
				}
				msg := err.Error()
				if !strings.Contains(msg, c.want) || !strings.Contains(msg, path) {
					t.Errorf("err = %v, want %q naming %s", err, c.want, path)
				}
				if strings.Contains(msg, "secret-id") {
					t.Errorf("err names a source id: %v", err)
				}
			})
		}
	}
	// one domain's file is not the other's
	dir := t.TempDir()
	v, err := openSurrogates(dir, visitDomain)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.register(func(add func(string) error) error { return add("V1") }); err != nil {
		t.Fatal(err)
	}
	v.close()
	b, _ := os.ReadFile(filepath.Join(dir, "visit.sur"))
	os.WriteFile(filepath.Join(dir, "person.sur"), b, 0o600)
	if _, err := openSurrogates(dir, personDomain); err == nil {
		t.Error("person store opened the visit store's file")
	}
}

// TestPersonSurrogatesLegacy: a data directory holding the person.map of
// earlier versions publishes its persons under the same surrogates, moves
// the mapping into person.sur (hashes, not ids) and keeps it; persons not in
// it get new surrogates.
func TestPersonSurrogatesLegacy(t *testing.T) {
	pol := Preset(SafeHarbor, false, "2026-01-01")
	surr := t.TempDir()
	// the old format: sorted lines of the Go-quoted source id, a tab, the
	// surrogate; P4 and P5 are not in it, an id with quotes is
	legacy := map[string]string{}
	var lines []string
	for _, id := range []string{"P1", "P2", "P3", "gone \"P9\"\t"} {
		legacy[id] = Pseudonym([]byte("an old random source"), "x", id)
		lines = append(lines, strconv.Quote(id)+"\t"+legacy[id]+"\n")
	}
	slices.Sort(lines)
	if err := os.WriteFile(filepath.Join(surr, "person.map"), []byte(strings.Join(lines, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	ids := func() []string {
		t.Helper()
		out, _ := runHand(t, pol, nil, surr)
		var got []string
		for _, row := range readTable(t, out, source.Person) {
			got = append(got, row["person_id"].(string))
		}
		if len(got) != 5 {
			t.Fatalf("%d persons published, want 5", len(got))
		}
		return got
	}
	first := ids()
	for i, src := range []string{"P1", "P2", "P3"} {
		if first[i] != legacy[src] {
			t.Errorf("%s = %s, want its legacy surrogate %s", src, first[i], legacy[src])
		}
	}
	seen := map[string]bool{}
	for _, sur := range legacy {
		seen[sur] = true
	}
	for i, src := range []string{"P4", "P5"} {
		if sur := first[3+i]; len(sur) != pseudonymChars || seen[sur] || sur == Pseudonym(testKey, "person", src) {
			t.Errorf("%s = %q, want a new random surrogate", src, sur)
		} else {
			seen[sur] = true
		}
	}
	if _, err := os.Stat(filepath.Join(surr, "person.map")); err == nil {
		t.Error("person.map left in place")
	}
	b, err := os.ReadFile(filepath.Join(surr, "person.sur"))
	if err != nil {
		t.Fatal(err)
	}
	// quoted, as the old format stored them (a bare 2-byte id could turn up
	// in random bytes)
	if (len(b)-surHeader)/surRecord != 6 || bytes.Contains(b, []byte(`"P1"`)) || bytes.Contains(b, []byte("gone")) {
		t.Errorf("person.sur: %d bytes, want the header and 6 records of hashes", len(b))
	}
	if again := ids(); fmt.Sprint(again) != fmt.Sprint(first) {
		t.Errorf("second publication changed person ids:\n%v\n%v", first, again)
	}
}

// FuzzSurrogateFiles opens a store over arbitrary .sur and legacy .map
// files: an error or a working store, never a panic.
func FuzzSurrogateFiles(f *testing.F) {
	dir := f.TempDir()
	v, err := openSurrogates(dir, visitDomain)
	if err != nil {
		f.Fatal(err)
	}
	if err := v.register(func(add func(string) error) error { return errors.Join(add("V1"), add("V2")) }); err != nil {
		f.Fatal(err)
	}
	v.close()
	sur, _ := os.ReadFile(filepath.Join(dir, "visit.sur"))
	old := Pseudonym(testKey, "x", "y")
	f.Add(sur, []byte{})
	f.Add([]byte{}, []byte(`"V1"`+"\t"+old+"\n"))
	f.Add(sur, []byte(`"V1"`+"\t"+old+"\n"+`"V3"`+"\t"+old+"\n"))
	f.Add(sur[:40], []byte(`"V1`+"\t\n"))
	f.Add([]byte(surMagic(visitDomain)), []byte("\n"))
	f.Fuzz(func(t *testing.T, sur, legacy []byte) {
		dir := t.TempDir()
		if len(sur) > 0 {
			os.WriteFile(filepath.Join(dir, "visit.sur"), sur, 0o600)
		}
		if len(legacy) > 0 {
			os.WriteFile(filepath.Join(dir, "visit.map"), legacy, 0o600)
		}
		v, err := openSurrogates(dir, visitDomain)
		if err != nil {
			return
		}
		defer v.close()
		a, err := v.get("V1")
		if err != nil {
			t.Fatal(err)
		}
		if err := v.save(); err != nil {
			t.Fatal(err)
		}
		if b, err := v.get("V1"); err != nil || b != a {
			t.Errorf("V1 changed after save: %v", err)
		}
	})
}

// BenchmarkSurrogatesFirstPublication gives 100k new person ids surrogates
// (every id drawn at lookup, as on a first publication) and saves them;
// heap-B/id is the heap the store holds per id before the save.
func BenchmarkSurrogatesFirstPublication(b *testing.B) {
	const n = 100_000
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("MRN-%09d", i)
	}
	var perID float64
	for b.Loop() {
		dir := b.TempDir()
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		v, err := openSurrogates(dir, personDomain)
		if err != nil {
			b.Fatal(err)
		}
		for _, id := range ids {
			if _, err := v.get(id); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perID = float64(after.HeapAlloc-before.HeapAlloc) / n
		if err := v.save(); err != nil {
			b.Fatal(err)
		}
		v.close()
	}
	b.ReportMetric(perID, "heap-B/id")
}
