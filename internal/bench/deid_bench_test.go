package bench

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/cohortnet/cohortnet/deid"
	"github.com/cohortnet/cohortnet/deid/source"
	"github.com/cohortnet/cohortnet/internal/synth"
)

// deidPatients is the export size of BenchmarkDeidExpert: 100,000 patients,
// or COHORTNET_DEID_PATIENTS (the full run is 1,000,000).
func deidPatients() int {
	if v, err := strconv.Atoi(os.Getenv("COHORTNET_DEID_PATIENTS")); err == nil && v > 0 {
		return v
	}
	return 100_000
}

// duckDeidSQL is what DuckDB does as the baseline: from the same Synthea CSV
// files to one Parquet file per table, with a keyed hash of every id
// (sha256 of key and id), year of birth, zip3 and a per-person date shift
// (from a keyed hash of the patient id, ±365 days) applied to every date.
// It does not scrub notes, check k-anonymity or write a report.
func duckDeidSQL(dir, out, key string) []string {
	csv := func(name string) string {
		return fmt.Sprintf("read_csv('%s', header = true, all_varchar = true)", filepath.Join(dir, name))
	}
	par := func(name string) string { return fmt.Sprintf("'%s'", filepath.Join(out, name+".parquet")) }
	d := func(col string) string { return fmt.Sprintf("CAST(substr(%s, 1, 10) AS DATE) + s.shift", col) }
	h := func(col string) string { return fmt.Sprintf("sha256('%s' || %s)", key, col) }
	return []string{
		fmt.Sprintf(`CREATE OR REPLACE TEMP TABLE shifts AS SELECT Id, %s AS person_id,
			CAST(hash('%s' || Id) %% 730 AS INTEGER) - 365 AS shift FROM %s`, h("Id"), key, csv("patients.csv")),
		fmt.Sprintf(`COPY (SELECT s.person_id, p.GENDER AS gender,
			year(CAST(p.BIRTHDATE AS DATE) + s.shift) AS year_of_birth, p.RACE AS race, p.ETHNICITY AS ethnicity,
			substr(p.ZIP, 1, 3) AS zip3, p.STATE AS state, %s AS death_date
			FROM %s p JOIN shifts s ON p.Id = s.Id) TO %s (FORMAT parquet, COMPRESSION snappy)`,
			d("p.DEATHDATE"), csv("patients.csv"), par("person")),
		fmt.Sprintf(`COPY (SELECT %s AS visit_occurrence_id, s.person_id, e.ENCOUNTERCLASS AS visit_type,
			%s AS visit_start_date, %s AS visit_end_date
			FROM %s e JOIN shifts s ON e.PATIENT = s.Id) TO %s (FORMAT parquet, COMPRESSION snappy)`,
			h("e.Id"), d("e.START"), d("e.STOP"), csv("encounters.csv"), par("visit_occurrence")),
		fmt.Sprintf(`COPY (SELECT s.person_id, %s AS visit_occurrence_id, 'SNOMED' AS condition_vocabulary,
			c.CODE AS condition_code, c.DESCRIPTION AS condition_name, %s AS condition_start_date, %s AS condition_end_date
			FROM %s c JOIN shifts s ON c.PATIENT = s.Id) TO %s (FORMAT parquet, COMPRESSION snappy)`,
			h("c.ENCOUNTER"), d("c.START"), d("c.STOP"), csv("conditions.csv"), par("condition_occurrence")),
		fmt.Sprintf(`COPY (SELECT s.person_id, %s AS visit_occurrence_id, 'RxNorm' AS drug_vocabulary,
			m.CODE AS drug_code, m.DESCRIPTION AS drug_name, %s AS drug_exposure_start_date, %s AS drug_exposure_end_date
			FROM %s m JOIN shifts s ON m.PATIENT = s.Id
			UNION ALL
			SELECT s.person_id, %s, 'CVX', i.CODE, i.DESCRIPTION, %s, %s
			FROM %s i JOIN shifts s ON i.PATIENT = s.Id) TO %s (FORMAT parquet, COMPRESSION snappy)`,
			h("m.ENCOUNTER"), d("m.START"), d("m.STOP"), csv("medications.csv"),
			h("i.ENCOUNTER"), d("i.DATE"), d("i.DATE"), csv("immunizations.csv"), par("drug_exposure")),
		fmt.Sprintf(`COPY (SELECT s.person_id, %s AS visit_occurrence_id, 'LOINC' AS measurement_vocabulary,
			o.CODE AS measurement_code, o.DESCRIPTION AS measurement_name, %s AS measurement_date,
			TRY_CAST(o.VALUE AS DOUBLE) AS value_as_number, o.UNITS AS unit
			FROM %s o JOIN shifts s ON o.PATIENT = s.Id WHERE o.TYPE = 'numeric') TO %s (FORMAT parquet, COMPRESSION snappy)`,
			h("o.ENCOUNTER"), d("o.DATE"), csv("observations.csv"), par("measurement")),
		fmt.Sprintf(`COPY (SELECT s.person_id, %s AS visit_occurrence_id, 'SNOMED' AS procedure_vocabulary,
			r.CODE AS procedure_code, r.DESCRIPTION AS procedure_name, %s AS procedure_date
			FROM %s r JOIN shifts s ON r.PATIENT = s.Id) TO %s (FORMAT parquet, COMPRESSION snappy)`,
			h("r.ENCOUNTER"), d("r.START"), csv("procedures.csv"), par("procedure_occurrence")),
	}
}

