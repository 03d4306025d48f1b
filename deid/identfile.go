package deid

import (
	"bufio"
	"errors"
	"fmt"
	"os"
)

// identFile keeps each person's packed identifiers (see [packIdentity]), needed
// only to scrub that person's notes, in a temporary file instead of memory:
// a person costs 8 bytes (where their record starts and its length) however
// many identifiers they have. The file sits beside the output directory,
// readable by the owner only, and is unlinked as soon as it is created, so
// nothing is left behind even if the process dies; it holds nothing the
// export does not already hold on the same machine.
type identFile struct {
	f    *os.File
	name string // non-empty when the file could not be unlinked at once
	w    *bufio.Writer
	off  int64
}

// identMaxLen is the longest packed identity a reference can hold.
const identMaxLen = 1<<24 - 1

func newIdentFile(dir string) (*identFile, error) {
	f, err := os.CreateTemp(dir, ".deid-identities-*")
	if err != nil {
		return nil, fmt.Errorf("deid: identities for scrubbing: %w", err)
	}
	x := &identFile{f: f, w: bufio.NewWriterSize(f, 256<<10)}
	if err := os.Remove(f.Name()); err != nil {
		x.name = f.Name() // removed by close
	}
	return x, nil
}

// add appends one packed identity and returns its reference (offset and
// length); the empty identity is reference 0.
func (x *identFile) add(s string) (uint64, error) {
	if s == "" {
		return 0, nil
	}
	if len(s) > identMaxLen {
		return 0, errors.New("identifiers longer than 16 MiB")
	}
	if _, err := x.w.WriteString(s); err != nil {
		return 0, fmt.Errorf("deid: identities for scrubbing: %w", err)
	}
	ref := uint64(x.off)<<24 | uint64(len(s))
	x.off += int64(len(s))
	return ref, nil
}

// done flushes what was added; get may be called from then on, from any
// number of goroutines.
func (x *identFile) done() error {
	if err := x.w.Flush(); err != nil {
		return fmt.Errorf("deid: identities for scrubbing: %w", err)
	}
	return nil
}

// get reads the identity of ref into buf (grown as needed).
func (x *identFile) get(ref uint64, buf []byte) ([]byte, error) {
	n := int(ref & identMaxLen)
	if n == 0 {
		return buf[:0], nil
	}
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := x.f.ReadAt(buf, int64(ref>>24)); err != nil {
		return nil, fmt.Errorf("deid: identities for scrubbing: %w", err)
	}
	return buf, nil
}

func (x *identFile) close() {
	x.f.Close()
	if x.name != "" {
		os.Remove(x.name)
	}
}
