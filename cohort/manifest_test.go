package cohort

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/codec/dagcbor"
	"github.com/ipld/go-ipld-prime/datamodel"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

func newKey(t testing.TB) (crypto.PrivKey, string) {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return k, id.String()
}

func ptr[T any](v T) *T { return &v }

// sampleManifest is a complete manifest with every optional field set.
func sampleManifest(peerID string) *Manifest {
	d1 := Digest{1}
	prev := manifestCID([]byte("version 1"))
	file := func(path string, content string, rows int64) File {
		sum := Digest{byte(len(content))} // the last chunk digest is the CID's
		return fileFromHashes(path, FileCID(sum), Hashes{Size: ChunkSize + 1, ChunkSize: ChunkSize, Chunks: []Digest{d1, sum}}, rows)
	}
	policy, report := file("policy.yaml", "p", 0), file("deid-report.json", "rr", 0)
	return &Manifest{
		Format: ManifestFormat, Name: "hospital-a/diabetes", Version: 2, Previous: &prev,
		Title: "Diabetes cohort", Description: "Adults with type 2 diabetes", License: "CC-BY-4.0",
		Access:    AccessRegistered,
		Publisher: Publisher{PeerID: peerID, Name: "Hospital A"},
		Created:   "2026-11-24T12:00:00Z", DataModel: DataModelCDM,
		Tables: []Table{{
			Name: "person", Rows: 990,
			Schema: []Field{{"person_id", "utf8", true}, {"year_of_birth", "int32", true}},
			Files:  []File{file("person/part-0000.parquet", "abc", 990)},
		}},
		Deid: Deid{Mode: ModeExpert, KeyFingerprint: ptr("0123abcd"), Policy: &policy, Report: &report,
			KAchieved: ptr(int64(12)), HighestRisk: ptr(0.0909)},
		Summary: &Summary{Persons: 990, YearMin: 2010, YearMax: 2025,
			Conditions: []Code{{"SNOMED", "44054006", "Diabetes", 120}},
			Drugs:      []Code{{"RxNorm", "860975", "Metformin", 80}}},
	}
}

func TestManifestRoundTrip(t *testing.T) {
	_, id := newKey(t)
	m := sampleManifest(id)
	b1, c1, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	m2, c2, err := DecodeManifest(b1)
	if err != nil {
		t.Fatal(err)
	}
	b2, c3, err := m2.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b1, b2) || c1 != c2 || c2 != c3 {
		t.Fatalf("encode, decode, encode changed the bytes or CID: %s %s %s", c1, c2, c3)
	}
	if c1.Type() != cid.DagCBOR {
		t.Errorf("manifest CID codec %x, want dag-cbor", c1.Type())
	}
}

