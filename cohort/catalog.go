package cohort

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/ipfs/go-cid"

	"github.com/cohortnet/cohortnet/internal/datadir"
)

// ErrUnknownDataset means no manifest in the catalogue matches a reference.
var ErrUnknownDataset = errors.New("no such dataset or manifest in the local catalogue")

// AddManifest verifies a signed manifest and keeps it in the store under
// its CID (manifests/<cid>), so it appears in the [Catalog]. Adding a
// manifest already kept changes nothing.
func (s *Store) AddManifest(sm *SignedManifest) (*Manifest, cid.Cid, error) {
	m, c, err := sm.Verify()
	if err != nil {
		return nil, cid.Undef, err
	}
	b, err := sm.Encode()
	if err != nil {
		return nil, cid.Undef, err
	}
	p := s.manifestPath(c)
	if _, err := os.Stat(p); err == nil {
		return m, c, nil
	}
	if err := datadir.WriteFileAtomic(p, b, 0o444); err != nil {
		return nil, cid.Undef, fmt.Errorf("keep manifest %s: %w", c, err)
	}
	return m, c, nil
}

func (s *Store) manifestPath(c cid.Cid) string {
	return filepath.Join(s.dir, "manifests", c.String())
}

// SignedManifest reads the signed manifest kept under c. It does not verify
// it; [Store.Manifest] does.
func (s *Store) SignedManifest(c cid.Cid) (*SignedManifest, error) {
	b, err := os.ReadFile(s.manifestPath(c))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("manifest %s: %w", c, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	sm, err := DecodeSignedManifest(b)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", c, err)
	}
	return sm, nil
}

// Manifest reads and verifies the manifest kept under c.
func (s *Store) Manifest(c cid.Cid) (*Manifest, error) {
	sm, err := s.SignedManifest(c)
	if err != nil {
		return nil, err
	}
	m, got, err := sm.Verify()
	if err != nil {
		return nil, err
	}
	if got != c {
		return nil, fmt.Errorf("manifest kept as %s is %s", c, got)
	}
	return m, nil
}

// Retract marks a manifest retracted with a reason (the ledger's retract
// entry). A retracted version stays in the catalogue, marked, and is never
// "latest".
func (s *Store) Retract(c cid.Cid, reason string) error {
	if err := datadir.WriteFileAtomic(filepath.Join(s.dir, "retracted", c.String()), []byte(reason), 0o644); err != nil {
		return fmt.Errorf("retract %s: %w", c, err)
	}
	return nil
}

// Entry is one dataset version in the catalogue.
type Entry struct {
	CID       cid.Cid
	Manifest  *Manifest
	Retracted bool
	Reason    string // why it was retracted
}

// Catalog is the local catalogue: dataset name -> versions -> manifest CID,
// read from the manifests the store keeps. It is a snapshot; take a new one
// after adding manifests.
type Catalog struct {
	byName   map[string][]Entry // sorted by version, then CID
	byCID    map[cid.Cid]Entry
	Problems []error // kept manifests that did not verify, one per file
}

// Catalog reads every manifest the store keeps, verifying each; one that
// does not verify is left out and reported in Catalog.Problems.
func (s *Store) Catalog(ctx context.Context) (*Catalog, error) {
	ents, err := os.ReadDir(filepath.Join(s.dir, "manifests"))
	if err != nil {
		return nil, fmt.Errorf("read catalogue: %w", err)
	}
	cat := &Catalog{byName: map[string][]Entry{}, byCID: map[cid.Cid]Entry{}}
	for _, e := range ents {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		c, err := cid.Decode(e.Name())
		if err != nil {
			continue // a temporary file, or not ours
		}
		m, err := s.Manifest(c)
		if err != nil {
			cat.Problems = append(cat.Problems, err)
			continue
		}
		ent := Entry{CID: c, Manifest: m}
		if b, err := os.ReadFile(filepath.Join(s.dir, "retracted", c.String())); err == nil {
			ent.Retracted, ent.Reason = true, string(b)
		}
		cat.byName[m.Name] = append(cat.byName[m.Name], ent)
		cat.byCID[c] = ent
	}
	for _, vs := range cat.byName {
		slices.SortFunc(vs, func(a, b Entry) int {
			return cmp.Or(cmp.Compare(a.Manifest.Version, b.Manifest.Version), strings.Compare(a.CID.KeyString(), b.CID.KeyString()))
		})
	}
	return cat, nil
}

