package query

import (
	"database/sql"
	"encoding/csv"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// The fixture: a small synthetic population per institution, held in Go so
// tests can count the answers independently, and written to Parquet with
// DuckDB (a separate, unsandboxed database of the test's own) in the
// column layout of each de-identification mode.

type fxPerson struct {
	id     string
	gender string
	yob    int
	zip3   string
}

type fxDrug struct {
	person string
	code   string
	start  time.Time
}

type fxCond struct {
	person string
	code   string
	start  time.Time
}

type fxAE struct {
	person    string
	drug      string
	event     string
	onset     time.Time
	serious   bool
	aeSource  string
	eventName string
}

type fixture struct {
	persons []fxPerson
	drugs   []fxDrug
	conds   []fxCond
	aes     []fxAE
	// firsts is each person's first record of any kind, when the rows
	// above are not all the person's records (read back from a dataset);
	// nil means the earliest of the rows above.
	firsts map[string]time.Time
}

// firstRecords returns each person's first record date.
func (f *fixture) firstRecords() map[string]time.Time {
	if f.firsts != nil {
		return f.firsts
	}
	m := map[string]time.Time{}
	add := func(p string, d time.Time) {
		if v, ok := m[p]; !ok || d.Before(v) {
			m[p] = d
		}
	}
	for _, c := range f.conds {
		add(c.person, c.start)
	}
	for _, d := range f.drugs {
		add(d.person, d.start)
	}
	for _, a := range f.aes {
		add(a.person, a.onset)
	}
	return m
}

var fxEpoch = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// newFixture makes n persons. Drug D1 causes event E1 within 30 days in
// half of the exposed; everything else is background noise.
func newFixture(seed uint64, n int, prefix string) *fixture {
	r := rand.New(rand.NewPCG(seed, 7))
	f := &fixture{}
	drugs := []string{"D1", "D2", "D3", "D4"}
	events := []string{"E1", "E2", "E3"}
	for i := range n {
		p := fxPerson{
			id:     fmt.Sprintf("%s%05d", prefix, i),
			gender: []string{"F", "M"}[r.IntN(2)],
			yob:    1940 + r.IntN(60),
			zip3:   []string{"021", "100", "606", "941"}[r.IntN(4)],
		}
		f.persons = append(f.persons, p)
		first := fxEpoch.AddDate(0, 0, r.IntN(60))
		// a first record for everyone, so day offsets start at 0
		f.conds = append(f.conds, fxCond{p.id, "C0", first})
		for _, d := range drugs {
			if r.IntN(3) != 0 {
				continue
			}
			start := first.AddDate(0, 0, 1+r.IntN(300))
			f.drugs = append(f.drugs, fxDrug{p.id, d, start})
			if r.IntN(2) == 0 { // a later, repeated exposure
				f.drugs = append(f.drugs, fxDrug{p.id, d, start.AddDate(0, 0, 40+r.IntN(40))})
			}
			if d == "D1" && r.IntN(2) == 0 {
				on := start.AddDate(0, 0, 1+r.IntN(20))
				f.conds = append(f.conds, fxCond{p.id, "E1", on})
				f.aes = append(f.aes, fxAE{p.id, d, "E1", on, r.IntN(4) == 0, "report", "Event E1"})
			}
		}
		for _, e := range events {
			if r.IntN(10) == 0 {
				on := first.AddDate(0, 0, 1+r.IntN(400))
				f.conds = append(f.conds, fxCond{p.id, e, on})
				if r.IntN(2) == 0 {
					f.aes = append(f.aes, fxAE{p.id, drugs[r.IntN(len(drugs))], e, on, false, "report", "Event " + e})
				}
			}
		}
	}
	return f
}

// write writes the fixture as a dataset in dir in the given mode and
// returns its description.
func (f *fixture) write(t testing.TB, dir, name, inst, mode string, intervals bool) Dataset {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	first := map[string]time.Time{}
	for _, c := range f.conds {
		if v, ok := first[c.person]; !ok || c.start.Before(v) {
			first[c.person] = c.start
		}
	}
	// date renders a date column in the mode's layout: name and value.
	date := func(col string, person string, d time.Time) (string, string) {
		switch {
		case mode != ModeSafeHarbor:
			return col + "_date", d.Format(time.DateOnly)
		case intervals:
			return col + "_day", strconv.Itoa(int(d.Sub(first[person]).Hours() / 24))
		default:
			return col + "_year", strconv.Itoa(d.Year())
		}
	}
	dateType := "DATE"
	if mode == ModeSafeHarbor {
		dateType = "INTEGER"
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ds := Dataset{Name: name, Institution: inst, Manifest: "bafy" + name, Mode: mode, Intervals: intervals, Own: true, Tables: map[string][]string{}}
	table := func(tbl string, header []string, types []string, rows [][]string) {
		csvPath := filepath.Join(t.TempDir(), tbl+".csv")
		fh, err := os.Create(csvPath)
		if err != nil {
			t.Fatal(err)
		}
		w := csv.NewWriter(fh)
		w.Write(header)
		w.WriteAll(rows)
		fh.Close()
		var cols string
		for i, h := range header {
			if i > 0 {
				cols += ", "
			}
			cols += fmt.Sprintf("'%s': '%s'", h, types[i])
		}
		out := filepath.Join(dir, tbl+".parquet")
		q := fmt.Sprintf("COPY (SELECT * FROM read_csv('%s', header = true, columns = {%s})) TO '%s' (FORMAT parquet)", csvPath, cols, out)
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("write %s: %v", tbl, err)
		}
		ds.Tables[tbl] = []string{out}
	}
	var rows [][]string
	for _, p := range f.persons {
		rows = append(rows, []string{p.id, p.gender, strconv.Itoa(p.yob), p.zip3})
	}
	table("person", []string{"person_id", "gender", "year_of_birth", "zip3"}, []string{"VARCHAR", "VARCHAR", "INTEGER", "VARCHAR"}, rows)

	rows = nil
	var dcol string
	for _, d := range f.drugs {
		c, v := date("drug_exposure_start", d.person, d.start)
		dcol = c
		rows = append(rows, []string{d.person, "RxNorm", d.code, "drug " + d.code, v})
	}
	table("drug_exposure", []string{"person_id", "drug_vocabulary", "drug_code", "drug_name", dcol},
		[]string{"VARCHAR", "VARCHAR", "VARCHAR", "VARCHAR", dateType}, rows)

	rows = nil
	for _, c := range f.conds {
		col, v := date("condition_start", c.person, c.start)
		dcol = col
		rows = append(rows, []string{c.person, "SNOMED", c.code, "condition " + c.code, v})
	}
	table("condition_occurrence", []string{"person_id", "condition_vocabulary", "condition_code", "condition_name", dcol},
		[]string{"VARCHAR", "VARCHAR", "VARCHAR", "VARCHAR", dateType}, rows)

	rows = nil
	for _, a := range f.aes {
		col, v := date("onset", a.person, a.onset)
		dcol = col
		rows = append(rows, []string{a.person, "RxNorm", a.drug, "drug " + a.drug, "MedDRA", a.event, a.eventName, v, strconv.FormatBool(a.serious), a.aeSource})
	}
	table("adverse_event", []string{"person_id", "drug_vocabulary", "drug_code", "drug_name", "event_vocabulary", "event_code", "event_name", dcol, "serious", "source"},
		[]string{"VARCHAR", "VARCHAR", "VARCHAR", "VARCHAR", "VARCHAR", "VARCHAR", "VARCHAR", dateType, "BOOLEAN", "VARCHAR"}, rows)
	return ds
}

// threeSites writes three institutions' datasets (expert, safe-harbor with
// years, safe-harbor with intervals) under root and returns them with their
// fixtures.
func threeSites(t testing.TB, root string, n int) ([]Dataset, []*fixture) {
	t.Helper()
	fa := newFixture(1, n, "a")
	fb := newFixture(2, n, "b")
	fc := newFixture(3, n, "c")
	return []Dataset{
		fa.write(t, filepath.Join(root, "store", "a"), "hospital-a/diabetes", "hospital-a", ModeExpert, false),
		fb.write(t, filepath.Join(root, "store", "b"), "hospital-b/cohort", "hospital-b", ModeSafeHarbor, false),
		fc.write(t, filepath.Join(root, "store", "c"), "hospital-c/cohort", "hospital-c", ModeSafeHarbor, true),
	}, []*fixture{fa, fb, fc}
}
