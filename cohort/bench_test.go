package cohort

import (
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// benchFile writes size pseudo-random bytes to a file in dir.
func benchFile(b *testing.B, dir string, size int64) string {
	b.Helper()
	p := filepath.Join(dir, "src.bin")
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.CopyN(f, rand.NewChaCha8([32]byte{1}), size); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return p
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU adds the CPU seconds per operation, which other processes on a
// shared machine do not change the way they change wall time.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric((cpuTime()-start).Seconds()/float64(b.N), "cpu-s/op")
}

// onlyWriter hides io.ReaderFrom, so io.Copy moves the bytes through a
// user-space buffer as the import does, not with copy_file_range.
type onlyWriter struct{ io.Writer }

// BenchmarkImport1GiB imports a 1 GiB file into the store (hash while
// copying, chunk digests, fsync, rename) beside two baselines over the same
// bytes in the same run: a plain copy with fsync (io.Copy, which uses
// copy_file_range on Linux, and the same through a 1 MiB user-space buffer)
// and crypto/sha256 of the file. The goal: import at least 0.9 of the
// slower baseline's throughput.
func BenchmarkImport1GiB(b *testing.B) {
	const size = 1 << 30
	dir := b.TempDir()
	src := benchFile(b, dir, size)

	copyFsync := func(b *testing.B, buffered bool) {
		b.SetBytes(size)
		defer reportCPU(b, cpuTime())
		for b.Loop() {
			in, err := os.Open(src)
			if err != nil {
				b.Fatal(err)
			}
			out, err := os.Create(filepath.Join(dir, "copy.bin"))
			if err != nil {
				b.Fatal(err)
			}
			if buffered {
				_, err = io.CopyBuffer(onlyWriter{out}, in, make([]byte, bufSize))
			} else {
				_, err = io.Copy(out, in)
			}
			if err != nil {
				b.Fatal(err)
			}
			if err := out.Sync(); err != nil {
				b.Fatal(err)
			}
			out.Close()
			in.Close()
			os.Remove(out.Name())
		}
	}
	b.Run("store-import", func(b *testing.B) {
		st, err := OpenStore(filepath.Join(dir, "store"))
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(size)
		defer reportCPU(b, cpuTime())
		for b.Loop() {
			c, _, err := st.ImportFile(b.Context(), src)
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			st.Delete(c)
			b.StartTimer()
		}
	})
	b.Run("copy-fsync", func(b *testing.B) { copyFsync(b, false) })
	b.Run("copy-buffered-fsync", func(b *testing.B) { copyFsync(b, true) })
	b.Run("sha256", func(b *testing.B) {
		b.SetBytes(size)
		defer reportCPU(b, cpuTime())
		for b.Loop() {
			f, err := os.Open(src)
			if err != nil {
				b.Fatal(err)
			}
			h := sha256.New()
			if _, err := io.Copy(h, f); err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
	})
}
