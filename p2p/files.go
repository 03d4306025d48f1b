package p2p

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"

	"github.com/cohortnet/cohortnet/cohort"
	"github.com/cohortnet/cohortnet/internal/datadir"
)

// DefaultChunkSize is the transfer chunk size DESIGN.md suggests, the
// cohort store's [cohort.ChunkSize].
const DefaultChunkSize = cohort.ChunkSize

// File is what a fetch needs to know of one file: its CID (CIDv1, raw,
// sha2-256 of the whole file), size, chunk size and the digest of every
// chunk, as the manifest lists them.
type File struct {
	CID       cid.Cid
	Size      int64
	ChunkSize int64 // a multiple of the 64-byte SHA-256 block
	// Digests are the chunk digests as cohort manifests list them: the
	// whole file's SHA-256 chaining value at the end of each chunk, and
	// the file's sha256 (the CID's digest) for the last one (see
	// [cohort.VerifyChunk]). Each chunk is checked alone, and a file whose
	// chunks all check hashes to its CID.
	Digests [][32]byte
	// Manifest is the dataset version (manifest CID) the file is fetched
	// for, named in every request so that a provider holding the file
	// under several manifests counts the access under this one; cid.Undef
	// names none.
	Manifest cid.Cid
}

// chunkHash returns a SHA-256 positioned at the start of chunk i, from the
// digest of chunk i-1.
func (f *File) chunkHash(i int) (hash.Hash, error) {
	var prev cohort.Digest
	if i > 0 {
		prev = f.Digests[i-1]
	}
	return cohort.ChunkHash(i, f.ChunkSize, prev)
}

// verify reports whether h, a [File.chunkHash] of chunk i after the chunk's
// bytes, ends at chunk i's digest.
func (f *File) verify(h hash.Hash, i int) bool {
	d, err := cohort.ChunkDigest(h, i == len(f.Digests)-1)
	return err == nil && d == f.Digests[i]
}

// verifyChunk checks data as chunk i.
func (f *File) verifyChunk(i int, data []byte) bool {
	if int64(len(data)) != f.chunkLen(i) {
		return false
	}
	h, err := f.chunkHash(i)
	if err != nil {
		return false
	}
	h.Write(data)
	return f.verify(h, i)
}

// Chunks is the number of chunks.
func (f *File) Chunks() int { return len(f.Digests) }

// chunkLen is the length of chunk i.
func (f *File) chunkLen(i int) int64 {
	return min(f.ChunkSize, f.Size-int64(i)*f.ChunkSize)
}

// Check reports whether the description is self-consistent: a chunk size
// that is a positive multiple of the SHA-256 block, at most
// [MaxChunkSize], one digest per chunk, and a digest chain that ends in the
// CID's digest (else chunks could verify and the file not match its CID: an
// error wrapping [ErrCIDMismatch]).
func (f *File) Check() error {
	if !f.CID.Defined() {
		return errors.New("p2p: file: no CID")
	}
	if f.ChunkSize <= 0 || f.ChunkSize > MaxChunkSize || f.ChunkSize%sha256.BlockSize != 0 {
		return fmt.Errorf("p2p: file %s: chunk size %d: want a multiple of %d up to %d", f.CID, f.ChunkSize, sha256.BlockSize, MaxChunkSize)
	}
	if f.Size < 0 {
		return fmt.Errorf("p2p: file %s: negative size", f.CID)
	}
	if f.Manifest.Defined() && f.Manifest.Type() != cid.DagCBOR {
		return fmt.Errorf("p2p: file %s: manifest %s is not a dag-cbor CID", f.CID, f.Manifest)
	}
	if want := (f.Size + f.ChunkSize - 1) / f.ChunkSize; int64(len(f.Digests)) != want {
		return fmt.Errorf("p2p: file %s: %d chunk digests for %d chunks", f.CID, len(f.Digests), want)
	}
	last := sha256.Sum256(nil) // an empty file's digest
	if n := len(f.Digests); n > 0 {
		last = f.Digests[n-1]
	}
	if err := matchCID(f.CID, last[:]); err != nil {
		return fmt.Errorf("p2p: file: %w", err)
	}
	return nil
}

