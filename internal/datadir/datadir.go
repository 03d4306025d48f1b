// Package datadir lays out a node's data directory and owns the secrets in it:
// the Ed25519 identity key (the libp2p identity that signs manifests and ledger
// entries), the de-identification secret, and config.yaml.
//
// It is not the node: it only knows where things live and how to create and read
// them, so every command (deid, publish, node) can find its keys without linking
// the network or the query engine.
package datadir

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"gopkg.in/yaml.v3"
)

// Files and folders inside a data directory.
const (
	IdentityFile   = "identity.key"    // libp2p-marshalled Ed25519 private key, 0600
	SecretFile     = "deid.secret"     // 32 random bytes, 0600
	ConfigFile     = "config.yaml"     // [Config]
	ConsortiumFile = "consortium.yaml" // the signed consortium configuration
	TokenFile      = "api.token"       // the local HTTP API token, 0600
	StoreDir       = "store"           // content-addressed files
	LedgerDir      = "ledger"          // the ledger (operator's log, mirror)
	DeidDir        = "deid"            // surrogate-id mappings that never leave
)

// SecretSize is the length of the de-identification secret in bytes.
const SecretSize = 32

// Roles a node can hold.
var Roles = []string{"hospital", "researcher", "agency", "ledger", "witness"}

// ErrNotInitialized is returned when a data directory has no identity yet.
// The caller should tell the user to run `cohortnet init`.
var ErrNotInitialized = errors.New("data directory is not initialized (run `cohortnet init`)")

// Config is config.yaml: who this node is. Zero values mean "not set".
type Config struct {
	Name      string   `yaml:"name"`                 // display name, "Hospital A"
	ShortName string   `yaml:"short_name"`           // dataset prefix, "hospital-a"
	Roles     []string `yaml:"roles"`                // some of [Roles]
	Listen    []string `yaml:"listen,omitempty"`     // libp2p multiaddrs; empty: node defaults
	API       string   `yaml:"api,omitempty"`        // local HTTP API address; empty: node default
	LedgerURL string   `yaml:"ledger_url,omitempty"` // operator role: where the log is served
}

// HasRole reports whether the configuration lists role.
func (c *Config) HasRole(role string) bool { return slices.Contains(c.Roles, role) }

// Dir is a data directory.
type Dir struct{ Path string }

// Open returns the data directory at path. It does not touch the disk.
func Open(path string) Dir { return Dir{Path: path} }

// Join returns a path inside the data directory.
func (d Dir) Join(elem ...string) string { return filepath.Join(append([]string{d.Path}, elem...)...) }

// InitOptions says what `cohortnet init` creates.
type InitOptions struct {
	Config Config
	// Force replaces an existing identity key and secret. Without it an
	// existing identity is kept and [Dir.Init] reports that nothing changed.
	Force bool
}

// InitResult says what [Dir.Init] did.
type InitResult struct {
	PeerID  peer.ID
	Created bool // false: the directory was already initialized and nothing changed
}

// Init creates the data directory, the identity key, the de-identification
// secret and config.yaml. Run again on an initialized directory it changes
// nothing unless opts.Force is set.
func (d Dir) Init(opts InitOptions) (InitResult, error) {
	if err := validateConfig(&opts.Config); err != nil {
		return InitResult{}, err
	}
	if _, err := os.Stat(d.Join(IdentityFile)); err == nil && !opts.Force {
		id, err := d.PeerID()
		if err != nil {
			return InitResult{}, err
		}
		return InitResult{PeerID: id}, nil
	}
	if err := os.MkdirAll(d.Path, 0o700); err != nil {
		return InitResult{}, fmt.Errorf("init: %w", err)
	}
	priv, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return InitResult{}, fmt.Errorf("init: generate identity: %w", err)
	}
	keyBytes, err := crypto.MarshalPrivateKey(priv)
	if err != nil {
		return InitResult{}, fmt.Errorf("init: encode identity: %w", err)
	}
	secret := make([]byte, SecretSize)
	if _, err := rand.Read(secret); err != nil {
		return InitResult{}, fmt.Errorf("init: generate secret: %w", err)
	}
	cfg, err := yaml.Marshal(&opts.Config)
	if err != nil {
		return InitResult{}, fmt.Errorf("init: encode config: %w", err)
	}
	for _, f := range []struct {
		name string
		data []byte
		mode fs.FileMode
	}{
		{SecretFile, secret, 0o600},
		{ConfigFile, cfg, 0o644},
		{IdentityFile, keyBytes, 0o600}, // last: its presence means "initialized"
	} {
		if err := WriteFileAtomic(d.Join(f.name), f.data, f.mode); err != nil {
			return InitResult{}, fmt.Errorf("init: %w", err)
		}
	}
	id, err := peer.IDFromPrivateKey(priv)
	if err != nil {
		return InitResult{}, fmt.Errorf("init: %w", err)
	}
	return InitResult{PeerID: id, Created: true}, nil
}

