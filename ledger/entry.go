package ledger

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/codec/dagcbor"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multihash"
)

// Kind says what an entry records.
type Kind string

// The entry kinds.
const (
	KindPublish Kind = "publish" // a dataset version: manifest, dataset, version, access tier
	KindRetract Kind = "retract" // a manifest withdrawn, with a reason
	KindRequest Kind = "request" // a member asks for access to a dataset, with a purpose
	KindGrant   Kind = "grant"   // the publisher grants a member access to a dataset, until an expiry
	KindRevoke  Kind = "revoke"  // the publisher withdraws a grant
	KindAccess  Kind = "access"  // a serving node reports one requester's fetch session of a manifest
	KindRelease Kind = "release" // an aggregate result handed out: query and result hashes, recipient, epsilon
)

// Kinds lists every entry kind.
var Kinds = []Kind{KindPublish, KindRetract, KindRequest, KindGrant, KindRevoke, KindAccess, KindRelease}

// Access tiers a publish entry names.
var AccessTiers = []string{"open", "registered", "restricted", "aggregate-only"}

// Entry is one ledger entry, signed by its author. Which fields an entry
// carries depends on its kind; the others stay zero.
//
// On the wire and in the log an entry is a DAG-CBOR map with the keys below
// (sorted as DAG-CBOR requires, only the kind's keys present); "sig" is an
// Ed25519 signature by the author's identity key over [entrySigPrefix]
// followed by the DAG-CBOR encoding of the same map without "sig".
type Entry struct {
	Kind   Kind      // "kind"
	Author peer.ID   // "author", text form; the member who signs
	Time   time.Time // "time", Unix milliseconds; the author's clock

	Dataset  string  // "dataset": publish, request, grant, revoke, release
	Manifest cid.Cid // "manifest" (a link): publish, retract, access
	Version  int64   // "version": publish, from 1
	Access   string  // "access": publish, one of [AccessTiers]
	Reason   string  // "reason": retract
	Purpose  string  // "purpose": request

	Grantee peer.ID   // "grantee": grant, revoke
	Expires time.Time // "expires", Unix milliseconds: grant; zero means no expiry
	Terms   string    // "terms": grant, revoke

	Requester   peer.ID // "requester": access
	Chunks      int64   // "chunks": access
	Bytes       int64   // "bytes": access
	RequestHash []byte  // "request_hash": access

	QueryHash  []byte  // "query_hash": release
	ResultHash []byte  // "result_hash": release
	Recipient  peer.ID // "recipient": release
	Epsilon    float64 // "epsilon": release, privacy budget spent (0: none)

	Sig []byte // "sig"

	// Index is the entry's position when it was read from a log; it is not
	// part of the encoding.
	Index uint64
}

// entrySigPrefix separates entry signatures from every other use of an
// identity key.
const entrySigPrefix = "cohortnet ledger entry v1\n"

// MaxEntrySize caps an encoded entry.
const MaxEntrySize = 16 << 10

// NewEntry returns an unsigned entry of kind k stamped with now, to the millisecond.
func NewEntry(k Kind, now time.Time) *Entry {
	return &Entry{Kind: k, Time: now.Truncate(time.Millisecond)}
}

// presence says, per kind, which optional fields are part of the encoding.
// Required fields must be set; optional ones are encoded only when set.
type fieldRule struct {
	required, optional []string
}

var kindFields = map[Kind]fieldRule{
	KindPublish: {required: []string{"manifest", "dataset", "version", "access"}},
	KindRetract: {required: []string{"manifest"}, optional: []string{"reason"}},
	KindRequest: {required: []string{"dataset"}, optional: []string{"purpose"}},
	KindGrant:   {required: []string{"dataset", "grantee"}, optional: []string{"expires", "terms"}},
	KindRevoke:  {required: []string{"dataset", "grantee"}, optional: []string{"terms"}},
	KindAccess:  {required: []string{"manifest", "requester", "chunks", "bytes"}, optional: []string{"request_hash"}},
	KindRelease: {required: []string{"dataset", "query_hash", "result_hash", "recipient"}, optional: []string{"epsilon"}},
}

