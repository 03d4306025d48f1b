package query

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestReportCountsIndependent: the margins of every pair equal a count in Go
// over the fixture's own rows, over three institutions in all three modes.
func TestReportCountsIndependent(t *testing.T) {
	e, _, fx := openThree(t, 300)
	c, err := e.Counts(t.Context(), SignalConfig{Source: SourceReports})
	if err != nil {
		t.Fatal(err)
	}
	type key struct {
		site int
		p    string
	}
	units := map[key]bool{}
	drug := map[string]map[key]bool{}
	event := map[string]map[key]bool{}
	pair := map[Pair]map[key]bool{}
	add := func(m map[string]map[key]bool, k string, u key) {
		if m[k] == nil {
			m[k] = map[key]bool{}
		}
		m[k][u] = true
	}
	for i, f := range fx {
		for _, a := range f.aes {
			u := key{i, a.person}
			units[u] = true
			add(drug, a.drug, u)
			add(event, a.event, u)
			if pair[Pair{a.drug, a.event}] == nil {
				pair[Pair{a.drug, a.event}] = map[key]bool{}
			}
			pair[Pair{a.drug, a.event}][u] = true
		}
	}
	if len(c.Pairs()) != len(pair) {
		t.Errorf("%d pairs, want %d", len(c.Pairs()), len(pair))
	}
	for p, us := range pair {
		a, d, ev, n := c.Margins(p)
		if a != int64(len(us)) || d != int64(len(drug[p.Drug])) || ev != int64(len(event[p.Event])) || n != int64(len(units)) {
			t.Errorf("%v: got (%d, %d, %d, %d), want (%d, %d, %d, %d)", p, a, d, ev, n,
				len(us), len(drug[p.Drug]), len(event[p.Event]), len(units))
		}
	}
	if c.Names["drug:D1"] != "drug D1" || c.Names["event:E1"] != "Event E1" {
		t.Errorf("names: %v", c.Names)
	}
	sig := Signals(c, 3, "", "")
	i := slices.IndexFunc(sig, func(s Signal) bool { return s.Pair == Pair{"D1", "E1"} })
	if i < 0 || !sig[i].Flags.Evans {
		t.Errorf("planted D1/E1 not flagged by reports: %+v", sig)
	}
}

// exposureOracle counts one pair over one site the slow, direct way, by
// the method [Engine.Counts] documents, returning the margins (a, a + b,
// a + c, N). day gives a person's day number of a date.
//
// Exposures (the cohort method): persons of the person table sorted by id;
// each exposed person is indexed at their first exposure to drug; for each
// unexposed person in order, a PCG seeded with seed and the FNV-1a hash of
// the drug code draws one of the exposed persons' index days (sorted by
// person); a + c counts persons with the event 1 to window days after their
// index; N is the persons.
//
// Self-controlled: exposed persons with a first record on or before the
// first day of the control window before the index; a = those with the
// event 1 to window days after the index; a + c adds their control windows
// (days −2·window+1 to −window and window+1 to 2·window) with the event; N
// is three windows per person.
func exposureOracle(f *fixture, method string, day func(person string, d time.Time) int64, drug, event string, window int64, seed uint64) (a, exposed, withEvent, n int64) {
	var persons []string
	inTable := map[string]bool{}
	for _, p := range f.persons {
		persons = append(persons, p.id)
		inTable[p.id] = true
	}
	sort.Strings(persons)
	index := map[string]int64{}
	for _, d := range f.drugs {
		if d.code != drug || !inTable[d.person] {
			continue
		}
		if v, ok := index[d.person]; !ok || day(d.person, d.start) < v {
			index[d.person] = day(d.person, d.start)
		}
	}
	hasEvent := func(p string, from, to int64) bool {
		for _, c := range f.conds {
			if c.person == p && c.code == event {
				if d := day(p, c.start); d >= from && d <= to {
					return true
				}
			}
		}
		return false
	}
	if method == SourceSelfControlled {
		firsts := f.firstRecords()
		for p, at := range index {
			if day(p, firsts[p]) > at-2*window+1 {
				continue // not observed through the control window before
			}
			exposed++
			if hasEvent(p, at+1, at+window) {
				a++
				withEvent++
			}
			if hasEvent(p, at-2*window+1, at-window) {
				withEvent++
			}
			if hasEvent(p, at+window+1, at+2*window) {
				withEvent++
			}
		}
		return a, exposed, withEvent, 3 * exposed
	}
	var ids []string
	for p := range index {
		ids = append(ids, p)
	}
	sort.Strings(ids)
	var pool []int64
	for _, p := range ids {
		pool = append(pool, index[p])
	}
	if len(pool) == 0 {
		return 0, 0, 0, int64(len(persons))
	}
	h := fnv.New64a()
	h.Write([]byte(drug))
	r := rand.New(rand.NewPCG(seed, h.Sum64()))
	for _, p := range persons {
		n++
		at, ok := index[p]
		if ok {
			exposed++
		} else {
			at = pool[r.IntN(len(pool))]
		}
		if hasEvent(p, at+1, at+window) {
			withEvent++
			if ok {
				a++
			}
		}
	}
	return a, exposed, withEvent, n
}

