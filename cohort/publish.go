package cohort

import (
	"cmp"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cohortnet/cohortnet/internal/datadir"
)

// ErrRefused is wrapped by every reason [Publish] refuses a folder. The
// message names the file and what to change.
var ErrRefused = errors.New("publish refused")

func refuse(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrRefused, fmt.Sprintf(format, args...))
}

// Signer is who publishes: the node key that signs and the institution it
// belongs to.
type Signer struct {
	Key         crypto.PrivKey // the node identity (Ed25519)
	Institution string         // short name, the dataset name prefix: "hospital-a"
	Name        string         // display name: "Hospital A"
}

// PublishOptions says what to publish. The zero value of every field but
// Dir and Name works.
type PublishOptions struct {
	Dir  string // the de-identified dataset folder (deid's OUT)
	Name string // "diabetes", or "hospital-a/diabetes" with the publisher's own prefix

	Title       string
	Description string
	License     string
	// Access is the tier; empty means AccessRestricted. [AllowedAccess]
	// says which tiers a mode allows.
	Access string
	// NoDeidReport, when not empty, is the reason the folder has no
	// de-identification report; it is written into the manifest. Without a
	// reason a folder without a report is refused.
	NoDeidReport string
	// DataModel names the data model; empty means DataModelCDM.
	DataModel string
	// Now gives the creation time; nil means time.Now.
	Now func() time.Time
	// Logger receives progress; nil discards.
	Logger *slog.Logger
}

// Published is the result of [Publish]: the signed manifest, kept in the
// store and listed in the catalogue, but not yet anchored in the ledger nor
// announced to the network.
type Published struct {
	CID      cid.Cid
	Manifest *Manifest
	Signed   *SignedManifest
	Files    int   // data, policy and report files
	Bytes    int64 // their total size
}

// AllowedAccess lists the access tiers a de-identification mode allows: a
// limited data set, or data without a report, only restricted or
// aggregate-only; an expert-determination release not open; safe harbor
// every tier.
func AllowedAccess(mode string) []string {
	switch mode {
	case ModeSafeHarbor:
		return AccessTiers
	case ModeExpert:
		return []string{AccessRegistered, AccessRestricted, AccessAggregateOnly}
	default:
		return []string{AccessRestricted, AccessAggregateOnly}
	}
}

// PublishFromDataDir publishes with the data directory's identity, config
// (institution short name and display name) and store.
func PublishFromDataDir(ctx context.Context, d datadir.Dir, opts PublishOptions) (*Published, error) {
	key, err := d.Identity()
	if err != nil {
		return nil, err
	}
	cfg, err := d.Config()
	if err != nil {
		return nil, err
	}
	st, err := OpenDataStore(d)
	if err != nil {
		return nil, err
	}
	return Publish(ctx, st, Signer{Key: key, Institution: cfg.ShortName, Name: cfg.Name}, opts)
}