// set reports whether field key holds a value in e.
func (e *Entry) set(key string) bool {
	switch key {
	case "dataset":
		return e.Dataset != ""
	case "manifest":
		return e.Manifest.Defined()
	case "version":
		return e.Version != 0
	case "access":
		return e.Access != ""
	case "reason":
		return e.Reason != ""
	case "purpose":
		return e.Purpose != ""
	case "grantee":
		return e.Grantee != ""
	case "expires":
		return !e.Expires.IsZero()
	case "terms":
		return e.Terms != ""
	case "requester":
		return e.Requester != ""
	case "chunks", "bytes":
		return true // zero is a count
	case "request_hash":
		return len(e.RequestHash) > 0
	case "query_hash":
		return len(e.QueryHash) > 0
	case "result_hash":
		return len(e.ResultHash) > 0
	case "recipient":
		return e.Recipient != ""
	case "epsilon":
		return e.Epsilon != 0
	}
	return false
}

func (e *Entry) assemble(key string) qp.Assemble {
	switch key {
	case "dataset":
		return qp.String(e.Dataset)
	case "manifest":
		return qp.Link(cidlink.Link{Cid: e.Manifest})
	case "version":
		return qp.Int(e.Version)
	case "access":
		return qp.String(e.Access)
	case "reason":
		return qp.String(e.Reason)
	case "purpose":
		return qp.String(e.Purpose)
	case "grantee":
		return qp.String(e.Grantee.String())
	case "expires":
		return qp.Int(e.Expires.UnixMilli())
	case "terms":
		return qp.String(e.Terms)
	case "requester":
		return qp.String(e.Requester.String())
	case "chunks":
		return qp.Int(e.Chunks)
	case "bytes":
		return qp.Int(e.Bytes)
	case "request_hash":
		return qp.Bytes(e.RequestHash)
	case "query_hash":
		return qp.Bytes(e.QueryHash)
	case "result_hash":
		return qp.Bytes(e.ResultHash)
	case "recipient":
		return qp.String(e.Recipient.String())
	case "epsilon":
		return qp.Float(e.Epsilon)
	}
	panic("ledger: unknown field " + key)
}

// check validates the fields of e for its kind, without the signature.
func (e *Entry) check() error {
	rule, ok := kindFields[e.Kind]
	if !ok {
		return fmt.Errorf("ledger: entry: unknown kind %q", e.Kind)
	}
	if e.Author == "" {
		return errors.New("ledger: entry: no author")
	}
	if e.Time.IsZero() {
		return errors.New("ledger: entry: no time")
	}
	for _, k := range rule.required {
		if !e.set(k) {
			return fmt.Errorf("ledger: %s entry: field %q is missing", e.Kind, k)
		}
	}
	for _, k := range allFields {
		if e.set(k) && k != "chunks" && k != "bytes" && !slices.Contains(rule.required, k) && !slices.Contains(rule.optional, k) {
			return fmt.Errorf("ledger: %s entry: field %q does not belong to this kind", e.Kind, k)
		}
	}
	switch e.Kind {
	case KindPublish:
		if e.Version < 1 {
			return fmt.Errorf("ledger: publish entry: version %d, want 1 or more", e.Version)
		}
		if !slices.Contains(AccessTiers, e.Access) {
			return fmt.Errorf("ledger: publish entry: access tier %q (tiers: open, registered, restricted, aggregate-only)", e.Access)
		}
	case KindAccess:
		if e.Chunks < 0 || e.Bytes < 0 {
			return errors.New("ledger: access entry: negative count")
		}
	case KindRelease:
		if e.Epsilon < 0 || math.IsNaN(e.Epsilon) || math.IsInf(e.Epsilon, 0) {
			return fmt.Errorf("ledger: release entry: epsilon %v, want a finite number >= 0", e.Epsilon)
		}
	}
	if (e.Kind != KindAccess) && (e.Chunks != 0 || e.Bytes != 0) {
		return fmt.Errorf("ledger: %s entry: chunk and byte counts belong to access entries", e.Kind)
	}
	return nil
}

var allFields = []string{"dataset", "manifest", "version", "access", "reason", "purpose", "grantee",
	"expires", "terms", "requester", "chunks", "bytes", "request_hash", "query_hash", "result_hash",
	"recipient", "epsilon"}

