package cohort

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/cohortnet/cohortnet/internal/datadir"
)

// ErrNotFound means the store does not hold a file with that CID. The caller
// should fetch it, or tell the user which file is missing.
var ErrNotFound = errors.New("not in the store")

// CorruptError says a stored file does not match its CID or its chunk list.
// The file should be deleted and fetched again.
type CorruptError struct {
	CID   cid.Cid
	Check string // "cid" or "size" (the content is wrong), or "chunk list" (the kept digests are)
	Chunk int    // the first chunk found wrong, or -1
	Msg   string
}

func (e *CorruptError) Error() string {
	if e.Chunk >= 0 {
		return fmt.Sprintf("%s: %s: chunk %d: %s", e.CID, e.Check, e.Chunk, e.Msg)
	}
	return fmt.Sprintf("%s: %s: %s", e.CID, e.Check, e.Msg)
}

// Store is a node's content-addressed file store, a directory (usually
// `<data>/store`) laid out as:
//
//	blobs/<cid>      the files, named by CID, read-only, where DuckDB reads them
//	chunks/<cid>     their chunk digests, computed at import in the same pass as the CID
//	manifests/<cid>  signed manifests, DAG-CBOR (see [Catalog])
//	retracted/<cid>  retraction marks with their reasons
//	tmp/, partial/   imports and receptions in progress
//
// A file appears in blobs/ only complete and verified: imports hash while
// copying to tmp/, fsync, and rename into place. It is safe for concurrent
// use by goroutines and processes.
type Store struct {
	dir string
}

// Ages after which [OpenStore] removes what interrupted work left behind.
const (
	tmpMaxAge     = 24 * time.Hour      // imports interrupted
	partialMaxAge = 30 * 24 * time.Hour // receptions abandoned: a fetch resumed later starts over
)

// OpenStore opens (creating if needed) the store in dir. It removes
// temporary files that imports interrupted more than a day ago left behind,
// and partially received files nobody has written to for 30 days and no
// process is receiving.
func OpenStore(dir string) (*Store, error) {
	for _, sub := range []string{"blobs", "chunks", "manifests", "retracted", "tmp", "partial"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
	}
	removeOld(filepath.Join(dir, "tmp"), tmpMaxAge)
	removeOld(filepath.Join(dir, "partial"), partialMaxAge)
	return &Store{dir: dir}, nil
}

// removeOld removes the files in dir not modified for maxAge, except those
// a [Receiver] holds locked.
func removeOld(dir string, maxAge time.Duration) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil || time.Since(fi.ModTime()) <= maxAge {
			continue
		}
		p := filepath.Join(dir, e.Name())
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			os.Remove(p)
		}
		f.Close()
	}
}

// OpenDataStore opens the store of a data directory.
func OpenDataStore(d datadir.Dir) (*Store, error) { return OpenStore(d.Join(datadir.StoreDir)) }

// Dir is the store's directory.
func (s *Store) Dir() string { return s.dir }

// Path is where the file with CID c lies (whether or not the store holds it).
// Readers such as DuckDB read it in place; nobody may write it.
func (s *Store) Path(c cid.Cid) string { return filepath.Join(s.dir, "blobs", c.String()) }

func (s *Store) chunksPath(c cid.Cid) string { return filepath.Join(s.dir, "chunks", c.String()) }

// Import copies r into the store, hashing while copying, and returns the
// file's CID and size. The file is fsynced and renamed into place; importing
// bytes the store already holds changes nothing.
func (s *Store) Import(ctx context.Context, r io.Reader) (cid.Cid, int64, error) {
	f, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), "import-*")
	if err != nil {
		return cid.Undef, 0, fmt.Errorf("import: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after the rename
	fw := newFileWriter(f)
	h, err := pipeline(ctx, r, fw)
	if cerr := fw.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return cid.Undef, 0, fmt.Errorf("import: %w", err)
	}
	c := FileCID(h.Sum)
	if err := s.place(tmp, c, h); err != nil {
		return cid.Undef, 0, fmt.Errorf("import: %w", err)
	}
	return c, h.Size, nil
}

