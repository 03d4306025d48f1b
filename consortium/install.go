package consortium

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"gopkg.in/yaml.v3"

	"github.com/cohortnet/cohortnet/internal/datadir"
)

// Files the consortium key holder keeps in its data directory, beside
// datadir.ConsortiumFile (the installed configuration every node has).
const (
	KeyFile   = "consortium.key"        // libp2p-marshalled Ed25519 consortium key, 0600
	DraftFile = "consortium.draft.yaml" // the unsigned configuration being edited
)

// ErrNotInstalled is returned when a data directory has no consortium
// configuration. The node works alone; to join, run `cohortnet consortium install FILE`.
var ErrNotInstalled = errors.New("no consortium configuration installed (run `cohortnet consortium install FILE`)")

// Refusals of [Install]. The node keeps the configuration it has.
var (
	ErrOtherKey = errors.New("consortium: configuration is signed by a different consortium key than the installed one")
	ErrNotNewer = errors.New("consortium: configuration is not newer than the installed one")
)

// Load reads and verifies the installed configuration of data directory d.
func Load(d datadir.Dir) (*Signed, error) {
	b, err := os.ReadFile(d.Join(datadir.ConsortiumFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", d.Path, ErrNotInstalled)
	}
	if err != nil {
		return nil, fmt.Errorf("consortium: %w", err)
	}
	s, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.Join(datadir.ConsortiumFile), err)
	}
	return s, nil
}

// InstallOptions says what [Install] accepts.
type InstallOptions struct {
	// Key, when set, is the consortium key the caller expects (peer-id form).
	// Without it the first configuration installed is trusted on first use.
	Key peer.ID
}

// InstallResult says what [Install] did.
type InstallResult struct {
	Config   *Signed
	Previous uint64 // version replaced, 0 if none
	Changed  bool   // false: the same file was already installed
}

// Install verifies file and makes it the data directory's configuration: the
// first time (TOFU unless opts.Key is set), or when it is signed by the same
// key as the installed one with a higher version. Re-installing the installed
// file changes nothing; anything else is refused with [ErrOtherKey] or
// [ErrNotNewer].
func Install(d datadir.Dir, file []byte, opts InstallOptions) (InstallResult, error) {
	s, err := Parse(file)
	if err != nil {
		return InstallResult{}, err
	}
	if opts.Key != "" && s.Key != opts.Key {
		return InstallResult{}, fmt.Errorf("%w: file is signed by %s, expected %s", ErrOtherKey, s.Key, opts.Key)
	}
	old, err := Load(d)
	switch {
	case errors.Is(err, ErrNotInstalled):
	case err != nil:
		return InstallResult{}, err
	default:
		if old.Key != s.Key {
			return InstallResult{}, fmt.Errorf("%w: installed %s, file %s", ErrOtherKey, old.Key, s.Key)
		}
		if bytes.Equal(old.File, s.File) {
			return InstallResult{Config: old, Previous: old.Version}, nil
		}
		if s.Version <= old.Version {
			return InstallResult{}, fmt.Errorf("%w: installed version %d, file version %d", ErrNotNewer, old.Version, s.Version)
		}
	}
	if err := os.MkdirAll(d.Path, 0o700); err != nil {
		return InstallResult{}, fmt.Errorf("consortium: install: %w", err)
	}
	if err := datadir.WriteFileAtomic(d.Join(datadir.ConsortiumFile), s.File, 0o644); err != nil {
		return InstallResult{}, fmt.Errorf("consortium: install: %w", err)
	}
	r := InstallResult{Config: s, Changed: true}
	if old != nil {
		r.Previous = old.Version
	}
	return r, nil
}

// Init creates a consortium: a new consortium key in d (refused if one
// exists), a draft naming it, and version 1 signed and installed in d.
func Init(d datadir.Dir, name string) (*Signed, error) {
	if _, err := os.Stat(d.Join(KeyFile)); err == nil {
		return nil, fmt.Errorf("consortium: %s already holds a consortium key; edit its draft and run `cohortnet consortium sign`", d.Join(KeyFile))
	}
	if _, err := os.Stat(d.Join(datadir.ConsortiumFile)); err == nil {
		return nil, fmt.Errorf("consortium: %s already has a consortium configuration installed", d.Path)
	}
	priv, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("consortium: generate key: %w", err)
	}
	id, err := peer.IDFromPrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("consortium: %w", err)
	}
	c := &Config{Name: name, Version: 1, Key: id}
	s, err := Sign(c, priv)
	if err != nil {
		return nil, err
	}
	kb, err := crypto.MarshalPrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("consortium: encode key: %w", err)
	}
	if err := os.MkdirAll(d.Path, 0o700); err != nil {
		return nil, fmt.Errorf("consortium: init: %w", err)
	}
	if err := datadir.WriteFileAtomic(d.Join(KeyFile), kb, 0o600); err != nil {
		return nil, fmt.Errorf("consortium: write key: %w", err)
	}
	if err := SaveDraft(d, c); err != nil {
		return nil, err
	}
	if _, err := Install(d, s.File, InstallOptions{Key: id}); err != nil {
		return nil, err
	}
	return s, nil
}

// LoadKey reads the consortium key from d.
func LoadKey(d datadir.Dir) (crypto.PrivKey, error) {
	b, err := os.ReadFile(d.Join(KeyFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("consortium: %s holds no consortium key (run `cohortnet consortium init` where the key should live)", d.Path)
	}
	if err != nil {
		return nil, fmt.Errorf("consortium: %w", err)
	}
	k, err := crypto.UnmarshalPrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("consortium: %s is damaged: %w", d.Join(KeyFile), err)
	}
	return k, nil
}

// LoadDraft reads the draft configuration being edited in d.
func LoadDraft(d datadir.Dir) (*Config, error) {
	b, err := os.ReadFile(d.Join(DraftFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("consortium: %s has no draft (run `cohortnet consortium init` first)", d.Path)
	}
	if err != nil {
		return nil, fmt.Errorf("consortium: %w", err)
	}
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("consortium: read %s: %w", d.Join(DraftFile), err)
	}
	return &c, nil
}

// SaveDraft writes the draft configuration atomically.
func SaveDraft(d datadir.Dir, c *Config) error {
	b, err := yaml.Marshal(c)
	if err != nil {
		return fmt.Errorf("consortium: encode draft: %w", err)
	}
	if err := datadir.WriteFileAtomic(d.Join(DraftFile), b, 0o644); err != nil {
		return fmt.Errorf("consortium: write draft: %w", err)
	}
	return nil
}

// SignDraft signs the draft in d as the next version after the installed one,
// installs it in d and returns it. The returned File is what other nodes
// install.
func SignDraft(d datadir.Dir) (*Signed, error) {
	key, err := LoadKey(d)
	if err != nil {
		return nil, err
	}
	c, err := LoadDraft(d)
	if err != nil {
		return nil, err
	}
	old, err := Load(d)
	if err != nil && !errors.Is(err, ErrNotInstalled) {
		return nil, err
	}
	c.Version = 1
	if old != nil {
		c.Version = old.Version + 1
	}
	s, err := Sign(c, key)
	if err != nil {
		return nil, err
	}
	if _, err := Install(d, s.File, InstallOptions{Key: c.Key}); err != nil {
		return nil, err
	}
	if err := SaveDraft(d, c); err != nil {
		return nil, err
	}
	return s, nil
}
