package source

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"sync"
)

// NDJSON files are read in blocks of whole lines rather than line by line:
// a block is one buffer (from a pool) that the resources of a chunk point
// into, so a resource is neither copied out of a scanner's buffer nor
// appended to a growing arena, and the workers decode straight from the
// block. The block goes back to the pool once its chunk is mapped: what is
// kept (rows, ids, errors) is copied out of it.

// ndjsonBlock is the size of a block read from an NDJSON file; a longer
// line grows the block, up to maxLine.
const ndjsonBlock = 1 << 20

// blockPool holds NDJSON blocks of ndjsonBlock bytes for reuse: a block
// goes back once its chunk is mapped, since the decoder copies what it
// reads and nothing mapped points into the block.
var blockPool = sync.Pool{New: func() any { b := make([]byte, ndjsonBlock); return &b }}

// getBlock is an empty buffer of capacity size, from the pool when size is
// the standard one.
func getBlock(size int) []byte {
	if size == ndjsonBlock {
		return (*blockPool.Get().(*[]byte))[:0]
	}
	return make([]byte, 0, size)
}

// putBlock returns a block, that nothing refers to any more, to the pool.
func putBlock(b []byte) {
	if cap(b) == ndjsonBlock {
		b = b[:cap(b)]
		blockPool.Put(&b)
	}
}

// ndjsonBlocks cuts one NDJSON file into blocks of whole lines. Lines end
// in "\n" or "\r\n" (the last line may have no end), as bufio.ScanLines
// reads them, and are numbered from 1.
type ndjsonBlocks struct {
	f     *os.File
	path  string
	line  int    // lines handed out so far
	carry []byte // the start of a line cut by the previous read
	eof   bool
	size  int // block size; 0 is ndjsonBlock (tests cut smaller blocks)
}

func openBlocks(path string) (*ndjsonBlocks, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	return &ndjsonBlocks{f: f, path: path}, nil
}

func (b *ndjsonBlocks) close() error { return b.f.Close() }

// next appends the non-blank lines of the next block to c, with where they
// are, and makes the block c's (c holds one block at most: a chunk is a
// block); ok false at the end of the file.
func (b *ndjsonBlocks) next(c *rawChunk) (ok bool, err error) {
	if b.eof && len(b.carry) == 0 {
		return false, nil
	}
	size := ndjsonBlock
	if b.size > 0 {
		size = b.size
	}
	for size < 2*len(b.carry) {
		size *= 2
	}
	buf := append(getBlock(size), b.carry...)
	b.carry = nil
	scanned := 0 // bytes of buf known to hold no '\n'
	cut := -1    // the block ends after buf[cut]
	for {
		if !b.eof {
			n, err := io.ReadFull(b.f, buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+n]
			switch {
			case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
				b.eof = true
			case err != nil:
				return false, &ParseError{File: b.path, Line: b.line + 1, Entry: -1, Err: detail(ErrSyntax, "%v", err)}
			}
		}
		if b.eof {
			cut = len(buf) - 1
			break
		}
		if i := bytes.LastIndexByte(buf[scanned:], '\n'); i >= 0 {
			cut = scanned + i
			break
		}
		// One line fills the whole buffer: grow it, as a scanner would.
		if len(buf) >= maxLine {
			return false, &ParseError{File: b.path, Line: b.line + 1, Entry: -1, Err: detail(ErrSyntax, "%v", bufio.ErrTooLong)}
		}
		scanned = len(buf)
		grown := append(make([]byte, 0, min(2*cap(buf), maxLine)), buf...)
		putBlock(buf)
		buf = grown
	}
	if cut+1 < len(buf) {
		// The cut line is copied out: the block goes back to the pool
		// when its chunk is mapped, maybe before the next read.
		b.carry = bytes.Clone(buf[cut+1:])
	}
	c.block = buf
	data := buf[:cut+1]
	for len(data) > 0 {
		l := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			l, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		b.line++
		if len(l) > 0 && l[len(l)-1] == '\r' {
			l = l[:len(l)-1]
		}
		if len(trimSpace(l)) == 0 {
			continue
		}
		c.raws = append(c.raws, l[:len(l):len(l)])
		c.urls = append(c.urls, "")
		c.locs = append(c.locs, fhirLoc{b.path, b.line, -1})
	}
	return true, nil
}