// ImportFile imports the file at path. Errors name the path.
func (s *Store) ImportFile(ctx context.Context, path string) (cid.Cid, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return cid.Undef, 0, fmt.Errorf("import: %w", err)
	}
	defer f.Close()
	c, n, err := s.Import(ctx, f)
	if err != nil {
		return cid.Undef, 0, fmt.Errorf("%s: %w", path, err)
	}
	return c, n, nil
}

// place moves a complete, synced temporary file into blobs/ with its chunk
// list written first, so a file in blobs/ always has its chunk list.
func (s *Store) place(tmp string, c cid.Cid, h Hashes) error {
	if err := datadir.WriteFileAtomic(s.chunksPath(c), encodeChunks(h), 0o444); err != nil {
		return fmt.Errorf("write chunk list: %w", err)
	}
	if _, err := os.Stat(s.Path(c)); err == nil {
		return nil // already held; the deferred remove drops the copy
	}
	if err := os.Chmod(tmp, 0o444); err != nil {
		return err
	}
	if err := os.Rename(tmp, s.Path(c)); err != nil {
		return err
	}
	return datadir.SyncDir(filepath.Join(s.dir, "blobs"))
}

// Has reports whether the store holds the file c.
func (s *Store) Has(c cid.Cid) bool {
	_, err := os.Stat(s.Path(c))
	return err == nil
}

// Open opens the file c for reading.
func (s *Store) Open(c cid.Cid) (*os.File, error) {
	f, err := os.Open(s.Path(c))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("open %s: %w", c, ErrNotFound)
	}
	return f, err
}

// Stat returns the size of the file c.
func (s *Store) Stat(c cid.Cid) (int64, error) {
	fi, err := os.Stat(s.Path(c))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("stat %s: %w", c, ErrNotFound)
	}
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// List yields the CIDs of the files the store holds, in no set order.
func (s *Store) List() iter.Seq2[cid.Cid, error] {
	return func(yield func(cid.Cid, error) bool) {
		ents, err := os.ReadDir(filepath.Join(s.dir, "blobs"))
		if err != nil {
			yield(cid.Undef, fmt.Errorf("list store: %w", err))
			return
		}
		for _, e := range ents {
			c, err := cid.Decode(e.Name())
			if err != nil || strings.HasPrefix(e.Name(), ".") {
				continue // not ours
			}
			if !yield(c, nil) {
				return
			}
		}
	}
}

// Delete removes the file c and its chunk list. Deleting a file the store
// does not hold is not an error.
func (s *Store) Delete(c cid.Cid) error {
	if err := os.Remove(s.Path(c)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete %s: %w", c, err)
	}
	if err := os.Remove(s.chunksPath(c)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete %s chunk list: %w", c, err)
	}
	return datadir.SyncDir(filepath.Join(s.dir, "blobs"))
}

// Chunks returns the chunk digests kept for file c at import.
func (s *Store) Chunks(c cid.Cid) (Hashes, error) {
	b, err := os.ReadFile(s.chunksPath(c))
	if errors.Is(err, fs.ErrNotExist) {
		return Hashes{}, fmt.Errorf("chunk list of %s: %w", c, ErrNotFound)
	}
	if err != nil {
		return Hashes{}, err
	}
	h, err := decodeChunks(b)
	if err != nil {
		return Hashes{}, &CorruptError{CID: c, Check: "chunk list", Chunk: -1, Msg: err.Error()}
	}
	if h.Sum, err = FileDigest(c); err != nil {
		return Hashes{}, err
	}
	if n := len(h.Chunks); n > 0 && h.Chunks[n-1] != h.Sum {
		return Hashes{}, &CorruptError{CID: c, Check: "chunk list", Chunk: n - 1, Msg: "the last digest is not the CID's"}
	}
	return h, nil
}

