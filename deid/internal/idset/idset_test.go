package idset

import (
	"strconv"
	"testing"
)

// TestSet adds ids as the source adapters do and finds every one again,
// and none that was not added, in a table of at most 32 bytes an id (12
// a slot, at least 3/8 of the slots in use).
func TestSet(t *testing.T) {
	for _, n := range []int{0, 1, 767, 768, 100_000} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			s := New()
			for i := range n {
				s.Add("patient-" + strconv.Itoa(i))
			}
			if n > 0 {
				s.Add("patient-0") // again: counted once
			}
			if s.Len() != n {
				t.Errorf("Len = %d, want %d", s.Len(), n)
			}
			for i := range n {
				if !s.Has("patient-" + strconv.Itoa(i)) {
					t.Fatalf("patient-%d not found", i)
				}
			}
			for _, id := range []string{"", "patient-", "patient-" + strconv.Itoa(n), "patient-1 ", "PATIENT-1", "atient-1"} {
				if s.Has(id) {
					t.Errorf("%q found", id)
				}
			}
			if b := s.Bytes(); n >= 1024 && b > 32*n {
				t.Errorf("%d bytes for %d ids, want at most 32 an id", b, n)
			}
		})
	}
}

// TestSetSalted: two sets hash the same id differently, so an unknown id
// colliding with a known one in one set does not in the next.
func TestSetSalted(t *testing.T) {
	a, b := New(), New()
	if a.hash("patient-1") == b.hash("patient-1") {
		t.Error("two sets hash an id alike")
	}
}

// TestTable puts numbers under hashes, colliding ones included, and finds
// each by probing as package deid does.
func TestTable(t *testing.T) {
	var x Table
	find := func(h uint64, v int32) bool {
		for i := h & x.Mask(); x.Hashes[i] != 0; i = (i + 1) & x.Mask() {
			if x.Hashes[i] == h && x.Vals[i] == v {
				return true
			}
		}
		return false
	}
	const n = 5000
	for i := range n {
		h := uint64(i/2 + 1) // every hash twice
		x.Insert(h, int32(i))
	}
	if x.Len() != n {
		t.Errorf("Len = %d, want %d", x.Len(), n)
	}
	for i := range n {
		if !find(uint64(i/2+1), int32(i)) {
			t.Fatalf("number %d not found under hash %d", i, i/2+1)
		}
	}
	if find(n, 0) || find(uint64(n/2+1), 0) {
		t.Error("found a hash or number not inserted")
	}
	if used := float64(n) / float64(len(x.Hashes)); used > 0.75 {
		t.Errorf("%.2f of slots in use, want at most 3/4", used)
	}
}