// encode writes the DAG-CBOR form of e, with or without the signature.
func (e *Entry) encode(withSig bool) ([]byte, error) {
	if err := e.check(); err != nil {
		return nil, err
	}
	rule := kindFields[e.Kind]
	n, err := qp.BuildMap(basicnode.Prototype.Any, -1, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, "kind", qp.String(string(e.Kind)))
		qp.MapEntry(ma, "author", qp.String(e.Author.String()))
		qp.MapEntry(ma, "time", qp.Int(e.Time.UnixMilli()))
		for _, k := range rule.required {
			qp.MapEntry(ma, k, e.assemble(k))
		}
		for _, k := range rule.optional {
			if e.set(k) {
				qp.MapEntry(ma, k, e.assemble(k))
			}
		}
		if withSig {
			qp.MapEntry(ma, "sig", qp.Bytes(e.Sig))
		}
	})
	if err != nil {
		return nil, fmt.Errorf("ledger: build entry: %w", err)
	}
	var buf bytes.Buffer
	if err := dagcbor.Encode(n, &buf); err != nil {
		return nil, fmt.Errorf("ledger: encode entry: %w", err)
	}
	if buf.Len() > MaxEntrySize {
		return nil, fmt.Errorf("ledger: %s entry is %d bytes, more than %d", e.Kind, buf.Len(), MaxEntrySize)
	}
	return buf.Bytes(), nil
}

// Sign sets the author to key's peer and signs e. It returns the encoded,
// signed entry: the bytes that go into the log.
func (e *Entry) Sign(key crypto.PrivKey) ([]byte, error) {
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("ledger: sign entry: %w", err)
	}
	e.Author = id
	msg, err := e.encode(false)
	if err != nil {
		return nil, err
	}
	e.Sig, err = key.Sign(append([]byte(entrySigPrefix), msg...))
	if err != nil {
		return nil, fmt.Errorf("ledger: sign entry: %w", err)
	}
	return e.encode(true)
}

// Marshal returns the encoded, signed entry.
func (e *Entry) Marshal() ([]byte, error) {
	if len(e.Sig) == 0 {
		return nil, ErrUnsigned
	}
	return e.encode(true)
}

// ErrUnsigned is returned for an entry without a signature: call [Entry.Sign].
var ErrUnsigned = errors.New("ledger: entry is not signed")

// ErrBadSignature is returned by [Entry.Verify] when the signature does not
// verify with the author's key: the entry was altered or forged.
var ErrBadSignature = errors.New("ledger: entry signature does not verify with its author's key")

// Verify checks the entry's fields and its signature with the key embedded in
// the author's peer id. Whether the author may write it is the operator's
// question ([State.Check]).
func (e *Entry) Verify() error {
	if len(e.Sig) == 0 {
		return ErrUnsigned
	}
	msg, err := e.encode(false)
	if err != nil {
		return err
	}
	pk, err := e.Author.ExtractPublicKey()
	if err != nil {
		return fmt.Errorf("ledger: entry author %s: %w", e.Author, err)
	}
	ok, err := pk.Verify(append([]byte(entrySigPrefix), msg...), e.Sig)
	if err != nil || !ok {
		return ErrBadSignature
	}
	return nil
}

// CID returns the content identifier of an encoded entry (CIDv1, dag-cbor,
// sha2-256): the id a grant is revoked by, and how [Mirror] deduplicates.
func CID(encoded []byte) cid.Cid {
	sum := sha256.Sum256(encoded)
	mh, _ := multihash.Encode(sum[:], multihash.SHA2_256)
	return cid.NewCidV1(cid.DagCBOR, mh)
}

// Unmarshal decodes an encoded entry strictly: canonical DAG-CBOR only, known
// keys of the entry's kind only, every required field present. It does not
// verify the signature: call [Entry.Verify].
func Unmarshal(b []byte) (*Entry, error) {
	e, err := unmarshal(b)
	if err != nil {
		return nil, malformedError{err}
	}
	return e, nil
}

