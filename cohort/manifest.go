package cohort

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"regexp"
	"slices"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime"
	"github.com/ipld/go-ipld-prime/codec/dagcbor"
	"github.com/ipld/go-ipld-prime/codec/dagjson"
	"github.com/ipld/go-ipld-prime/node/bindnode"
	"github.com/ipld/go-ipld-prime/schema"
)

// ManifestFormat names the manifest encoding this package writes and reads.
// Version 2 lists chained chunk digests (see [File.Chunks]); version 1, with
// an independent sha256 per chunk, is no longer read.
const ManifestFormat = "cohortnet-manifest/2"

// DataModelCDM is the data model of datasets de-identified from the cohort
// data model (OMOP CDM v5.4 names; see DESIGN.md).
const DataModelCDM = "cohortnet-cdm/1"

// MaxManifestSize caps an encoded manifest (about two million chunk digests,
// 8 TiB of data). Larger input is refused before it is decoded.
const MaxManifestSize = 16 << 20

// Access tiers, from the loosest to the strictest.
const (
	AccessOpen          = "open"           // any consortium member
	AccessRegistered    = "registered"     // any member who filed a request
	AccessRestricted    = "restricted"     // members with a live grant from the publisher
	AccessAggregateOnly = "aggregate-only" // no rows leave; federated aggregates only
)

// AccessTiers lists the access tiers from the loosest to the strictest.
var AccessTiers = []string{AccessOpen, AccessRegistered, AccessRestricted, AccessAggregateOnly}

// De-identification modes as the report names them, and ModeNone for a
// dataset published without a report (with a reason).
const (
	ModeExpert     = "expert"
	ModeSafeHarbor = "safe-harbor"
	ModeLimited    = "limited"
	ModeNone       = "none"
)

// Manifest describes one version of a dataset. It is encoded as DAG-CBOR
// with the IPLD schema in [manifestSchema] (field names there are the
// encoded keys) and addressed by the CID of those bytes (codec dag-cbor,
// sha2-256). Every field takes part in the CID.
type Manifest struct {
	Format      string    // ManifestFormat
	Name        string    // "<institution>/<name>", e.g. "hospital-a/diabetes"
	Version     int64     // 1, 2, ...
	Previous    *cid.Cid  // the previous version's manifest CID; nil for version 1
	Title       string    //
	Description string    //
	License     string    // e.g. "CC-BY-4.0" or a data-use agreement's name
	Access      string    // one of [AccessTiers]
	Publisher   Publisher //
	Created     string    // RFC 3339, UTC, whole seconds
	DataModel   string    // e.g. DataModelCDM
	Tables      []Table   // sorted by name
	Deid        Deid      //
	Summary     *Summary  // the report's public summary; nil without a report
}

// Publisher is who signed the manifest.
type Publisher struct {
	PeerID string // libp2p peer id of the node key that signs
	Name   string // display name, "Hospital A"
}

// Table is one table of the dataset.
type Table struct {
	Name   string
	Rows   int64
	Schema []Field // the Arrow schema of every file of the table
	Files  []File  // sorted by path
}

// Field is one column of an Arrow schema.
type Field struct {
	Name     string
	Type     string // arrow.DataType's String(): "utf8", "date32", "int64", ...
	Nullable bool
}

// File is one file of the dataset.
type File struct {
	Path      string  // relative to the dataset folder, with '/': "person/part-0000.parquet"
	CID       cid.Cid // CIDv1, raw, sha2-256 of the whole file
	Size      int64
	Rows      int64 // rows of a Parquet file; 0 for other files
	ChunkSize int64 // always [ChunkSize] in this format version
	// Chunks are the chunk digests, in order: for each chunk but the last,
	// the SHA-256 chaining value (the eight state words h0..h7, big-endian)
	// of the whole file's hash at the end of that chunk; for the last, the
	// file's sha256, the digest inside CID. So the file is hashed once for
	// both, a receiver checks each chunk alone from the digest before it
	// ([VerifyChunk]), and a file whose chunks all check hashes to its CID.
	// An IPFS tool still checks the whole file against the raw CID.
	Chunks [][]byte
}