// TestManifestGenericIPLD decodes a manifest with go-ipld-prime's schema-free
// DAG-CBOR decoder, as any IPLD tool would, and reads fields by their keys.
func TestManifestGenericIPLD(t *testing.T) {
	_, id := newKey(t)
	m := sampleManifest(id)
	b, _, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	nb := basicnode.Prototype.Any.NewBuilder()
	if err := dagcbor.Decode(nb, bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	n := nb.Build()
	get := func(path ...any) datamodel.Node {
		t.Helper()
		cur := n
		for _, p := range path {
			var err error
			switch p := p.(type) {
			case string:
				cur, err = cur.LookupByString(p)
			case int:
				cur, err = cur.LookupByIndex(int64(p))
			}
			if err != nil {
				t.Fatalf("lookup %v: %v", path, err)
			}
		}
		return cur
	}
	if v, _ := get("name").AsString(); v != m.Name {
		t.Errorf("name = %q", v)
	}
	if v, _ := get("version").AsInt(); v != 2 {
		t.Errorf("version = %d", v)
	}
	l, err := get("tables", 0, "files", 0, "cid").AsLink()
	if err != nil {
		t.Fatal(err)
	}
	if l.(cidlink.Link).Cid != m.Tables[0].Files[0].CID {
		t.Errorf("file cid link = %v", l)
	}
	if v, _ := get("deid", "highest_risk").AsFloat(); v != 0.0909 {
		t.Errorf("highest_risk = %v", v)
	}
}

func TestManifestEveryFieldChangesCID(t *testing.T) {
	_, id := newKey(t)
	_, other := newKey(t)
	_, base, err := sampleManifest(id).Encode()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		change func(m *Manifest)
	}{
		{"name", func(m *Manifest) { m.Name = "hospital-a/diabetes2" }},
		{"version", func(m *Manifest) { m.Version = 3 }},
		{"previous", func(m *Manifest) { c := manifestCID([]byte("another")); m.Previous = &c }},
		{"title", func(m *Manifest) { m.Title += "." }},
		{"description", func(m *Manifest) { m.Description = "" }},
		{"license", func(m *Manifest) { m.License = "CC0-1.0" }},
		{"access", func(m *Manifest) { m.Access = AccessRestricted }},
		{"publisher peer", func(m *Manifest) { m.Publisher.PeerID = other }},
		{"publisher name", func(m *Manifest) { m.Publisher.Name = "Hospital B" }},
		{"created", func(m *Manifest) { m.Created = "2026-11-24T12:00:01Z" }},
		{"data model", func(m *Manifest) { m.DataModel = "table" }},
		{"table name", func(m *Manifest) { m.Tables[0].Name = "persons" }},
		{"table rows", func(m *Manifest) { m.Tables[0].Rows++ }},
		{"schema field name", func(m *Manifest) { m.Tables[0].Schema[0].Name = "pid" }},
		{"schema field type", func(m *Manifest) { m.Tables[0].Schema[1].Type = "int64" }},
		{"schema nullable", func(m *Manifest) { m.Tables[0].Schema[1].Nullable = false }},
		{"file path", func(m *Manifest) { m.Tables[0].Files[0].Path = "person/part-0001.parquet" }},
		{"file cid", func(m *Manifest) { setCID(&m.Tables[0].Files[0], Digest{9}) }},
		{"file size", func(m *Manifest) { m.Tables[0].Files[0].Size++ }},
		{"file rows", func(m *Manifest) { m.Tables[0].Files[0].Rows++ }},
		{"chunk digest", func(m *Manifest) { m.Tables[0].Files[0].Chunks[0][31] ^= 1 }},
		{"deid mode", func(m *Manifest) { m.Deid.Mode = ModeSafeHarbor }},
		{"intervals", func(m *Manifest) { m.Deid.Intervals = true }},
		{"key fingerprint", func(m *Manifest) { m.Deid.KeyFingerprint = ptr("ffff") }},
		{"policy cid", func(m *Manifest) { setCID(m.Deid.Policy, Digest{8}) }},
		{"report cid", func(m *Manifest) { setCID(m.Deid.Report, Digest{7}) }},
		{"k achieved", func(m *Manifest) { m.Deid.KAchieved = ptr(int64(11)) }},
		{"highest risk", func(m *Manifest) { m.Deid.HighestRisk = ptr(0.05) }},
		{"persons", func(m *Manifest) { m.Summary.Persons-- }},
		{"year min", func(m *Manifest) { m.Summary.YearMin-- }},
		{"year max", func(m *Manifest) { m.Summary.YearMax-- }},
		{"condition count", func(m *Manifest) { m.Summary.Conditions[0].Count++ }},
		{"condition code", func(m *Manifest) { m.Summary.Conditions[0].Code = "73211009" }},
		{"drug name", func(m *Manifest) { m.Summary.Drugs[0].Name = "metformin" }},
		{"no summary", func(m *Manifest) { m.Summary = nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := sampleManifest(id)
			tc.change(m)
			_, c, err := m.Encode()
			if err != nil {
				t.Fatal(err)
			}
			if c == base {
				t.Errorf("changing %s kept the CID", tc.name)
			}
		})
	}
}

// setCID gives f another content: a CID and the last chunk digest that
// goes with it.
func setCID(f *File, sum Digest) {
	f.CID = FileCID(sum)
	f.Chunks[len(f.Chunks)-1] = bytes.Clone(sum[:])
}

func TestManifestValidateRefuses(t *testing.T) {
	_, id := newKey(t)
	for _, tc := range []struct {
		name   string
		change func(m *Manifest)
	}{
		{"bad name", func(m *Manifest) { m.Name = "diabetes" }},
		{"upper-case institution", func(m *Manifest) { m.Name = "Hospital/diabetes" }},
		{"version 0", func(m *Manifest) { m.Version = 0 }},
		{"v2 without previous", func(m *Manifest) { m.Previous = nil }},
		{"v1 with previous", func(m *Manifest) { m.Version = 1 }},
		{"unknown tier", func(m *Manifest) { m.Access = "public" }},
		{"unknown mode", func(m *Manifest) { m.Deid.Mode = "magic" }},
		{"no report, no reason", func(m *Manifest) { m.Deid.Mode = ModeNone }},
		{"chunk count", func(m *Manifest) { m.Tables[0].Files[0].Chunks = m.Tables[0].Files[0].Chunks[:1] }},
		{"short digest", func(m *Manifest) { m.Tables[0].Files[0].Chunks[0] = []byte{1} }},
		{"last chunk digest not the cid's", func(m *Manifest) { m.Tables[0].Files[0].Chunks[1][0] ^= 1 }},
		{"cid not the last chunk digest", func(m *Manifest) { m.Tables[0].Files[0].CID = FileCID(Digest{9}) }},
		{"file cid not raw", func(m *Manifest) { m.Tables[0].Files[0].CID = manifestCID(nil) }},
		{"risk over 1", func(m *Manifest) { m.Deid.HighestRisk = ptr(1.5) }},
		{"bad time", func(m *Manifest) { m.Created = "yesterday" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := sampleManifest(id)
			tc.change(m)
			if _, _, err := m.Encode(); err == nil {
				t.Error("Encode accepted an invalid manifest")
			}
		})
	}
}