// DescribeFile reads the file at path and returns its [File] description
// with chunks of chunkSize bytes (a multiple of 64) and their digests,
// hashing the file once.
func DescribeFile(path string, chunkSize int64) (File, error) {
	hasher, err := cohort.NewChunkHasher(chunkSize)
	if err != nil {
		return File{}, fmt.Errorf("p2p: describe %s: %w", path, err)
	}
	fh, err := os.Open(path)
	if err != nil {
		return File{}, fmt.Errorf("p2p: describe: %w", err)
	}
	defer fh.Close()
	if _, err := io.Copy(hasher, fh); err != nil {
		return File{}, fmt.Errorf("p2p: describe %s: %w", path, err)
	}
	h, err := hasher.Hashes()
	if err != nil {
		return File{}, fmt.Errorf("p2p: describe %s: %w", path, err)
	}
	f := File{CID: cohort.FileCID(h.Sum), Size: h.Size, ChunkSize: chunkSize}
	for _, d := range h.Chunks {
		f.Digests = append(f.Digests, d)
	}
	return f, nil
}

// ChunkSink receives a fetch's verified chunks. A sink is used by concurrent
// workers at once.
type ChunkSink interface {
	// Begin prepares to receive f and reports, per chunk, whether the sink
	// already holds it verified (a resumed fetch skips those).
	Begin(ctx context.Context, f *File) (have []bool, err error)
	// WriteChunk stores chunk index of file, already verified against its
	// digest. It must not keep data after returning.
	WriteChunk(ctx context.Context, file cid.Cid, index int, data []byte) error
	// Commit is called once every chunk of file is written.
	Commit(ctx context.Context, file cid.Cid) error
	// Abort is called for a begun file when the fetch ends without it; the
	// chunks written so far may stay for a resumed fetch.
	Abort(file cid.Cid) error
}

// DirSource serves the files of a directory named by their CID string
// (`<Dir>/<cid>`), as a content-addressed store lays them out.
type DirSource struct{ Dir string }

var _ ChunkSource = DirSource{}

func (d DirSource) path(c cid.Cid) string { return filepath.Join(d.Dir, c.String()) }

// Size returns the size of the file named c.
func (d DirSource) Size(_ context.Context, c cid.Cid) (int64, error) {
	fi, err := os.Stat(d.path(c))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("%s: %w", c, ErrNotFound)
	}
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// ReadAt reads from the file named c.
func (d DirSource) ReadAt(_ context.Context, c cid.Cid, p []byte, off int64) (int, error) {
	fh, err := os.Open(d.path(c))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("%s: %w", c, ErrNotFound)
	}
	if err != nil {
		return 0, err
	}
	defer fh.Close()
	return fh.ReadAt(p, off)
}

// DirSink writes fetched files into a directory as `<Dir>/<cid>`: chunks go
// into `<cid>.part` at their offsets; Commit syncs it and renames it into
// place. The file is not hashed again: every chunk was verified against a
// digest chain that [File.Check] makes sure ends in the CID. A fetch resumed
// after an interruption keeps the chunks of the partial file that still
// match their digests.
type DirSink struct {
	Dir string

	mu    sync.Mutex
	files map[cid.Cid]*sinkFile
}

type sinkFile struct {
	fh   *os.File // nil when the file was already complete
	desc *File

	mu      sync.Mutex
	written []bool
}

// piece is how much of a chunk is written or sent at a time. (A single
// 4 MiB pwrite costs the kernel several times the CPU of 32 writes of
// 128 KiB, as measured on ext4; and a piece hashed as it arrives is still
// in the CPU cache.)
const piece = 128 << 10

var _ ChunkSink = (*DirSink)(nil)

// Path is where the complete file c lands.
func (d *DirSink) Path(c cid.Cid) string { return filepath.Join(d.Dir, c.String()) }

// Begin opens or creates the partial file and checks which chunks it holds.
func (d *DirSink) Begin(ctx context.Context, f *File) ([]bool, error) {
	if err := f.Check(); err != nil {
		return nil, fmt.Errorf("p2p: sink: %w", err)
	}
	have := make([]bool, f.Chunks())
	d.mu.Lock()
	if d.files == nil {
		d.files = make(map[cid.Cid]*sinkFile)
	}
	if _, ok := d.files[f.CID]; ok {
		d.mu.Unlock()
		return nil, fmt.Errorf("p2p: sink: %s is already being fetched", f.CID)
	}
	d.mu.Unlock()
	if fi, err := os.Stat(d.Path(f.CID)); err == nil && fi.Size() == f.Size {
		for i := range have {
			have[i] = true
		}
		d.put(f.CID, &sinkFile{desc: f})
		return have, nil
	}
	if err := os.MkdirAll(d.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("p2p: sink: %w", err)
	}
	part := d.Path(f.CID) + ".part"
	fh, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("p2p: sink: %w", err)
	}
	fi, err := fh.Stat()
	if err == nil && fi.Size() > 0 {
		err = resumable(ctx, fh, fi.Size(), f, have)
	}
	if err == nil && fi.Size() > f.Size {
		err = fh.Truncate(f.Size)
	}
	if err != nil {
		fh.Close()
		return nil, fmt.Errorf("p2p: sink: %s: %w", part, err)
	}
	d.put(f.CID, &sinkFile{fh: fh, desc: f, written: slices.Clone(have)})
	return have, nil
}

