//go:build !linux

package cohort

import "os"

// startWriteback is a no-op where sync_file_range does not exist.
func startWriteback(*os.File, int64, int64) {}

// openDirect is unavailable here: imports write through the page cache.
func openDirect(string) (*os.File, error) { return nil, os.ErrInvalid }