// Deid says how the data was de-identified.
type Deid struct {
	Mode           string  // ModeExpert, ModeSafeHarbor, ModeLimited or ModeNone
	Intervals      bool    // safe-harbor with day intervals instead of years
	NoReportReason *string // why there is no report (ModeNone only)
	KeyFingerprint *string // the report's key fingerprint, never the key
	Policy         *File   // policy.yaml as applied
	Report         *File   // deid-report.json
	KAchieved      *int64  // achieved k of k-anonymity, when the report has one
	HighestRisk    *float64
}

// Summary is the public summary a researcher searches.
type Summary struct {
	Persons    int64
	YearMin    int64
	YearMax    int64
	Conditions []Code
	Drugs      []Code
}

// Code is a coded concept with its count of persons or records.
type Code struct {
	Vocabulary string `json:"vocabulary"`
	Code       string `json:"code"`
	Name       string `json:"name"`
	Count      int64  `json:"count"`
}

// manifestSchema is the IPLD schema of a manifest. Its fields are in the
// order and (first letter aside) the names of the Go structs above; renames
// give the encoded keys.
const manifestSchema = `
type Manifest struct {
	format String
	name String
	version Int
	previous optional Link
	title String
	description String
	license String
	access String
	publisher Publisher
	created String
	dataModel String (rename "data_model")
	tables [Table]
	deid Deid
	summary optional Summary
}
type Publisher struct {
	peerID String (rename "peer_id")
	name String
}
type Table struct {
	name String
	rows Int
	schema [Field]
	files [File]
}
type Field struct {
	name String
	type String
	nullable Bool
}
type File struct {
	path String
	cID Link (rename "cid")
	size Int
	rows Int
	chunkSize Int (rename "chunk_size")
	chunks [Bytes]
}
type Deid struct {
	mode String
	intervals Bool
	noReportReason optional String (rename "no_report_reason")
	keyFingerprint optional String (rename "key_fingerprint")
	policy optional File
	report optional File
	kAchieved optional Int (rename "k_achieved")
	highestRisk optional Float (rename "highest_risk")
}
type Summary struct {
	persons Int
	yearMin Int (rename "year_min")
	yearMax Int (rename "year_max")
	conditions [Code]
	drugs [Code]
}
type Code struct {
	vocabulary String
	code String
	name String
	count Int
}
type SignedManifest struct {
	manifest Bytes
	publicKey Bytes (rename "public_key")
	signature Bytes
}
`

var (
	manifestType       schema.Type
	signedManifestType schema.Type
)

func init() {
	ts, err := ipld.LoadSchemaBytes([]byte(manifestSchema))
	if err != nil {
		panic(fmt.Sprintf("cohort: manifest schema: %v", err))
	}
	manifestType = ts.TypeByName("Manifest")
	signedManifestType = ts.TypeByName("SignedManifest")
	// Fail at start, not at the first manifest, if the Go types drift.
	bindnode.Prototype((*Manifest)(nil), manifestType)
	bindnode.Prototype((*SignedManifest)(nil), signedManifestType)
}

// Encode returns the manifest's DAG-CBOR bytes and their CID. The same
// manifest always gives the same bytes. It fails on a manifest that does
// not [Manifest.Validate].
func (m *Manifest) Encode() ([]byte, cid.Cid, error) {
	if err := m.Validate(); err != nil {
		return nil, cid.Undef, err
	}
	b, err := encodeNode(m, manifestType)
	if err != nil {
		return nil, cid.Undef, fmt.Errorf("encode manifest: %w", err)
	}
	if len(b) > MaxManifestSize {
		return nil, cid.Undef, fmt.Errorf("encode manifest: %d bytes, more than the %d allowed", len(b), MaxManifestSize)
	}
	return b, manifestCID(b), nil
}