// TestExposureCountsIndependent: for both exposure methods, the margins of
// every drug–event pair of the fixture equal the oracle's over the expert
// site (calendar days) and the safe-harbor site with intervals (days since
// the first record); the safe-harbor site with years is skipped; counting
// is reproducible, and only the exposures method depends on the seed; the
// planted pair is flagged; exposures warns over the expert site and the
// safe-harbor site with intervals (timelines shifted per person).
func TestExposureCountsIndependent(t *testing.T) {
	e, ds, fx := openThree(t, 150)
	epochDay := func(_ string, d time.Time) int64 { return d.Unix() / 86400 }
	firsts := map[string]time.Time{}
	for _, cd := range fx[2].conds {
		if v, ok := firsts[cd.person]; !ok || cd.start.Before(v) {
			firsts[cd.person] = cd.start
		}
	}
	relDay := func(p string, d time.Time) int64 { return int64(d.Sub(firsts[p]).Hours() / 24) }
	for _, method := range []string{SourceExposures, SourceSelfControlled} {
		t.Run(method, func(t *testing.T) {
			cfg := SignalConfig{Source: method, Window: 30, Seed: 7}
			c, err := e.Counts(t.Context(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if c.Method != method {
				t.Errorf("counts say method %q", c.Method)
			}
			if len(c.Skipped) != 1 || !strings.Contains(c.Skipped[0], ds[1].Name) || !strings.Contains(c.Skipped[0], "years only") {
				t.Errorf("skipped: %v", c.Skipped)
			}
			checked := 0
			for _, drug := range []string{"D1", "D2", "D3", "D4"} {
				for _, event := range []string{"E1", "E2", "E3", "C0"} {
					a1, d1, e1, n1 := exposureOracle(fx[0], method, epochDay, drug, event, 30, 7)
					a2, d2, e2, n2 := exposureOracle(fx[2], method, relDay, drug, event, 30, 7)
					a, d, ev, n := c.Margins(Pair{drug, event})
					if a != a1+a2 || d != d1+d2 || ev != e1+e2 || n != n1+n2 {
						t.Errorf("%s/%s: got (%d, %d, %d, %d), want (%d, %d, %d, %d)", drug, event, a, d, ev, n, a1+a2, d1+d2, e1+e2, n1+n2)
					}
					checked++
				}
			}
			// Reproducible with the same seed; another seed draws other
			// index days for exposures and changes nothing for
			// self-controlled.
			same, err := e.Counts(t.Context(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Seed = 8
			other, err := e.Counts(t.Context(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			differ := 0
			for _, p := range c.Pairs() {
				x1, x2, x3, x4 := c.Margins(p)
				y1, y2, y3, y4 := same.Margins(p)
				if x1 != y1 || x2 != y2 || x3 != y3 || x4 != y4 {
					t.Fatalf("%v not reproducible", p)
				}
				if _, _, z3, _ := other.Margins(p); z3 != x3 {
					differ++
				}
			}
			if method == SourceExposures && differ == 0 || method == SourceSelfControlled && differ != 0 {
				t.Errorf("%s: another seed changed a + c of %d pairs", method, differ)
			}
			// Under exposures the expert site and the site with
			// intervals warn, each naming itself; the warnings reach
			// every signal.
			sig := Signals(c, 3, "", "")
			switch method {
			case SourceExposures:
				if len(c.Warnings) != 2 || !strings.HasPrefix(c.Warnings[0], ds[0].Name+": expert mode") ||
					!strings.HasPrefix(c.Warnings[1], ds[2].Name+": safe-harbor with intervals") || !strings.Contains(c.Warnings[0], "use source self-controlled") {
					t.Errorf("warnings %q, want one for %s and one for %s", c.Warnings, ds[0].Name, ds[2].Name)
				}
				if len(sig) == 0 || sig[0].Warning != strings.Join(c.Warnings, "; ") {
					t.Errorf("signals do not carry the warnings")
				}
			default:
				if len(c.Warnings) != 0 || len(sig) > 0 && sig[0].Warning != "" {
					t.Errorf("self-controlled warns: %q", c.Warnings)
				}
			}
			var flagged []Pair
			for _, s := range sig {
				if s.Flags.Evans && s.Event != "C0" {
					flagged = append(flagged, s.Pair)
				}
			}
			if !slices.Contains(flagged, Pair{"D1", "E1"}) {
				t.Errorf("planted D1/E1 not flagged; flagged %v", flagged)
			}
			t.Logf("checked %d pairs; Evans-flagged: %v", checked, flagged)
		})
	}
	if _, err := e.Counts(t.Context(), SignalConfig{Source: "exposure"}); err == nil || !strings.Contains(err.Error(), "self-controlled") {
		t.Errorf("unknown source: %v", err)
	}
}

// TestReportsByQuarter: the quarters' counts add up to the whole for the
// dataset with calendar dates, and the others are skipped with a reason.
func TestReportsByQuarter(t *testing.T) {
	e, ds, fx := openThree(t, 200)
	qs, err := e.Quarters(t.Context(), SignalConfig{})
	if err != nil || len(qs) < 2 {
		t.Fatalf("quarters %v, %v", qs, err)
	}
	want := map[string]map[Pair]map[string]bool{}
	for _, a := range fx[0].aes {
		q := fmt.Sprintf("%dQ%d", a.onset.Year(), (int(a.onset.Month())+2)/3)
		p := Pair{a.drug, a.event}
		if want[q] == nil {
			want[q] = map[Pair]map[string]bool{}
		}
		if want[q][p] == nil {
			want[q][p] = map[string]bool{}
		}
		want[q][p][a.person] = true
	}
	for _, q := range qs {
		c, err := e.Counts(t.Context(), SignalConfig{Quarter: q})
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Skipped) != 2 || !strings.Contains(strings.Join(c.Skipped, ";"), ds[1].Name) {
			t.Errorf("%s skipped %v", q, c.Skipped)
		}
		for p, us := range want[q] {
			if a, _, _, _ := c.Margins(p); a != int64(len(us)) {
				t.Errorf("%s %v: a = %d, want %d", q, p, a, len(us))
			}
		}
	}
	if _, err := e.Counts(t.Context(), SignalConfig{Quarter: "2017Q5"}); err == nil {
		t.Error("quarter 5 accepted")
	}
}
