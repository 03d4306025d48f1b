package bench

import (
	"crypto/rand"
	"database/sql"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"
	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/cohortnet/cohortnet/deid"
	"github.com/cohortnet/cohortnet/deid/source"
	"github.com/cohortnet/cohortnet/internal/cdmtest"
	"github.com/cohortnet/cohortnet/internal/synth"
	"github.com/cohortnet/cohortnet/query"
)

// pooledSQL is the researcher's pooled aggregate: persons and events per
// condition code over every institution's dataset.
const pooledSQL = `SELECT condition_code, count(DISTINCT person_id) AS persons, count(*) AS events
FROM cohorts.condition_occurrence GROUP BY condition_code ORDER BY persons DESC, condition_code`

// BenchmarkPooledAggregate runs [pooledSQL] over ten datasets of
// condition_occurrence, 1.05 million rows each (10.5 million in all;
// override the per-dataset rows with COHORTNET_QUERY_ROWS), two ways in each
// iteration, alternating five times and taking medians:
//
//   - cohortnet: query.Engine (views, sandbox, statement check, provenance)
//     with the result streamed as CSV, as `cohortnet query` does;
//   - duckdb: a plain DuckDB database with the same views created the same
//     way, the same SQL, the same threads and memory limit, rows scanned.
//
// The Parquet files are written by DuckDB from generated rows (skewed
// condition codes, 50 000 persons per dataset): at this size, generating
// Synthea CSV and converting it would dwarf the measurement.
func BenchmarkPooledAggregate(b *testing.B) {
	rows := 1_050_000
	if v, err := strconv.Atoi(os.Getenv("COHORTNET_QUERY_ROWS")); err == nil && v > 0 {
		rows = v
	}
	dir := b.TempDir()
	gen, err := sql.Open("duckdb", "")
	if err != nil {
		b.Fatal(err)
	}
	var ds []query.Dataset
	for i := range 10 {
		path := filepath.Join(dir, fmt.Sprintf("cond-%02d.parquet", i))
		q := fmt.Sprintf(`COPY (SELECT 'p' || (hash(range * 7 + %d) %% 50000)::VARCHAR AS person_id,
			'v' || range::VARCHAR AS visit_occurrence_id, 'SNOMED' AS condition_vocabulary,
			(1000 + floor(pow(random(), 3) * 400))::INTEGER::VARCHAR AS condition_code,
			'condition' AS condition_name,
			DATE '2014-01-01' + (range %% 4000)::INTEGER AS condition_start_date,
			NULL::DATE AS condition_end_date
			FROM range(%d)) TO '%s' (FORMAT parquet)`, i, rows, path)
		if _, err := gen.Exec(q); err != nil {
			b.Fatal(err)
		}
		ds = append(ds, query.Dataset{Name: fmt.Sprintf("hospital-%d/cohort", i), Institution: fmt.Sprintf("hospital-%d", i),
			Manifest: fmt.Sprintf("bafy%d", i), Mode: query.ModeExpert, Own: true,
			Tables: map[string][]string{"condition_occurrence": {path}}})
	}
	gen.Close()
	const threads, memory = 2, 2 << 30

	e, err := query.Open(b.Context(), query.Config{Threads: threads, MemoryLimit: memory}, ds)
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	base, err := sql.Open("duckdb", fmt.Sprintf("?threads=%d&memory_limit=%dMiB", threads, memory>>20))
	if err != nil {
		b.Fatal(err)
	}
	defer base.Close()
	base.SetMaxOpenConns(1)
	var parts []string
	for _, d := range ds {
		s := strings.ReplaceAll(strings.ReplaceAll(d.Name, "-", "_"), "/", "_")
		mustExec(b, base, "CREATE SCHEMA "+s)
		mustExec(b, base, fmt.Sprintf("CREATE VIEW %s.condition_occurrence AS SELECT * FROM read_parquet(['%s'])", s, d.Tables["condition_occurrence"][0]))
		parts = append(parts, fmt.Sprintf("SELECT *, '%s' AS source_dataset, '%s' AS source_institution FROM %s.condition_occurrence", d.Manifest, d.Institution, s))
	}
	mustExec(b, base, "CREATE SCHEMA cohorts")
	mustExec(b, base, "CREATE VIEW cohorts.condition_occurrence AS "+strings.Join(parts, " UNION ALL BY NAME "))

	viaEngine := func() (int64, error) {
		r, err := e.Query(b.Context(), pooledSQL, query.Options{})
		if err != nil {
			return 0, err
		}
		if err := query.Write(io.Discard, r, query.FormatCSV, query.WriteOptions{}); err != nil {
			return 0, err
		}
		return r.Provenance().Rows, nil
	}
	direct := func() (int64, error) {
		r, err := base.QueryContext(b.Context(), pooledSQL)
		if err != nil {
			return 0, err
		}
		defer r.Close()
		var n int64
		var code string
		var persons, events int64
		for r.Next() {
			if err := r.Scan(&code, &persons, &events); err != nil {
				return 0, err
			}
			n++
		}
		return n, r.Err()
	}
	total := float64(rows * len(ds))
	for b.Loop() {
		var te, td []time.Duration
		for range 5 {
			for _, run := range []struct {
				f   func() (int64, error)
				out *[]time.Duration
			}{{viaEngine, &te}, {direct, &td}} {
				start := time.Now()
				n, err := run.f()
				if err != nil {
					b.Fatal(err)
				}
				if n == 0 {
					b.Fatal("no result rows")
				}
				*run.out = append(*run.out, time.Since(start))
			}
		}
		me, md := median(te), median(td)
		b.ReportMetric(float64(me.Milliseconds()), "cohortnet-ms")
		b.ReportMetric(float64(md.Milliseconds()), "duckdb-ms")
		b.ReportMetric(total/me.Seconds()/1e6, "cohortnet-Mrows/s")
		b.ReportMetric(total/md.Seconds()/1e6, "duckdb-Mrows/s")
		b.ReportMetric(100*(me.Seconds()/md.Seconds()-1), "overhead-%")
	}
}

