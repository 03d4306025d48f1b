package ledger

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api/layout"
)

// tileWidth is the number of hashes in a full tile and entries in a full bundle.
const tileWidth = layout.TileWidth

// tree re-derives a tlog-tiles log from its leaves: the hashes of every tile
// level, and the root. It keeps 32 bytes per leaf (and 1/255 more for the
// levels above) in memory.
type tree struct {
	levels [][][]byte // levels[L][i]: the i-th hash of tile level L
	rng    *compact.Range
}

var rangeFactory = &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}

func newTree() *tree { return &tree{levels: [][][]byte{nil}, rng: rangeFactory.NewEmptyRange(0)} }

func (t *tree) size() uint64 { return uint64(len(t.levels[0])) }

// append adds a leaf hash.
func (t *tree) append(leaf []byte) {
	if err := t.rng.Append(leaf, nil); err != nil {
		panic(err) // Append fails only on a malformed range, which this type never builds
	}
	h := leaf
	for l := 0; ; l++ {
		t.levels[l] = append(t.levels[l], h)
		n := len(t.levels[l])
		if n%tileWidth != 0 {
			return
		}
		h = subtreeRoot(t.levels[l][n-tileWidth:])
		if l+1 == len(t.levels) {
			t.levels = append(t.levels, nil)
		}
	}
}

// subtreeRoot is the root of a perfect tree over hs (len a power of two).
func subtreeRoot(hs [][]byte) []byte {
	cur := hs
	for len(cur) > 1 {
		next := make([][]byte, len(cur)/2)
		for i := range next {
			next[i] = rfc6962.DefaultHasher.HashChildren(cur[2*i], cur[2*i+1])
		}
		cur = next
	}
	return cur[0]
}

// root is the tree's root hash.
func (t *tree) root() []byte {
	if t.size() == 0 {
		return rfc6962.DefaultHasher.EmptyRoot()
	}
	r, err := t.rng.GetRootHash(nil)
	if err != nil {
		panic(err)
	}
	return r
}

// rootAt is the root hash of the first n leaves.
func (t *tree) rootAt(n uint64) []byte {
	if n == 0 {
		return rfc6962.DefaultHasher.EmptyRoot()
	}
	r := rangeFactory.NewEmptyRange(0)
	for _, h := range t.levels[0][:n] {
		_ = r.Append(h, nil)
	}
	h, _ := r.GetRootHash(nil)
	return h
}

// tileRef names one tile of the tree at its current size.
type tileRef struct {
	level, index uint64
	width        int // 1..256; < 256 is a partial tile
}

func (r tileRef) path() string {
	p := uint8(0)
	if r.width < tileWidth {
		p = uint8(r.width)
	}
	return layout.TilePath(r.level, r.index, p)
}

// tiles lists every tile of the tree at its current size, from tile index
// fromLeaf/256^(L+1) at each level L (0 lists them all).
func (t *tree) tiles(fromLeaf uint64) []tileRef {
	var out []tileRef
	scale := uint64(1)
	for l, hs := range t.levels {
		n := uint64(len(hs))
		if n == 0 {
			break
		}
		first := fromLeaf / scale / tileWidth
		for i := first; i*tileWidth < n; i++ {
			w := min(n-i*tileWidth, tileWidth)
			out = append(out, tileRef{uint64(l), i, int(w)})
		}
		scale *= tileWidth
	}
	return out
}

// tileData is the content of a tile: its hashes, concatenated.
func (t *tree) tileData(r tileRef) []byte {
	hs := t.levels[r.level][r.index*tileWidth : r.index*tileWidth+uint64(r.width)]
	return bytes.Join(hs, nil)
}

// marshalBundle encodes entries as a tlog-tiles entry bundle.
func marshalBundle(entries [][]byte) []byte {
	var b []byte
	for _, e := range entries {
		b = binary.BigEndian.AppendUint16(b, uint16(len(e)))
		b = append(b, e...)
	}
	return b
}

// bundlePath is the path of entry bundle i holding n entries.
func bundlePath(i uint64, n int) string {
	p := uint8(0)
	if n < tileWidth {
		p = uint8(n)
	}
	return layout.EntriesPath(i, p)
}

func checkWidth(n int) error {
	if n < 1 || n > tileWidth {
		return fmt.Errorf("bundle of %d entries", n)
	}
	return nil
}
