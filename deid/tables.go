package deid

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/cohortnet/cohortnet/deid/scrub"
	"github.com/cohortnet/cohortnet/deid/source"
)

// writeTable streams one table other than person, batch by batch.
func (r *run) writeTable(ctx context.Context, root, table string) error {
	tr := &TableReport{Columns: map[string]Transform{}}
	r.tables[table] = tr
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
		if r.scrubbed, err = r.scrubBatch(spec, srcCols, pids, n); err != nil {
			return fmt.Errorf("%s: %w", table, err)
		}
		for i := 0; i < n; i++ {
			tr.RowsIn++
			pi, found := r.index.lookup(sv(pids, i), r.persons)
			if !found {
				tr.Orphans++
				continue
			}
			p := &r.persons[pi]
			if p.status != kept {
				continue
			}
			for ci, col := range spec {
				if err := r.cell(w.bld.Field(ci), col, srcCols[ci], i, p); err != nil {
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
		if r.cfg.Progress != nil {
			r.cfg.Progress(table, tr.RowsIn)
		}
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
	r.report.Files = append(r.report.Files, files...)
	return nil
}

// cell appends one output value.
func (r *run) cell(b array.Builder, col outColumn, a arrow.Array, i int, p *person) error {
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
			id, err := r.visitIDs.get(v)
			if err != nil {
				return err
			}
			appendStr(b, id, false)
			return nil
		}
		appendStr(b, r.keyed.pseudonym("visit", v), false)
		return nil
	case Scrub:
		s, ok := a.(*array.String)
		if !ok {
			return fmt.Errorf("want string, have %s", a.DataType())
		}
		if r.scrubbed != nil {
			appendStr(b, r.scrubbed[i], false)
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
			r.noteYearOf(col, v)
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
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			for i := w; i < n; i += workers {
				if texts.IsNull(i) {
					continue
				}
				pi, found := r.index.lookup(sv(pids, i), r.persons)
				if !found || r.persons[pi].status != kept {
					continue
				}
				var id *scrub.Identity
				var err error
				if id, buf, err = r.identity(&r.persons[pi], buf); err != nil {
					errs[w] = err
					return
				}
				out[i] = r.scrubber.Scrub(texts.Value(i), id).Text
			}
		}()
	}
	wg.Wait()
	return out, errors.Join(errs...)
}
