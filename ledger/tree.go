package ledger

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api/layout"
)

// tileWidth is the number of hashes in a full tile and entries in a full bundle.
const tileWidth = layout.TileWidth

// tree re-derives a tlog-tiles log from its leaves: the hash of every
// complete node at every level (so tiles, roots and proofs come from memory),
// and the root. It keeps about 64 bytes per leaf.
type tree struct {
	levels [][][]byte // levels[k][i]: the node at tree level k, index i
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
	for k := 0; ; k++ {
		t.levels[k] = append(t.levels[k], h)
		n := len(t.levels[k])
		if n%2 != 0 {
			return
		}
		h = rfc6962.DefaultHasher.HashChildren(t.levels[k][n-2], t.levels[k][n-1])
		if k+1 == len(t.levels) {
			t.levels = append(t.levels, nil)
		}
	}
}

// level returns the hashes of tree level k (nil past the top).
func (t *tree) level(k int) [][]byte {
	if k >= len(t.levels) {
		return nil
	}
	return t.levels[k]
}

// inclusion returns the inclusion proof of leaf index in the tree of the
// first size leaves.
func (t *tree) inclusion(index, size uint64) ([][]byte, error) {
	if size > t.size() || index >= size {
		return nil, fmt.Errorf("no proof of entry %d in a tree of %d (have %d)", index, size, t.size())
	}
	nodes, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, err
	}
	hs := make([][]byte, len(nodes.IDs))
	for i, id := range nodes.IDs {
		lv := t.level(int(id.Level))
		if id.Index >= uint64(len(lv)) {
			return nil, fmt.Errorf("node %d/%d is not complete", id.Level, id.Index)
		}
		hs[i] = lv[id.Index]
	}
	return nodes.Rehash(hs, rfc6962.DefaultHasher.HashChildren)
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
	for l := 0; ; l++ {
		n := uint64(len(t.level(8 * l)))
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
	hs := t.level(8 * int(r.level))[r.index*tileWidth : r.index*tileWidth+uint64(r.width)]
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
