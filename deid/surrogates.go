package deid

import (
	"bufio"
	"bytes"
	"container/heap"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/cohortnet/cohortnet/internal/datadir"
)

// surrogateStore maps the source ids of one domain ("person", "visit") to
// random surrogate ids (safe-harbor mode) without holding the mapping in
// memory: a hospital with ten million visits keeps a file of ten million
// records, and a run holds an index of one hash per block of records.
//
// In the surrogate folder (<data>/deid), never in a dataset, per domain D:
//   - D.key: 32 random bytes that key the hashes of source ids, so the ids
//     themselves are not stored (and the mapping does not depend on the
//     de-identification key, which may be rotated);
//   - D.sur: a 32-byte header (surMagic), then 32-byte records sorted by
//     hash: the first 16 bytes of HMAC-SHA256(D.key, "D-surrogate", source
//     id), the 15-byte random surrogate, a zero byte.
//
// A surrogate is drawn from crypto/rand and never derived from the
// individual's information (45 CFR 164.514(c)); once drawn it is kept, so
// every later publication gives the id the same surrogate. Surrogates are
// 120 random bits, so two ids sharing one is as likely as guessing a key;
// they are not checked against each other.
//
// Ids reach the store two ways. [surrogateStore.register] takes a stream of
// ids (the export's visit table): their hashes are sorted in bounded chunks
// (spilled to unlinked temporary files) and merged with the stored records
// into a new file, new ids getting new surrogates; lookups then read one
// block. [surrogateStore.get] of an id not in the file (every person on a
// first publication, a visit id met only in another table) draws its
// surrogate at once and keeps it in a small pointer-free map (31 bytes of
// payload per id) until [surrogateStore.save] merges it into the file.
type surrogateStore struct {
	domain string
	dir    string
	ctx    string // HMAC context, domain + "-surrogate"
	key    []byte
	hmacs  sync.Pool // *keyed over key
	f      *os.File  // D.sur, nil while empty
	n      int64     // records
	index  [][16]byte
	mu     sync.Mutex
	extra  map[[16]byte][pseudonymBytes]byte // drawn at lookup, not yet saved
}

const (
	surHeader    = 32
	surRecord    = 32
	surBlock     = 128 // records per index entry and per read
	personDomain = "person"
	visitDomain  = "visit"
)

// surMagic is the header of domain's .sur file: "cohortnet visit
// surrogates v1\n" padded with zero bytes to surHeader.
func surMagic(domain string) string {
	m := "cohortnet " + domain + " surrogates v1\n"
	return m + strings.Repeat("\x00", max(0, surHeader-len(m)))
}

// sortChunk is how many hashes register sorts in memory at a time (16 MiB).
var sortChunk = 1 << 20

// openSurrogates opens (creating the key on first use) the surrogate store
// of domain in dir, importing the text mapping D.map of earlier versions.
func openSurrogates(dir, domain string) (*surrogateStore, error) {
	if len(surMagic(domain)) != surHeader {
		return nil, fmt.Errorf("surrogate ids: domain name %q too long", domain)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("%s surrogate ids: %w", domain, err)
	}
	v := &surrogateStore{domain: domain, dir: dir, ctx: domain + "-surrogate", extra: map[[16]byte][pseudonymBytes]byte{}}
	keyPath := filepath.Join(dir, domain+".key")
	key, err := os.ReadFile(keyPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, v.errf(err)
		}
		if err := datadir.WriteFileAtomic(keyPath, key, 0o600); err != nil {
			return nil, v.errf(err)
		}
	case err != nil:
		return nil, v.errf(err)
	case len(key) != 32:
		return nil, fmt.Errorf("%s surrogate ids: %s: damaged key (%d bytes, want 32)", domain, keyPath, len(key))
	}
	v.key = key
	v.hmacs.New = func() any { return newKeyed(v.key) }
	if err := v.importLegacy(); err != nil {
		v.close()
		return nil, err
	}
	if err := v.open(); err != nil {
		v.close()
		return nil, err
	}
	return v, nil
}

func (v *surrogateStore) errf(err error) error {
	return fmt.Errorf("%s surrogate ids: %w", v.domain, err)
}

func (v *surrogateStore) path() string { return filepath.Join(v.dir, v.domain+".sur") }

func (v *surrogateStore) hash(id string) [16]byte {
	k := v.hmacs.Get().(*keyed)
	var h [16]byte
	copy(h[:], k.sum(v.ctx, id))
	v.hmacs.Put(k)
	return h
}

