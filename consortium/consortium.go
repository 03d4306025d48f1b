// Package consortium is who belongs to a cohortnet consortium: the signed
// configuration that lists the members (peer id, short name, display name,
// roles), the ledger operator, the witnesses and their quorum, and the
// bootstrap addresses, with the consortium key that signs it.
//
// A configuration is a YAML file with a version number, signed by the
// consortium key and kept at <data>/consortium.yaml (see [Parse] for the file
// format). A node installs a configuration once ([Install]); after that only a
// newer version signed by the same key replaces it. The holder of the
// consortium key edits a draft ([LoadDraft], [SaveDraft]) and signs it
// ([SignDraft]).
//
// It is not the ledger, the network or the access policy: those packages read
// a [Config] to decide whom to trust.
package consortium

import (
	"bytes"
	"cmp"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
	"gopkg.in/yaml.v3"

	"github.com/cohortnet/cohortnet/internal/datadir"
)

// Config is one version of a consortium configuration.
type Config struct {
	Name    string `yaml:"name" json:"name"`       // display name of the consortium
	Version uint64 `yaml:"version" json:"version"` // counts up with every signed change
	// Key is the consortium's public key in peer-id form (an Ed25519 key
	// embedded in a libp2p peer id); it signs every version.
	Key       peer.ID   `yaml:"key" json:"key"`
	Members   []Member  `yaml:"members,omitempty" json:"members,omitempty"`
	Ledger    *Ledger   `yaml:"ledger,omitempty" json:"ledger,omitempty"`
	Witnesses []Witness `yaml:"witnesses,omitempty" json:"witnesses,omitempty"`
	// Quorum is how many witnesses must cosign a checkpoint before it counts.
	Quorum    int      `yaml:"quorum" json:"quorum"`
	Bootstrap []string `yaml:"bootstrap,omitempty" json:"bootstrap,omitempty"` // libp2p multiaddrs with /p2p/ ids
}

// Member is an institution or person in the consortium.
type Member struct {
	Peer      peer.ID  `yaml:"peer" json:"peer"`
	Name      string   `yaml:"name" json:"name"`             // display name, "Hospital A"
	ShortName string   `yaml:"short_name" json:"short_name"` // dataset prefix, "hospital-a"
	Roles     []string `yaml:"roles" json:"roles"`           // some of datadir.Roles
}

// HasRole reports whether the member holds role.
func (m Member) HasRole(role string) bool { return slices.Contains(m.Roles, role) }

// Ledger is the ledger operator.
type Ledger struct {
	Peer   peer.ID `yaml:"peer" json:"peer"`
	Origin string  `yaml:"origin" json:"origin"` // checkpoint origin line, and the key name
	// Key is the operator's checkpoint verifier key in signed-note format,
	// derived from its identity key ([NoteVerifierKey]).
	Key   string   `yaml:"key" json:"key"`
	HTTP  string   `yaml:"http" json:"http"`                       // base URL of the tlog-tiles paths and submission
	Addrs []string `yaml:"addrs,omitempty" json:"addrs,omitempty"` // libp2p multiaddrs
}

// Witness cosigns the ledger's checkpoints.
type Witness struct {
	Peer peer.ID `yaml:"peer" json:"peer"`
	Name string  `yaml:"name" json:"name"` // key name
	// Key is the cosignature/v1 verifier key, derived from the witness's
	// identity key ([CosignatureVerifierKey]).
	Key  string `yaml:"key" json:"key"`
	HTTP string `yaml:"http" json:"http"` // base URL; the add-checkpoint path is below it
}

// IsMember reports whether id is a member.
func (c *Config) IsMember(id peer.ID) bool {
	_, ok := c.Member(id)
	return ok
}

// Member returns the member with peer id id.
func (c *Config) Member(id peer.ID) (Member, bool) {
	for _, m := range c.Members {
		if m.Peer == id {
			return m, true
		}
	}
	return Member{}, false
}

// MemberByShortName returns the member whose datasets are prefixed short.
func (c *Config) MemberByShortName(short string) (Member, bool) {
	for _, m := range c.Members {
		if m.ShortName == short {
			return m, true
		}
	}
	return Member{}, false
}

