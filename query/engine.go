package query

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/duckdb/duckdb-go/v2"
)

// Config configures an [Engine]. Its zero value works.
type Config struct {
	// MemoryLimit caps DuckDB's memory, in bytes. Zero means 1 GiB.
	MemoryLimit int64
	// Threads is DuckDB's worker thread count. Zero means runtime.NumCPU().
	Threads int
	// Timeout interrupts a query that runs longer. Zero means 60 s.
	Timeout time.Duration
	// TempDir, if set, lets DuckDB spill to this directory when a query
	// needs more than MemoryLimit. Empty means no spilling: such a query
	// fails with an out-of-memory error.
	TempDir string
	// Logger receives debug lines about views and queries (never data).
	// If nil, log lines are discarded.
	Logger *slog.Logger
}

func (c Config) memoryLimit() int64 {
	if c.MemoryLimit > 0 {
		return c.MemoryLimit
	}
	return 1 << 30
}

func (c Config) threads() int {
	if c.Threads > 0 {
		return c.Threads
	}
	return runtime.NumCPU()
}

func (c Config) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return 60 * time.Second
}

// Engine is a sandboxed DuckDB database with a schema of views per local
// dataset and the union schemas [UnionDates], [UnionYears] and [UnionDays].
// It is safe for concurrent use. The dataset list is fixed at [Open]: when
// the catalogue changes (a publication, a retraction), open a new engine and
// close the old one.
type Engine struct {
	cfg      Config
	log      *slog.Logger
	db       *sql.DB
	datasets []Dataset
	// unions maps a union schema to its datasets' indexes per table.
	unions map[string]map[string][]int
	// files maps each Parquet path to the index of its dataset.
	files map[string]int

	closeOnce sync.Once
	closeErr  error
}

// Open builds the engine over datasets: one schema of views per dataset and
// the union views, then locks the database down (only the datasets' files
// readable, no external access, configuration locked; the comment at the
// top of sandbox.go says how) before any researcher SQL can run. Two
// datasets whose schema names collide are an error.
func Open(ctx context.Context, cfg Config, datasets []Dataset) (*Engine, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Engine{
		cfg:      cfg,
		log:      log,
		datasets: slices.Clone(datasets),
		unions:   map[string]map[string][]int{},
		files:    map[string]int{},
	}
	schemas := map[string]string{}
	for i, d := range e.datasets {
		if err := d.validate(); err != nil {
			return nil, fmt.Errorf("query: open: %w", err)
		}
		s := d.Schema()
		if other, ok := schemas[s]; ok {
			return nil, fmt.Errorf("query: open: datasets %s and %s both map to schema %s", other, d.Name, s)
		}
		if slices.Contains([]string{UnionDates, UnionYears, UnionDays, "main", "information_schema", "pg_catalog", "temp", "system"}, s) {
			return nil, fmt.Errorf("query: open: dataset %s: schema name %s is reserved", d.Name, s)
		}
		schemas[s] = d.Name
		for table, fs := range d.Tables {
			if e.unions[d.Union()] == nil {
				e.unions[d.Union()] = map[string][]int{}
			}
			e.unions[d.Union()][table] = append(e.unions[d.Union()][table], i)
			for _, f := range fs {
				e.files[f] = i
			}
		}
	}

	// Settings that must hold from the first statement on go into the
	// database configuration itself.
	dsn := url.Values{}
	dsn.Set("autoload_known_extensions", "false")
	dsn.Set("autoinstall_known_extensions", "false")
	dsn.Set("allow_community_extensions", "false")
	dsn.Set("allow_unsigned_extensions", "false")
	dsn.Set("threads", strconv.Itoa(cfg.threads()))
	dsn.Set("memory_limit", strconv.FormatInt(cfg.memoryLimit()/1024, 10)+"KiB")
	connector, err := duckdb.NewConnector("?"+dsn.Encode(), nil)
	if err != nil {
		return nil, fmt.Errorf("query: open duckdb: %w", err)
	}
	e.db = sql.OpenDB(connector)
	if err := e.build(ctx); err != nil {
		e.db.Close()
		return nil, err
	}
	return e, nil
}

