package deid

import (
	"os"
	"runtime/debug"
)

// GC settings of [TuneGC].
const (
	// GCPercent lets the heap grow to three times what is live before a
	// collection: a run's live heap is small and mostly pointer-free (48
	// bytes a person, the hashed-id indexes, a few row groups in flight)
	// and its garbage is short-lived batches. Measured on a 300,000-patient
	// export: GC marking 0.6 s of 35 CPU-s at 100 (peak RSS 360 MiB), 0.2 s
	// at 200 (540 MiB) and at 400 (850 MiB); 200 takes most of the gain.
	GCPercent = 200
	// MemoryLimit is the soft limit that keeps the larger garbage
	// allowance from pushing the process past 1.5 GiB of RSS: near it the
	// collector runs as often as it must, whatever GCPercent says.
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