// Witness returns the witness with peer id id.
func (c *Config) Witness(id peer.ID) (Witness, bool) {
	for _, w := range c.Witnesses {
		if w.Peer == id {
			return w, true
		}
	}
	return Witness{}, false
}

// LedgerVerifier returns the verifier of the operator's checkpoint signatures.
func (c *Config) LedgerVerifier() (note.Verifier, error) {
	if c.Ledger == nil {
		return nil, ErrNoLedger
	}
	v, err := note.NewVerifier(c.Ledger.Key)
	if err != nil {
		return nil, fmt.Errorf("consortium: ledger key: %w", err)
	}
	return v, nil
}

// WitnessVerifiers returns the cosignature verifiers of every witness, in
// configuration order.
func (c *Config) WitnessVerifiers() ([]note.Verifier, error) {
	vs := make([]note.Verifier, 0, len(c.Witnesses))
	for _, w := range c.Witnesses {
		v, err := fnote.NewVerifierForCosignatureV1(w.Key)
		if err != nil {
			return nil, fmt.Errorf("consortium: witness %s key: %w", w.Name, err)
		}
		vs = append(vs, v)
	}
	return vs, nil
}

// ErrNoLedger is returned when the configuration names no ledger operator
// yet; the consortium key holder runs `cohortnet consortium set-ledger`.
var ErrNoLedger = errors.New("consortium: no ledger operator configured (run `cohortnet consortium set-ledger`)")

// DefaultOrigin is the checkpoint origin [Config.SetLedger] uses when none is given.
func DefaultOrigin(consortiumName string) string {
	return "cohortnet.ledger/" + slug(consortiumName)
}

func slug(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	return cmp.Or(strings.TrimSuffix(b.String(), "-"), "consortium")
}

// AddMember adds m, or replaces the member with the same peer id.
func (c *Config) AddMember(m Member) error {
	if err := validMember(m); err != nil {
		return err
	}
	for i := range c.Members {
		if c.Members[i].Peer == m.Peer {
			c.Members[i] = m
			return c.checkUnique()
		}
	}
	c.Members = append(c.Members, m)
	return c.checkUnique()
}

// RemoveMember removes the member with peer id id.
func (c *Config) RemoveMember(id peer.ID) bool {
	n := len(c.Members)
	c.Members = slices.DeleteFunc(c.Members, func(m Member) bool { return m.Peer == id })
	return len(c.Members) != n
}

// SetLedger makes id the ledger operator served at httpURL. An empty origin
// keeps the current one or takes [DefaultOrigin].
func (c *Config) SetLedger(id peer.ID, httpURL, origin string, addrs []string) error {
	if origin == "" && c.Ledger != nil {
		origin = c.Ledger.Origin
	}
	origin = cmp.Or(origin, DefaultOrigin(c.Name))
	key, err := NoteVerifierKey(id, origin)
	if err != nil {
		return err
	}
	c.Ledger = &Ledger{Peer: id, Origin: origin, Key: key, HTTP: httpURL, Addrs: addrs}
	return validLedger(c.Ledger)
}

// AddWitness adds id as a witness reached at httpURL, or updates it. An empty
// name takes the member's short name, else the peer id.
func (c *Config) AddWitness(id peer.ID, httpURL, name string) error {
	if name == "" {
		if m, ok := c.Member(id); ok && m.ShortName != "" {
			name = "witness-" + m.ShortName
		} else {
			name = id.String()
		}
	}
	key, err := CosignatureVerifierKey(id, name)
	if err != nil {
		return err
	}
	w := Witness{Peer: id, Name: name, Key: key, HTTP: httpURL}
	if err := validWitness(w); err != nil {
		return err
	}
	for i := range c.Witnesses {
		if c.Witnesses[i].Peer == id {
			c.Witnesses[i] = w
			return c.checkUnique()
		}
	}
	c.Witnesses = append(c.Witnesses, w)
	return c.checkUnique()
}