func validateConfig(c *Config) error {
	for _, r := range c.Roles {
		if !slices.Contains(Roles, r) {
			return fmt.Errorf("init: unknown role %q (roles: %s)", r, strings.Join(Roles, ", "))
		}
	}
	if c.ShortName != "" && !ValidShortName(c.ShortName) {
		return fmt.Errorf("init: short name %q: use lower-case letters, digits and '-', starting with a letter, at most 32 characters", c.ShortName)
	}
	return nil
}

// ValidShortName reports whether s can name an institution in dataset names
// (`hospital-a/diabetes`): lower-case letters, digits and '-', starting with a
// letter, 1 to 32 characters.
func ValidShortName(s string) bool {
	if len(s) == 0 || len(s) > 32 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// Identity reads the node's private key.
func (d Dir) Identity() (crypto.PrivKey, error) {
	b, err := os.ReadFile(d.Join(IdentityFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", d.Path, ErrNotInitialized)
	}
	if err != nil {
		return nil, err
	}
	k, err := crypto.UnmarshalPrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("%s: identity key is damaged: %w", d.Join(IdentityFile), err)
	}
	return k, nil
}

// PeerID returns the node's libp2p peer id.
func (d Dir) PeerID() (peer.ID, error) {
	k, err := d.Identity()
	if err != nil {
		return "", err
	}
	return peer.IDFromPrivateKey(k)
}

// Secret reads the de-identification secret.
func (d Dir) Secret() ([]byte, error) { return ReadSecret(d.Join(SecretFile)) }

// ReadSecret reads a de-identification secret file: exactly [SecretSize] bytes,
// or their hex encoding.
func ReadSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no de-identification key at %s: run `cohortnet init` or pass --key-file", path)
	}
	if err != nil {
		return nil, err
	}
	if len(b) == SecretSize {
		return b, nil
	}
	if h, err := hex.DecodeString(strings.TrimSpace(string(b))); err == nil && len(h) == SecretSize {
		return h, nil
	}
	return nil, fmt.Errorf("%s: a de-identification key is %d bytes (or their hex)", path, SecretSize)
}

// Fingerprint is a short public fingerprint of a secret, safe to print and to
// put in reports: the first 8 bytes of SHA-256 over a domain-separated copy.
func Fingerprint(secret []byte) string {
	h := sha256.New()
	h.Write([]byte("cohortnet key fingerprint v1\x00"))
	h.Write(secret)
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// Config reads config.yaml.
func (d Dir) Config() (*Config, error) {
	b, err := os.ReadFile(d.Join(ConfigFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", d.Path, ErrNotInitialized)
	}
	if err != nil {
		return nil, err
	}
	var c Config
	if err := yaml.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("%s: %w", d.Join(ConfigFile), err)
	}
	return &c, nil
}

// SaveConfig replaces config.yaml atomically.
func (d Dir) SaveConfig(c *Config) error {
	if err := validateConfig(c); err != nil {
		return err
	}
	b, err := yaml.Marshal(c)
	if err != nil {
		return err
	}
	return WriteFileAtomic(d.Join(ConfigFile), b, 0o644)
}

// WriteFileAtomic writes data to a temporary file beside path, fsyncs it,
// renames it over path and fsyncs the directory, so a reader sees the old
// content or the new, never a part.
func WriteFileAtomic(path string, data []byte, mode fs.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after the rename
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return SyncDir(dir)
}

// SyncDir fsyncs a directory so a rename inside it survives a crash.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
