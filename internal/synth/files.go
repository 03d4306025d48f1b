package synth

import (
	"fmt"
	"os"
	"path/filepath"
)

// outFile is one output file written through a reusable buffer. Callers
// append a whole line to buf and call endRow; the buffer goes to disk when it
// is large, so memory stays constant.
type outFile struct {
	name  string
	f     *os.File
	buf   []byte
	rows  int64
	bytes int64
	err   error
}

const flushAt = 1 << 18

// createOut creates a file in dir, or, when dir is "", an in-memory
// outFile that only buffers (a worker's share of a batch).
func createOut(dir, name string) (*outFile, error) {
	if dir == "" {
		return &outFile{name: name, buf: make([]byte, 0, 64<<10)}, nil
	}
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("synth: create %s: %w", name, err)
	}
	return &outFile{name: name, f: f, buf: make([]byte, 0, flushAt+(64<<10))}, nil
}

// header writes a header line that is not counted as a row.
func (o *outFile) header(line string) {
	o.buf = append(o.buf, line...)
	o.buf = append(o.buf, '\n')
}

// endRow ends the row appended to buf with a newline.
func (o *outFile) endRow() {
	o.buf = append(o.buf, '\n')
	o.rows++
	if len(o.buf) >= flushAt && o.f != nil {
		o.flush()
	}
}

// append adds rows another outFile buffered in memory.
func (o *outFile) append(m *outFile) {
	o.buf = append(o.buf, m.buf...)
	o.rows += m.rows
	if len(o.buf) >= flushAt {
		o.flush()
	}
}

// reset empties an in-memory outFile for reuse.
func (o *outFile) reset() {
	o.buf = o.buf[:0]
	o.rows = 0
}

func (o *outFile) flush() {
	if o.err != nil || len(o.buf) == 0 {
		o.buf = o.buf[:0]
		return
	}
	n, err := o.f.Write(o.buf)
	o.bytes += int64(n)
	if err != nil {
		o.err = fmt.Errorf("synth: write %s: %w", o.name, err)
	}
	o.buf = o.buf[:0]
}

func (o *outFile) close() error {
	o.flush()
	if o.err != nil {
		o.f.Close()
		return o.err
	}
	if err := o.f.Sync(); err != nil {
		o.f.Close()
		return fmt.Errorf("synth: sync %s: %w", o.name, err)
	}
	if err := o.f.Close(); err != nil {
		return fmt.Errorf("synth: close %s: %w", o.name, err)
	}
	return nil
}

// sink writes one patient's records in an export format.
type sink interface {
	write(p *patient) error
	outputs() []*outFile
	abort()
}

type fileSet struct{ sinks []sink }

func newFileSet(s ...sink) *fileSet { return &fileSet{sinks: s} }

func (fs *fileSet) abort() {
	for _, s := range fs.sinks {
		s.abort()
	}
}

// close finishes every file and records its figures in res.
func (fs *fileSet) close(res *Result) error {
	var first error
	for _, s := range fs.sinks {
		for _, o := range s.outputs() {
			if err := o.close(); err != nil && first == nil {
				first = err
			}
			res.Files = append(res.Files, File{Name: o.name, Rows: o.rows, Bytes: o.bytes})
			res.Rows += o.rows
			res.Bytes += o.bytes
		}
	}
	return first
}

func closeAll(outs []*outFile) {
	for _, o := range outs {
		if o != nil && o.f != nil {
			o.f.Close()
		}
	}
}

// firstErr reports the first write error among outs.
func firstErr(outs []*outFile) error {
	for _, o := range outs {
		if o.err != nil {
			return o.err
		}
	}
	return nil
}
