package deid

import (
	"runtime/debug"
	"testing"
)

// TestTuneGC: the batch settings apply and the previous ones come back;
// GOGC and GOMEMLIMIT set by the user win.
func TestTuneGC(t *testing.T) {
	read := func() (int, int64) {
		p := debug.SetGCPercent(-1)
		debug.SetGCPercent(p)
		return p, debug.SetMemoryLimit(-1) // -1: read only
	}
	t.Run("default", func(t *testing.T) {
		t.Setenv("GOGC", "")
		t.Setenv("GOMEMLIMIT", "")
		p0, l0 := read()
		restore := TuneGC()
		if p, l := read(); p != GCPercent || l != MemoryLimit {
			t.Errorf("tuned: GC percent %d, limit %d; want %d, %d", p, l, GCPercent, MemoryLimit)
		}
		restore()
		if p, l := read(); p != p0 || l != l0 {
			t.Errorf("restored: GC percent %d, limit %d; want %d, %d", p, l, p0, l0)
		}
	})
	t.Run("user settings", func(t *testing.T) {
		t.Setenv("GOGC", "150")
		t.Setenv("GOMEMLIMIT", "3GiB")
		p0, l0 := read()
		defer TuneGC()()
		if p, l := read(); p != p0 || l != l0 {
			t.Errorf("GC percent %d, limit %d; want the user's %d, %d", p, l, p0, l0)
		}
	})
}
