package cohort

import (
	"errors"
	"fmt"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	pb "github.com/libp2p/go-libp2p/core/crypto/pb"
	"github.com/libp2p/go-libp2p/core/peer"
)

// SignaturePrefix separates manifest signatures from every other use of a
// node key. The signed message is this prefix followed by the manifest CID
// in its binary form (CIDv1, dag-cbor, sha2-256: 36 bytes):
//
//	"cohortnet manifest v1\n" || cid.Bytes()
const SignaturePrefix = "cohortnet manifest v1\n"

// ErrBadSignature means a signed manifest's signature does not verify with
// its public key, or the key is not the publisher's. Drop the object and
// distrust the peer that sent it.
var ErrBadSignature = errors.New("manifest signature does not verify")

// SignedManifest is a manifest as it travels and is kept: the manifest's
// exact DAG-CBOR bytes, the publisher's libp2p-marshalled public key, and the
// Ed25519 signature over [SignaturePrefix] and the manifest CID. It is itself
// encoded as DAG-CBOR ({"manifest", "public_key", "signature"}).
type SignedManifest struct {
	Manifest  []byte
	PublicKey []byte
	Signature []byte
}

func signedMessage(c cid.Cid) []byte { return append([]byte(SignaturePrefix), c.Bytes()...) }

// Sign encodes m, checks that key is the publisher's (m.Publisher.PeerID) and
// signs the manifest CID. key is the node identity (datadir.Dir.Identity).
func Sign(m *Manifest, key crypto.PrivKey) (*SignedManifest, cid.Cid, error) {
	if key.Type() != pb.KeyType_Ed25519 {
		return nil, cid.Undef, fmt.Errorf("sign manifest: key type %s, want Ed25519", key.Type())
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, cid.Undef, fmt.Errorf("sign manifest: %w", err)
	}
	if id.String() != m.Publisher.PeerID {
		return nil, cid.Undef, fmt.Errorf("sign manifest: key of peer %s, manifest names publisher %s", id, m.Publisher.PeerID)
	}
	b, c, err := m.Encode()
	if err != nil {
		return nil, cid.Undef, fmt.Errorf("sign manifest: %w", err)
	}
	sig, err := key.Sign(signedMessage(c))
	if err != nil {
		return nil, cid.Undef, fmt.Errorf("sign manifest: %w", err)
	}
	pub, err := crypto.MarshalPublicKey(key.GetPublic())
	if err != nil {
		return nil, cid.Undef, fmt.Errorf("sign manifest: %w", err)
	}
	return &SignedManifest{Manifest: b, PublicKey: pub, Signature: sig}, c, nil
}

// Verify checks a signed manifest: the manifest decodes, is in canonical
// form and valid; the public key is Ed25519 and is the publisher peer id's
// key; the signature verifies over the manifest CID. It returns the manifest
// and its CID. A signature failure wraps [ErrBadSignature].
func (sm *SignedManifest) Verify() (*Manifest, cid.Cid, error) {
	m, c, err := DecodeManifest(sm.Manifest)
	if err != nil {
		return nil, cid.Undef, fmt.Errorf("verify manifest: %w", err)
	}
	pub, err := crypto.UnmarshalPublicKey(sm.PublicKey)
	if err != nil {
		return nil, cid.Undef, fmt.Errorf("verify manifest %s: public key: %w", c, err)
	}
	if pub.Type() != pb.KeyType_Ed25519 {
		return nil, cid.Undef, fmt.Errorf("verify manifest %s: key type %s, want Ed25519: %w", c, pub.Type(), ErrBadSignature)
	}
	id, err := peer.IDFromPublicKey(pub)
	if err != nil {
		return nil, cid.Undef, fmt.Errorf("verify manifest %s: %w", c, err)
	}
	if id.String() != m.Publisher.PeerID {
		return nil, cid.Undef, fmt.Errorf("verify manifest %s: signed by peer %s, publisher is %s: %w", c, id, m.Publisher.PeerID, ErrBadSignature)
	}
	ok, err := pub.Verify(signedMessage(c), sm.Signature)
	if err != nil || !ok {
		return nil, cid.Undef, fmt.Errorf("verify manifest %s: %w", c, ErrBadSignature)
	}
	return m, c, nil
}

// maxSignedSize bounds an encoded signed manifest: the manifest plus a key
// and a signature.
const maxSignedSize = MaxManifestSize + 4096

// Encode returns the signed manifest's DAG-CBOR bytes.
func (sm *SignedManifest) Encode() ([]byte, error) {
	b, err := encodeNode(sm, signedManifestType)
	if err != nil {
		return nil, fmt.Errorf("encode signed manifest: %w", err)
	}
	return b, nil
}

// DecodeSignedManifest decodes a signed manifest's bytes, bounded in size and
// allocation. It does not verify it: call [SignedManifest.Verify].
func DecodeSignedManifest(b []byte) (*SignedManifest, error) {
	var sm SignedManifest
	if err := decodeNode(b, &sm, signedManifestType, maxSignedSize); err != nil {
		return nil, fmt.Errorf("decode signed manifest: %w", err)
	}
	return &sm, nil
}
