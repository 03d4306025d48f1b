package cohort_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
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

// A file is hashed once for its CID and its chunk digests; a receiver then
// checks any chunk alone, in any order, against the list.
func ExampleVerifyChunk() {
	data := make([]byte, 2*cohort.ChunkSize+10) // three chunks
	h, _ := cohort.HashReader(context.Background(), bytes.NewReader(data))
	fmt.Println(len(h.Chunks), "chunks; the last digest is the CID's:", h.Chunks[2] == h.Sum)

	chunk1 := data[cohort.ChunkSize : 2*cohort.ChunkSize]
	fmt.Println("chunk 1:", cohort.VerifyChunk(h, 1, chunk1))
	chunk1[7] ^= 1
	fmt.Println("chunk 1 changed:", errors.Is(cohort.VerifyChunk(h, 1, chunk1), cohort.ErrChunkMismatch))
	// Output:
	// 3 chunks; the last digest is the CID's: true
	// chunk 1: <nil>
	// chunk 1 changed: true
}