// Publish imports a de-identified dataset folder into the store, checks it
// is exactly what de-identification wrote, builds the manifest (the next
// version of the dataset when it exists), signs it and keeps it. It refuses
// (wrapping [ErrRefused]) a folder without a report unless
// opts.NoDeidReport gives a reason; a folder whose files differ from those
// the report lists (missing, extra, sha256, size, columns, rows); and an
// access tier the mode does not allow.
func Publish(ctx context.Context, st *Store, who Signer, opts PublishOptions) (*Published, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	name, err := datasetName(who.Institution, opts.Name)
	if err != nil {
		return nil, err
	}
	files, err := folderFiles(opts.Dir)
	if err != nil {
		return nil, err
	}

	var rep *Report
	_, hasReport := files[ReportName]
	switch {
	case hasReport && opts.NoDeidReport != "":
		return nil, refuse("%s has a de-identification report: drop --no-deid-report", opts.Dir)
	case hasReport:
		if rep, err = ReadReport(filepath.Join(opts.Dir, ReportName)); err != nil {
			return nil, err
		}
	case opts.NoDeidReport == "":
		return nil, refuse("%s has no %s: publish the output of `cohortnet deid`, or give --no-deid-report with a reason", opts.Dir, ReportName)
	}
	mode := ModeNone
	if rep != nil {
		mode = rep.Mode
	}
	access := cmp.Or(opts.Access, AccessRestricted)
	if !slices.Contains(AccessTiers, access) {
		return nil, fmt.Errorf("access tier %q: use one of %s", access, strings.Join(AccessTiers, ", "))
	}
	if allowed := AllowedAccess(mode); !slices.Contains(allowed, access) {
		return nil, refuse("access %s is looser than %s allows (allowed: %s)", access, modeText(mode), strings.Join(allowed, ", "))
	}

	// What goes in: with a report, exactly its files; without, every Parquet file.
	type want struct {
		table string
		rf    *ReportFile
	}
	data := map[string]want{}
	if rep != nil {
		if _, ok := files[PolicyName]; !ok {
			return nil, refuse("%s has a report but no %s", opts.Dir, PolicyName)
		}
		for i := range rep.Files {
			rf := &rep.Files[i]
			if _, ok := files[rf.Path]; !ok {
				return nil, refuse("%s: listed in %s but missing", rf.Path, ReportName)
			}
			if _, dup := data[rf.Path]; dup {
				return nil, refuse("%s: listed twice in %s", rf.Path, ReportName)
			}
			data[rf.Path] = want{rf.Table, rf}
		}
	}
	for p := range files {
		if p == ReportName || p == PolicyName {
			continue
		}
		if _, ok := data[p]; ok {
			continue
		}
		if rep != nil {
			return nil, refuse("%s: not listed in %s (the folder must be exactly what de-identification wrote)", p, ReportName)
		}
		if !strings.HasSuffix(p, ".parquet") {
			return nil, refuse("%s: not a Parquet file", p)
		}
		data[p] = want{table: tableOf(p)}
	}
	if len(data) == 0 {
		return nil, refuse("%s has no Parquet files", opts.Dir)
	}

	res := &Published{}
	importOne := func(rel string) (cid.Cid, Hashes, error) {
		c, n, err := st.ImportFile(ctx, filepath.Join(opts.Dir, filepath.FromSlash(rel)))
		if err != nil {
			return cid.Undef, Hashes{}, err
		}
		h, err := st.Chunks(c)
		if err != nil {
			return cid.Undef, Hashes{}, err
		}
		res.Files++
		res.Bytes += n
		log.Debug("imported", "file", rel, "cid", c, "bytes", n)
		return c, h, nil
	}

	tables := map[string]*Table{}
	for _, rel := range slices.Sorted(maps.Keys(data)) {
		w := data[rel]
		c, h, err := importOne(rel)
		if err != nil {
			return nil, err
		}
		fields, rows, err := parquetInfo(st.Path(c))
		if err != nil {
			return nil, refuse("%s: %v", rel, err)
		}
		if rf := w.rf; rf != nil {
			if got := hex.EncodeToString(h.Sum[:]); got != strings.ToLower(rf.SHA256) {
				return nil, refuse("%s: sha256 %s, the report says %s", rel, got, rf.SHA256)
			}
			if h.Size != rf.Bytes {
				return nil, refuse("%s: %d bytes, the report says %d", rel, h.Size, rf.Bytes)
			}
			if got := fieldNames(fields); !slices.Equal(got, rf.Columns) {
				return nil, refuse("%s: columns %v, the report says %v", rel, got, rf.Columns)
			}
			if rows != rf.Rows {
				return nil, refuse("%s: %d rows, the report says %d", rel, rows, rf.Rows)
			}
		}
		t := tables[w.table]
		if t == nil {
			t = &Table{Name: w.table, Schema: fields}
			tables[w.table] = t
		} else if !slices.Equal(t.Schema, fields) {
			return nil, refuse("%s: its schema differs from the other files of table %s", rel, w.table)
		}
		t.Rows += rows
		t.Files = append(t.Files, fileFromHashes(rel, c, h, rows))
	}

	m := &Manifest{
		Format: ManifestFormat, Name: name,
		Title: opts.Title, Description: opts.Description, License: opts.License, Access: access,
		Publisher: Publisher{Name: who.Name},
		DataModel: cmp.Or(opts.DataModel, DataModelCDM),
		Deid:      Deid{Mode: mode},
	}
	for _, tn := range slices.Sorted(maps.Keys(tables)) {
		m.Tables = append(m.Tables, *tables[tn])
	}
	if rep != nil {
		for _, side := range []struct {
			name string
			dst  **File
		}{{PolicyName, &m.Deid.Policy}, {ReportName, &m.Deid.Report}} {
			c, h, err := importOne(side.name)
			if err != nil {
				return nil, err
			}
			f := fileFromHashes(side.name, c, h, 0)
			*side.dst = &f
		}
		m.Deid.Intervals = rep.Intervals
		if rep.KeyFingerprint != "" {
			m.Deid.KeyFingerprint = &rep.KeyFingerprint
		}
		if rep.KAnonymity != nil {
			m.Deid.KAchieved = &rep.KAnonymity.KAchieved
		}
		m.Deid.HighestRisk = rep.highestRisk()
		m.Summary = rep.summary()
	} else {
		m.Deid.NoReportReason = &opts.NoDeidReport
	}
	id, err := peer.IDFromPrivateKey(who.Key)
	if err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	m.Publisher.PeerID = id.String()
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	m.Created = now().UTC().Truncate(time.Second).Format(time.RFC3339)

	// Number the version and keep the manifest under a lock, so two
	// publications of one dataset cannot both become version n+1.
	unlock, err := st.lock(ctx, "publish")
	if err != nil {
		return nil, err
	}
	defer unlock()
	cat, err := st.Catalog(ctx)
	if err != nil {
		return nil, err
	}
	m.Version = 1
	if vs := cat.Versions(name); len(vs) > 0 {
		last := vs[len(vs)-1]
		if last.Manifest.Publisher.PeerID != m.Publisher.PeerID {
			return nil, refuse("%s version %d was published by peer %s, not this node", name, last.Manifest.Version, last.Manifest.Publisher.PeerID)
		}
		m.Version = last.Manifest.Version + 1
		m.Previous = &last.CID
	}
	sm, c, err := Sign(m, who.Key)
	if err != nil {
		return nil, err
	}
	if _, _, err := st.AddManifest(sm); err != nil {
		return nil, err
	}
	log.Debug("published", "dataset", name, "version", m.Version, "manifest", c, "files", res.Files, "bytes", res.Bytes)
	res.CID, res.Manifest, res.Signed = c, m, sm
	return res, nil
}

