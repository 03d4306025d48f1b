// Package sampledata finds the project's real sample files for tests: the
// Synthea, FHIR, OMOP and FAERS exports in shared/data beside the repository
// (see its SOURCES.md). It holds no data itself and nothing outside tests
// uses it.
package sampledata

import (
	"os"
	"path/filepath"
	"testing"
)

// Dir returns shared/data, or a folder in it, found by walking up from the
// test's package directory. Without it the test is skipped with a message:
// CI and every checkout beside shared/ have it.
func Dir(t testing.TB, sub ...string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	rel := filepath.Join(append([]string{"shared", "data"}, sub...)...)
	for {
		p := filepath.Join(dir, rel)
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skipf("%s not found beside the repository", filepath.ToSlash(rel))
		}
		dir = parent
	}
}