func encodeNode(v any, typ schema.Type) ([]byte, error) {
	var buf bytes.Buffer
	if err := dagcbor.Encode(bindnode.Wrap(v, typ).Representation(), &buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// decodeNode decodes strict DAG-CBOR into v (a pointer to a Go type bound to
// typ), bounded in size, allocations and depth, and checks that re-encoding
// gives the same bytes, so one manifest has exactly one encoding.
func decodeNode(b []byte, v any, typ schema.Type, limit int) error {
	if len(b) > limit {
		return fmt.Errorf("%d bytes, more than the %d allowed", len(b), limit)
	}
	proto := bindnode.Prototype(v, typ)
	nb := proto.Representation().NewBuilder()
	opts := dagcbor.DecodeOptions{
		AllowLinks:       true,
		AllocationBudget: int64(len(b))*16 + 4096,
		MaxDepth:         16,
	}
	if err := opts.Decode(nb, bytes.NewReader(b)); err != nil {
		return err
	}
	got := bindnode.Unwrap(nb.Build())
	reflectCopy(v, got)
	again, err := encodeNode(v, typ)
	if err != nil {
		return fmt.Errorf("re-encode: %w", err)
	}
	if !bytes.Equal(again, b) {
		return errors.New("not in canonical DAG-CBOR form (re-encoding gives other bytes)")
	}
	return nil
}

// DecodeManifest decodes a manifest's DAG-CBOR bytes, checks they are the
// one canonical encoding and that the manifest is valid. It returns the
// manifest and its CID. Input larger than [MaxManifestSize] is refused.
func DecodeManifest(b []byte) (*Manifest, cid.Cid, error) {
	var m Manifest
	if err := decodeNode(b, &m, manifestType, MaxManifestSize); err != nil {
		return nil, cid.Undef, fmt.Errorf("decode manifest: %w", err)
	}
	if err := m.Validate(); err != nil {
		return nil, cid.Undef, fmt.Errorf("decode manifest: %w", err)
	}
	return &m, manifestCID(b), nil
}

// ReadManifest reads at most [MaxManifestSize] bytes from r and decodes them.
func ReadManifest(r io.Reader) (*Manifest, cid.Cid, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxManifestSize+1))
	if err != nil {
		return nil, cid.Undef, fmt.Errorf("read manifest: %w", err)
	}
	return DecodeManifest(b)
}

var (
	namePart = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)
	dataName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)
)

// ValidDatasetName reports whether name is `<institution>/<name>`: an
// institution short name (lower-case letters, digits, '-', starting with a
// letter, up to 32) and a name (lower-case letters, digits, '.', '_', '-',
// up to 64).
func ValidDatasetName(name string) bool {
	inst, rest, ok := cutSlash(name)
	return ok && namePart.MatchString(inst) && dataName.MatchString(rest)
}

func cutSlash(s string) (string, string, bool) {
	for i := range len(s) {
		if s[i] == '/' {
			return s[:i], s[i+1:], true
		}
	}
	return "", "", false
}

// Institution is the institution part of a dataset name.
func Institution(name string) string {
	inst, _, _ := cutSlash(name)
	return inst
}

// Validate checks what a manifest must hold to be published or accepted:
// known format, tier and mode, a dataset name, a version chain, file CIDs of
// the raw kind with chunk lists that fit their sizes, sorted tables and files.
func (m *Manifest) Validate() error {
	switch {
	case m.Format != ManifestFormat:
		return fmt.Errorf("format %q, want %q", m.Format, ManifestFormat)
	case !ValidDatasetName(m.Name):
		return fmt.Errorf("dataset name %q: want <institution>/<name>", m.Name)
	case m.Version < 1:
		return fmt.Errorf("version %d: versions start at 1", m.Version)
	case m.Version == 1 && m.Previous != nil:
		return errors.New("version 1 has a previous version")
	case m.Version > 1 && m.Previous == nil:
		return fmt.Errorf("version %d does not name its previous version", m.Version)
	case !slices.Contains(AccessTiers, m.Access):
		return fmt.Errorf("access tier %q: want one of %v", m.Access, AccessTiers)
	case m.Publisher.PeerID == "":
		return errors.New("no publisher peer id")
	}
	if m.Previous != nil && (m.Previous.Version() != 1 || m.Previous.Type() != cid.DagCBOR) {
		return fmt.Errorf("previous %s is not a manifest CID", m.Previous)
	}
	if _, err := time.Parse(time.RFC3339, m.Created); err != nil {
		return fmt.Errorf("created %q: %w", m.Created, err)
	}
	switch m.Deid.Mode {
	case ModeExpert, ModeSafeHarbor, ModeLimited:
		if m.Deid.Report == nil {
			return fmt.Errorf("de-identification mode %s without its report", m.Deid.Mode)
		}
	case ModeNone:
		if m.Deid.NoReportReason == nil || *m.Deid.NoReportReason == "" {
			return errors.New("no de-identification report and no reason given")
		}
	default:
		return fmt.Errorf("de-identification mode %q", m.Deid.Mode)
	}
	if r := m.Deid.HighestRisk; r != nil && (math.IsNaN(*r) || math.IsInf(*r, 0) || *r < 0 || *r > 1) {
		return fmt.Errorf("highest risk %v: want a probability", *r)
	}
	for i, t := range m.Tables {
		if i > 0 && m.Tables[i-1].Name >= t.Name {
			return fmt.Errorf("tables not sorted or repeated at %q", t.Name)
		}
		for j, f := range t.Files {
			if j > 0 && t.Files[j-1].Path >= f.Path {
				return fmt.Errorf("table %s: files not sorted or repeated at %q", t.Name, f.Path)
			}
		}
	}
	for _, f := range m.Files() {
		if err := f.validate(); err != nil {
			return err
		}
	}
	return nil
}