// BenchmarkDeidExpert (and BenchmarkDeidExpertNoNotes, the like-for-like
// variant that leaves the note table out, as DuckDB's SQL does) de-identifies a synthetic Synthea CSV export of
// 100,000 patients (about 1 GB; COHORTNET_DEID_PATIENTS overrides) in expert
// mode (keyed pseudonyms, per-person date shifts, zip3, k = 11 over five
// quasi-identifiers, notes scrubbed, report) and, as the baseline in the same
// run, has DuckDB do the equivalent SQL from the same CSV files to Parquet
// ([duckDeidSQL]). Each iteration runs both; it reports rows/s of each (rows
// read from the export, over all tables), their ratio, and deid's peak RSS.
// The whole benchmark runs under [deid.TuneGC], the garbage-collector
// settings `cohortnet deid` uses (GOGC 100, 1 GiB soft memory limit;
// GOGC or GOMEMLIMIT in the environment override them).
func BenchmarkDeidExpert(b *testing.B) { benchDeid(b, true) }

func BenchmarkDeidExpertNoNotes(b *testing.B) { benchDeid(b, false) }

func benchDeid(b *testing.B, notes bool) {
	ctx := context.Background()
	// the GC settings of `cohortnet deid` (cmd/cohortnet/deid.go), for
	// DuckDB's part of the run as well
	defer deid.TuneGC()()
	root := b.TempDir()
	dir := filepath.Join(root, "export")
	if _, err := synth.Generate(ctx, synth.Config{Patients: deidPatients(), Seed: 1, Out: dir}); err != nil {
		b.Fatal(err)
	}
	var size int64
	for _, f := range []string{"patients.csv", "encounters.csv", "conditions.csv", "medications.csv",
		"immunizations.csv", "observations.csv", "procedures.csv", "notes.jsonl"} {
		if f == "notes.jsonl" && !notes {
			continue
		}
		if st, err := os.Stat(filepath.Join(dir, f)); err == nil {
			size += st.Size()
		}
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	key := []byte("benchmark key, 32 bytes long....")
	// DuckDB's rows are the CSV rows it reads (counted once, untimed).
	var duckRows int64
	for _, f := range []string{"patients.csv", "encounters.csv", "conditions.csv", "medications.csv",
		"immunizations.csv", "observations.csv", "procedures.csv"} {
		var n int64
		q := fmt.Sprintf("SELECT count(*) FROM read_csv('%s', header = true, all_varchar = true)", filepath.Join(dir, f))
		if err := db.QueryRowContext(ctx, q).Scan(&n); err != nil {
			b.Fatal(err)
		}
		duckRows += n
	}
	b.ResetTimer()
	var ours, duck, oursCPU time.Duration
	var rows, peak int64
	var rep *deid.Report
	for i := range b.N {
		resetPeakRSS()
		cpu0 := cpuTime()
		start := time.Now()
		exp, err := source.Open(dir, source.FormatAuto)
		if err != nil {
			b.Fatal(err)
		}
		pol := deid.Preset(deid.Expert, false, "2026-01-01")
		if !notes {
			pol.Tables["note"]["note_text"] = deid.Drop
			exp = withoutNotes{exp}
		}
		rep, err = deid.Run(ctx, exp, filepath.Join(root, "out"+strconv.Itoa(i)), deid.Config{Key: key, Policy: pol})
		if err != nil {
			b.Fatal(err)
		}
		exp.Close()
		ours += time.Since(start)
		oursCPU += cpuTime() - cpu0
		peak = max(peak, peakRSS())
		rows = 0
		for _, t := range rep.Tables {
			rows += t.RowsIn
		}

		out := filepath.Join(root, "duck"+strconv.Itoa(i))
		if err := os.Mkdir(out, 0o755); err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		for _, q := range duckDeidSQL(dir, out, "benchmark-key") {
			if _, err := db.ExecContext(ctx, q); err != nil {
				b.Fatalf("duckdb: %v\n%s", err, q)
			}
		}
		duck += time.Since(start)
	}
	b.StopTimer()
	a, d := ours.Seconds()/float64(b.N), duck.Seconds()/float64(b.N)
	b.ReportMetric(float64(size), "input-bytes")
	b.ReportMetric(a, "deid-s")
	b.ReportMetric(float64(rows)/a, "deid-rows/s")
	// CPU seconds (user and system) are steadier than the wall clock on a
	// shared machine: deid-cpu-s over 2 cores bounds what a quiet one gives
	b.ReportMetric(oursCPU.Seconds()/float64(b.N), "deid-cpu-s")
	b.ReportMetric(d, "duckdb-s")
	b.ReportMetric(float64(duckRows)/d, "duckdb-rows/s")
	b.ReportMetric((float64(rows)/a)/(float64(duckRows)/d), "deid/duckdb")
	if peak > 0 {
		b.ReportMetric(float64(peak)/(1<<20), "deid-peak-RSS-MiB")
	}
	if k := rep.KAnonymity; k != nil {
		b.Logf("k=%d achieved, %d persons suppressed, levels %v, %d of %d lattice nodes evaluated",
			k.KAchieved, rep.Suppressed.KAnonymity, k.Levels, k.NodesEvaluated, k.NodesTotal)
	}
}

// withoutNotes hides an export's note table.
type withoutNotes struct{ source.Export }

func (w withoutNotes) Tables() []string {
	var ts []string
	for _, t := range w.Export.Tables() {
		if t != source.Note {
			ts = append(ts, t)
		}
	}
	return ts
}
