package query

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/cohortnet/cohortnet/deid"
	"github.com/cohortnet/cohortnet/deid/source"
	"github.com/cohortnet/cohortnet/internal/cdmtest"
	"github.com/cohortnet/cohortnet/internal/synth"
)

// queryDataset describes a dataset made by cdmtest for the engine.
func queryDataset(cd cdmtest.Dataset, name, inst string) Dataset {
	mode := map[deid.Mode]string{deid.Expert: ModeExpert, deid.SafeHarbor: ModeSafeHarbor, deid.Limited: ModeLimited}[cd.Mode]
	return Dataset{Name: name, Institution: inst, Manifest: "bafy-" + strings.ReplaceAll(name, "/", "-"), Mode: mode,
		Intervals: cd.Intervals, Own: true, Tables: cd.Tables}
}

// recordDates are the columns of a person's records (see [Engine.Counts]).
var recordDates = map[string]string{
	"visit_occurrence": "visit_start_date", "condition_occurrence": "condition_start_date",
	"drug_exposure": "drug_exposure_start_date", "measurement": "measurement_date",
	"procedure_occurrence": "procedure_date", "adverse_event": "onset_date", "note": "note_date",
}

// readFixture reads a de-identified dataset's Parquet files back in Go (no
// DuckDB): persons, drug exposures, conditions and each person's first
// record, for counting independently of the engine.
func readFixture(t testing.TB, cd cdmtest.Dataset) *fixture {
	t.Helper()
	fx := &fixture{firsts: map[string]time.Time{}}
	for table, files := range cd.Tables {
		for _, path := range files {
			readParquet(t, path, func(rec arrow.RecordBatch) { collectRows(t, fx, table, rec) })
		}
	}
	return fx
}

