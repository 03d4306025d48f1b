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
	return verifyDataset(ctx, st, manifest, true)
}

// CheckDataset is [VerifyDataset] without reading the files' bytes again:
// the manifest's signature and encoding, every file present with a kept
// chunk list equal to the manifest's digests, and each Parquet file's schema
// and row count. It is for files that entered the store through this
// package, which hashed them on the way in ([Store.Import], or a
// [Receiver], whose chunks each verify against a chain that ends in the
// CID), such as a dataset just fetched; [VerifyDataset] also finds what
// changed on disk since.
func CheckDataset(ctx context.Context, st *Store, manifest cid.Cid) ([]Problem, error) {
	return verifyDataset(ctx, st, manifest, false)
}

func verifyDataset(ctx context.Context, st *Store, manifest cid.Cid, rehash bool) ([]Problem, error) {
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
		var err error
		if rehash {
			err = st.Verify(ctx, f.CID)
		} else {
			err = st.check(f.CID)
		}
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

// check is what can be checked of a stored file without reading it: that it
// is there, with its chunk list, and of the size the list says.
func (st *Store) check(c cid.Cid) error {
	size, err := st.Stat(c)
	if err != nil {
		return err
	}
	kept, err := st.Chunks(c)
	if errors.Is(err, ErrNotFound) {
		return &CorruptError{CID: c, Check: "chunk list", Chunk: -1, Msg: "missing"}
	}
	if err != nil {
		return err
	}
	if size != kept.Size {
		return &CorruptError{CID: c, Check: "size", Chunk: -1, Msg: fmt.Sprintf("file has %d bytes, should have %d", size, kept.Size)}
	}
	return nil
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