// Datasets lists the dataset names, sorted.
func (cat *Catalog) Datasets() []string {
	names := make([]string, 0, len(cat.byName))
	for n := range cat.byName {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Versions lists a dataset's versions, oldest first.
func (cat *Catalog) Versions(name string) []Entry { return cat.byName[name] }

// Get returns the entry of manifest c.
func (cat *Catalog) Get(c cid.Cid) (Entry, bool) {
	e, ok := cat.byCID[c]
	return e, ok
}

// Latest returns the highest version of a dataset that is not retracted.
// Two different manifests claiming that version is an error.
func (cat *Catalog) Latest(name string) (Entry, error) {
	vs := cat.byName[name]
	for i := len(vs) - 1; i >= 0; i-- {
		if vs[i].Retracted {
			continue
		}
		if i > 0 && vs[i-1].Manifest.Version == vs[i].Manifest.Version && !vs[i-1].Retracted {
			return Entry{}, fmt.Errorf("%s version %d: two manifests (%s, %s)", name, vs[i].Manifest.Version, vs[i-1].CID, vs[i].CID)
		}
		return vs[i], nil
	}
	return Entry{}, fmt.Errorf("%s: %w", name, ErrUnknownDataset)
}

// Resolve finds a manifest by CID, by dataset name (its latest version) or
// by NAME@VERSION.
func (cat *Catalog) Resolve(ref string) (Entry, error) {
	if c, err := cid.Decode(ref); err == nil {
		if e, ok := cat.byCID[c]; ok {
			return e, nil
		}
		return Entry{}, fmt.Errorf("%s: %w", ref, ErrUnknownDataset)
	}
	name, ver, hasVer := strings.Cut(ref, "@")
	if !hasVer {
		return cat.Latest(name)
	}
	v, err := strconv.ParseInt(ver, 10, 64)
	if err != nil {
		return Entry{}, fmt.Errorf("%s: version %q is not a number", ref, ver)
	}
	var found []Entry
	for _, e := range cat.byName[name] {
		if e.Manifest.Version == v {
			found = append(found, e)
		}
	}
	switch len(found) {
	case 0:
		return Entry{}, fmt.Errorf("%s: %w", ref, ErrUnknownDataset)
	case 1:
		return found[0], nil
	}
	return Entry{}, fmt.Errorf("%s: %d different manifests claim this version", ref, len(found))
}

// Filter selects datasets by their public summaries. The zero Filter
// selects every dataset.
type Filter struct {
	Condition   string // a condition code, or text found in a condition's name (any case)
	Drug        string // a drug code, or text found in a drug's name
	Institution string // the institution part of the dataset name
	MinPersons  int64
	Text        string // text found in the name, title or description
	All         bool   // every version, retracted ones too; default: the latest of each dataset
}

// Search lists the entries that match f, sorted by dataset name and version.
func (cat *Catalog) Search(f Filter) []Entry {
	var out []Entry
	for _, name := range cat.Datasets() {
		var cands []Entry
		if f.All {
			cands = cat.byName[name]
		} else if e, err := cat.Latest(name); err == nil {
			cands = []Entry{e}
		}
		for _, e := range cands {
			if f.matches(e.Manifest) {
				out = append(out, e)
			}
		}
	}
	return out
}

func (f *Filter) matches(m *Manifest) bool {
	if f.Institution != "" && Institution(m.Name) != f.Institution {
		return false
	}
	var persons int64
	var conds, drugs []Code
	if m.Summary != nil {
		persons, conds, drugs = m.Summary.Persons, m.Summary.Conditions, m.Summary.Drugs
	}
	if persons < f.MinPersons {
		return false
	}
	if f.Condition != "" && !anyCode(conds, f.Condition) {
		return false
	}
	if f.Drug != "" && !anyCode(drugs, f.Drug) {
		return false
	}
	if f.Text != "" {
		q := strings.ToLower(f.Text)
		if !strings.Contains(strings.ToLower(m.Name+"\n"+m.Title+"\n"+m.Description), q) {
			return false
		}
	}
	return true
}

func anyCode(codes []Code, q string) bool {
	lq := strings.ToLower(q)
	for _, c := range codes {
		if strings.EqualFold(c.Code, q) || strings.Contains(strings.ToLower(c.Name), lq) {
			return true
		}
	}
	return false
}

// Listing is the public face of a dataset version, as `cohortnet cohorts
// list` and the node's API show it.
type Listing struct {
	Manifest    string   `json:"manifest"`
	Name        string   `json:"name"`
	Version     int64    `json:"version"`
	Institution string   `json:"institution"`
	Publisher   string   `json:"publisher"`
	PeerID      string   `json:"peer_id"`
	Title       string   `json:"title"`
	Access      string   `json:"access"`
	Mode        string   `json:"deid_mode"`
	Created     string   `json:"created"`
	Persons     int64    `json:"persons"`
	YearMin     int64    `json:"year_min,omitempty"`
	YearMax     int64    `json:"year_max,omitempty"`
	Tables      int      `json:"tables"`
	Rows        int64    `json:"rows"`
	Bytes       int64    `json:"bytes"`
	Conditions  []Code   `json:"conditions"`
	Drugs       []Code   `json:"drugs"`
	Retracted   bool     `json:"retracted"`
	KAchieved   *int64   `json:"k_achieved,omitempty"`
	HighestRisk *float64 `json:"highest_risk,omitempty"`
}

// Listing summarizes the entry.
func (e Entry) Listing() Listing {
	m := e.Manifest
	l := Listing{
		Manifest: e.CID.String(), Name: m.Name, Version: m.Version, Institution: Institution(m.Name),
		Publisher: m.Publisher.Name, PeerID: m.Publisher.PeerID, Title: m.Title, Access: m.Access,
		Mode: m.Deid.Mode, Created: m.Created, Tables: len(m.Tables), Retracted: e.Retracted,
		KAchieved: m.Deid.KAchieved, HighestRisk: m.Deid.HighestRisk,
		Conditions: []Code{}, Drugs: []Code{},
	}
	for _, t := range m.Tables {
		l.Rows += t.Rows
	}
	for _, f := range m.Files() {
		l.Bytes += f.Size
	}
	if s := m.Summary; s != nil {
		l.Persons, l.YearMin, l.YearMax = s.Persons, s.YearMin, s.YearMax
		l.Conditions, l.Drugs = s.Conditions, s.Drugs
	}
	return l
}