func TestSignVerify(t *testing.T) {
	key, id := newKey(t)
	otherKey, otherID := newKey(t)
	m := sampleManifest(id)
	sm, c, err := Sign(m, key)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := sm.Encode()
	if err != nil {
		t.Fatal(err)
	}
	sm2, err := DecodeSignedManifest(enc)
	if err != nil {
		t.Fatal(err)
	}
	got, gotCID, err := sm2.Verify()
	if err != nil {
		t.Fatalf("verify a good signature: %v", err)
	}
	if gotCID != c || got.Name != m.Name {
		t.Errorf("verify gave %s %q", gotCID, got.Name)
	}

	if _, _, err := Sign(m, otherKey); err == nil {
		t.Error("Sign with a key that is not the publisher's succeeded")
	}
	otherPub, _ := crypto.MarshalPublicKey(otherKey.GetPublic())
	m2 := sampleManifest(id)
	m2.Version = 3
	_, c2, _ := m2.Encode()
	otherCIDSig, _ := key.Sign(signedMessage(c2))
	noPrefixSig, _ := key.Sign(c.Bytes())
	mOther := sampleManifest(otherID)
	smOther, _, err := Sign(mOther, otherKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		sm   SignedManifest
	}{
		{"signed by another key, its key attached", SignedManifest{sm.Manifest, otherPub, mustSign(t, otherKey, c)}},
		{"signed by another key, publisher's key attached", SignedManifest{sm.Manifest, sm.PublicKey, mustSign(t, otherKey, c)}},
		{"signature over another CID", SignedManifest{sm.Manifest, sm.PublicKey, otherCIDSig}},
		{"signature without the prefix", SignedManifest{sm.Manifest, sm.PublicKey, noPrefixSig}},
		{"another manifest's signature", SignedManifest{sm.Manifest, sm.PublicKey, smOther.Signature}},
		{"manifest swapped under the signature", SignedManifest{smOther.Manifest, sm.PublicKey, sm.Signature}},
		{"truncated signature", SignedManifest{sm.Manifest, sm.PublicKey, sm.Signature[:63]}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := tc.sm.Verify()
			if !errors.Is(err, ErrBadSignature) {
				t.Errorf("Verify = %v, want ErrBadSignature", err)
			}
		})
	}
}

func mustSign(t *testing.T, k crypto.PrivKey, c cid.Cid) []byte {
	t.Helper()
	s, err := k.Sign(signedMessage(c))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDecodeRefusesNonCanonical(t *testing.T) {
	_, id := newKey(t)
	b, _, err := sampleManifest(id).Encode()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"trailing byte", append(bytes.Clone(b), 0)},
		{"truncated", b[:len(b)-1]},
		{"empty", nil},
		{"oversized", make([]byte, MaxManifestSize+1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := DecodeManifest(tc.b); err == nil {
				t.Error("decoded")
			}
		})
	}
}

func FuzzDecodeManifest(f *testing.F) {
	_, id := newKey(f)
	b, _, err := sampleManifest(id).Encode()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(b[:len(b)/2])
	f.Add([]byte{0xa0})
	f.Add([]byte{0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}) // a list claiming 2^64 items
	f.Add([]byte{0x5b, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00}) // bytes claiming 64 GiB
	f.Fuzz(func(t *testing.T, b []byte) {
		m, c, err := DecodeManifest(b)
		if err != nil {
			return
		}
		again, c2, err := m.Encode()
		if err != nil || !bytes.Equal(again, b) || c != c2 {
			t.Fatalf("decoded manifest does not re-encode to its bytes: %v", err)
		}
	})
}

func FuzzDecodeSignedManifest(f *testing.F) {
	key, id := newKey(f)
	sm, _, err := Sign(sampleManifest(id), key)
	if err != nil {
		f.Fatal(err)
	}
	b, _ := sm.Encode()
	f.Add(b)
	f.Add(b[:len(b)-3])
	f.Fuzz(func(t *testing.T, b []byte) {
		sm, err := DecodeSignedManifest(b)
		if err != nil {
			return
		}
		sm.Verify() // must not panic
	})
}