// AddBootstrap adds a bootstrap address: a libp2p multiaddr ending in the
// peer's /p2p/ id. Adding one already listed changes nothing.
func (c *Config) AddBootstrap(addr string) error {
	if _, err := peer.AddrInfoFromString(addr); err != nil {
		return fmt.Errorf("consortium: bootstrap address %q: %w (want e.g. /ip4/192.0.2.1/tcp/4001/p2p/12D3KooW...)", addr, err)
	}
	if !slices.Contains(c.Bootstrap, addr) {
		c.Bootstrap = append(c.Bootstrap, addr)
	}
	return nil
}

// SetQuorum sets how many witnesses must cosign.
func (c *Config) SetQuorum(n int) error {
	if n < 0 || n > len(c.Witnesses) {
		return fmt.Errorf("consortium: quorum %d: must be between 0 and the number of witnesses (%d)", n, len(c.Witnesses))
	}
	c.Quorum = n
	return nil
}

// Validate checks that the configuration makes sense: known roles, valid and
// unique short names and peer ids, keys that belong to the peers that hold
// them, and a quorum the witnesses can reach.
func (c *Config) Validate() error {
	if strings.TrimSpace(c.Name) == "" {
		return errors.New("consortium: configuration has no name")
	}
	if _, err := PublicKey(c.Key); err != nil {
		return fmt.Errorf("consortium: configuration key: %w", err)
	}
	for _, m := range c.Members {
		if err := validMember(m); err != nil {
			return err
		}
	}
	if c.Ledger != nil {
		if err := validLedger(c.Ledger); err != nil {
			return err
		}
	}
	for _, w := range c.Witnesses {
		if err := validWitness(w); err != nil {
			return err
		}
	}
	if c.Quorum < 0 || c.Quorum > len(c.Witnesses) {
		return fmt.Errorf("consortium: quorum %d: must be between 0 and the number of witnesses (%d)", c.Quorum, len(c.Witnesses))
	}
	for _, a := range c.Bootstrap {
		if _, err := peer.AddrInfoFromString(a); err != nil {
			return fmt.Errorf("consortium: bootstrap address %q: %w", a, err)
		}
	}
	return c.checkUnique()
}

func (c *Config) checkUnique() error {
	peers := map[peer.ID]bool{}
	shorts := map[string]bool{}
	for _, m := range c.Members {
		if peers[m.Peer] {
			return fmt.Errorf("consortium: member %s listed twice", m.Peer)
		}
		peers[m.Peer] = true
		if m.ShortName != "" {
			if shorts[m.ShortName] {
				return fmt.Errorf("consortium: short name %q used by two members", m.ShortName)
			}
			shorts[m.ShortName] = true
		}
	}
	names := map[string]bool{}
	wpeers := map[peer.ID]bool{}
	for _, w := range c.Witnesses {
		if names[w.Name] || wpeers[w.Peer] {
			return fmt.Errorf("consortium: witness %s listed twice", w.Name)
		}
		names[w.Name], wpeers[w.Peer] = true, true
	}
	return nil
}

func validMember(m Member) error {
	if _, err := PublicKey(m.Peer); err != nil {
		return fmt.Errorf("consortium: member %q: %w", m.Name, err)
	}
	if m.ShortName != "" && !datadir.ValidShortName(m.ShortName) {
		return fmt.Errorf("consortium: member %s: short name %q: use lower-case letters, digits and '-', starting with a letter", m.Peer, m.ShortName)
	}
	if len(m.Roles) == 0 {
		return fmt.Errorf("consortium: member %s: no roles (roles: %s)", m.Peer, strings.Join(datadir.Roles, ", "))
	}
	for _, r := range m.Roles {
		if !slices.Contains(datadir.Roles, r) {
			return fmt.Errorf("consortium: member %s: unknown role %q (roles: %s)", m.Peer, r, strings.Join(datadir.Roles, ", "))
		}
	}
	return nil
}