// open (re)opens D.sur and builds the block index.
func (v *surrogateStore) open() error {
	if v.f != nil {
		v.f.Close()
		v.f, v.n, v.index = nil, 0, nil
	}
	path := v.path()
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return v.errf(err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return v.errf(err)
	}
	size := st.Size() - int64(surHeader)
	head := make([]byte, surHeader)
	if _, err := io.ReadFull(f, head); err != nil || string(head) != surMagic(v.domain) || size%surRecord != 0 {
		f.Close()
		return fmt.Errorf("%s surrogate ids: %s: not a surrogate file of this version, or cut short", v.domain, path)
	}
	v.f, v.n = f, size/surRecord
	br := bufio.NewReaderSize(f, 1<<20)
	var rec [surRecord]byte
	var prev [16]byte
	for i := int64(0); i < v.n; i++ {
		if _, err := io.ReadFull(br, rec[:]); err != nil {
			return fmt.Errorf("%s surrogate ids: %s: %w", v.domain, path, err)
		}
		h := [16]byte(rec[:16])
		if i > 0 && bytes.Compare(h[:], prev[:]) <= 0 {
			return fmt.Errorf("%s surrogate ids: %s record %d: out of order", v.domain, path, i)
		}
		if i%surBlock == 0 {
			v.index = append(v.index, h)
		}
		prev = h
	}
	return nil
}

// find looks hash h up in the file.
func (v *surrogateStore) find(h [16]byte) ([pseudonymBytes]byte, bool, error) {
	var sur [pseudonymBytes]byte
	if v.n == 0 {
		return sur, false, nil
	}
	// the last block whose first hash is <= h
	b := sort.Search(len(v.index), func(i int) bool { return bytes.Compare(v.index[i][:], h[:]) > 0 }) - 1
	if b < 0 {
		return sur, false, nil
	}
	var buf [surBlock * surRecord]byte
	first := int64(b) * surBlock
	cnt := min(surBlock, v.n-first)
	blk := buf[:cnt*surRecord]
	if _, err := v.f.ReadAt(blk, int64(surHeader)+first*surRecord); err != nil {
		return sur, false, fmt.Errorf("%s surrogate ids: read %s: %w", v.domain, v.path(), err)
	}
	i := sort.Search(int(cnt), func(i int) bool { return bytes.Compare(blk[i*surRecord:i*surRecord+16], h[:]) >= 0 })
	if i < int(cnt) && bytes.Equal(blk[i*surRecord:i*surRecord+16], h[:]) {
		copy(sur[:], blk[i*surRecord+16:])
		return sur, true, nil
	}
	return sur, false, nil
}

// get returns the surrogate of a source id, drawing a new one for an id
// that is not in the file. Safe for concurrent use.
func (v *surrogateStore) get(id string) ([pseudonymBytes]byte, error) {
	h := v.hash(id)
	sur, ok, err := v.find(h)
	if ok || err != nil {
		return sur, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if sur, ok := v.extra[h]; ok {
		return sur, nil
	}
	if _, err := rand.Read(sur[:]); err != nil {
		return sur, v.errf(err)
	}
	v.extra[h] = sur
	return sur, nil
}

// register gives every id that each yields a surrogate in the file.
// each calls add once per id (repeats are fine).
func (v *surrogateStore) register(each func(add func(id string) error) error) error {
	var runs []*os.File
	defer func() {
		for _, f := range runs {
			f.Close()
		}
	}()
	chunk := make([][16]byte, 0, min(sortChunk, 1<<16))
	spill := func() error {
		sortHashes(&chunk)
		f, err := os.CreateTemp(v.dir, "."+v.domain+"-run-*")
		if err != nil {
			return v.errf(err)
		}
		os.Remove(f.Name()) // unlinked: nothing is left behind
		runs = append(runs, f)
		w := bufio.NewWriterSize(f, 1<<20)
		for _, h := range chunk {
			w.Write(h[:])
		}
		if err := w.Flush(); err != nil {
			return v.errf(err)
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return v.errf(err)
		}
		chunk = chunk[:0]
		return nil
	}
	err := each(func(id string) error {
		chunk = append(chunk, v.hash(id))
		if len(chunk) >= sortChunk {
			return spill()
		}
		return nil
	})
	if err != nil {
		return err
	}
	sortHashes(&chunk)
	var ins []*cursor
	for _, f := range runs {
		ins = append(ins, &cursor{r: bufio.NewReaderSize(f, 256<<10), size: 16})
	}
	ins = append(ins, &cursor{mem: chunk, size: 16})
	return v.rewrite(ins)
}

// save merges the surrogates drawn at lookup into the file.
func (v *surrogateStore) save() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.extra) == 0 {
		return nil
	}
	hs := make([][16]byte, 0, len(v.extra))
	for h := range v.extra {
		hs = append(hs, h)
	}
	sortHashes(&hs)
	if err := v.rewrite([]*cursor{{mem: hs, size: 16}}); err != nil {
		return err
	}
	v.extra = map[[16]byte][pseudonymBytes]byte{}
	return nil
}

// close closes D.sur; surrogates drawn since the last save are lost.
func (v *surrogateStore) close() {
	if v.f != nil {
		v.f.Close()
		v.f = nil
	}
}

func sortHashes(hs *[][16]byte) {
	slices.SortFunc(*hs, func(a, b [16]byte) int { return bytes.Compare(a[:], b[:]) })
	*hs = slices.Compact(*hs)
}