// resumable marks the chunks of a partial file that match their digests.
func resumable(ctx context.Context, fh *os.File, size int64, f *File, have []bool) error {
	buf := make([]byte, f.ChunkSize)
	for i := range have {
		n := f.chunkLen(i)
		if int64(i)*f.ChunkSize+n > size {
			break
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if _, err := fh.ReadAt(buf[:n], int64(i)*f.ChunkSize); err != nil {
			return err
		}
		have[i] = f.verifyChunk(i, buf[:n])
	}
	return nil
}

func (d *DirSink) put(c cid.Cid, sf *sinkFile) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.files[c] = sf
}

func (d *DirSink) get(c cid.Cid) (*sinkFile, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	sf, ok := d.files[c]
	if !ok {
		return nil, fmt.Errorf("p2p: sink: %s was not begun", c)
	}
	return sf, nil
}

// WriteChunk writes data, already verified, at the chunk's offset in the
// partial file.
func (d *DirSink) WriteChunk(_ context.Context, c cid.Cid, index int, data []byte) error {
	sf, err := d.get(c)
	if err != nil {
		return err
	}
	if sf.fh == nil {
		return nil
	}
	off := int64(index) * sf.desc.ChunkSize
	for p := 0; p < len(data); p += piece {
		if _, err := sf.fh.WriteAt(data[p:min(p+piece, len(data))], off+int64(p)); err != nil {
			return fmt.Errorf("p2p: sink: write %s chunk %d: %w", c, index, err)
		}
	}
	sf.mu.Lock()
	sf.written[index] = true
	sf.mu.Unlock()
	return nil
}

// Commit syncs the partial file and renames it into place, once every
// chunk is written.
func (d *DirSink) Commit(ctx context.Context, c cid.Cid) error {
	sf, err := d.get(c)
	if err != nil {
		return err
	}
	d.mu.Lock()
	delete(d.files, c)
	d.mu.Unlock()
	if sf.fh == nil {
		return nil
	}
	defer sf.fh.Close()
	sf.mu.Lock()
	missing := slices.Index(sf.written, false)
	sf.mu.Unlock()
	if missing >= 0 {
		return fmt.Errorf("p2p: sink: %s: commit before chunk %d was written", sf.fh.Name(), missing)
	}
	if err := sf.fh.Sync(); err != nil {
		return fmt.Errorf("p2p: sink: sync %s: %w", sf.fh.Name(), err)
	}
	if err := os.Rename(sf.fh.Name(), d.Path(c)); err != nil {
		return fmt.Errorf("p2p: sink: %w", err)
	}
	if err := datadir.SyncDir(d.Dir); err != nil {
		return fmt.Errorf("p2p: sink: %w", err)
	}
	return nil
}

// Abort closes the partial file and keeps it for a resumed fetch.
func (d *DirSink) Abort(c cid.Cid) error {
	d.mu.Lock()
	sf, ok := d.files[c]
	delete(d.files, c)
	d.mu.Unlock()
	if !ok || sf.fh == nil {
		return nil
	}
	return sf.fh.Close()
}

// ErrCIDMismatch means a file's chunk digests do not end in its CID's
// digest: the manifest's digests and CID disagree, so chunks could verify and
// the file still not be the one the CID names. Nothing of it is fetched.
var ErrCIDMismatch = errors.New("chunk digests do not end in the CID's digest")

// matchCID checks a sha2-256 digest against a CID's multihash.
func matchCID(c cid.Cid, sum []byte) error {
	dec, err := multihash.Decode(c.Hash())
	if err != nil {
		return fmt.Errorf("cid %s: %w", c, err)
	}
	if dec.Code != multihash.SHA2_256 {
		return fmt.Errorf("cid %s: hash function %s is not sha2-256", c, multihash.Codes[dec.Code])
	}
	if !bytes.Equal(sum, dec.Digest) {
		return fmt.Errorf("cid %s: %w", c, ErrCIDMismatch)
	}
	return nil
}
