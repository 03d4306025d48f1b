package deid

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/cohortnet/cohortnet/deid/scrub"
	"github.com/cohortnet/cohortnet/deid/source"
)

// tablesAtOnce is how many tables writeTables works on at the same time.
// A table is a pipeline of three goroutines (parse, de-identify, encode)
// whose slowest stage sets its pace; two tables at once keep the cores busy
// where one would leave them waiting on that stage.
const tablesAtOnce = 2

// writeTables writes every table other than person, tablesAtOnce at a time,
// the ones that are usually the most work first (see startOrder). Each
// table's files are the same whatever runs beside it; the report lists them
// in table order.
func (r *run) writeTables(ctx context.Context, root string) error {
	var tables []string
	for _, t := range r.exp.Tables() {
		if t != source.Person && source.Schema(t) != nil {
			tables = append(tables, t)
			r.tables[t] = &TableReport{Columns: map[string]Transform{}}
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	states := make([]*tableState, len(tables))
	errs := make([]error, len(tables))
	sem := make(chan struct{}, tablesAtOnce)
	var wg sync.WaitGroup
	for _, i := range startOrder(tables) {
		t := tables[i]
		sem <- struct{}{}
		if ctx.Err() != nil {
			<-sem
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			start := time.Now()
			states[i] = &tableState{keyed: newKeyed(r.cfg.Key)}
			if errs[i] = r.writeTable(ctx, root, t, states[i]); errs[i] != nil {
				cancel()
				return
			}
			r.log.Info("deid: table written", "table", t, "rows", r.tables[t].RowsOut, "seconds", since(start))
		}()
	}
	wg.Wait()
	// the first failure in table order that is not another table's
	// cancellation
	var first error
	for _, err := range errs {
		if err != nil && (first == nil || errors.Is(first, context.Canceled) && !errors.Is(err, context.Canceled)) {
			first = err
		}
	}
	if first != nil {
		return first
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, st := range states {
		r.report.Files = append(r.report.Files, st.files...)
		r.years.join(st.years)
	}
	return nil
}

// startOrder returns the indexes of tables in the order to start them, by
// the work they usually are (a 1,000,000-patient synth export takes about
// 66, 43, 29, 17, 15 and 7 seconds for these tables two at a time): the
// longest first, so the short ones fill in at the end and the two lanes
// finish together.
func startOrder(tables []string) []int {
	rank := func(t string) int {
		switch t {
		case source.Note:
			return 0
		case source.Measurement:
			return 1
		case source.Visit:
			return 2
		case source.Drug:
			return 3
		case source.Condition:
			return 4
		case source.Procedure:
			return 5
		}
		return 6
	}
	order := make([]int, len(tables))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return rank(tables[a]) - rank(tables[b]) })
	return order
}

// tableState is what one table's writer keeps to itself, so tables can be
// written at the same time.
type tableState struct {
	keyed    *keyed
	scrubbed []string // the current batch's scrubbed text (see scrubBatch)
	years    yearRange
	files    []FileEntry
	// the last source visit id pseudonymized and its pseudonym (rows of
	// one visit come together)
	lastVisit   []byte
	lastVisitID [pseudonymChars]byte
	hasLast     bool
}

// visitID appends the id of source visit v: its random surrogate when sur
// is set (safe-harbor), else its keyed pseudonym.
func (ts *tableState) visitID(b array.Builder, v string, sur *surrogateStore) error {
	if !ts.hasLast || string(ts.lastVisit) != v {
		if sur != nil {
			raw, err := sur.get(v)
			if err != nil {
				return err
			}
			pseudonymEncoding.Encode(ts.lastVisitID[:], raw[:])
		} else {
			pseudonymEncoding.Encode(ts.lastVisitID[:], ts.keyed.sum("visit", v)[:pseudonymBytes])
		}
		ts.lastVisit = append(ts.lastVisit[:0], v...)
		ts.hasLast = true
	}
	b.(*array.StringBuilder).BinaryBuilder.Append(ts.lastVisitID[:])
	return nil
}

// writeTable streams one table other than person, batch by batch.
func (r *run) writeTable(ctx context.Context, root, table string, ts *tableState) error {
	tr := r.tables[table]
	spec := r.outColumns(table, tr)
	w, err := newTableWriter(root, table, outSchema(spec), r.cfg.RowGroupRows, r.cfg.RowsPerFile)
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			w.abort()
		}
	}()
	src, err := r.exp.Read(ctx, table)
	if err != nil {
		return fmt.Errorf("read %s: %w", table, err)
	}
	rd := prefetch(src, 4)
	defer rd.Release()
	var counter *codeCounter
	var vocabCol, codeCol, nameCol string
	switch table {
	case source.Condition:
		counter, vocabCol, codeCol, nameCol = &r.conds, "condition_vocabulary", "condition_code", "condition_name"
	case source.Drug:
		counter, vocabCol, codeCol, nameCol = &r.drugs, "drug_vocabulary", "drug_code", "drug_name"
	}
	srcCols := make([]arrow.Array, len(spec))
	var lastSid []byte
	var lastPi int32
	var lastFound, lastOK bool
	for rd.Next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		rec := rd.RecordBatch()
		c := newCols(rec)
		pids, err := c.str("source_person_id")
		if err != nil || pids == nil {
			return fmt.Errorf("read %s: no usable source_person_id column", table)
		}
		for i, col := range spec {
			j, found := c.idx[col.src]
			if !found {
				srcCols[i] = nil
				continue
			}
			srcCols[i] = rec.Column(j)
		}
		var cv, cc, cn *array.String
		if counter != nil {
			cv, _ = c.str(vocabCol)
			cc, _ = c.str(codeCol)
			cn, _ = c.str(nameCol)
		}
		n := int(rec.NumRows())
		if ts.scrubbed, err = r.scrubBatch(spec, srcCols, pids, n); err != nil {
			return fmt.Errorf("%s: %w", table, err)
		}
		for i := 0; i < n; i++ {
			tr.RowsIn++
			// a person's rows usually come together: the last lookup
			// answers most of them
			sid := sv(pids, i)
			if !lastOK || string(lastSid) != sid {
				lastPi, lastFound = r.index.lookup(sid, r.persons)
				lastSid, lastOK = append(lastSid[:0], sid...), true
			}
			pi, found := lastPi, lastFound
			if !found {
				tr.Orphans++
				continue
			}
			p := &r.persons[pi]
			if p.status != kept {
				continue
			}
			for ci, col := range spec {
				if err := r.cell(ts, w.bld.Field(ci), col, srcCols[ci], i, p); err != nil {
					return fmt.Errorf("%s row %d column %s: %w", table, tr.RowsIn, col.src, err)
				}
			}
			if counter != nil {
				counter.add(sv(cv, i), sv(cc, i), sv(cn, i))
			}
			if err := w.rowDone(); err != nil {
				return err
			}
		}
		r.progress(table, tr.RowsIn)
	}
	if err := rd.Err(); err != nil {
		return fmt.Errorf("read %s: %w", table, err)
	}
	files, err := w.close()
	if err != nil {
		return err
	}
	ok = true
	tr.RowsOut = w.totalRows
	ts.files = files
	return nil
}

