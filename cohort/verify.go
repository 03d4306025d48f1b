package cohort

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/ipfs/go-cid"
)

// Problem is one thing a dataset verification found wrong.
type Problem struct {
	File  string // the dataset file's path, or "manifest"
	CID   cid.Cid
	Check string // "signature", "missing", "cid", "size", "chunk list", "chunks", "schema", "rows", "read"
	Msg   string
}

func (p Problem) String() string { return p.File + ": " + p.Check + ": " + p.Msg }

// VerifyDataset checks a dataset version held in the store: the manifest's
// signature and encoding, every file rehashed against its CID and against
// the manifest's chunk digests, and each Parquet file's schema and row count
// against the manifest's. It returns the problems found, none when
// everything holds; an error only when verification itself could not run.
func VerifyDataset(ctx context.Context, st *Store, manifest cid.Cid) ([]Problem, error) {
	m, err := st.Manifest(manifest)
	if errors.Is(err, ErrNotFound) {
		return nil, err
	}
	if err != nil {
		return []Problem{{File: "manifest", CID: manifest, Check: "signature", Msg: err.Error()}}, nil
	}
	var probs []Problem
	add := func(f *File, check, format string, args ...any) {
		probs = append(probs, Problem{File: f.Path, CID: f.CID, Check: check, Msg: fmt.Sprintf(format, args...)})
	}
	schemas := map[*File]*Table{}
	for i := range m.Tables {
		for j := range m.Tables[i].Files {
			schemas[&m.Tables[i].Files[j]] = &m.Tables[i]
		}
	}
	for _, f := range m.Files() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		err := st.Verify(ctx, f.CID)
		var ce *CorruptError
		switch {
		case errors.Is(err, ErrNotFound):
			add(f, "missing", "%s is not in the store", f.CID)
			continue
		case errors.As(err, &ce):
			msg := ce.Msg
			if ce.Chunk >= 0 {
				msg = fmt.Sprintf("chunk %d: %s", ce.Chunk, msg)
			}
			add(f, ce.Check, "%s", msg)
			if ce.Check != "chunk list" {
				continue // the content is wrong: nothing more to learn from it
			}
		case err != nil:
			add(f, "read", "%v", err)
			continue
		}
		// The content matches its CID; the manifest's chunk digests must
		// describe it, or receivers would reject good chunks.
		if kept, err := st.Chunks(f.CID); err == nil && ce == nil {
			if bad := chunkDiff(f, kept); bad != "" {
				add(f, "chunks", "%s", bad)
			}
		}
		if t := schemas[f]; t != nil {
			fields, rows, err := parquetInfo(st.Path(f.CID))
			switch {
			case err != nil:
				add(f, "schema", "%v", err)
			case !slices.Equal(fields, t.Schema):
				add(f, "schema", "Parquet schema %v differs from the manifest's %v", fields, t.Schema)
			case rows != f.Rows:
				add(f, "rows", "%d rows, the manifest says %d", rows, f.Rows)
			}
		}
	}
	return probs, nil
}

// chunkDiff compares the manifest's chunk digests of f with the store's.
func chunkDiff(f *File, kept Hashes) string {
	switch {
	case f.Size != kept.Size:
		return fmt.Sprintf("manifest says %d bytes, file has %d", f.Size, kept.Size)
	case f.ChunkSize != kept.ChunkSize:
		return fmt.Sprintf("manifest chunk size %d, store uses %d", f.ChunkSize, kept.ChunkSize)
	}
	for i, d := range f.Chunks {
		if i >= len(kept.Chunks) || Digest(d) != kept.Chunks[i] {
			return fmt.Sprintf("chunk %d: the manifest's digest does not match the content", i)
		}
	}
	return ""
}
