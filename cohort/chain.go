package cohort

import (
	"bytes"
	"crypto/sha256"
	"encoding"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"math"
)

// Chunk digests are points on the chain of the whole file's SHA-256.
//
// SHA-256 hashes a message 64-byte block by block, carrying eight 32-bit
// words (the chaining value) from block to block; the file's digest is the
// chaining value after its last block and the length padding. [ChunkSize]
// is a whole number of blocks, so at the end of each chunk the hash holds no
// pending bytes and its state is exactly those eight words. The digest of
// chunk i (all but the last) is that chaining value; the digest of the last
// chunk is the file's sha256 itself, the digest inside its CID.
//
// Chunk i is checked alone, in any order, by starting SHA-256 from the
// digest of chunk i-1 (the standard initial value for chunk 0) with the
// length i*ChunkSize, hashing the chunk, and comparing the result with the
// digest of chunk i. Forging a chunk that passes is a second preimage on
// SHA-256's compression chain. When every chunk passes and the last digest
// is the CID's, the whole file hashes to its CID: hashing a file once gives
// both its CID and its chunk list, and a receiver needs no second pass.

// chainMagic starts crypto/sha256's marshalled state of a SHA-256 (not 224).
const chainMagic = "sha\x03"

// chainStateSize is the size of that state: the magic, the eight words
// h0..h7, the 64-byte pending block and the message length in bytes.
const chainStateSize = len(chainMagic) + 8*4 + sha256.BlockSize + 8

// checkChunkSize reports whether chunks of n bytes end on SHA-256 block
// boundaries, as chained chunk digests need.
func checkChunkSize(n int64) error {
	if n <= 0 || n%sha256.BlockSize != 0 {
		return fmt.Errorf("chunk size %d: want a positive multiple of %d", n, sha256.BlockSize)
	}
	return nil
}

// ChunkHash returns a SHA-256 positioned at the start of chunk i of a file
// cut into chunks of chunkSize bytes, whose chunk i-1 has digest prev (prev
// is ignored for chunk 0, which starts from SHA-256's initial value). Write
// chunk i to it, then take [ChunkDigest].
func ChunkHash(i int, chunkSize int64, prev Digest) (hash.Hash, error) {
	if err := checkChunkSize(chunkSize); err != nil {
		return nil, err
	}
	if i < 0 || int64(i) > math.MaxInt64/chunkSize {
		return nil, fmt.Errorf("chunk %d: out of range", i)
	}
	h := sha256.New()
	if i == 0 {
		return h, nil
	}
	u, ok := h.(encoding.BinaryUnmarshaler)
	if !ok {
		return nil, errors.New("chunk hash: sha256 cannot restore a state")
	}
	var st [chainStateSize]byte
	copy(st[:], chainMagic)
	copy(st[len(chainMagic):], prev[:])
	binary.BigEndian.PutUint64(st[chainStateSize-8:], uint64(int64(i)*chunkSize))
	if err := u.UnmarshalBinary(st[:]); err != nil {
		return nil, fmt.Errorf("chunk %d: restore sha256 state: %w", i, err)
	}
	return h, nil
}

// ChunkDigest returns the digest of the chunk that ends where h stands: h's
// sha256 for the last chunk of a file, otherwise h's chaining value, which
// needs h to have hashed a whole number of blocks. h must come from
// [ChunkHash] or crypto/sha256.New; h is not changed.
func ChunkDigest(h hash.Hash, last bool) (Digest, error) {
	if last {
		var d Digest
		h.Sum(d[:0])
		return d, nil
	}
	return chainValue(h)
}

// chainValue returns the chaining value of a SHA-256 that stands on a block
// boundary.
func chainValue(h hash.Hash) (Digest, error) {
	a, ok := h.(encoding.BinaryAppender)
	if !ok {
		return Digest{}, errors.New("chunk digest: not a crypto/sha256 hash")
	}
	var buf [chainStateSize]byte
	st, err := a.AppendBinary(buf[:0])
	if err != nil {
		return Digest{}, fmt.Errorf("chunk digest: %w", err)
	}
	d, _, err := parseChainState(st)
	return d, err
}

var zeroBlock [sha256.BlockSize]byte

// parseChainState reads a marshalled crypto/sha256 state and returns its
// chaining value and length, checking that it is a SHA-256 state standing
// on a block boundary (no pending bytes), not trusting the layout blindly.
func parseChainState(st []byte) (Digest, uint64, error) {
	if len(st) != chainStateSize || string(st[:len(chainMagic)]) != chainMagic {
		return Digest{}, 0, fmt.Errorf("chunk digest: sha256 state of %d bytes is not the known layout", len(st))
	}
	n := binary.BigEndian.Uint64(st[chainStateSize-8:])
	block := st[len(chainMagic)+32 : chainStateSize-8]
	if n%sha256.BlockSize != 0 || !bytes.Equal(block, zeroBlock[:]) {
		return Digest{}, 0, fmt.Errorf("chunk digest: %d bytes hashed, not on a %d-byte block boundary", n, sha256.BlockSize)
	}
	return Digest(st[len(chainMagic) : len(chainMagic)+32]), n, nil
}

// VerifyChunk checks data as chunk i of the file that want describes (its
// size, chunk size and chunk digests; Sum is not used), alone and in any
// order. A chunk of the wrong length or content wraps [ErrChunkMismatch].
func VerifyChunk(want Hashes, i int, data []byte) error {
	if i < 0 || i >= len(want.Chunks) {
		return fmt.Errorf("chunk %d: the file has %d chunks", i, len(want.Chunks))
	}
	off := int64(i) * want.ChunkSize
	if n := min(want.ChunkSize, want.Size-off); int64(len(data)) != n {
		return fmt.Errorf("chunk %d: %d bytes, want %d: %w", i, len(data), n, ErrChunkMismatch)
	}
	var prev Digest
	if i > 0 {
		prev = want.Chunks[i-1]
	}
	h, err := ChunkHash(i, want.ChunkSize, prev)
	if err != nil {
		return err
	}
	h.Write(data)
	got, err := ChunkDigest(h, i == len(want.Chunks)-1)
	if err != nil {
		return fmt.Errorf("chunk %d: %w", i, err)
	}
	if got != want.Chunks[i] {
		return fmt.Errorf("chunk %d: %w", i, ErrChunkMismatch)
	}
	return nil
}
