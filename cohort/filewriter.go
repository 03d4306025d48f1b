package cohort

import (
	"os"
	"sync"
	"unsafe"
)

// directAlign is the alignment direct I/O needs for memory, offsets and
// lengths on the file systems we run on.
const directAlign = 4096

// alignedBuffer returns n bytes whose start is aligned for direct I/O. Go's
// heap does not move objects, so the alignment holds.
func alignedBuffer(n int) []byte {
	b := make([]byte, n+directAlign)
	off := (directAlign - int(uintptr(unsafe.Pointer(&b[0]))&(directAlign-1))) & (directAlign - 1)
	return b[off : off+n : off+n]
}

// fileWriter writes an import's temporary file, buffer by buffer at their
// offsets, from several goroutines at once. Where the file system allows it,
// whole aligned buffers go through a second descriptor opened with O_DIRECT:
// the bytes go from the import's buffers to the disk without being copied
// into the page cache, which saves most of the CPU a copy costs and leaves
// little for the final fsync. The unaligned tail, and everything when direct
// I/O is refused, goes through the ordinary descriptor, with writeback
// started every [writebackEvery] bytes.
type fileWriter struct {
	f *os.File // ordinary descriptor: tail, fallback, fsync

	mu      sync.Mutex
	direct  *os.File // O_DIRECT descriptor, nil when unavailable
	flushed int64    // writeback has been started up to here
}

func newFileWriter(f *os.File) *fileWriter {
	w := &fileWriter{f: f}
	if d, err := openDirect(f.Name()); err == nil {
		w.direct = d
	}
	return w
}

func aligned(p []byte, off int64) bool {
	return len(p)%directAlign == 0 && off%directAlign == 0 &&
		uintptr(unsafe.Pointer(unsafe.SliceData(p)))%directAlign == 0
}

// WriteAt writes p at off. It is safe for concurrent use.
func (w *fileWriter) WriteAt(p []byte, off int64) (int, error) {
	w.mu.Lock()
	direct := w.direct
	w.mu.Unlock()
	if direct != nil && aligned(p, off) {
		n, err := direct.WriteAt(p, off)
		if err == nil {
			return n, nil
		}
		// Refused (EINVAL on some file systems): write ordinarily from now on.
		w.mu.Lock()
		if w.direct == direct {
			w.direct.Close()
			w.direct = nil
		}
		w.mu.Unlock()
	}
	n, err := w.f.WriteAt(p, off)
	w.mu.Lock()
	if end := off + int64(n); end-w.flushed >= writebackEvery {
		startWriteback(w.f, w.flushed, end-w.flushed)
		w.flushed = end
	}
	w.mu.Unlock()
	return n, err
}

// Close closes the direct descriptor. The caller fsyncs and closes f.
func (w *fileWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.direct == nil {
		return nil
	}
	err := w.direct.Close()
	w.direct = nil
	return err
}
