package query

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const canary = "CANARY-7f3a9c-not-for-researchers"

// TestEscapeAttempts runs a corpus of attempts to read, write or reconfigure
// outside the sandbox. Each must fail, and the canary (a file beside the
// datasets' own Parquet files, and one above the store) must never appear in
// anything a query returns, in any format, nor in the error.
func TestEscapeAttempts(t *testing.T) {
	root := t.TempDir()
	ds, _ := threeSites(t, root, 20)
	dir := filepath.Dir(ds[0].Tables["person"][0])
	inside := filepath.Join(dir, "canary.csv")   // same directory as allowed files
	outside := filepath.Join(root, "canary.csv") // above the store
	for _, p := range []string{inside, outside} {
		if err := os.WriteFile(p, []byte("secret\n"+canary+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A Parquet file that is not part of any dataset, in the store.
	stray := filepath.Join(dir, "stray.parquet")
	if err := os.Link(ds[1].Tables["person"][0], stray); err != nil {
		t.Fatal(err)
	}
	written := filepath.Join(root, "written.csv")
	e, err := Open(t.Context(), Config{Threads: 1, MemoryLimit: 128 << 20}, ds)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	person := ds[0].Tables["person"][0]

	attempts := []string{
		fmt.Sprintf("SELECT * FROM read_csv('%s')", inside),
		fmt.Sprintf("SELECT * FROM read_csv('%s')", outside),
		fmt.Sprintf("SELECT * FROM read_csv_auto('%s')", inside),
		fmt.Sprintf("SELECT * FROM read_text('%s')", inside),
		fmt.Sprintf("SELECT * FROM read_blob('%s')", outside),
		fmt.Sprintf("SELECT * FROM read_json('%s')", inside),
		fmt.Sprintf("SELECT * FROM read_json_auto('%s')", outside),
		fmt.Sprintf("SELECT * FROM '%s'", inside),
		fmt.Sprintf("SELECT * FROM read_parquet('%s')", stray),
		fmt.Sprintf("SELECT * FROM read_parquet('%s/*.parquet')", dir),
		fmt.Sprintf("SELECT * FROM glob('%s/*')", dir),
		"SELECT * FROM glob('/etc/*')",
		"SELECT * FROM read_text('/etc/passwd')",
		fmt.Sprintf("SELECT * FROM read_text('%s/../a/canary.csv')", dir),
		fmt.Sprintf("SELECT * FROM read_csv('%s', sep = '|')", strings.ReplaceAll(inside, "/", "//")),
		fmt.Sprintf("SELECT * FROM sniff_csv('%s')", inside),
		"SELECT * FROM read_parquet('https://example.com/x.parquet')",
		"SELECT * FROM read_csv('http://127.0.0.1:1/x.csv')",
		"SELECT * FROM read_parquet('s3://bucket/x.parquet')",
		fmt.Sprintf("SELECT * FROM query('SELECT * FROM read_text(''%s'')')", inside),
		fmt.Sprintf("SELECT * FROM query_table('%s')", inside),
		fmt.Sprintf("COPY (SELECT * FROM cohorts.person) TO '%s'", written),
		fmt.Sprintf("COPY cohorts.person FROM '%s'", inside),
		fmt.Sprintf("EXPORT DATABASE '%s'", root),
		fmt.Sprintf("ATTACH '%s' AS x", filepath.Join(root, "x.duckdb")),
		"ATTACH ':memory:' AS m",
		"DETACH memory",
		"INSTALL httpfs",
		"LOAD httpfs",
		"FORCE INSTALL json",
		"SET enable_external_access = true",
		"SET allowed_paths = ['/']",
		"RESET allowed_paths",
		"SET lock_configuration = false",
		"PRAGMA enable_external_access=true",
		"SET threads = 64",
		"SET memory_limit = '100GB'",
		"CREATE TABLE t AS SELECT 1",
		"CREATE VIEW cohorts.person2 AS SELECT 1",
		"CREATE MACRO m(x) AS x",
		"CREATE SECRET (TYPE s3, KEY_ID 'x', SECRET 'y')",
		"INSERT INTO cohorts.person VALUES (1)",
		"UPDATE cohorts.person SET gender = 'X'",
		"DELETE FROM cohorts.person",
		"DROP SCHEMA cohorts CASCADE",
		"ALTER VIEW cohorts.person RENAME TO p",
		"SELECT 1; SET enable_external_access = true",
		"SELECT 1; DROP VIEW cohorts.person",
		fmt.Sprintf("SELECT 1; COPY (SELECT 1) TO '%s'", written),
		"CALL pragma_version()",
		"CHECKPOINT",
		"USE cohorts",
		"BEGIN TRANSACTION",
		"PREPARE p AS SELECT 1",
		"/* hide */ set enable_external_access=true",
		fmt.Sprintf("WITH x AS (SELECT 1) SELECT * FROM read_text('%s')", outside),
		fmt.Sprintf("SELECT (SELECT content FROM read_text('%s'))", inside),
		fmt.Sprintf("SELECT * FROM cohorts.person, read_text('%s')", inside),
		fmt.Sprintf("SELECT * FROM read_parquet(['%s', '%s'])", person, inside),
		"SELECT * FROM duckdb_secrets()",
	}
	if len(attempts) < 30 {
		t.Fatalf("only %d attempts", len(attempts))
	}
	for i, q := range attempts {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			rows, err := e.Query(t.Context(), q, Options{Timeout: 5 * time.Second})
			if err == nil {
				var buf bytes.Buffer
				err = Write(&buf, rows, FormatCSV, WriteOptions{})
				if strings.Contains(buf.String(), canary) {
					t.Fatalf("canary leaked by %q", q)
				}
				// Listing secrets is harmless while none exist: it must be empty.
				if err == nil && strings.HasPrefix(q, "SELECT * FROM duckdb_secrets") {
					if lines := strings.Count(buf.String(), "\n"); lines != 1 {
						t.Fatalf("%q returned %d lines", q, lines)
					}
					return
				}
			}
			if err == nil {
				t.Fatalf("%q ran", q)
			}
			if strings.Contains(err.Error(), canary) {
				t.Fatalf("canary leaked in the error of %q", q)
			}
			if !errors.Is(err, ErrRefused) && !strings.Contains(err.Error(), "does not exist") {
				t.Logf("%q: not a refusal but failed: %v", q, err)
			}
		})
	}
	if _, err := os.Stat(written); err == nil {
		t.Error("a file was written outside the store")
	}
	// The sandbox still works for honest queries afterwards, with the same limits.
	got, _ := collect(t, e, "SELECT current_setting('enable_external_access'), current_setting('lock_configuration')")
	if got[0][0] != "false" || got[0][1] != "true" {
		t.Errorf("settings after the attempts: %v", got)
	}
}

// TestTimeoutInterrupts: a huge cross join is interrupted and returns within
// 2 s after the timeout.
func TestTimeoutInterrupts(t *testing.T) {
	e, _, _ := openThree(t, 10)
	const timeout = 500 * time.Millisecond
	start := time.Now()
	rows, err := e.Query(t.Context(), "SELECT sum(a.range * b.range) FROM range(1000000) a CROSS JOIN range(1000000) b", Options{Timeout: timeout})
	took := time.Since(start)
	if err == nil {
		rows.Close()
		t.Fatal("the cross join finished")
	}
	if !errors.Is(err, ErrTimeout) {
		t.Errorf("got %v, want ErrTimeout", err)
	}
	if took > timeout+2*time.Second {
		t.Errorf("returned %s after start, timeout %s", took, timeout)
	}
	// The engine is usable afterwards.
	if got, _ := collect(t, e, "SELECT 42"); got[0][0] != "42" {
		t.Errorf("after timeout: %v", got)
	}
}

// TestMemoryLimit: a query that needs more than the limit fails cleanly
// instead of taking the machine's memory.
func TestMemoryLimit(t *testing.T) {
	ds, _ := threeSites(t, t.TempDir(), 10)
	e, err := Open(t.Context(), Config{Threads: 1, MemoryLimit: 64 << 20}, ds)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	rows, err := e.Query(t.Context(), "SELECT max(length(s)) FROM (SELECT string_agg(range::VARCHAR, ',') s FROM range(30000000))", Options{Timeout: 20 * time.Second})
	if err == nil {
		err = Write(&bytes.Buffer{}, rows, FormatCSV, WriteOptions{})
	}
	if !errors.Is(err, ErrMemoryLimit) {
		t.Errorf("got %v, want ErrMemoryLimit", err)
	}
	if got, _ := collect(t, e, "SELECT current_setting('memory_limit')"); !strings.Contains(got[0][0], "MiB") && !strings.Contains(got[0][0], "MB") {
		t.Errorf("memory_limit = %v", got)
	}
}
