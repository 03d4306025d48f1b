package consortium

import (
	"bytes"
	"crypto/rand"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"

	"github.com/cohortnet/cohortnet/internal/datadir"
)

func newIdentity(t testing.TB) (crypto.PrivKey, peer.ID) {
	t.Helper()
	priv, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return priv, id
}

// fullConfig builds a configuration with members, a ledger and witnesses.
func fullConfig(t *testing.T, d datadir.Dir) *Config {
	t.Helper()
	c, err := LoadDraft(d)
	if err != nil {
		t.Fatal(err)
	}
	_, a := newIdentity(t)
	_, l := newIdentity(t)
	if err := c.AddMember(Member{Peer: a, Name: "Hospital A", ShortName: "hospital-a", Roles: []string{"hospital"}}); err != nil {
		t.Fatal(err)
	}
	if err := c.SetLedger(l, "http://127.0.0.1:7000", "", nil); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		_, w := newIdentity(t)
		if err := c.AddWitness(w, "http://127.0.0.1:7001", ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.SetQuorum(2); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestInitEditSignInstall(t *testing.T) {
	admin := datadir.Open(t.TempDir())
	s1, err := Init(admin, "Midwest Cohort Network")
	if err != nil {
		t.Fatal(err)
	}
	if s1.Version != 1 {
		t.Fatalf("first version = %d, want 1", s1.Version)
	}
	if fi, err := os.Stat(admin.Join(KeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("consortium key file: %v, mode %v; want 0600", err, fi.Mode())
	}
	if _, err := Init(admin, "again"); err == nil {
		t.Fatal("second init succeeded; want refusal (a key exists)")
	}

	c := fullConfig(t, admin)
	if err := SaveDraft(admin, c); err != nil {
		t.Fatal(err)
	}
	s2, err := SignDraft(admin)
	if err != nil {
		t.Fatal(err)
	}
	if s2.Version != 2 || len(s2.Members) != 1 || len(s2.Witnesses) != 3 || s2.Quorum != 2 {
		t.Fatalf("signed version %d, %d members, %d witnesses, quorum %d; want 2, 1, 3, 2", s2.Version, len(s2.Members), len(s2.Witnesses), s2.Quorum)
	}
	if !s2.IsMember(c.Members[0].Peer) {
		t.Fatal("member not found by peer id")
	}
	if s2.IsMember(c.Ledger.Peer) {
		t.Fatal("ledger operator reported as a member though not added as one")
	}

	// A node installs v1 then v2, then refuses v1 again.
	node := datadir.Open(t.TempDir())
	if _, err := Install(node, s1.File, InstallOptions{Key: s1.Key}); err != nil {
		t.Fatal(err)
	}
	r, err := Install(node, s2.File, InstallOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Changed || r.Previous != 1 {
		t.Fatalf("install v2: changed %v previous %d; want true, 1", r.Changed, r.Previous)
	}
	if r, err := Install(node, s2.File, InstallOptions{}); err != nil || r.Changed {
		t.Fatalf("re-install of the same file: changed %v, err %v; want no change, no error", r.Changed, err)
	}
	if _, err := Install(node, s1.File, InstallOptions{}); !errors.Is(err, ErrNotNewer) {
		t.Fatalf("install older version: err %v, want ErrNotNewer", err)
	}
	got, err := Load(node)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != 2 {
		t.Fatalf("installed version = %d, want 2", got.Version)
	}
	lv, err := got.LedgerVerifier()
	if err != nil || lv.Name() != DefaultOrigin("Midwest Cohort Network") {
		t.Fatalf("ledger verifier %v, %v; want origin %q", lv, err, DefaultOrigin("Midwest Cohort Network"))
	}
}

func TestInstallRefusesOtherKey(t *testing.T) {
	a, b := datadir.Open(t.TempDir()), datadir.Open(t.TempDir())
	sa, err := Init(a, "A")
	if err != nil {
		t.Fatal(err)
	}
	sb, err := Init(b, "B")
	if err != nil {
		t.Fatal(err)
	}
	// Make B's version higher so only the key decides.
	for range 3 {
		if sb, err = SignDraft(b); err != nil {
			t.Fatal(err)
		}
	}
	node := datadir.Open(t.TempDir())
	if _, err := Install(node, sa.File, InstallOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := Install(node, sb.File, InstallOptions{}); !errors.Is(err, ErrOtherKey) {
		t.Fatalf("install of another consortium's configuration: %v, want ErrOtherKey", err)
	}
	fresh := datadir.Open(t.TempDir())
	if _, err := Install(fresh, sb.File, InstallOptions{Key: sa.Key}); !errors.Is(err, ErrOtherKey) {
		t.Fatalf("install with a pinned key: %v, want ErrOtherKey", err)
	}
}

func TestParseRefusesTampering(t *testing.T) {
	admin := datadir.Open(t.TempDir())
	if _, err := Init(admin, "Tamper Test"); err != nil {
		t.Fatal(err)
	}
	c := fullConfig(t, admin)
	if err := SaveDraft(admin, c); err != nil {
		t.Fatal(err)
	}
	s, err := SignDraft(admin)
	if err != nil {
		t.Fatal(err)
	}
	// Re-signing with a different key that claims to be the consortium key.
	other, _ := newIdentity(t)
	if _, err := Sign(s.Config, other); err == nil {
		t.Fatal("Sign with a key other than the configuration's succeeded")
	}
	_, outsider := newIdentity(t)
	for _, tc := range []struct {
		name string
		edit func([]byte) []byte
	}{
		{"version bumped", func(b []byte) []byte { return bytes.Replace(b, []byte("version: 2"), []byte("version: 9"), 1) }},
		{"member added by editing", func(b []byte) []byte {
			return bytes.Replace(b, []byte("members:\n"), []byte("members:\n    - peer: "+outsider.String()+"\n      name: X\n      short_name: x\n      roles: [researcher]\n"), 1)
		}},
		{"quorum lowered", func(b []byte) []byte { return bytes.Replace(b, []byte("quorum: 2"), []byte("quorum: 0"), 1) }},
		{"signature removed", func(b []byte) []byte { return b[:bytes.LastIndex(b, []byte("---"))] }},
		{"signature garbled", func(b []byte) []byte {
			i := bytes.LastIndex(b, []byte("signature: ")) + len("signature: ")
			out := bytes.Clone(b)
			out[i] ^= 1
			return out
		}},
		{"key swapped", func(b []byte) []byte {
			_, k := newIdentity(t)
			return bytes.Replace(b, []byte("key: "+s.Key.String()), []byte("key: "+k.String()), 1)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := tc.edit(bytes.Clone(s.File))
			if bytes.Equal(bad, s.File) {
				t.Fatal("edit changed nothing")
			}
			if _, err := Parse(bad); err == nil {
				t.Fatal("tampered configuration parsed")
			}
		})
	}
}

func TestValidateRefusesMismatchedKeys(t *testing.T) {
	admin := datadir.Open(t.TempDir())
	if _, err := Init(admin, "Keys"); err != nil {
		t.Fatal(err)
	}
	c := fullConfig(t, admin)
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	_, someone := newIdentity(t)
	for _, tc := range []struct {
		name string
		edit func(c *Config)
	}{
		{"ledger key of another peer", func(c *Config) { c.Ledger.Peer = someone }},
		{"witness key of another peer", func(c *Config) { c.Witnesses[1].Peer = someone }},
		{"quorum above witnesses", func(c *Config) { c.Quorum = 4 }},
		{"unknown role", func(c *Config) { c.Members[0].Roles = []string{"admin"} }},
		{"duplicate short name", func(c *Config) {
			c.Members = append(c.Members, Member{Peer: someone, Name: "B", ShortName: c.Members[0].ShortName, Roles: []string{"hospital"}})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cc := *c
			cc.Members = append([]Member(nil), c.Members...)
			cc.Members[0].Roles = append([]string(nil), c.Members[0].Roles...)
			l := *c.Ledger
			cc.Ledger = &l
			cc.Witnesses = append([]Witness(nil), c.Witnesses...)
			tc.edit(&cc)
			if err := cc.Validate(); err == nil {
				t.Fatal("invalid configuration validated")
			}
		})
	}
}

// The note keys derived from an identity verify with the independent
// implementations: x/mod's note for checkpoints, formats' cosignature verifier
// for witness cosignatures.
func TestNoteKeysFromIdentity(t *testing.T) {
	priv, id := newIdentity(t)
	const origin = "cohortnet.ledger/test"
	s, err := NoteSigner(priv, origin)
	if err != nil {
		t.Fatal(err)
	}
	vkey, err := NoteVerifierKey(id, origin)
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := note.Sign(&note.Note{Text: origin + "\n5\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"}, s)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := note.Open(msg, note.VerifierList(v)); err != nil {
		t.Fatalf("checkpoint signed with identity does not open: %v", err)
	}

	cs, err := CosignatureSigner(priv, "witness-a")
	if err != nil {
		t.Fatal(err)
	}
	ckey, err := CosignatureVerifierKey(id, "witness-a")
	if err != nil {
		t.Fatal(err)
	}
	cv, err := fnote.NewVerifierForCosignatureV1(ckey)
	if err != nil {
		t.Fatal(err)
	}
	cosigned, err := note.Sign(&note.Note{Text: origin + "\n5\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"}, cs)
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open(cosigned, note.VerifierList(cv))
	if err != nil || len(n.Sigs) != 1 {
		t.Fatalf("cosignature does not verify: %v", err)
	}
	// A plain note verifier of the same key must not accept a cosignature.
	if _, err := note.Open(cosigned, note.VerifierList(v)); err == nil {
		t.Fatal("cosignature accepted as a checkpoint signature")
	}
	if !strings.HasPrefix(ckey, "witness-a+") {
		t.Fatalf("cosignature key %q does not carry its name", ckey)
	}
}

func FuzzParse(f *testing.F) {
	admin := datadir.Open(f.TempDir())
	s, err := Init(admin, "Fuzz")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(s.File)
	f.Add([]byte("name: x\n---\nsignature: AAAA\n"))
	f.Add([]byte("---\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Parse(b)
		if err != nil {
			return
		}
		// Whatever parses is signed by its key and valid.
		if err := c.Validate(); err != nil {
			t.Fatalf("parsed configuration does not validate: %v", err)
		}
	})
}

func TestBootstrapAddresses(t *testing.T) {
	_, id := newIdentity(t)
	c := &Config{}
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{"/ip4/192.0.2.10/tcp/4001/p2p/" + id.String(), true},
		{"/ip4/192.0.2.10/tcp/4001", false},
		{"192.0.2.10:4001", false},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			if err := c.AddBootstrap(tc.addr); (err == nil) != tc.ok {
				t.Fatalf("AddBootstrap: %v, want ok=%v", err, tc.ok)
			}
		})
	}
	if len(c.Bootstrap) != 1 {
		t.Fatalf("%d bootstrap addresses, want 1", len(c.Bootstrap))
	}
}
