package query

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// WriteFile streams rows into path in format: into a temporary file beside
// it, synced and renamed into place only when complete, so a failed or
// interrupted query leaves no partial result. The provenance goes into a
// sidecar path + ".provenance.json", written the same way.
func WriteFile(path string, rows *Rows, format string, opts WriteOptions) (Provenance, error) {
	defer rows.Close()
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return Provenance{}, fmt.Errorf("query: write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	// The Parquet writer closes a sink that is an io.Closer: hide Close.
	if err := Write(struct{ io.Writer }{tmp}, rows, format, opts); err != nil {
		tmp.Close()
		return Provenance{}, err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return Provenance{}, fmt.Errorf("query: write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return Provenance{}, fmt.Errorf("query: write %s: %w", path, err)
	}
	prov := rows.Provenance()
	b, err := json.MarshalIndent(prov, "", "  ")
	if err != nil {
		return Provenance{}, err
	}
	if err := writeAtomic(path+".provenance.json", append(b, '\n')); err != nil {
		return Provenance{}, err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return Provenance{}, fmt.Errorf("query: write %s: %w", path, err)
	}
	return prov, syncDir(filepath.Dir(path))
}

// writeAtomic writes data to path through a synced temporary file.
func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("query: write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("query: write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("query: write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("query: write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("query: write %s: %w", path, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("query: sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("query: sync %s: %w", dir, err)
	}
	return nil
}

// ReadDatasets decodes a JSON array of [Dataset] descriptions (the form the
// command line accepts with --datasets until the cohort catalogue supplies
// them) and validates each.
func ReadDatasets(r io.Reader) ([]Dataset, error) {
	var ds []Dataset
	dec := json.NewDecoder(io.LimitReader(r, 64<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ds); err != nil {
		return nil, fmt.Errorf("query: read datasets: %w", err)
	}
	for i, d := range ds {
		if err := d.validate(); err != nil {
			return nil, fmt.Errorf("query: read datasets: entry %d: %w", i, err)
		}
	}
	return ds, nil
}
