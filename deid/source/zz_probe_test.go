package source

import (
	"os"
	"path/filepath"
	"testing"
)

func FuzzProbe(f *testing.F) {
	f.Add(patientsCSV, conditionsHdr+conditionOK)
	f.Fuzz(func(t *testing.T, patients, conditions string) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "patients.csv"), []byte(patients), 0o644)
		c, err := openCSV(filepath.Join(dir, "patients.csv"), ',')
		if err == nil {
			c.close()
		}
	})
}
