package deid

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// TestPersonIndex fills the index as readPersons does and finds every id
// again, and no id that was not put in.
func TestPersonIndex(t *testing.T) {
	x := newPersonIndex()
	var persons []person
	const n = 50_000
	for i := range n {
		id := "patient-" + strconv.Itoa(i)
		h, c := x.key(id)
		if _, dup := x.find(h, c, persons); dup {
			t.Fatalf("%s found before it was added", id)
		}
		x.Insert(h, int32(len(persons)))
		persons = append(persons, person{check: c, yob: int32(i)})
	}
	for i := range n {
		pi, ok := x.lookup("patient-"+strconv.Itoa(i), persons)
		if !ok || persons[pi].yob != int32(i) {
			t.Fatalf("patient-%d: got %d, %v", i, pi, ok)
		}
	}
	for _, id := range []string{"", "patient-", "patient-50000", "patient-1 ", "PATIENT-1"} {
		if pi, ok := x.lookup(id, persons); ok {
			t.Errorf("%q found as person %d", id, pi)
		}
	}
	// 12 bytes a slot, between 3/8 and 3/4 of the slots in use
	if b := x.Bytes(); b > 32*n {
		t.Errorf("index holds %d bytes for %d persons, want at most 32 per person", b, n)
	}
}

// TestPersonIndexCollision forces two ids onto the same 64-bit hash: the
// second hash keeps them apart.
func TestPersonIndexCollision(t *testing.T) {
	x := newPersonIndex()
	persons := []person{{check: 1, yob: 1}, {check: 2, yob: 2}}
	x.Insert(42, 0)
	x.Insert(42, 1)
	for _, c := range []uint32{1, 2} {
		pi, ok := x.find(42, c, persons)
		if !ok || persons[pi].check != c {
			t.Errorf("check %d: got person %d, %v", c, pi, ok)
		}
	}
	if _, ok := x.find(42, 3, persons); ok {
		t.Error("a third id with the same 64-bit hash was found")
	}
}

// TestDuplicatePersonRefused: a source id listed twice in the person table
// stops the run with an error naming the row, and writes nothing.
func TestDuplicatePersonRefused(t *testing.T) {
	exp := &memExport{rows: map[string][]map[string]any{
		"person": {
			{"source_person_id": "P1", "gender": "F"},
			{"source_person_id": "P2", "gender": "M"},
			{"source_person_id": "P1", "gender": "M"},
		},
	}}
	out := filepath.Join(t.TempDir(), "out")
	_, err := Run(t.Context(), exp, out, Config{Key: testKey, Policy: Preset(Limited, false, DefaultReferenceDate)})
	if err == nil || !strings.Contains(err.Error(), "row 3: source_person_id listed twice") {
		t.Fatalf("err = %v, want row 3 listed twice", err)
	}
	if m, _ := filepath.Glob(filepath.Join(filepath.Dir(out), "*")); len(m) != 0 {
		t.Errorf("left behind: %v", m)
	}
}

// TestPersonCompact keeps the state every person costs for the whole run
// small: a million persons are 48 MB here plus the index.
func TestPersonCompact(t *testing.T) {
	if n := unsafe.Sizeof(person{}); n > 48 {
		t.Errorf("person is %d bytes, want at most 48", n)
	}
}