// rewrite merges the stored records with the sorted hashes of ins into a new
// D.sur (written beside it and renamed into place): a stored hash keeps
// its surrogate, a new one gets a random one, or the one drawn at lookup.
func (v *surrogateStore) rewrite(ins []*cursor) error {
	if v.f != nil {
		if _, err := v.f.Seek(int64(surHeader), io.SeekStart); err != nil {
			return v.errf(err)
		}
		ins = append(ins, &cursor{r: bufio.NewReaderSize(v.f, 1<<20), size: surRecord, stored: true})
	}
	path := v.path()
	tmp, err := os.CreateTemp(v.dir, "."+v.domain+"-sur-*")
	if err != nil {
		return v.errf(err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	w := bufio.NewWriterSize(tmp, 1<<20)
	w.WriteString(surMagic(v.domain))
	var h cursorHeap
	for _, c := range ins {
		if err := c.next(); err != nil {
			return err
		}
		if !c.done {
			h = append(h, c)
		}
	}
	heap.Init(&h)
	var rec [surRecord]byte
	for len(h) > 0 {
		cur := h[0].hash
		var sur [pseudonymBytes]byte
		stored := false
		for len(h) > 0 && h[0].hash == cur {
			c := h[0]
			if c.stored {
				sur, stored = c.sur, true
			}
			if err := c.next(); err != nil {
				return err
			}
			if c.done {
				heap.Pop(&h)
			} else {
				heap.Fix(&h, 0)
			}
		}
		copy(rec[:16], cur[:])
		switch s, ok := v.extra[cur]; {
		case stored:
			copy(rec[16:31], sur[:])
		case ok:
			copy(rec[16:31], s[:])
		default:
			if _, err := rand.Read(rec[16:31]); err != nil {
				return v.errf(err)
			}
		}
		w.Write(rec[:])
	}
	if err := w.Flush(); err != nil {
		return v.errf(err)
	}
	if err := tmp.Sync(); err != nil {
		return v.errf(err)
	}
	if err := tmp.Chmod(0o600); err != nil {
		return v.errf(err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return v.errf(err)
	}
	if err := datadir.SyncDir(v.dir); err != nil {
		return v.errf(err)
	}
	return v.open()
}

// cursor reads sorted hashes (size 16) or stored records (size 32) from a
// reader or a slice.
type cursor struct {
	r      *bufio.Reader
	mem    [][16]byte
	size   int
	stored bool
	hash   [16]byte
	sur    [pseudonymBytes]byte
	done   bool
}

func (c *cursor) next() error {
	if c.r == nil {
		if len(c.mem) == 0 {
			c.done = true
			return nil
		}
		c.hash, c.mem = c.mem[0], c.mem[1:]
		return nil
	}
	var rec [surRecord]byte
	_, err := io.ReadFull(c.r, rec[:c.size])
	if err == io.EOF {
		c.done = true
		return nil
	}
	if err != nil {
		return fmt.Errorf("surrogate ids: read sorted ids: %w", err)
	}
	c.hash = [16]byte(rec[:16])
	if c.stored {
		c.sur = [pseudonymBytes]byte(rec[16:31])
	}
	return nil
}

type cursorHeap []*cursor

func (h cursorHeap) Len() int           { return len(h) }
func (h cursorHeap) Less(i, j int) bool { return bytes.Compare(h[i].hash[:], h[j].hash[:]) < 0 }
func (h cursorHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *cursorHeap) Push(x any)        { *h = append(*h, x.(*cursor)) }
func (h *cursorHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	*h = old[:len(old)-1]
	return c
}

// importLegacy moves a D.map of earlier versions (person.map, visit.map: one
// line per id, the Go-quoted source id, a tab, the base32 surrogate) into
// D.sur, keeping its surrogates, and removes it. The file is streamed; the
// hashes of its ids and their surrogates are held while they are merged.
func (v *surrogateStore) importLegacy() error {
	path := filepath.Join(v.dir, v.domain+".map")
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return v.errf(err)
	}
	defer f.Close()
	if err := v.open(); err != nil {
		return err
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	line := 0
	var hs [][16]byte
	for sc.Scan() {
		line++
		q, s, ok := strings.Cut(sc.Text(), "\t")
		id, err := strconv.Unquote(q)
		raw, err2 := pseudonymEncoding.DecodeString(s)
		if !ok || err != nil || err2 != nil || len(raw) != pseudonymBytes {
			return fmt.Errorf("%s surrogate ids: %s line %d: damaged mapping", v.domain, path, line)
		}
		h := v.hash(id)
		v.extra[h] = [pseudonymBytes]byte(raw)
		hs = append(hs, h)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s surrogate ids: %s: %w", v.domain, path, err)
	}
	sortHashes(&hs)
	if err := v.rewrite([]*cursor{{mem: hs, size: 16}}); err != nil {
		return err
	}
	v.extra = map[[16]byte][pseudonymBytes]byte{} // clear would keep the table
	if err := os.Remove(path); err != nil {
		return v.errf(err)
	}
	return nil
}
