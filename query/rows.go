package query

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Column is a result column: its name and DuckDB type name.
type Column struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// Rows streams a query's result. Values come as duckdb-go scans them
// (int32, float64, string, time.Time, duckdb.Decimal, ...; nil for NULL).
type Rows struct {
	rows   *sql.Rows
	conn   *sql.Conn
	cancel context.CancelFunc
	cols   []Column
	vals   []any
	ptrs   []any
	prov   Provenance
	err    error
	closed bool
}

func newRows(rows *sql.Rows, conn *sql.Conn, cancel context.CancelFunc, prov Provenance) (*Rows, error) {
	types, err := rows.ColumnTypes()
	if err != nil {
		return nil, fmt.Errorf("query: result columns: %w", err)
	}
	r := &Rows{rows: rows, conn: conn, cancel: cancel, prov: prov}
	for _, t := range types {
		r.cols = append(r.cols, Column{Name: t.Name(), Type: t.DatabaseTypeName()})
	}
	r.vals = make([]any, len(types))
	r.ptrs = make([]any, len(types))
	for i := range r.vals {
		r.ptrs[i] = &r.vals[i]
	}
	return r, nil
}

// Columns returns the result's columns.
func (r *Rows) Columns() []Column { return r.cols }

// Next advances to the next row; it returns false at the end or on error
// (see [Rows.Err]).
func (r *Rows) Next() bool {
	if r.closed || r.err != nil || !r.rows.Next() {
		return false
	}
	for i := range r.vals {
		r.vals[i] = nil
	}
	if err := r.rows.Scan(r.ptrs...); err != nil {
		r.err = fmt.Errorf("query: read row %d: %w", r.prov.Rows+1, err)
		return false
	}
	r.prov.Rows++
	return true
}

// Values returns the current row; the slice is reused by the next call to
// [Rows.Next].
func (r *Rows) Values() []any { return r.vals }

// Err returns the error that ended the iteration, if any.
func (r *Rows) Err() error {
	if r.err != nil {
		return r.err
	}
	if err := r.rows.Err(); err != nil {
		return classify(err)
	}
	return nil
}

// Close releases the result and its connection. It is safe to call twice.
func (r *Rows) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	err := r.rows.Close()
	r.cancel()
	if cerr := r.conn.Close(); err == nil {
		err = cerr
	}
	r.prov.Duration = time.Since(r.prov.Started).Round(time.Millisecond).String()
	return err
}

// Provenance returns the result's provenance; its row count is final once
// the rows are read to the end.
func (r *Rows) Provenance() Provenance { return r.prov }
