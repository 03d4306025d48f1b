package cohort

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
)

// ChunkSize is the size of the chunks files are cut into for transfer and
// verification. The last chunk of a file may be shorter; an empty file has
// no chunks.
const ChunkSize = 4 << 20

// Digest is a sha256 digest: of a whole file (inside its CID) or of a chunk.
type Digest [sha256.Size]byte

// String returns the digest in lower-case hex.
func (d Digest) String() string { return hex.EncodeToString(d[:]) }

// FileCID returns the CID of a file whose sha256 is sum: CIDv1, codec raw,
// multihash sha2-256.
func FileCID(sum Digest) cid.Cid {
	mh, err := multihash.Encode(sum[:], multihash.SHA2_256)
	if err != nil {
		panic(err) // sha2-256 with 32 bytes is always valid
	}
	return cid.NewCidV1(cid.Raw, mh)
}

// manifestCID returns the CID of encoded manifest bytes: CIDv1, codec
// dag-cbor, multihash sha2-256.
func manifestCID(encoded []byte) cid.Cid {
	sum := sha256.Sum256(encoded)
	mh, err := multihash.Encode(sum[:], multihash.SHA2_256)
	if err != nil {
		panic(err)
	}
	return cid.NewCidV1(cid.DagCBOR, mh)
}

// FileDigest returns the sha256 inside a file CID. It fails for a CID that is
// not CIDv1, codec raw, sha2-256: the only kind the store holds.
func FileDigest(c cid.Cid) (Digest, error) {
	if !c.Defined() {
		return Digest{}, fmt.Errorf("cid: undefined")
	}
	if c.Version() != 1 || c.Type() != cid.Raw {
		return Digest{}, fmt.Errorf("cid %s: not a file CID (want CIDv1, codec raw)", c)
	}
	return sha256Digest(c)
}

func sha256Digest(c cid.Cid) (Digest, error) {
	dec, err := multihash.Decode(c.Hash())
	if err != nil {
		return Digest{}, fmt.Errorf("cid %s: %w", c, err)
	}
	if dec.Code != multihash.SHA2_256 || len(dec.Digest) != sha256.Size {
		return Digest{}, fmt.Errorf("cid %s: hash is not sha2-256", c)
	}
	return Digest(dec.Digest), nil
}

// NumChunks is how many [ChunkSize] chunks a file of size bytes has.
func NumChunks(size, chunkSize int64) int64 {
	if size <= 0 {
		return 0
	}
	return (size + chunkSize - 1) / chunkSize
}

// ParseFileCID parses a file CID in any multibase and checks its kind.
func ParseFileCID(s string) (cid.Cid, error) {
	c, err := cid.Decode(s)
	if err != nil {
		return cid.Undef, fmt.Errorf("parse cid %q: %w", s, err)
	}
	if _, err := FileDigest(c); err != nil {
		return cid.Undef, err
	}
	return c, nil
}
