package deid

import (
	"hash/maphash"

	"github.com/cohortnet/cohortnet/deid/internal/idset"
)

// personIndex finds a person by source patient id without keeping the ids:
// an open-addressing table ([idset.Table]) of 64-bit hashes of the ids
// (seeded at random per run) with the person's number beside each, and a second, independent
// 32-bit hash kept in the person ([person.check]) to tell two ids apart
// whose 64-bit hashes collide. That is 96 bits per id, 12 to 24 bytes per
// person and no pointers, where a map[string]int32 costs about 100 bytes
// and one string object per person for the garbage collector to scan.
//
// Two different ids agreeing on all 96 bits would be taken for one person;
// at a million persons the chance is about 1e-17.
type personIndex struct {
	seed1, seed2 maphash.Seed
	idset.Table
}

func newPersonIndex() *personIndex {
	return &personIndex{seed1: maphash.MakeSeed(), seed2: maphash.MakeSeed()}
}

// key returns an id's two hashes; the first is never 0.
func (x *personIndex) key(id string) (uint64, uint32) {
	h := maphash.String(x.seed1, id)
	if h == 0 {
		h = 1
	}
	return h, uint32(maphash.String(x.seed2, id))
}

// find returns the number of the person whose hashes are (h, check), or
// false. persons gives each person's check hash.
func (x *personIndex) find(h uint64, check uint32, persons []person) (int32, bool) {
	if len(x.Hashes) == 0 {
		return 0, false
	}
	mask := uint64(len(x.Hashes) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		switch x.Hashes[i] {
		case 0:
			return 0, false
		case h:
			if v := x.Vals[i]; persons[v].check == check {
				return v, true
			}
		}
	}
}

// lookup is find by id.
func (x *personIndex) lookup(id string, persons []person) (int32, bool) {
	h, c := x.key(id)
	return x.find(h, c, persons)
}
