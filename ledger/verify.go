package ledger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
)

// VerifyReport says what [VerifyLog] checked.
type VerifyReport struct {
	Origin   string
	Size     uint64
	Root     []byte
	Cosigned int          // witness cosignatures on the checkpoint
	Tiles    int          // hash tiles re-derived and compared
	Kinds    map[Kind]int // entries by kind
}

// VerifyLog checks a whole log from src: the checkpoint's signature and
// witness quorum; every entry (canonical encoding and author signature); the
// entries hash to the checkpoint's root; every hash tile the log serves equals
// the one re-derived from the entries (so every inclusion proof built from
// them verifies); and, if previous is not nil, that previous (a checkpoint
// seen before) is a prefix of this log. The first problem found is returned,
// naming the entry, tile or checkpoint.
func VerifyLog(ctx context.Context, src Source, v Verifiers, previous []byte) (*VerifyReport, error) {
	raw, err := src.ReadCheckpoint(ctx)
	if err != nil {
		return nil, fmt.Errorf("ledger: verify: read checkpoint: %w", err)
	}
	cp, cosigned, err := v.OpenCheckpoint(raw)
	if err != nil {
		return nil, err
	}
	r := &VerifyReport{Origin: cp.Origin, Size: cp.Size, Root: cp.Hash, Cosigned: cosigned, Kinds: map[Kind]int{}}
	t := newTree()
	var i uint64
	for enc, err := range readEntries(ctx, src.ReadEntryBundle, 0, cp.Size, cp.Size) {
		if err != nil {
			return r, fmt.Errorf("ledger: verify: %w", err)
		}
		e, err := Unmarshal(enc)
		if err != nil {
			return r, fmt.Errorf("ledger: verify: entry %d: %w", i, err)
		}
		if err := e.Verify(); err != nil {
			return r, fmt.Errorf("ledger: verify: entry %d: %w", i, err)
		}
		r.Kinds[e.Kind]++
		t.append(LeafHash(enc))
		i++
	}
	if i != cp.Size {
		return r, fmt.Errorf("ledger: verify: the log has %d entries, its checkpoint says %d", i, cp.Size)
	}
	if !bytes.Equal(t.root(), cp.Hash) {
		return r, fmt.Errorf("%w: the entries do not hash to the checkpoint's root", ErrInclusion)
	}
	for _, tr := range t.tiles(0) {
		p := uint8(0)
		if tr.width < tileWidth {
			p = uint8(tr.width)
		}
		got, err := src.ReadTile(ctx, tr.level, tr.index, p)
		if errors.Is(err, os.ErrNotExist) {
			return r, fmt.Errorf("ledger: verify: tile %s is missing", tr.path())
		}
		if err != nil {
			return r, fmt.Errorf("ledger: verify: %w", err)
		}
		want := t.tileData(tr)
		if p > 0 && len(got) > len(want) {
			// A full tile fetched for a collected partial one holds more
			// hashes; the prefix must match.
			got = got[:len(want)]
		}
		if !bytes.Equal(got, want) {
			return r, fmt.Errorf("%w: tile %s differs from the hashes of the entries", ErrInclusion, tr.path())
		}
		r.Tiles++
	}
	if previous != nil {
		pc, _, err := v.OpenCheckpoint(previous)
		if err != nil {
			return r, fmt.Errorf("ledger: verify: the previous checkpoint: %w", err)
		}
		if pc.Size > cp.Size {
			return r, fmt.Errorf("%w: the log went back from size %d to %d", ErrInconsistent, pc.Size, cp.Size)
		}
		if !bytes.Equal(t.rootAt(pc.Size), pc.Hash) {
			return r, fmt.Errorf("%w: the checkpoint of size %d seen before is not a prefix of this log", ErrInconsistent, pc.Size)
		}
	}
	return r, nil
}
