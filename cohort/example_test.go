package cohort_test

import (
	"crypto/sha256"
	"fmt"

	"github.com/cohortnet/cohortnet/cohort"
)

// A file's CID is CIDv1, codec raw, sha2-256 of its bytes: what any
// multiformats implementation computes for those bytes with the raw codec
// (checked against a by-hand encoding in Python:
// "b" + base32(0x01 0x55 0x12 0x20 || sha256), lower case, unpadded).
func ExampleFileCID() {
	sum := sha256.Sum256([]byte("hello\n"))
	fmt.Println(cohort.FileCID(sum))
	// Output: bafkreicysg23kiwv34eg2d7qweipxwosdo2py4ldv42nbauguluen5v6am
}