func unmarshal(b []byte) (*Entry, error) {
	if len(b) > MaxEntrySize {
		return nil, fmt.Errorf("ledger: entry is %d bytes, more than %d", len(b), MaxEntrySize)
	}
	nb := basicnode.Prototype.Map.NewBuilder()
	opts := dagcbor.DecodeOptions{AllowLinks: true, AllocationBudget: 4 * MaxEntrySize}
	if err := opts.Decode(nb, bytes.NewReader(b)); err != nil {
		return nil, fmt.Errorf("ledger: decode entry: %w", err)
	}
	n := nb.Build()
	e := &Entry{}
	seen := map[string]bool{}
	it := n.MapIterator()
	for !it.Done() {
		kn, vn, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("ledger: decode entry: %w", err)
		}
		k, err := kn.AsString()
		if err != nil {
			return nil, fmt.Errorf("ledger: decode entry: key: %w", err)
		}
		seen[k] = true
		if err := e.setField(k, vn); err != nil {
			return nil, fmt.Errorf("ledger: decode entry: field %q: %w", k, err)
		}
	}
	if !seen["kind"] || !seen["author"] || !seen["time"] || !seen["sig"] {
		return nil, errors.New("ledger: decode entry: kind, author, time and sig are required")
	}
	rule, ok := kindFields[e.Kind]
	if !ok {
		return nil, fmt.Errorf("ledger: decode entry: unknown kind %q", e.Kind)
	}
	for k := range seen {
		if k != "kind" && k != "author" && k != "time" && k != "sig" &&
			!slices.Contains(rule.required, k) && !slices.Contains(rule.optional, k) {
			return nil, fmt.Errorf("ledger: decode %s entry: field %q does not belong to this kind", e.Kind, k)
		}
	}
	for _, k := range rule.required {
		if !seen[k] {
			return nil, fmt.Errorf("ledger: decode %s entry: field %q is missing", e.Kind, k)
		}
	}
	// One entry, one encoding: re-encoding must give the same bytes, so an
	// entry's CID and leaf hash cannot be changed without changing its content.
	again, err := e.encode(true)
	if err != nil {
		return nil, fmt.Errorf("ledger: decode entry: %w", err)
	}
	if !bytes.Equal(again, b) {
		return nil, errors.New("ledger: decode entry: not in canonical form")
	}
	return e, nil
}

func (e *Entry) setField(k string, v datamodel.Node) error {
	str := func() (string, error) { return v.AsString() }
	pid := func() (peer.ID, error) {
		s, err := v.AsString()
		if err != nil {
			return "", err
		}
		return peer.Decode(s)
	}
	var err error
	switch k {
	case "kind":
		var s string
		s, err = str()
		e.Kind = Kind(s)
	case "author":
		e.Author, err = pid()
	case "time":
		var ms int64
		if ms, err = v.AsInt(); err == nil {
			e.Time = time.UnixMilli(ms)
		}
	case "sig":
		e.Sig, err = v.AsBytes()
	case "dataset":
		e.Dataset, err = str()
	case "manifest":
		var l datamodel.Link
		if l, err = v.AsLink(); err == nil {
			cl, ok := l.(cidlink.Link)
			if !ok {
				return errors.New("not a CID")
			}
			e.Manifest = cl.Cid
		}
	case "version":
		e.Version, err = v.AsInt()
	case "access":
		e.Access, err = str()
	case "reason":
		e.Reason, err = str()
	case "purpose":
		e.Purpose, err = str()
	case "grantee":
		e.Grantee, err = pid()
	case "expires":
		var ms int64
		if ms, err = v.AsInt(); err == nil {
			e.Expires = time.UnixMilli(ms)
		}
	case "terms":
		e.Terms, err = str()
	case "requester":
		e.Requester, err = pid()
	case "chunks":
		e.Chunks, err = v.AsInt()
	case "bytes":
		e.Bytes, err = v.AsInt()
	case "request_hash":
		e.RequestHash, err = v.AsBytes()
	case "query_hash":
		e.QueryHash, err = v.AsBytes()
	case "result_hash":
		e.ResultHash, err = v.AsBytes()
	case "recipient":
		e.Recipient, err = pid()
	case "epsilon":
		e.Epsilon, err = v.AsFloat()
	default:
		return errors.New("unknown field")
	}
	return err
}
