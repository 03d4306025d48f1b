package deid

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/cohortnet/cohortnet/internal/datadir"
)

// surrogates maps source ids to random surrogate ids (safe-harbor mode). The
// mapping is kept in the data directory (never in the dataset), so a second
// run over the same export gives the same ids. File format: one mapping per
// line, the Go-quoted source id, a tab, the surrogate.
type surrogates struct {
	mu    sync.Mutex // tables are written at the same time
	path  string
	m     map[string]string
	used  map[string]bool
	dirty bool
}

func loadSurrogates(dir, domain string) (*surrogates, error) {
	s := &surrogates{path: filepath.Join(dir, domain+".map"), m: map[string]string{}, used: map[string]bool{}}
	b, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("surrogate ids: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		q, sur, ok := strings.Cut(sc.Text(), "\t")
		src, err := strconv.Unquote(q)
		if !ok || err != nil || sur == "" {
			return nil, fmt.Errorf("surrogate ids: %s line %d: damaged mapping", s.path, line)
		}
		s.m[src] = sur
		s.used[sur] = true
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("surrogate ids: %s: %w", s.path, err)
	}
	return s, nil
}

// get returns the surrogate of a source id, making a new random one if the
// id has none.
func (s *surrogates) get(src string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.m[src]; ok {
		return v, nil
	}
	var b [pseudonymBytes]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			return "", fmt.Errorf("surrogate ids: %w", err)
		}
		v := pseudonymEncoding.EncodeToString(b[:])
		if !s.used[v] {
			s.m[string([]byte(src))] = v
			s.used[v] = true
			s.dirty = true
			return v, nil
		}
	}
}

// save writes the mapping atomically when it grew.
func (s *surrogates) save() error {
	if !s.dirty {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(s.path), 0o700); err != nil {
		return fmt.Errorf("surrogate ids: %w", err)
	}
	keys := make([]string, 0, len(s.m))
	for k := range s.m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b bytes.Buffer
	for _, k := range keys {
		b.WriteString(strconv.Quote(k))
		b.WriteByte('\t')
		b.WriteString(s.m[k])
		b.WriteByte('\n')
	}
	if err := datadir.WriteFileAtomic(s.path, b.Bytes(), 0o600); err != nil {
		return fmt.Errorf("surrogate ids: %w", err)
	}
	s.dirty = false
	return nil
}