func modeText(mode string) string {
	if mode == ModeNone {
		return "a dataset without a de-identification report"
	}
	if mode == ModeExpert {
		return "an expert-mode dataset"
	}
	return "a " + mode + "-mode dataset"
}

// datasetName turns --name into `<institution>/<name>`.
func datasetName(inst, name string) (string, error) {
	if inst == "" {
		return "", errors.New("publish: this node has no institution short name: run `cohortnet init --short-name NAME`")
	}
	full := inst + "/" + name
	if i, _, ok := strings.Cut(name, "/"); ok {
		if i != inst {
			return "", fmt.Errorf("publish: dataset %q: this node publishes as %s/...", name, inst)
		}
		full = name
	}
	if !ValidDatasetName(full) {
		return "", fmt.Errorf("publish: dataset name %q: use lower-case letters, digits, '.', '_' and '-' (up to 64)", name)
	}
	return full, nil
}

// folderFiles lists the regular files under dir by slash-separated relative
// path, skipping hidden files and folders. Anything else (a link, a device)
// is refused.
func folderFiles(dir string) (map[string]bool, error) {
	files := map[string]bool{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return nil
		case !d.Type().IsRegular():
			return refuse("%s: not a regular file", filepath.ToSlash(rel))
		}
		files[filepath.ToSlash(rel)] = true
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("publish: read %s: %w", dir, err)
	}
	return files, nil
}

// tableOf names the table of a file in a folder without a report: its first
// directory, or its name without extension at the top.
func tableOf(rel string) string {
	if dir, _, ok := strings.Cut(rel, "/"); ok {
		return dir
	}
	return strings.TrimSuffix(path.Base(rel), path.Ext(rel))
}

// lock takes an exclusive lock file in the store, shared between processes.
func (s *Store) lock(ctx context.Context, name string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(s.dir, "."+name+".lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock store: %w", err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock store: %w", err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