func validLedger(l *Ledger) error {
	want, err := NoteVerifierKey(l.Peer, l.Origin)
	if err != nil {
		return fmt.Errorf("consortium: ledger: %w", err)
	}
	if l.Key != want {
		return fmt.Errorf("consortium: ledger key %q does not belong to peer %s with origin %q", l.Key, l.Peer, l.Origin)
	}
	if l.HTTP == "" {
		return errors.New("consortium: ledger has no HTTP address")
	}
	return nil
}

func validWitness(w Witness) error {
	want, err := CosignatureVerifierKey(w.Peer, w.Name)
	if err != nil {
		return fmt.Errorf("consortium: witness %q: %w", w.Name, err)
	}
	if w.Key != want {
		return fmt.Errorf("consortium: witness %q: key does not belong to peer %s", w.Name, w.Peer)
	}
	if w.HTTP == "" {
		return fmt.Errorf("consortium: witness %q has no HTTP address", w.Name)
	}
	return nil
}

// Signed file format.
//
// A signed configuration file is two YAML documents:
//
//	<the configuration, YAML>
//	---
//	signature: <base64 Ed25519 signature>
//
// The signature covers signaturePrefix followed by the exact bytes of the
// first document up to and including the newline before the "---" line, and
// verifies with the Ed25519 key embedded in the configuration's key field. The
// body is signed as bytes, so a file that was re-indented no longer verifies:
// edit the draft and sign again instead.

const signaturePrefix = "cohortnet consortium configuration v1\n"

const separator = "\n---\n"

// MaxFileSize caps a configuration file.
const MaxFileSize = 1 << 20

// Signed is a verified configuration with the file it came from.
type Signed struct {
	*Config
	File []byte // the signed file, as installed
}

type trailer struct {
	Signature string `yaml:"signature" json:"signature"`
}

// ErrBadSignature is returned for a configuration whose signature does not
// verify with its key. The file was altered or forged: ask the consortium for
// a fresh copy.
var ErrBadSignature = errors.New("consortium: configuration signature does not verify")

// Parse reads and verifies a signed configuration file: the signature with
// the key the file names, and [Config.Validate]. It does not say whether that
// key is the one the caller trusts: compare Config.Key, as [Install] does.
func Parse(file []byte) (*Signed, error) {
	if len(file) > MaxFileSize {
		return nil, fmt.Errorf("consortium: configuration is %d bytes, more than %d", len(file), MaxFileSize)
	}
	i := bytes.LastIndex(file, []byte(separator))
	if i < 0 {
		return nil, errors.New("consortium: configuration is not signed (no signature document after ---)")
	}
	body, tail := file[:i+1], file[i+len(separator):]
	var t trailer
	if err := yaml.Unmarshal(tail, &t); err != nil {
		return nil, fmt.Errorf("consortium: read signature: %w", err)
	}
	sig, err := base64.StdEncoding.DecodeString(t.Signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return nil, errors.New("consortium: signature: not a base64 Ed25519 signature")
	}
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(body))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("consortium: read configuration: %w", err)
	}
	pub, err := PublicKey(c.Key)
	if err != nil {
		return nil, fmt.Errorf("consortium: configuration key: %w", err)
	}
	if !ed25519.Verify(pub, append([]byte(signaturePrefix), body...), sig) {
		return nil, ErrBadSignature
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &Signed{Config: &c, File: file}, nil
}

// Sign encodes c and signs it with key, which must be the key c names.
func Sign(c *Config, key crypto.PrivKey) (*Signed, error) {
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("consortium: sign: %w", err)
	}
	if id != c.Key {
		return nil, fmt.Errorf("consortium: sign: key %s is not the configuration's key %s", id, c.Key)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	body, err := yaml.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("consortium: encode configuration: %w", err)
	}
	sig, err := key.Sign(append([]byte(signaturePrefix), body...))
	if err != nil {
		return nil, fmt.Errorf("consortium: sign: %w", err)
	}
	tail, err := yaml.Marshal(trailer{Signature: base64.StdEncoding.EncodeToString(sig)})
	if err != nil {
		return nil, err
	}
	file := append(append(body, "---\n"...), tail...)
	return Parse(file)
}