// build creates the schemas and views, then applies the sandbox settings and
// locks the configuration.
func (e *Engine) build(ctx context.Context) error {
	var stmts []string
	for _, d := range e.datasets {
		s := quoteIdent(d.Schema())
		stmts = append(stmts, "CREATE SCHEMA "+s)
		for _, table := range sortedKeys(d.Tables) {
			var lits []string
			for _, f := range d.Tables[table] {
				lits = append(lits, quoteString(f))
			}
			stmts = append(stmts, fmt.Sprintf("CREATE VIEW %s.%s AS SELECT * FROM read_parquet([%s])",
				s, quoteIdent(table), strings.Join(lits, ", ")))
		}
	}
	for _, union := range []string{UnionDates, UnionYears, UnionDays} {
		stmts = append(stmts, "CREATE SCHEMA "+union)
		for _, table := range Tables {
			idx := e.unions[union][table]
			if len(idx) == 0 {
				continue
			}
			var parts []string
			for _, i := range idx {
				d := e.datasets[i]
				parts = append(parts, fmt.Sprintf("SELECT *, %s AS source_dataset, %s AS source_institution FROM %s.%s",
					quoteString(d.Manifest), quoteString(d.Institution), quoteIdent(d.Schema()), quoteIdent(table)))
			}
			stmts = append(stmts, fmt.Sprintf("CREATE VIEW %s.%s AS %s", union, quoteIdent(table),
				strings.Join(parts, "\nUNION ALL BY NAME\n")))
		}
	}
	// The sandbox: only the datasets' own files are readable, nothing else
	// on disk or on the network, and no setting can change afterwards.
	var allowed []string
	for _, f := range sortedKeys(e.files) {
		allowed = append(allowed, quoteString(f))
	}
	stmts = append(stmts, "SET allowed_paths = ["+strings.Join(allowed, ", ")+"]")
	if e.cfg.TempDir != "" {
		stmts = append(stmts, "SET temp_directory = "+quoteString(e.cfg.TempDir))
		stmts = append(stmts, "SET allowed_directories = ["+quoteString(e.cfg.TempDir)+"]")
	} else {
		stmts = append(stmts, "SET temp_directory = ''")
	}
	stmts = append(stmts,
		"SET enable_external_access = false",
		"SET lock_configuration = true",
	)
	for _, s := range stmts {
		if _, err := e.db.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("query: build views: %w", err)
		}
	}
	e.log.Debug("query engine ready", "datasets", len(e.datasets), "files", len(e.files))
	return nil
}

// Datasets returns the datasets the engine was opened over.
func (e *Engine) Datasets() []Dataset { return slices.Clone(e.datasets) }

// Close closes the database. Open [Rows] must be closed first.
func (e *Engine) Close() error {
	e.closeOnce.Do(func() { e.closeErr = e.db.Close() })
	return e.closeErr
}

// ErrTimeout is returned when a query ran longer than its timeout and was
// interrupted. Retry with a longer timeout or a narrower query.
var ErrTimeout = errors.New("query: timed out")

// Options are per-query settings. The zero value works.
type Options struct {
	// Timeout overrides the engine's timeout when positive.
	Timeout time.Duration
	// Checkpoint is the ledger checkpoint at the time of the query, carried
	// in the result's provenance as is.
	Checkpoint string
}

// Query runs one researcher SELECT statement in the sandbox and returns its
// rows. Anything but a single SELECT is refused with an error wrapping
// [ErrRefused]; a query running past the timeout is interrupted and fails
// with [ErrTimeout]. The caller must close the rows.
func (e *Engine) Query(ctx context.Context, query string, opts Options) (*Rows, error) {
	started := time.Now()
	conn, err := e.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("query: connect: %w", err)
	}
	tree, err := checkStatement(ctx, conn, query)
	if err != nil {
		conn.Close()
		return nil, err
	}
	prov := e.provenance(tree, query)
	prov.Checkpoint = opts.Checkpoint
	prov.Started = started.UTC()

	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = e.cfg.timeout()
	}
	rows, cancel, err := e.run(ctx, conn, timeout, query)
	if err != nil {
		conn.Close()
		return nil, err
	}
	r, err := newRows(rows, conn, cancel, prov)
	if err != nil {
		rows.Close()
		cancel()
		conn.Close()
		return nil, err
	}
	e.log.Debug("query started", "datasets", len(prov.Datasets))
	return r, nil
}

// run executes query on conn, interrupting it when timeout passes. The
// returned cancel function releases the query's context after the rows are
// closed.
func (e *Engine) run(ctx context.Context, conn *sql.Conn, timeout time.Duration, query string, args ...any) (*sql.Rows, context.CancelFunc, error) {
	qctx, cancel := context.WithCancel(ctx)
	var timedOut sync.Mutex
	fired := false
	timer := time.AfterFunc(timeout, func() {
		timedOut.Lock()
		fired = true
		timedOut.Unlock()
		cancel()
	})
	rows, err := conn.QueryContext(qctx, query, args...)
	timer.Stop()
	timedOut.Lock()
	late := fired
	timedOut.Unlock()
	if late {
		if rows != nil {
			rows.Close()
		}
		cancel()
		return nil, nil, fmt.Errorf("%w after %s (interrupted)", ErrTimeout, timeout)
	}
	if err != nil {
		cancel()
		if ctx.Err() != nil {
			return nil, nil, fmt.Errorf("query: %w", ctx.Err())
		}
		return nil, nil, classify(err)
	}
	return rows, cancel, nil
}

// queryTrusted runs SQL the package itself wrote (aggregates, signals) over
// the same locked-down database, with the engine's timeout, and hands each
// row to fn.
func (e *Engine) queryTrusted(ctx context.Context, query string, fn func(*sql.Rows) error, args ...any) error {
	conn, err := e.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("query: connect: %w", err)
	}
	defer conn.Close()
	rows, cancel, err := e.run(ctx, conn, e.cfg.timeout(), query, args...)
	if err != nil {
		return err
	}
	defer cancel()
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

var _ io.Closer = (*Engine)(nil)
