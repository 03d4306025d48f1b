package deid_test

import (
	"fmt"
	"strings"

	"github.com/cohortnet/cohortnet/deid"
)

func ExampleToZip3() {
	fmt.Println(deid.ToZip3("02139-4307"), deid.ToZip3("03601"), deid.ToZip3("12"))
	// Output: 021 000
}

func ExamplePseudonym() {
	key := []byte("0123456789abcdef0123456789abcdef")
	a := deid.Pseudonym(key, "person", "patient-1")
	b := deid.Pseudonym(key, "person", "patient-1")
	fmt.Println(len(a), a == b, a == deid.Pseudonym(key, "visit", "patient-1"))
	// Output: 24 true false
}

func ExampleParseHierarchy() {
	h, err := deid.ParseHierarchy(strings.NewReader("1984;1980-1984;1980-1989;*\n1987;1985-1989;1980-1989;*\n"))
	if err != nil {
		panic(err)
	}
	v, _ := h.Generalize("1987", 2)
	fmt.Println(h.Height(), v)
	// Output: 4 1980-1989
}
