package ledger

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
)

func sampleEntries(t testing.TB, author, other ident) []*Entry {
	m := manifestCID("m1")
	now := time.Now()
	pub := publishEntry(m, "hospital-a/diabetes", 1, "restricted")
	ret := NewEntry(KindRetract, now)
	ret.Manifest, ret.Reason = m, "de-identification incident"
	req := NewEntry(KindRequest, now)
	req.Dataset, req.Purpose = "hospital-a/diabetes", "HbA1c trends"
	gr := NewEntry(KindGrant, now)
	gr.Dataset, gr.Grantee, gr.Expires, gr.Terms = "hospital-a/diabetes", other.id, now.Add(24*time.Hour).Truncate(time.Millisecond), "DUA 2026-17"
	rv := NewEntry(KindRevoke, now)
	rv.Dataset, rv.Grantee = "hospital-a/diabetes", other.id
	ac := NewEntry(KindAccess, now)
	ac.Manifest, ac.Requester, ac.Chunks, ac.Bytes, ac.RequestHash = m, other.id, 3, 12<<20, bytes.Repeat([]byte{7}, 32)
	rl := NewEntry(KindRelease, now)
	rl.Dataset, rl.QueryHash, rl.ResultHash, rl.Recipient, rl.Epsilon = "hospital-a/diabetes", bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32), other.id, 0.5
	return []*Entry{pub, ret, req, gr, rv, ac, rl}
}

func TestEntryRoundTrip(t *testing.T) {
	a, b := newIdent(t), newIdent(t)
	for _, e := range sampleEntries(t, a, b) {
		t.Run(string(e.Kind), func(t *testing.T) {
			enc := sign(t, e, a)
			got, err := Unmarshal(enc)
			if err != nil {
				t.Fatal(err)
			}
			if err := got.Verify(); err != nil {
				t.Fatal(err)
			}
			again, err := got.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again, enc) {
				t.Fatal("decode and encode changed the bytes")
			}
			if got.Author != a.id || !got.Time.Equal(e.Time) || got.Kind != e.Kind {
				t.Fatalf("got author %s time %v kind %s", got.Author, got.Time, got.Kind)
			}
			if CID(enc) != CID(again) {
				t.Fatal("CID not stable")
			}
			// Every single-byte change is caught by decoding or by the signature.
			for i := range enc {
				bad := bytes.Clone(enc)
				bad[i] ^= 0x01
				if e, err := Unmarshal(bad); err == nil && e.Verify() == nil {
					t.Fatalf("entry with byte %d flipped still verifies", i)
				}
			}
		})
	}
}

func TestEntryRefusesFieldsOfOtherKinds(t *testing.T) {
	a, b := newIdent(t), newIdent(t)
	for _, tc := range []struct {
		name string
		e    func() *Entry
	}{
		{"publish without manifest", func() *Entry {
			e := publishEntry(manifestCID("x"), "hospital-a/d", 1, "open")
			e.Manifest = cid.Undef
			return e
		}},
		{"publish version 0", func() *Entry { return publishEntry(manifestCID("x"), "hospital-a/d", 0, "open") }},
		{"publish unknown tier", func() *Entry { return publishEntry(manifestCID("x"), "hospital-a/d", 1, "public") }},
		{"request with grantee", func() *Entry {
			e := NewEntry(KindRequest, time.Now())
			e.Dataset, e.Grantee = "hospital-a/d", b.id
			return e
		}},
		{"grant without grantee", func() *Entry { e := NewEntry(KindGrant, time.Now()); e.Dataset = "hospital-a/d"; return e }},
		{"release with negative epsilon", func() *Entry {
			e := NewEntry(KindRelease, time.Now())
			e.Dataset, e.QueryHash, e.ResultHash, e.Recipient, e.Epsilon = "hospital-a/d", []byte{1}, []byte{2}, b.id, -1
			return e
		}},
		{"unknown kind", func() *Entry { return NewEntry("delete", time.Now()) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.e().Sign(a.key); err == nil {
				t.Fatal("signed an invalid entry")
			}
		})
	}
}

func TestEntrySignatureByAnotherKey(t *testing.T) {
	a, b := newIdent(t), newIdent(t)
	e := publishEntry(manifestCID("m"), "hospital-a/d", 1, "open")
	sign(t, e, a)
	e.Author = b.id // claim to be b with a's signature
	enc, err := e.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Unmarshal(enc)
	if err != nil {
		t.Fatal(err)
	}
	if err := got.Verify(); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("Verify = %v, want ErrBadSignature", err)
	}
}

func FuzzUnmarshal(f *testing.F) {
	a, b := newIdent(f), newIdent(f)
	for _, e := range sampleEntries(f, a, b) {
		f.Add(sign(f, e, a))
	}
	f.Add([]byte{0xa0})
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := Unmarshal(data)
		if err != nil {
			return
		}
		again, err := e.Marshal()
		if err != nil {
			t.Fatalf("decoded entry does not encode: %v", err)
		}
		if !bytes.Equal(again, data) {
			t.Fatal("decoded entry encodes differently: two encodings of one entry")
		}
	})
}