func mustExec(b *testing.B, db *sql.DB, q string) {
	b.Helper()
	if _, err := db.Exec(q); err != nil {
		b.Fatalf("%s: %v", q, err)
	}
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// BenchmarkFederatedAESignals times `ae signals` with the self-controlled
// and the exposures methods across
// three local nodes: each node's engine over its own synthetic dataset
// (internal/synth, 3000 patients each, de-identified in expert mode by deid
// through internal/cdmtest; not timed), each answering with suppression and
// a signature, and the requester verifying and pooling the three answers.
func BenchmarkFederatedAESignals(b *testing.B) {
	ctx := b.Context()
	root := b.TempDir()
	var answerers []*query.Answerer
	for i, inst := range []string{"hospital-a", "hospital-b", "hospital-c"} {
		out := filepath.Join(root, "export", inst)
		cdmtest.Export(b, out, synth.Config{Patients: 3000, Seed: int64(i + 1), Institution: inst})
		cd := cdmtest.Deidentify(b, out, source.FormatSyntheaCSV, filepath.Join(root, "store", inst), deid.Expert, false)
		d := query.Dataset{Name: inst + "/synth", Institution: inst, Manifest: "bafy-" + inst, Mode: query.ModeExpert, Own: true, Tables: cd.Tables}
		e, err := query.Open(ctx, query.Config{Threads: 2}, []query.Dataset{d})
		if err != nil {
			b.Fatal(err)
		}
		defer e.Close()
		key, _, err := crypto.GenerateEd25519Key(rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		answerers = append(answerers, &query.Answerer{Engine: e, Key: key, Institution: inst, Releases: &query.MemoryReleases{}})
	}
	for _, src := range []string{query.SourceSelfControlled, query.SourceExposures} {
		b.Run(src, func(b *testing.B) {
			for b.Loop() {
				start := time.Now()
				var answers []*query.AEAnswer
				for _, a := range answerers {
					ans, err := a.AnswerAE(ctx, "agency", query.SignalConfig{Source: src})
					if err != nil {
						b.Fatal(err)
					}
					answers = append(answers, ans)
				}
				sig, rejected := query.PooledSignals(answers, 3, "", "")
				if len(rejected) > 0 || len(sig) == 0 {
					b.Fatalf("rejected %v, %d signals", rejected, len(sig))
				}
				b.ReportMetric(float64(time.Since(start).Milliseconds()), "federated-ms")
				b.ReportMetric(float64(len(sig)), "pairs")
			}
		})
	}
}
