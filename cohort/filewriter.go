package cohort

import (
	"os"
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

// fileWriter writes an import's temporary file sequentially. Where the file
// system allows it, whole aligned buffers go through a second descriptor
// opened with O_DIRECT: the bytes go from the import's buffers to the disk
// without being copied into the page cache, which saves most of the CPU a
// copy costs and leaves little for the final fsync. The unaligned tail, and
// everything when direct I/O is refused, goes through the ordinary
// descriptor, with writeback started every [writebackEvery] bytes.
type fileWriter struct {
	f       *os.File // ordinary descriptor: tail, fallback, fsync
	direct  *os.File // O_DIRECT descriptor, nil when unavailable
	off     int64
	flushed int64
}

func newFileWriter(f *os.File) *fileWriter {
	w := &fileWriter{f: f}
	if d, err := openDirect(f.Name()); err == nil {
		w.direct = d
	}
	return w
}

func (w *fileWriter) Write(p []byte) (int, error) {
	if w.direct != nil && len(p)%directAlign == 0 && uintptr(unsafe.Pointer(unsafe.SliceData(p)))%directAlign == 0 {
		n, err := w.direct.WriteAt(p, w.off)
		if err == nil {
			w.off += int64(n)
			return n, nil
		}
		// Refused (EINVAL on some file systems): write ordinarily from now on.
		w.direct.Close()
		w.direct = nil
	}
	n, err := w.f.WriteAt(p, w.off)
	w.off += int64(n)
	if w.off-w.flushed >= writebackEvery {
		startWriteback(w.f, w.flushed, w.off-w.flushed)
		w.flushed = w.off
	}
	return n, err
}

// Close closes the direct descriptor. The caller fsyncs and closes f.
func (w *fileWriter) Close() error {
	if w.direct == nil {
		return nil
	}
	err := w.direct.Close()
	w.direct = nil
	return err
}
