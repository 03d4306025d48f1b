package deid

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Hierarchy is a generalization hierarchy of one attribute: for each original
// value, its generalization at every level (level 0 is the value itself, the
// last level usually "*"). Generalizing two values alike at one level means
// alike at every higher level too, so generalization is monotone.
type Hierarchy struct {
	levels map[string][]string
	height int
	order  []string // values in file order
}

// Height is the number of levels, including level 0.
func (h *Hierarchy) Height() int { return h.height }

// Generalize returns value at level, and false when the hierarchy does not
// know the value.
func (h *Hierarchy) Generalize(value string, level int) (string, bool) {
	l, ok := h.levels[value]
	if !ok || level < 0 || level >= len(l) {
		return "", false
	}
	return l[level], true
}

// ErrHierarchy is wrapped by every error about a hierarchy's content; the
// user must fix the hierarchy file.
var ErrHierarchy = errors.New("invalid hierarchy")

// maxHierarchyHeight bounds the levels of one hierarchy.
const maxHierarchyHeight = 64

// ParseHierarchy reads a hierarchy in ARX's CSV format: one row per original
// value, fields separated by ';', field i the value at level i. Every row has
// the same number of fields; values are unique; two values that generalize
// alike at one level must generalize alike at every higher level. Fields may
// be double-quoted (ARX quotes fields holding ';').
func ParseHierarchy(r io.Reader) (*Hierarchy, error) {
	h := &Hierarchy{levels: map[string][]string{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	// up[level][label] is the label at level+1 seen for label at level.
	var up []map[string]string
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if line == 1 {
			text = strings.TrimPrefix(text, "\ufeff")
		}
		text = strings.TrimRight(text, "\r")
		if strings.TrimSpace(text) == "" {
			continue
		}
		if !utf8.ValidString(text) {
			return nil, fmt.Errorf("%w: line %d: not UTF-8", ErrHierarchy, line)
		}
		fields, err := splitARX(text)
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: %v", ErrHierarchy, line, err)
		}
		if h.height == 0 {
			if len(fields) > maxHierarchyHeight {
				return nil, fmt.Errorf("%w: line %d: %d levels, at most %d", ErrHierarchy, line, len(fields), maxHierarchyHeight)
			}
			h.height = len(fields)
			up = make([]map[string]string, h.height)
			for i := range up {
				up[i] = map[string]string{}
			}
		} else if len(fields) != h.height {
			return nil, fmt.Errorf("%w: line %d: %d fields, the first row has %d", ErrHierarchy, line, len(fields), h.height)
		}
		v := fields[0]
		if _, dup := h.levels[v]; dup {
			return nil, fmt.Errorf("%w: line %d: value %q listed twice", ErrHierarchy, line, v)
		}
		for i := 0; i+1 < len(fields); i++ {
			if prev, ok := up[i][fields[i]]; ok && prev != fields[i+1] {
				if i == 0 {
					continue // unreachable: level-0 values are unique
				}
				return nil, fmt.Errorf("%w: line %d: %q at level %d generalizes to %q, elsewhere to %q (not a hierarchy)", ErrHierarchy, line, fields[i], i, fields[i+1], prev)
			}
			up[i][fields[i]] = fields[i+1]
		}
		h.levels[v] = fields
		h.order = append(h.order, v)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: line %d: %v", ErrHierarchy, line+1, err)
	}
	if h.height == 0 {
		return nil, fmt.Errorf("%w: no rows", ErrHierarchy)
	}
	return h, nil
}

// splitARX splits one line at ';', honouring double quotes ("" inside a
// quoted field is one quote).
func splitARX(s string) ([]string, error) {
	var out []string
	var b strings.Builder
	inQ := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case inQ && c == '"' && i+1 < len(s) && s[i+1] == '"':
			b.WriteByte('"')
			i++
		case c == '"' && (inQ || b.Len() == 0):
			inQ = !inQ
		case c == ';' && !inQ:
			out = append(out, b.String())
			b.Reset()
		default:
			b.WriteByte(c)
		}
	}
	if inQ {
		return nil, errors.New("unterminated quote")
	}
	return append(out, b.String()), nil
}

// Marshal writes the hierarchy in ARX's CSV format, values in their original
// order.
func (h *Hierarchy) Marshal() []byte {
	var b bytes.Buffer
	for _, v := range h.order {
		for i, f := range h.levels[v] {
			if i > 0 {
				b.WriteByte(';')
			}
			if f == "" || strings.ContainsAny(f, "\";") || f != strings.TrimSpace(f) {
				b.WriteString(`"` + strings.ReplaceAll(f, `"`, `""`) + `"`)
			} else {
				b.WriteString(f)
			}
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// LoadHierarchy reads an ARX hierarchy file.
func LoadHierarchy(path string) (*Hierarchy, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("hierarchy: %w", err)
	}
	defer f.Close()
	h, err := ParseHierarchy(f)
	if err != nil {
		return nil, fmt.Errorf("hierarchy %s: %w", path, err)
	}
	return h, nil
}

// NewHierarchy builds a hierarchy from rows (value, level 1, level 2...),
// checked as [ParseHierarchy] checks a file.
func NewHierarchy(rows [][]string) (*Hierarchy, error) {
	var b bytes.Buffer
	for _, r := range rows {
		for i, f := range r {
			if i > 0 {
				b.WriteByte(';')
			}
			b.WriteString(`"` + strings.ReplaceAll(f, `"`, `""`) + `"`)
		}
		b.WriteByte('\n')
	}
	return ParseHierarchy(&b)
}

// builtinHierarchy returns the built-in hierarchy of a person quasi-identifier
// over the values seen. Year of birth: the year, 5-, 10- and 20-year bands,
// "*". Geography (value "zip3|state"): ZIP3 with state, state only, "*".
// Other attributes: the value, "*".
func builtinHierarchy(qi string, values []string) *Hierarchy {
	h := &Hierarchy{levels: map[string][]string{}}
	for _, v := range values {
		var l []string
		switch qi {
		case "year_of_birth":
			y, err := strconv.Atoi(v)
			if err != nil {
				l = []string{v, v, v, v, "*"}
				break
			}
			band := func(w int) string {
				lo := y - ((y%w)+w)%w
				return strconv.Itoa(lo) + "-" + strconv.Itoa(lo+w-1)
			}
			l = []string{v, band(5), band(10), band(20), "*"}
		case "zip3":
			_, state, _ := strings.Cut(v, "|")
			l = []string{v, "|" + state, "*"}
		default:
			l = []string{v, "*"}
		}
		h.levels[v] = l
		h.order = append(h.order, v)
		h.height = len(l)
	}
	if h.height == 0 {
		switch qi {
		case "year_of_birth":
			h.height = 5
		case "zip3":
			h.height = 3
		default:
			h.height = 2
		}
	}
	return h
}
