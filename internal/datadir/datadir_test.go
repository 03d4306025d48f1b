package datadir

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestInitCreatesSecretsPrivately(t *testing.T) {
	d := Open(filepath.Join(t.TempDir(), "node"))
	res, err := d.Init(InitOptions{Config: Config{Name: "Hospital A", ShortName: "hospital-a", Roles: []string{"hospital"}}})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Created || res.PeerID == "" {
		t.Fatalf("Init = %+v, want a new identity", res)
	}
	for _, f := range []string{IdentityFile, SecretFile} {
		st, err := os.Stat(d.Join(f))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode = %v, want 0600", f, st.Mode().Perm())
		}
	}
	secret, err := d.Secret()
	if err != nil || len(secret) != SecretSize {
		t.Fatalf("Secret = %d bytes, %v", len(secret), err)
	}
	id, err := d.PeerID()
	if err != nil || id != res.PeerID {
		t.Errorf("PeerID = %v, %v; want %v", id, err, res.PeerID)
	}
	cfg, err := d.Config()
	if err != nil || cfg.ShortName != "hospital-a" || !cfg.HasRole("hospital") {
		t.Errorf("Config = %+v, %v", cfg, err)
	}
}

func TestInitTwiceChangesNothingWithoutForce(t *testing.T) {
	d := Open(t.TempDir())
	first, err := d.Init(InitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	secret, _ := d.Secret()
	again, err := d.Init(InitOptions{Config: Config{Name: "Other"}})
	if err != nil {
		t.Fatal(err)
	}
	if again.Created || again.PeerID != first.PeerID {
		t.Errorf("second Init = %+v, want unchanged %v", again, first.PeerID)
	}
	if s, _ := d.Secret(); !bytes.Equal(s, secret) {
		t.Error("second Init replaced the secret")
	}
	forced, err := d.Init(InitOptions{Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if !forced.Created || forced.PeerID == first.PeerID {
		t.Errorf("forced Init = %+v, want a new identity", forced)
	}
}

func TestInitRefusesBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"unknown role", Config{Roles: []string{"admin"}}},
		{"upper-case short name", Config{ShortName: "Hospital-A"}},
		{"slash in short name", Config{ShortName: "a/b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Open(t.TempDir())
			if _, err := d.Init(InitOptions{Config: tc.cfg}); err == nil {
				t.Error("Init succeeded, want an error")
			}
			if _, err := os.Stat(d.Join(IdentityFile)); err == nil {
				t.Error("Init left an identity behind after refusing")
			}
		})
	}
}

func TestUninitializedSaysRunInit(t *testing.T) {
	d := Open(t.TempDir())
	if _, err := d.Identity(); err == nil || !bytes.Contains([]byte(err.Error()), []byte("cohortnet init")) {
		t.Errorf("Identity on empty dir: %v, want a hint to run cohortnet init", err)
	}
	if _, err := d.Secret(); err == nil {
		t.Error("Secret on empty dir succeeded")
	}
}

func TestReadSecretAcceptsHex(t *testing.T) {
	p := filepath.Join(t.TempDir(), "k")
	os.WriteFile(p, []byte("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n"), 0o600)
	s, err := ReadSecret(p)
	if err != nil || len(s) != SecretSize || s[1] != 0x11 {
		t.Fatalf("ReadSecret = %x, %v", s, err)
	}
	os.WriteFile(p, []byte("short"), 0o600)
	if _, err := ReadSecret(p); err == nil {
		t.Error("ReadSecret accepted a 5-byte key")
	}
}