func (f *File) validate() error {
	if f.Path == "" {
		return errors.New("a file without a path")
	}
	if _, err := FileDigest(f.CID); err != nil {
		return fmt.Errorf("file %s: %w", f.Path, err)
	}
	if f.ChunkSize != ChunkSize {
		return fmt.Errorf("file %s: chunk size %d, want %d", f.Path, f.ChunkSize, ChunkSize)
	}
	if f.Size < 0 || f.Rows < 0 {
		return fmt.Errorf("file %s: size %d, chunk size %d, rows %d", f.Path, f.Size, f.ChunkSize, f.Rows)
	}
	if int64(len(f.Chunks)) != NumChunks(f.Size, f.ChunkSize) {
		return fmt.Errorf("file %s: %d chunk digests for %d bytes", f.Path, len(f.Chunks), f.Size)
	}
	for i, d := range f.Chunks {
		if len(d) != len(Digest{}) {
			return fmt.Errorf("file %s: chunk %d digest has %d bytes", f.Path, i, len(d))
		}
	}
	if n := len(f.Chunks); n > 0 {
		if sum, _ := FileDigest(f.CID); Digest(f.Chunks[n-1]) != sum {
			return fmt.Errorf("file %s: the last chunk digest is not the CID's digest", f.Path)
		}
	}
	return nil
}

// Files lists every file of the dataset: the tables' files, then the
// policy and the report.
func (m *Manifest) Files() []*File {
	var fs []*File
	for i := range m.Tables {
		for j := range m.Tables[i].Files {
			fs = append(fs, &m.Tables[i].Files[j])
		}
	}
	if m.Deid.Policy != nil {
		fs = append(fs, m.Deid.Policy)
	}
	if m.Deid.Report != nil {
		fs = append(fs, m.Deid.Report)
	}
	return fs
}

// Hashes returns the file's size and digests in the form [Store.Receive]
// takes.
func (f *File) Hashes() Hashes {
	h := Hashes{Size: f.Size, ChunkSize: f.ChunkSize, Chunks: make([]Digest, len(f.Chunks))}
	h.Sum, _ = FileDigest(f.CID)
	for i, d := range f.Chunks {
		h.Chunks[i] = Digest(d)
	}
	return h
}

// fileFromHashes builds a manifest file entry.
func fileFromHashes(path string, c cid.Cid, h Hashes, rows int64) File {
	f := File{Path: path, CID: c, Size: h.Size, Rows: rows, ChunkSize: h.ChunkSize, Chunks: make([][]byte, len(h.Chunks))}
	for i, d := range h.Chunks {
		f.Chunks[i] = bytes.Clone(d[:])
	}
	return f
}

// reflectCopy stores *src into *dst; both are pointers to the same type.
func reflectCopy(dst, src any) {
	reflect.ValueOf(dst).Elem().Set(reflect.ValueOf(src).Elem())
}

// DAGJSON returns the manifest in DAG-JSON, the IPLD JSON form of the same
// data model (links as {"/": cid}, bytes as {"/": {"bytes": base64}}), for
// people and JSON tools. The CID is of the DAG-CBOR bytes, not these.
func (m *Manifest) DAGJSON() ([]byte, error) {
	var buf bytes.Buffer
	if err := dagjson.Encode(bindnode.Wrap(m, manifestType).Representation(), &buf); err != nil {
		return nil, fmt.Errorf("encode manifest as dag-json: %w", err)
	}
	return buf.Bytes(), nil
}
