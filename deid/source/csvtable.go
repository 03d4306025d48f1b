package source

import (
	"context"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// rowMapper maps the current record of c into w. It returns false (and no
// error) for a record it counted as unmapped. It must check every value
// before it appends any, so that a failing record leaves no partial row.
type rowMapper func(c *csvFile, w *rowWriter) (bool, error)

// readCSVTable streams the records of a delimited file through a rowMapper
// (set up by prepare, which sees the header) into record batches of schema.
func readCSVTable(ctx context.Context, path string, comma rune, schema *arrow.Schema, required []string,
	prepare func(c *csvFile) (rowMapper, error)) (array.RecordReader, error) {
	c, err := openCSV(path, comma, required...)
	if err != nil {
		return nil, err
	}
	m, err := prepare(c)
	if err != nil {
		c.close()
		return nil, err
	}
	fill := func(ctx context.Context, w *rowWriter) (bool, error) {
		for w.rows < BatchRows {
			ok, err := c.next()
			if err != nil {
				return false, err
			}
			if !ok {
				return true, nil
			}
			mapped, err := m(c, w)
			if err != nil {
				return false, err
			}
			if mapped {
				w.end()
			}
		}
		return false, nil
	}
	return newBatchReader(ctx, schema, fill, c.close), nil
}

// cell is a checked value of a record, ready to append.
type dateCell struct {
	v  arrow.Date32
	ok bool
}

// dateAt parses the date in column i of c's current record.
func dateAt(c *csvFile, i int) (dateCell, error) {
	d, ok, err := parseDate(c.get(i))
	if err != nil {
		return dateCell{}, c.fieldErr(i, err)
	}
	return dateCell{d, ok}, nil
}

// numAt parses the number in column i of c's current record.
func numAt(c *csvFile, i int) (float64, bool, error) {
	v, ok, err := parseNumber(c.get(i))
	if err != nil {
		return 0, false, c.fieldErr(i, err)
	}
	return v, ok, nil
}
