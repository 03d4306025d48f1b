package consortium

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
)

// Note keys (checkpoint signatures and witness cosignatures) are derived from
// the node's libp2p Ed25519 identity key: the operator signs checkpoints and a
// witness cosigns them with the same key that is its peer id. A verifier key in
// the configuration can therefore be checked against the peer id it belongs to
// (an Ed25519 peer id embeds its public key), and there is no second secret to
// keep. The signed messages cannot be confused with other uses of the key:
// checkpoints are note texts whose first line is a key name (no spaces),
// cosignatures start with "cosignature/v1", and cohortnet's own signatures
// carry their own prefixes with spaces in them.

// ed25519Private returns the standard-library form of a libp2p Ed25519 key.
func ed25519Private(priv crypto.PrivKey) (ed25519.PrivateKey, error) {
	if priv == nil || priv.Type() != crypto.Ed25519 {
		return nil, fmt.Errorf("consortium: key is not Ed25519")
	}
	raw, err := priv.Raw()
	if err != nil {
		return nil, fmt.Errorf("consortium: read key: %w", err)
	}
	if len(raw) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("consortium: Ed25519 key has %d bytes, want %d", len(raw), ed25519.PrivateKeySize)
	}
	return ed25519.PrivateKey(raw), nil
}

// PublicKey returns the Ed25519 public key embedded in a peer id.
func PublicKey(id peer.ID) (ed25519.PublicKey, error) {
	pk, err := id.ExtractPublicKey()
	if err != nil {
		return nil, fmt.Errorf("consortium: peer %s: no public key in id: %w", id, err)
	}
	if pk.Type() != crypto.Ed25519 {
		return nil, fmt.Errorf("consortium: peer %s: key is not Ed25519", id)
	}
	raw, err := pk.Raw()
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("consortium: peer %s: bad Ed25519 public key", id)
	}
	return ed25519.PublicKey(raw), nil
}

// noteKeyHash is the C2SP signed-note key hash of an Ed25519 key (algorithm 0x01).
func noteKeyHash(name string, pub ed25519.PublicKey) uint32 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte("\n"))
	h.Write([]byte{0x01})
	h.Write(pub)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

// noteSignerKey formats priv as a signed-note private key string named name.
func noteSignerKey(priv crypto.PrivKey, name string) (string, error) {
	k, err := ed25519Private(priv)
	if err != nil {
		return "", err
	}
	pub := k.Public().(ed25519.PublicKey)
	b := append([]byte{0x01}, k.Seed()...)
	return fmt.Sprintf("PRIVATE+KEY+%s+%08x+%s", name, noteKeyHash(name, pub), base64.StdEncoding.EncodeToString(b)), nil
}

// NoteSigner returns a C2SP signed-note signer named name (for a checkpoint:
// the log's origin) that signs with the identity key priv.
func NoteSigner(priv crypto.PrivKey, name string) (note.Signer, error) {
	skey, err := noteSignerKey(priv, name)
	if err != nil {
		return nil, err
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		return nil, fmt.Errorf("consortium: note signer %q: %w", name, err)
	}
	return s, nil
}

// NoteVerifierKey returns the signed-note verifier key (name+hash+key) of the
// Ed25519 key inside peer id, as it appears in the configuration.
func NoteVerifierKey(id peer.ID, name string) (string, error) {
	pub, err := PublicKey(id)
	if err != nil {
		return "", err
	}
	v, err := note.NewEd25519VerifierKey(name, pub)
	if err != nil {
		return "", fmt.Errorf("consortium: verifier key %q: %w", name, err)
	}
	return v, nil
}

// CosignatureSigner returns a C2SP tlog-cosignature (cosignature/v1) signer
// named name that signs with the identity key priv.
func CosignatureSigner(priv crypto.PrivKey, name string) (note.Signer, error) {
	skey, err := noteSignerKey(priv, name)
	if err != nil {
		return nil, err
	}
	s, err := fnote.NewSignerForCosignatureV1(skey)
	if err != nil {
		return nil, fmt.Errorf("consortium: cosignature signer %q: %w", name, err)
	}
	return s, nil
}

// CosignatureVerifierKey returns the cosignature/v1 verifier key (algorithm
// 0x04) of the Ed25519 key inside peer id.
func CosignatureVerifierKey(id peer.ID, name string) (string, error) {
	v, err := NoteVerifierKey(id, name)
	if err != nil {
		return "", err
	}
	c, err := fnote.VKeyToCosignatureV1(v)
	if err != nil {
		return "", fmt.Errorf("consortium: cosignature key %q: %w", name, err)
	}
	return c, nil
}
