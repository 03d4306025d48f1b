// Package idset holds sets of ids without keeping the ids: pointer-free
// open-addressing tables of 64-bit hashes, which the garbage collector never
// scans and which cost 12 bytes a slot where a map[string] costs about 100
// bytes and one heap string per id.
//
// [Table] maps hashes to numbers whose meaning is the caller's (package deid
// numbers persons and k-anonymity tuples, and confirms a matching hash
// against what the number refers to). [Set] is a set of ids by a salted
// 64-bit hash alone: the source adapters use it to check that a row names a
// patient of the export.
//
// It is not an exact set: see [Set] for what a hash collision does.
package idset

import "hash/maphash"

// Table is an open-addressing table (linear probing) of nonzero 64-bit
// hashes, each with a number. Callers probe it directly: slot h&Mask()
// first, then (i+1)&Mask() until a slot holding 0, which ends the run of
// slots where h may be. Its zero value is an empty table.
type Table struct {
	Hashes []uint64 // 0: empty slot; read-only outside this package
	Vals   []int32  // the number beside each hash
	n      int
}

// Mask is len(Hashes)-1 (Hashes has a power-of-two length).
func (t *Table) Mask() uint64 { return uint64(len(t.Hashes) - 1) }

// Insert records number v under hash h (never 0). It does not look for h:
// the caller has checked that what v refers to is not present.
func (t *Table) Insert(h uint64, v int32) {
	if (t.n+1)*4 > len(t.Hashes)*3 {
		t.grow()
	}
	t.put(h, v)
	t.n++
}

func (t *Table) put(h uint64, v int32) {
	mask := t.Mask()
	i := h & mask
	for t.Hashes[i] != 0 {
		i = (i + 1) & mask
	}
	t.Hashes[i], t.Vals[i] = h, v
}

func (t *Table) grow() {
	old, oldVals := t.Hashes, t.Vals
	size := max(1024, 2*len(old))
	t.Hashes, t.Vals = make([]uint64, size), make([]int32, size)
	for i, h := range old {
		if h != 0 {
			t.put(h, oldVals[i])
		}
	}
}

// Len is the number of hashes inserted.
func (t *Table) Len() int { return t.n }

// Bytes is the memory the table holds.
func (t *Table) Bytes() int { return len(t.Hashes) * 12 }

// Set is a set of ids kept as 64-bit hashes salted with a seed drawn at
// random for each set.
//
// An id not in the set is reported present only if its hash equals the
// hash of an id in the set: for a set of n ids about n/2^64 per lookup
// (5e-14 at a million ids), and not reproducible from one set to the next
// since the salt differs. The source adapters accept such a row as naming a
// known patient; package deid then finds no person for it in its own index
// (independent 96-bit hashes) and drops the row as an orphan, so a
// collision can never bring an unknown person into a dataset.
type Set struct {
	seed maphash.Seed
	t    Table
}

// New returns an empty set.
func New() *Set { return &Set{seed: maphash.MakeSeed()} }

func (s *Set) hash(id string) uint64 {
	h := maphash.String(s.seed, id)
	if h == 0 {
		h = 1
	}
	return h
}

// Add adds id to the set.
func (s *Set) Add(id string) {
	if h := s.hash(id); !s.find(h) {
		s.t.Insert(h, 0)
	}
}

// Has reports whether id is in the set (see [Set] for collisions).
func (s *Set) Has(id string) bool { return s.find(s.hash(id)) }

func (s *Set) find(h uint64) bool {
	if len(s.t.Hashes) == 0 {
		return false
	}
	mask := s.t.Mask()
	for i := h & mask; ; i = (i + 1) & mask {
		switch s.t.Hashes[i] {
		case 0:
			return false
		case h:
			return true
		}
	}
}

// Len is the number of distinct ids added (ids whose hashes collide count
// once).
func (s *Set) Len() int { return s.t.Len() }

// Bytes is the memory the set holds.
func (s *Set) Bytes() int { return s.t.Bytes() }
