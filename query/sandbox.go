package query

// The sandbox has two layers. DuckDB's own controls come first: the engine
// opens DuckDB with extension autoloading and autoinstalling off, creates
// its views, then sets allowed_paths to exactly the datasets' Parquet files,
// enable_external_access = false (no other file, no http, s3, ATTACH,
// INSTALL or COPY target is reachable) and lock_configuration = true (no SET
// or PRAGMA can undo any of it). The statement check comes second: DuckDB's
// own parser (json_serialize_sql, which serializes only SELECT statements)
// must find exactly one SELECT statement, and DuckDB's prepared statement
// must report the SELECT type, before anything runs. String matching is used
// only to word the refusal.

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/duckdb/duckdb-go/v2"
)

// ErrRefused is returned for SQL the sandbox does not run: anything but one
// SELECT statement, or a SELECT that reaches outside the datasets' files.
// The message says why; the user should rewrite the query over the views.
var ErrRefused = errors.New("query: refused by the sandbox")

// ErrMemoryLimit is returned when a query needs more memory than the
// engine's limit. Narrow the query or aggregate earlier.
var ErrMemoryLimit = errors.New("query: memory limit reached")

// maxSQL caps the size of a researcher's statement.
const maxSQL = 1 << 20

// refusals words the refusal of a statement kind, by its first keyword.
var refusals = map[string]string{
	"COPY":       "COPY reads or writes files",
	"EXPORT":     "EXPORT DATABASE writes files",
	"IMPORT":     "IMPORT DATABASE reads files",
	"ATTACH":     "ATTACH opens other databases",
	"DETACH":     "DETACH changes the catalogue",
	"INSTALL":    "INSTALL fetches extensions",
	"FORCE":      "INSTALL fetches extensions",
	"LOAD":       "LOAD loads extensions",
	"SET":        "SET changes settings",
	"RESET":      "RESET changes settings",
	"PRAGMA":     "PRAGMA changes settings",
	"CREATE":     "CREATE writes to the database",
	"INSERT":     "INSERT writes to the database",
	"UPDATE":     "UPDATE writes to the database",
	"DELETE":     "DELETE writes to the database",
	"DROP":       "DROP writes to the database",
	"ALTER":      "ALTER writes to the database",
	"TRUNCATE":   "TRUNCATE writes to the database",
	"MERGE":      "MERGE writes to the database",
	"CALL":       "CALL runs procedures",
	"CHECKPOINT": "CHECKPOINT writes to the database",
	"VACUUM":     "VACUUM writes to the database",
	"USE":        "USE changes the session",
	"BEGIN":      "transactions are not needed for reading",
	"COMMIT":     "transactions are not needed for reading",
	"ROLLBACK":   "transactions are not needed for reading",
	"PREPARE":    "PREPARE and EXECUTE run other statements",
	"EXECUTE":    "PREPARE and EXECUTE run other statements",
	"DEALLOCATE": "PREPARE and EXECUTE run other statements",
	"SECRET":     "secrets are not available",
}

// checkStatement admits exactly one SELECT statement and returns DuckDB's
// parse tree of it (for provenance).
func checkStatement(ctx context.Context, conn *sql.Conn, query string) (any, error) {
	if strings.TrimSpace(query) == "" {
		return nil, fmt.Errorf("%w: empty statement", ErrRefused)
	}
	if len(query) > maxSQL {
		return nil, fmt.Errorf("%w: statement longer than %d bytes", ErrRefused, maxSQL)
	}
	var raw string
	if err := conn.QueryRowContext(ctx, "SELECT json_serialize_sql(?::VARCHAR)::VARCHAR", query).Scan(&raw); err != nil {
		return nil, fmt.Errorf("query: parse: %w", err)
	}
	var parsed struct {
		Error        bool   `json:"error"`
		ErrorType    string `json:"error_type"`
		ErrorMessage string `json:"error_message"`
		Statements   []any  `json:"statements"`
	}
	if err := json.Unmarshal([]byte(raw), &parsed); err != nil {
		return nil, fmt.Errorf("query: parse: decode parse tree: %w", err)
	}
	if parsed.Error {
		if parsed.ErrorType == "parser" || strings.Contains(strings.ToLower(parsed.ErrorMessage), "syntax") {
			return nil, fmt.Errorf("query: syntax: %s", parsed.ErrorMessage)
		}
		return nil, fmt.Errorf("%w: %s; only a single SELECT statement may run", ErrRefused, refusalFor(query))
	}
	if len(parsed.Statements) != 1 {
		return nil, fmt.Errorf("%w: %d statements; send one SELECT statement at a time", ErrRefused, len(parsed.Statements))
	}
	// DuckDB's own statement type, from a prepared statement (preparing a
	// single statement executes nothing).
	err := conn.Raw(func(dc any) error {
		pc, ok := dc.(driver.ConnPrepareContext)
		if !ok {
			return fmt.Errorf("query: driver connection cannot prepare")
		}
		st, err := pc.PrepareContext(ctx, query)
		if err != nil {
			return classify(err)
		}
		defer st.Close()
		ds, ok := st.(*duckdb.Stmt)
		if !ok {
			return fmt.Errorf("query: unexpected statement type %T", st)
		}
		typ, err := ds.StatementType()
		if err != nil {
			return fmt.Errorf("query: statement type: %w", err)
		}
		if typ != duckdb.STATEMENT_TYPE_SELECT {
			return fmt.Errorf("%w: %s; only a single SELECT statement may run", ErrRefused, refusalFor(query))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return parsed.Statements[0], nil
}

// refusalFor words why a statement kind is refused, from its first keyword.
func refusalFor(query string) string {
	kw := strings.ToUpper(firstKeyword(query))
	if why, ok := refusals[kw]; ok {
		return why
	}
	if kw == "" {
		return "not a SELECT statement"
	}
	return kw + " is not a SELECT statement"
}

// firstKeyword skips whitespace, comments and parentheses and returns the
// first word of query.
func firstKeyword(q string) string {
	for {
		q = strings.TrimLeft(q, " \t\r\n(;")
		switch {
		case strings.HasPrefix(q, "--"):
			if i := strings.IndexByte(q, '\n'); i >= 0 {
				q = q[i+1:]
				continue
			}
			return ""
		case strings.HasPrefix(q, "/*"):
			if i := strings.Index(q, "*/"); i >= 0 {
				q = q[i+2:]
				continue
			}
			return ""
		}
		end := strings.IndexFunc(q, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '_')
		})
		if end < 0 {
			return q
		}
		return q[:end]
	}
}

// classify maps DuckDB's errors to the package's sentinels.
func classify(err error) error {
	var de *duckdb.Error
	if errors.As(err, &de) {
		switch de.Type {
		case duckdb.ErrorTypePermission:
			return fmt.Errorf("%w: %v", ErrRefused, err)
		case duckdb.ErrorTypeOutOfMemory:
			return fmt.Errorf("%w: %v", ErrMemoryLimit, err)
		}
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "Permission Error"), strings.Contains(msg, "configuration has been locked"):
		return fmt.Errorf("%w: %v", ErrRefused, err)
	case strings.Contains(msg, "Out of Memory Error"):
		return fmt.Errorf("%w: %v", ErrMemoryLimit, err)
	}
	return fmt.Errorf("query: %w", err)
}