func readParquet(t testing.TB, path string, each func(arrow.RecordBatch)) {
	t.Helper()
	pf, err := file.OpenParquetFile(path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: 8192}, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	rr, err := fr.GetRecordReader(t.Context(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rr.Release()
	for rr.Next() {
		each(rr.RecordBatch())
	}
	if err := rr.Err(); err != nil {
		t.Fatalf("read %s: %v", filepath.Base(path), err)
	}
}

// collectRows appends a de-identified record batch's rows to fx.
func collectRows(t testing.TB, fx *fixture, table string, rec arrow.RecordBatch) {
	col := func(name string) arrow.Array {
		idx := rec.Schema().FieldIndices(name)
		if len(idx) == 0 {
			t.Fatalf("%s has no column %s", table, name)
		}
		return rec.Column(idx[0])
	}
	str := func(a arrow.Array, i int) string { return a.(*array.String).Value(i) }
	date := func(a arrow.Array, i int) (time.Time, bool) {
		if a.IsNull(i) {
			return time.Time{}, false
		}
		return a.(*array.Date32).Value(i).ToTime(), true
	}
	if name, ok := recordDates[table]; ok {
		p, d := col("person_id"), col(name)
		for i := range int(rec.NumRows()) {
			if day, ok := date(d, i); ok && !p.IsNull(i) {
				if v, seen := fx.firsts[str(p, i)]; !seen || day.Before(v) {
					fx.firsts[str(p, i)] = day
				}
			}
		}
	}
	switch table {
	case "person":
		ids := col("person_id")
		for i := range int(rec.NumRows()) {
			fx.persons = append(fx.persons, fxPerson{id: str(ids, i)})
		}
	case "drug_exposure":
		p, c, d := col("person_id"), col("drug_code"), col("drug_exposure_start_date")
		for i := range int(rec.NumRows()) {
			if day, ok := date(d, i); ok && !p.IsNull(i) && !c.IsNull(i) {
				fx.drugs = append(fx.drugs, fxDrug{str(p, i), str(c, i), day})
			}
		}
	case "condition_occurrence":
		p, c, d := col("person_id"), col("condition_code"), col("condition_start_date")
		for i := range int(rec.NumRows()) {
			if day, ok := date(d, i); ok && !p.IsNull(i) && !c.IsNull(i) {
				fx.conds = append(fx.conds, fxCond{str(p, i), str(c, i), day})
			}
		}
	}
}

// synthSites generates three institutions' synthetic exports (internal/synth)
// and de-identifies each in every mode given, with real deid.
func synthSites(t *testing.T, root string, patients int, modes ...deid.Mode) (map[deid.Mode][]cdmtest.Dataset, *synth.Truth) {
	t.Helper()
	out := map[deid.Mode][]cdmtest.Dataset{}
	var truth *synth.Truth
	for i, inst := range synthInstitutions {
		exp := filepath.Join(root, "export", inst)
		truth = cdmtest.Export(t, exp, synth.Config{Patients: patients, Seed: int64(10 + i), Institution: inst})
		for _, m := range modes {
			out[m] = append(out[m], cdmtest.Deidentify(t, exp, source.FormatSyntheaCSV, filepath.Join(root, string(m), inst), m, false))
		}
	}
	return out, truth
}

var synthInstitutions = []string{"hospital-a", "hospital-b", "hospital-c"}

// openSites opens an engine over the three institutions' datasets.
func openSites(t *testing.T, sites []cdmtest.Dataset) *Engine {
	t.Helper()
	var ds []Dataset
	for i, cd := range sites {
		ds = append(ds, queryDataset(cd, synthInstitutions[i]+"/synth", synthInstitutions[i]))
	}
	e, err := Open(t.Context(), Config{Threads: 2, MemoryLimit: 512 << 20}, ds)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// flagRates counts, among the pairs with a ≥ 3 that were not planted, those
// each rule flags.
func flagRates(sig []Signal, planted map[Pair]bool) (others int, flagged map[string]int) {
	flagged = map[string]int{}
	for _, s := range sig {
		if planted[s.Pair] {
			continue
		}
		others++
		for rule, on := range map[string]bool{"evans": s.Flags.Evans, "ema": s.Flags.EMA, "ror025": s.Flags.ROR025, "ic025": s.Flags.IC025} {
			if on {
				flagged[rule]++
			}
		}
	}
	return others, flagged
}

func rateString(others int, flagged map[string]int) string {
	var rates []string
	for _, rule := range []string{"evans", "ema", "ror025", "ic025"} {
		rates = append(rates, fmt.Sprintf("%s %d/%d", rule, flagged[rule], others))
	}
	return strings.Join(rates, ", ")
}

// TestSynthPlantedSignals: three institutions' synthetic exports,
// de-identified in expert mode (per-person date shifts) and counted by the
// self-controlled method, flag every planted signal of truth.json; for both
// exposure methods the counts equal a count in Go over the same Parquet
// files, and the signed answers of the three institutions, pooled, give the
// same signals as counting all three here; the flag rate on the other pairs
// is reported and bounded.
func TestSynthPlantedSignals(t *testing.T) {
	sites, truth := synthSites(t, t.TempDir(), 1500, deid.Expert)
	e := openSites(t, sites[deid.Expert])
	var fxs []*fixture
	for _, cd := range sites[deid.Expert] {
		fxs = append(fxs, readFixture(t, cd))
	}
	counts := map[string]*Counts{}
	for _, method := range []string{SourceExposures, SourceSelfControlled} {
		t.Run(method, func(t *testing.T) {
			cfg := SignalConfig{Source: method, Window: synth.WindowDays}
			c, err := e.Counts(t.Context(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			counts[method] = c
			// The margins of the planted pairs and of some others,
			// counted in Go from the Parquet rows (exposureOracle).
			epochDay := func(_ string, d time.Time) int64 { return d.Unix() / 86400 }
			checkPairs := []Pair{}
			for _, s := range truth.Signals {
				checkPairs = append(checkPairs, Pair{s.Drug, s.Event})
			}
			for _, p := range c.Pairs()[:min(5, len(c.Pairs()))] {
				checkPairs = append(checkPairs, p)
			}
			for _, p := range checkPairs {
				var wa, wd, we, wn int64
				for _, fx := range fxs {
					a, d, ev, n := exposureOracle(fx, method, epochDay, p.Drug, p.Event, synth.WindowDays, 1)
					wa, wd, we, wn = wa+a, wd+d, we+ev, wn+n
				}
				a, d, ev, n := c.Margins(p)
				if a != wa || d != wd || ev != we || n != wn {
					t.Errorf("%v: engine (%d, %d, %d, %d), Go (%d, %d, %d, %d)", p, a, d, ev, n, wa, wd, we, wn)
				}
			}
			pooledEqualsLocal(t, sites[deid.Expert], cfg, Signals(c, 3, "", ""))
		})
	}
	c := counts[SourceSelfControlled]
	if c == nil {
		t.FailNow()
	}
	// A researcher's pooled SQL through the sandbox against distinct
	// persons per condition counted in Go.
	rows, err := e.Query(t.Context(), "SELECT condition_code, count(DISTINCT (source_dataset, person_id)) FROM cohorts.condition_occurrence GROUP BY 1", Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for rows.Next() {
		got[rows.Values()[0].(string)] = rows.Values()[1].(int64)
	}
	rows.Close()
	want := map[string]map[string]bool{}
	for i, fx := range fxs {
		for _, cd := range fx.conds {
			if want[cd.code] == nil {
				want[cd.code] = map[string]bool{}
			}
			want[cd.code][fmt.Sprint(i, cd.person)] = true
		}
	}
	if len(got) < 10 {
		t.Errorf("only %d condition codes", len(got))
	}
	for code, n := range got {
		if int64(len(want[code])) != n {
			t.Errorf("condition %s: %d persons by SQL, %d in Go", code, n, len(want[code]))
		}
	}

	sig := Signals(c, 3, "", "")
	planted := map[Pair]bool{}
	for _, s := range truth.Signals {
		planted[Pair{s.Drug, s.Event}] = true
	}
	for _, ts := range truth.Signals {
		p := Pair{ts.Drug, ts.Event}
		i := slicesIndex(sig, p)
		if i < 0 {
			t.Errorf("planted %v not among the pairs with a ≥ 3", p)
			continue
		}
		s := sig[i]
		t.Logf("planted %s → %s (RR %.1f): a=%d PRR=%.2f (%.2f–%.2f) χ²=%.1f IC025=%.2f", s.DrugName, s.EventName, ts.RR, s.A, s.PRR, s.PRRLow, s.PRRHigh, s.ChiSq, s.IC025)
		if !s.Flags.Evans || !s.Flags.IC025 {
			t.Errorf("planted %v (%s → %s) not flagged: a=%d PRR=%.2f χ²=%.1f IC025=%.2f", p, s.DrugName, s.EventName, s.A, s.PRR, s.ChiSq, s.IC025)
		}
	}
	others, otherFlagged := flagRates(sig, planted)
	t.Logf("pairs with a ≥ 3 and no planted effect flagged: %s", rateString(others, otherFlagged))
	if others == 0 || otherFlagged["ic025"]*3 > others {
		t.Errorf("IC025 flags %d of %d pairs without a planted effect", otherFlagged["ic025"], others)
	}

}

// pooledEqualsLocal: each institution answers for its own dataset by cfg
// (nothing suppressed with a minimum cell of 1), its answer travels as JSON,
// and the pooled answers give the same signals, warnings included, as
// counting all three in one engine (local).
func pooledEqualsLocal(t *testing.T, sites []cdmtest.Dataset, cfg SignalConfig, local []Signal) {
	t.Helper()
	var answers []*AEAnswer
	for i, cd := range sites {
		se, err := Open(t.Context(), Config{Threads: 1}, []Dataset{queryDataset(cd, synthInstitutions[i]+"/synth", synthInstitutions[i])})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { se.Close() })
		key, _, err := crypto.GenerateEd25519Key(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		ans := &Answerer{Engine: se, Key: key, Institution: synthInstitutions[i], MinCell: 1}
		a, err := ans.AnswerAE(t.Context(), "agency", cfg)
		if err != nil {
			t.Fatal(err)
		}
		if a.Method != cfg.Source {
			t.Errorf("%s answered method %q, asked %q", a.Institution, a.Method, cfg.Source)
		}
		b, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		var got AEAnswer
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		answers = append(answers, &got)
	}
	pooled, rejected := PooledSignals(answers, 3, "", "")
	if len(rejected) > 0 || len(pooled) != len(local) {
		t.Fatalf("pooled %d signals (rejected %v), local %d", len(pooled), rejected, len(local))
	}
	for i := range local {
		if pooled[i].Pair != local[i].Pair || pooled[i].Stats != local[i].Stats {
			t.Errorf("pooled %v %+v, local %v %+v", pooled[i].Pair, pooled[i].Stats, local[i].Pair, local[i].Stats)
		}
		if pooled[i].Warning != local[i].Warning {
			t.Fatalf("pooled warning %q, local %q", pooled[i].Warning, local[i].Warning)
		}
	}
}

func slicesIndex(sig []Signal, p Pair) int {
	for i, s := range sig {
		if s.Pair == p {
			return i
		}
	}
	return -1
}
