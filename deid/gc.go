package deid

import (
	"os"
	"runtime/debug"
)

// GC settings of [TuneGC].
const (
	// GCPercent is the runtime's default, kept on purpose: since the
	// source adapters and the person index hold hashed ids instead of
	// strings, the live heap is small and nearly pointer-free and marking
	// costs about 1% of a run. Measured on 1,000,000 synth patients
	// (BenchmarkDeidExpert): at 100, 112.1 CPU-s with 2.0 s of GC marking
	// and a peak RSS of 675 MiB; at 200, 111.0 CPU-s, 1.1 s and 934 MiB.
	// A percent or two of CPU is not worth a third more memory.
	GCPercent = 100
	// MemoryLimit is the soft limit that keeps garbage from pushing the
	// process past 1.5 GiB of RSS: near it the collector runs as often as it
	// must, whatever GCPercent says.
	MemoryLimit = 1 << 30
)

// TuneGC sets the garbage collector for a de-identification batch job
// ([GCPercent], [MemoryLimit]) and returns a function restoring the previous
// settings. A setting the user made through the GOGC or GOMEMLIMIT
// environment variable is left alone. `cohortnet deid` calls it, and so do
// the benchmarks, so that they measure what the command does.
func TuneGC() (restore func()) {
	pct, lim := int(-2), int64(-1) // -2: leave alone
	if os.Getenv("GOGC") == "" {
		pct = debug.SetGCPercent(GCPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		lim = debug.SetMemoryLimit(MemoryLimit)
	}
	return func() {
		if pct != -2 {
			debug.SetGCPercent(pct)
		}
		if lim >= 0 {
			debug.SetMemoryLimit(lim)
		}
	}
}