// cell appends one output value.
func (r *run) cell(ts *tableState, b array.Builder, col outColumn, a arrow.Array, i int, p *person) error {
	if col.name == "person_id" {
		appendID(b, p)
		return nil
	}
	if a == nil || a.IsNull(i) {
		b.AppendNull()
		return nil
	}
	switch col.tr {
	case Pseudonymize, Surrogate:
		s, ok := a.(*array.String)
		if !ok {
			return fmt.Errorf("want string, have %s", a.DataType())
		}
		v := s.Value(i)
		if v == "" {
			b.AppendNull()
			return nil
		}
		if col.tr == Surrogate {
			if r.visitIDs == nil {
				return errors.New("surrogate ids need safe-harbor mode's surrogate folder")
			}
			return ts.visitID(b, v, r.visitIDs)
		}
		return ts.visitID(b, v, nil)
	case Scrub:
		s, ok := a.(*array.String)
		if !ok {
			return fmt.Errorf("want string, have %s", a.DataType())
		}
		if ts.scrubbed != nil {
			appendStr(b, ts.scrubbed[i], false)
			return nil
		}
		id, _, err := r.identity(p, nil)
		if err != nil {
			return err
		}
		res := r.scrubber.Scrub(s.Value(i), id)
		appendStr(b, res.Text, false)
		return nil
	}
	if col.isDate {
		d, ok := a.(*array.Date32)
		if !ok {
			return fmt.Errorf("want date32, have %s", a.DataType())
		}
		v, ok := r.dateValue(col.tr, p, int32(d.Value(i)))
		appendDate(b, col, v, ok)
		if ok && col.tr != Day {
			ts.years.noteOf(col, v)
		}
		return nil
	}
	switch src := a.(type) {
	case *array.String:
		appendStr(b, src.Value(i), false)
	case *array.Float64:
		b.(*array.Float64Builder).Append(src.Value(i))
	case *array.Boolean:
		b.(*array.BooleanBuilder).Append(src.Value(i))
	default:
		return fmt.Errorf("unsupported type %s", a.DataType())
	}
	return nil
}

// scrubBatch scrubs the free-text column of a batch on every core, in
// order, for the rows whose person is released; nil when the table has no
// text to scrub.
func (r *run) scrubBatch(spec []outColumn, srcCols []arrow.Array, pids *array.String, n int) ([]string, error) {
	ci := slices.IndexFunc(spec, func(c outColumn) bool { return c.tr == Scrub })
	if ci < 0 || r.scrubber == nil {
		return nil, nil
	}
	texts, ok := srcCols[ci].(*array.String)
	if !ok {
		return nil, nil // cell reports the type error
	}
	out := make([]string, n)
	workers := min(runtime.GOMAXPROCS(0), max(1, n/8))
	errs := make([]error, workers)
	// workers take runs of consecutive notes (a person's notes usually
	// come together, so a worker reads their identifiers once)
	const run = 16
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			lastPi := int32(-1)
			var id *scrub.Identity
			for {
				from := int(next.Add(run)) - run
				if from >= n {
					return
				}
				for i := from; i < min(from+run, n); i++ {
					if texts.IsNull(i) {
						continue
					}
					pi, found := r.index.lookup(sv(pids, i), r.persons)
					if !found || r.persons[pi].status != kept {
						continue
					}
					if pi != lastPi {
						var err error
						if id, buf, err = r.identity(&r.persons[pi], buf); err != nil {
							errs[w] = err
							return
						}
						lastPi = pi
					}
					out[i] = r.scrubber.Scrub(texts.Value(i), id).Text
				}
			}
		}()
	}
	wg.Wait()
	return out, errors.Join(errs...)
}