// Verify rehashes the stored file c and checks it against its CID and its
// kept chunk list. A mismatch is a [*CorruptError]; a missing file wraps
// [ErrNotFound].
func (s *Store) Verify(ctx context.Context, c cid.Cid) error {
	want, err := FileDigest(c)
	if err != nil {
		return err
	}
	f, err := s.Open(c)
	if err != nil {
		return err
	}
	defer f.Close()
	got, err := HashReader(ctx, f)
	if err != nil {
		return fmt.Errorf("verify %s: %w", c, err)
	}
	kept, err := s.Chunks(c)
	if errors.Is(err, ErrNotFound) {
		kept = Hashes{Size: -1} // compared below: the content decides which problem to report
	} else if err != nil {
		return err
	}
	if got.Sum != want {
		e := &CorruptError{CID: c, Check: "cid", Chunk: -1, Msg: "content hashes to " + FileCID(got.Sum).String()}
		if kept.Size >= 0 && got.Size != kept.Size {
			e.Check, e.Msg = "size", fmt.Sprintf("file has %d bytes, should have %d", got.Size, kept.Size)
		}
		for i := range min(len(got.Chunks), len(kept.Chunks)) {
			if got.Chunks[i] != kept.Chunks[i] {
				e.Chunk = i
				break
			}
		}
		return e
	}
	// The content is right: the kept chunk list must describe it.
	if kept.Size < 0 {
		return &CorruptError{CID: c, Check: "chunk list", Chunk: -1, Msg: "missing"}
	}
	if got.Size != kept.Size || len(got.Chunks) != len(kept.Chunks) {
		return &CorruptError{CID: c, Check: "chunk list", Chunk: -1,
			Msg: fmt.Sprintf("says %d bytes in %d chunks, file has %d in %d", kept.Size, len(kept.Chunks), got.Size, len(got.Chunks))}
	}
	for i := range got.Chunks {
		if got.Chunks[i] != kept.Chunks[i] {
			return &CorruptError{CID: c, Check: "chunk list", Chunk: i, Msg: "digest does not match the content"}
		}
	}
	return nil
}

// The chunk list file: magic, file size and chunk size (big-endian uint64),
// then the 32-byte chained digests (see [ChunkDigest]). Version 1 held an
// independent sha256 per chunk; it is not read.
var chunksMagic = []byte("cohortnet-chunks/2\n")

func encodeChunks(h Hashes) []byte {
	b := make([]byte, 0, len(chunksMagic)+16+len(h.Chunks)*len(Digest{}))
	b = append(b, chunksMagic...)
	b = binary.BigEndian.AppendUint64(b, uint64(h.Size))
	b = binary.BigEndian.AppendUint64(b, uint64(h.ChunkSize))
	for _, d := range h.Chunks {
		b = append(b, d[:]...)
	}
	return b
}

func decodeChunks(b []byte) (Hashes, error) {
	if !bytes.HasPrefix(b, chunksMagic) || len(b) < len(chunksMagic)+16 {
		return Hashes{}, errors.New("not a chunk list")
	}
	b = b[len(chunksMagic):]
	h := Hashes{Size: int64(binary.BigEndian.Uint64(b)), ChunkSize: int64(binary.BigEndian.Uint64(b[8:]))}
	b = b[16:]
	if h.Size < 0 || checkChunkSize(h.ChunkSize) != nil || len(b)%len(Digest{}) != 0 ||
		int64(len(b)/len(Digest{})) != NumChunks(h.Size, h.ChunkSize) {
		return Hashes{}, errors.New("chunk list is inconsistent with the file size")
	}
	for len(b) > 0 {
		h.Chunks = append(h.Chunks, Digest(b[:len(Digest{})]))
		b = b[len(Digest{}):]
	}
	return h, nil
}

// ReadChunk reads chunk i of file c into buf (grown to [ChunkSize] if
// smaller) and returns the chunk, for serving it to a peer.
func (s *Store) ReadChunk(c cid.Cid, i int, buf []byte) ([]byte, error) {
	f, err := s.Open(c)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	off := int64(i) * ChunkSize
	if i < 0 || off >= fi.Size() {
		return nil, fmt.Errorf("read %s chunk %d: the file has %d chunks", c, i, NumChunks(fi.Size(), ChunkSize))
	}
	n := min(ChunkSize, fi.Size()-off)
	if int64(cap(buf)) < n {
		buf = make([]byte, ChunkSize)
	}
	buf = buf[:n]
	if _, err := f.ReadAt(buf, off); err != nil {
		return nil, fmt.Errorf("read %s chunk %d: %w", c, i, err)
	}
	return buf, nil
}

// Missing lists the files of a manifest the store does not hold.
func (s *Store) Missing(m *Manifest) []*File {
	var out []*File
	for _, f := range m.Files() {
		if !s.Has(f.CID) {
			out = append(out, f)
		}
	}
	return out
}
