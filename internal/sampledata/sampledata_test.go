package sampledata

import (
	"os"
	"path/filepath"
	"testing"
)

func TestDirFindsTheSamples(t *testing.T) {
	p := Dir(t, "faers-2017q2")
	if _, err := os.Stat(filepath.Join(p, "DEMO17Q2.txt")); err != nil {
		t.Errorf("Dir(faers-2017q2) = %s without DEMO17Q2.txt: %v", p, err)
	}
	if _, err := os.Stat(filepath.Join(Dir(t), "SOURCES.md")); err != nil {
		t.Errorf("Dir() has no SOURCES.md: %v", err)
	}
}
