package source

import (
	"bufio"
	"encoding/csv"
	"errors"
	"io"
	"os"
	"strings"
)

// csvFile reads a delimited file with a header row, one record at a time.
type csvFile struct {
	path string
	f    *os.File
	r    *csv.Reader
	lim  *recordLimit
	cols map[string]int // upper-case header name to index
	hdr  []string
	rec  []string
	line int
}

// openCSV opens path and reads its header. required names columns that
// must be present (matched case-insensitively).
func openCSV(path string, comma rune, required ...string) (*csvFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	c, err := newCSV(path, f, comma, required...)
	if err != nil {
		f.Close()
		return nil, err
	}
	c.f = f
	return c, nil
}

// recordLimit counts the bytes read since the last record began, so that a
// quote that never closes cannot pull a whole file into memory.
type recordLimit struct {
	r io.Reader
	n int
}

func (l *recordLimit) Read(p []byte) (int, error) {
	if l.n > maxLine {
		return 0, detail(ErrSyntax, "record longer than %d MiB (a quote that never closes?)", maxLine>>20)
	}
	n, err := l.r.Read(p)
	l.n += n
	return n, err
}

func newCSV(path string, rd io.Reader, comma rune, required ...string) (*csvFile, error) {
	lim := &recordLimit{r: rd}
	r := csv.NewReader(bufio.NewReaderSize(lim, 256<<10))
	r.Comma = comma
	r.ReuseRecord = true
	if comma == '$' {
		// FAERS writes no quoting; a stray quote is text.
		r.LazyQuotes = true
	}
	c := &csvFile{path: path, r: r, lim: lim, cols: make(map[string]int)}
	hdr, err := r.Read()
	if err == io.EOF {
		return nil, &ParseError{File: path, Line: 1, Entry: -1, Err: detail(ErrSyntax, "empty file, no header")}
	}
	if err != nil {
		return nil, c.wrap(err)
	}
	for i, h := range hdr {
		if i == 0 {
			h = strings.TrimPrefix(h, "\ufeff")
		}
		h = strings.TrimSpace(h)
		c.cols[strings.ToUpper(h)] = i
		c.hdr = append(c.hdr, h)
	}
	for _, name := range required {
		if _, ok := c.cols[strings.ToUpper(name)]; !ok {
			return nil, &ParseError{File: path, Line: 1, Entry: -1, Field: name, Err: ErrMissingColumn}
		}
	}
	c.line = 1
	return c, nil
}

// col is the index of a column, or -1 when the header lacks it.
func (c *csvFile) col(name string) int {
	if i, ok := c.cols[strings.ToUpper(name)]; ok {
		return i
	}
	return -1
}

func (c *csvFile) has(name string) bool { return c.col(name) >= 0 }

// next reads the next record; it returns false at the end of the file.
func (c *csvFile) next() (bool, error) {
	c.lim.n = 0
	rec, err := c.r.Read()
	if err == io.EOF {
		return false, nil
	}
	if err != nil {
		return false, c.wrap(err)
	}
	c.line, _ = c.r.FieldPos(0)
	c.rec = rec
	return true, nil
}

// get is the value of column i of the current record ("" for i < 0).
func (c *csvFile) get(i int) string {
	if i < 0 {
		return ""
	}
	return c.rec[i]
}

// fieldErr reports a bad value in column i of the current record.
func (c *csvFile) fieldErr(i int, err error) error {
	name := ""
	if i >= 0 && i < len(c.hdr) {
		name = c.hdr[i]
	}
	return &ParseError{File: c.path, Line: c.line, Entry: -1, Field: name, Err: err}
}

func (c *csvFile) wrap(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &ParseError{File: c.path, Line: pe.Line, Entry: -1, Err: detail(ErrSyntax, "%v", pe.Err)}
	}
	return &ParseError{File: c.path, Line: c.line, Entry: -1, Err: err}
}

func (c *csvFile) close() error {
	if c.f == nil {
		return nil
	}
	return c.f.Close()
}
