package synth

import (
	"encoding/csv"
	"encoding/json"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// pairCounts is the exposure-based 2×2 table of DESIGN.md for one pair.
type pairCounts struct {
	a, b, c, d int
}

func (p pairCounts) rr() float64 {
	return (float64(p.a) / float64(p.a+p.b)) / (float64(p.c) / float64(p.c+p.d))
}

// measureSignals computes, from a Synthea CSV export, the exposure-based
// comparison as DESIGN.md defines it: exposed persons are indexed at their
// first exposure to the drug; unexposed persons get index dates sampled from
// the exposed ones' (seeded); a/c count persons whose event starts within
// windowDays after the index.
func measureSignals(t *testing.T, dir string, signals []Signal, windowDays int) map[Signal]pairCounts {
	t.Helper()
	drugs := map[string]bool{}
	events := map[string]bool{}
	for _, s := range signals {
		drugs[s.Drug], events[s.Event] = true, true
	}
	var persons []string
	readCSV(t, filepath.Join(dir, "patients.csv"), func(rec map[string]string) {
		persons = append(persons, rec["Id"])
	})
	first := map[[2]string]time.Time{} // (person, drug) → first exposure
	readCSV(t, filepath.Join(dir, "medications.csv"), func(rec map[string]string) {
		if !drugs[rec["CODE"]] {
			return
		}
		ts, err := time.Parse(time.RFC3339, rec["START"])
		if err != nil {
			t.Fatalf("medications.csv START %q: %v", rec["START"], err)
		}
		day := ts.Truncate(24 * time.Hour)
		k := [2]string{rec["PATIENT"], rec["CODE"]}
		if f, ok := first[k]; !ok || day.Before(f) {
			first[k] = day
		}
	})
	starts := map[[2]string][]time.Time{} // (person, event) → start dates
	readCSV(t, filepath.Join(dir, "conditions.csv"), func(rec map[string]string) {
		if !events[rec["CODE"]] {
			return
		}
		d, err := time.Parse(time.DateOnly, rec["START"])
		if err != nil {
			t.Fatalf("conditions.csv START %q: %v", rec["START"], err)
		}
		k := [2]string{rec["PATIENT"], rec["CODE"]}
		starts[k] = append(starts[k], d)
	})
	window := time.Duration(windowDays) * 24 * time.Hour
	hasEvent := func(person, event string, idx time.Time) bool {
		for _, d := range starts[[2]string{person, event}] {
			if !d.Before(idx) && !d.After(idx.Add(window)) {
				return true
			}
		}
		return false
	}
	out := map[Signal]pairCounts{}
	rng := rand.New(rand.NewPCG(7, 11))
	for _, s := range signals {
		var idx []time.Time
		for _, p := range persons {
			if f, ok := first[[2]string{p, s.Drug}]; ok {
				idx = append(idx, f)
			}
		}
		if len(idx) == 0 {
			t.Fatalf("signal %s: no exposed persons", s)
		}
		var pc pairCounts
		for _, p := range persons {
			f, exposed := first[[2]string{p, s.Drug}]
			if exposed {
				if hasEvent(p, s.Event, f) {
					pc.a++
				} else {
					pc.b++
				}
				continue
			}
			if hasEvent(p, s.Event, idx[rng.IntN(len(idx))]) {
				pc.c++
			} else {
				pc.d++
			}
		}
		out[s] = pc
	}
	return out
}

// readCSV calls fn for every record of a CSV file, keyed by header.
func readCSV(t *testing.T, path string, fn func(map[string]string)) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.ReuseRecord = true
	hdr, err := r.Read()
	if err != nil {
		t.Fatalf("%s: header: %v", path, err)
	}
	hdr = slices.Clone(hdr)
	rec := map[string]string{}
	for {
		row, err := r.Read()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		for i, h := range hdr {
			rec[h] = row[i]
		}
		fn(rec)
	}
}

// TestPlantedSignals checks at 10,000 patients that every planted pair is
// there as DESIGN.md measures it: observed relative risk within 25% of the
// planted one, with at least 100 exposed events.
func TestPlantedSignals(t *testing.T) {
	cases := []struct {
		name        string
		institution string
		signals     []Signal
	}{
		{"defaults", "", nil},
		// a drug the generator also prescribes for hypertension and an
		// event it also diagnoses as an acute problem: only the signal may
		// write them, or the planted risk would be diluted
		{"vocabulary codes at another hospital", "Hospital B", []Signal{{Drug: "310798", Event: "195662009", RR: 2}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "export")
			_, err := Generate(t.Context(), Config{Patients: 10000, Seed: 42, Out: out, Institution: tc.institution, Signals: tc.signals})
			if err != nil {
				t.Fatal(err)
			}
			truth, err := ReadTruth(out)
			if err != nil {
				t.Fatal(err)
			}
			if truth.Patients != 10000 || truth.Seed != 42 || truth.Institution != tc.institution {
				t.Errorf("truth.json describes %d patients, seed %d, institution %q", truth.Patients, truth.Seed, truth.Institution)
			}
			want := tc.signals
			if want == nil {
				want = DefaultSignals
			}
			if len(truth.Signals) != len(want) {
				t.Fatalf("truth.json has %d signals, want %d", len(truth.Signals), len(want))
			}
			var planted []Signal
			for i, ts := range truth.Signals {
				s := Signal{Drug: ts.Drug, Event: ts.Event, RR: ts.RR}
				if s != want[i] || ts.DrugName == "" || ts.EventName == "" {
					t.Errorf("truth.json signal %d = %+v, want %s with names", i, ts, want[i])
				}
				planted = append(planted, s)
			}
			got := measureSignals(t, out, planted, WindowDays)
			for _, s := range planted {
				pc := got[s]
				rr := pc.rr()
				t.Logf("%s: a=%d b=%d c=%d d=%d observed RR %.2f (planted %g)", s, pc.a, pc.b, pc.c, pc.d, rr, s.RR)
				if pc.a < 100 {
					t.Errorf("%s: %d exposed events, want >= 100", s, pc.a)
				}
				if rr < s.RR*0.75 || rr > s.RR*1.25 {
					t.Errorf("%s: observed RR %.2f, want within 25%% of %g", s, rr, s.RR)
				}
			}
		})
	}
}

// FuzzReadTruth: truth.json is read from disk; anything ReadTruth accepts
// must survive a write and a second read unchanged.
func FuzzReadTruth(f *testing.F) {
	f.Add([]byte(`{"seed":1,"patients":10,"institution":"","format":"synthea-csv","start_year":2014,"end_year":2025,"signals":[{"drug":"314076","drug_name":"lisinopril 10 MG Oral Tablet","event":"41291007","event_name":"Angioedema (disorder)","rr":4,"window_days":30}]}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"signals":[{"rr":"x"}]}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, TruthFile), data, 0o644); err != nil {
			t.Fatal(err)
		}
		tr, err := ReadTruth(dir)
		if err != nil {
			return
		}
		again, err := json.Marshal(tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, TruthFile), again, 0o644); err != nil {
			t.Fatal(err)
		}
		tr2, err := ReadTruth(dir)
		if err != nil {
			t.Fatalf("re-read: %v", err)
		}
		b2, _ := json.Marshal(tr2)
		if string(b2) != string(again) {
			t.Fatalf("round trip changed truth.json:\n%s\n%s", again, b2)
		}
	})
}
