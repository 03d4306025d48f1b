package query

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cohortnet/cohortnet/deid"
	"github.com/cohortnet/cohortnet/deid/source"
	"github.com/cohortnet/cohortnet/internal/cdmtest"
	"github.com/cohortnet/cohortnet/internal/sampledata"
)

// readDollar reads a FAERS $-separated file into maps by header name.
func readDollar(t testing.TB, path string) []map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var head []string
	var out []map[string]string
	for sc.Scan() {
		fields := strings.Split(strings.TrimRight(sc.Text(), "\r"), "$")
		if head == nil {
			head = fields
			continue
		}
		m := map[string]string{}
		for i, h := range head {
			if i < len(fields) {
				m[h] = fields[i]
			}
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestFAERSSignals ingests the real FAERS 2017 Q2 sample through
// deid/source's FAERS adapter and deid (limited mode), computes report signals, and checks every
// pair's counts against a count made here straight from the DEMO, DRUG and
// REAC files (latest case version; suspect drugs PS and SS, by active
// ingredient or else drug name; one unit per case).
func TestFAERSSignals(t *testing.T) {
	dir := filepath.Join(sampledata.Dir(t), "faers-2017q2")
	// limited mode: pseudonyms, real dates, and no k-anonymity, so every
	// case stays
	cd := cdmtest.Deidentify(t, dir, source.FormatFAERS, filepath.Join(t.TempDir(), "store", "faers"), deid.Limited, false)
	ds := queryDataset(cd, "fda/faers-2017q2", "fda")
	e, err := Open(t.Context(), Config{Threads: 1}, []Dataset{ds})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	c, err := e.Counts(t.Context(), SignalConfig{Source: SourceReports})
	if err != nil {
		t.Fatal(err)
	}

	// The independent count.
	latest := map[string]struct {
		pid string
		ver int
	}{}
	for _, r := range readDollar(t, filepath.Join(dir, "DEMO17Q2.txt")) {
		v, _ := strconv.Atoi(r["caseversion"])
		if old, ok := latest[r["caseid"]]; !ok || v > old.ver {
			latest[r["caseid"]] = struct {
				pid string
				ver int
			}{r["primaryid"], v}
		}
	}
	isLatest := map[string]string{}
	for cid, l := range latest {
		isLatest[l.pid] = cid
	}
	suspects := map[string]map[string]bool{}
	for _, r := range readDollar(t, filepath.Join(dir, "DRUG17Q2.txt")) {
		if _, ok := isLatest[r["primaryid"]]; !ok || r["role_cod"] != "PS" && r["role_cod"] != "SS" {
			continue
		}
		code := r["prod_ai"]
		if code == "" {
			code = r["drugname"]
		}
		if suspects[r["primaryid"]] == nil {
			suspects[r["primaryid"]] = map[string]bool{}
		}
		suspects[r["primaryid"]][strings.ToUpper(code)] = true
	}
	units, drug, event := map[string]bool{}, map[string]map[string]bool{}, map[string]map[string]bool{}
	pair := map[Pair]map[string]bool{}
	put := func(m map[string]map[string]bool, k, u string) {
		if m[k] == nil {
			m[k] = map[string]bool{}
		}
		m[k][u] = true
	}
	for _, r := range readDollar(t, filepath.Join(dir, "REAC17Q2.txt")) {
		cid, ok := isLatest[r["primaryid"]]
		if !ok || len(suspects[r["primaryid"]]) == 0 {
			continue
		}
		units[cid] = true
		put(event, r["pt"], cid)
		for d := range suspects[r["primaryid"]] {
			put(drug, d, cid)
			if pair[Pair{d, r["pt"]}] == nil {
				pair[Pair{d, r["pt"]}] = map[string]bool{}
			}
			pair[Pair{d, r["pt"]}][cid] = true
		}
	}
	if len(units) < 50 {
		t.Fatalf("only %d cases counted independently", len(units))
	}
	if got := len(c.Pairs()); got != len(pair) {
		t.Errorf("%d pairs, want %d", got, len(pair))
	}
	for p, us := range pair {
		a, d, ev, n := c.Margins(p)
		if a != int64(len(us)) || d != int64(len(drug[p.Drug])) || ev != int64(len(event[p.Event])) || n != int64(len(units)) {
			t.Errorf("%v: got (%d, %d, %d, %d), want (%d, %d, %d, %d)", p, a, d, ev, n, len(us), len(drug[p.Drug]), len(event[p.Event]), len(units))
		}
	}
	sig := Signals(c, 1, "", "")
	flagged := 0
	for _, s := range sig {
		if s.Flags.Any() {
			flagged++
		}
	}
	t.Logf("FAERS 2017Q2 sample: %d cases, %d drug–event pairs, %d flagged by some rule; top: %s → %s (a=%d, PRR %.1f, IC025 %.2f)",
		len(units), len(sig), flagged, sig[0].Drug, sig[0].Event, sig[0].A, sig[0].PRR, sig[0].IC025)
}
