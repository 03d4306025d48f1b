package source

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type blockLine struct {
	line int
	text string
}

// scanLines is the reference: bufio.Scanner's lines, blank ones skipped.
func scanLines(data []byte) []blockLine {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 1024), maxLine)
	var out []blockLine
	for n := 1; sc.Scan(); n++ {
		if len(trimSpace(sc.Bytes())) > 0 {
			out = append(out, blockLine{n, sc.Text()})
		}
	}
	return out
}

// blockLines reads data through ndjsonBlocks with the given block size.
func blockLines(t testing.TB, data []byte, size int) []blockLine {
	path := filepath.Join(t.TempDir(), "x.ndjson")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := openBlocks(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.close()
	b.size = size
	var out []blockLine
	for {
		var c rawChunk
		ok, err := b.next(&c)
		if err != nil {
			t.Fatal(err)
		}
		for i, raw := range c.raws {
			if c.locs[i].path != path || c.locs[i].entry != -1 {
				t.Fatalf("loc %+v", c.locs[i])
			}
			out = append(out, blockLine{c.locs[i].line, string(raw)})
		}
		if !ok {
			return out
		}
	}
}

// NDJSON read in blocks gives the lines, and line numbers, a line scanner
// gives, wherever the block boundaries fall: lines longer than a block,
// CRLF, blank lines, no newline at the end.
func TestNDJSONBlocksMatchScanner(t *testing.T) {
	long := `{"resourceType":"Patient","id":"` + strings.Repeat("x", 300) + `"}`
	cases := map[string]string{
		"empty":           "",
		"one":             `{"a":1}`,
		"one newline":     "{\"a\":1}\n",
		"crlf":            "{\"a\":1}\r\n{\"b\":2}\r\n",
		"blank lines":     "\n\n{\"a\":1}\n   \n\t\n{\"b\":2}\n\n",
		"long lines":      long + "\n" + long + "\n{\"c\":3}\n" + long,
		"many short":      strings.Repeat("{\"id\":\"p\"}\n", 200),
		"cr only at end":  "{\"a\":1}\r",
		"mixed long crlf": strings.Repeat(long+"\r\n\r\n{\"x\":0}\n", 7),
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			want := scanLines([]byte(in))
			for _, size := range []int{1, 7, 64, 100, 4096, 0} {
				got := blockLines(t, []byte(in), size)
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("block size %d: %d lines %v, want %d %v", size, len(got), clip(fmt.Sprint(got)), len(want), clip(fmt.Sprint(want)))
				}
			}
		})
	}
}

// FuzzNDJSONBlocks: any bytes, any block size, the lines of a scanner.
func FuzzNDJSONBlocks(f *testing.F) {
	f.Add([]byte("{\"a\":1}\n\n{\"b\":2}\r\n{\"c\":"), uint8(3))
	f.Add([]byte("\r\n\r\n\n"), uint8(1))
	f.Add([]byte(strings.Repeat("x", 70)+"\ny"), uint8(16))
	f.Fuzz(func(t *testing.T, data []byte, size uint8) {
		want := scanLines(data)
		got := blockLines(t, data, int(size)+1)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("block size %d: %+v, want %+v", int(size)+1, got, want)
		}
	})
}

// Files of many blocks, read by several workers: the rows come in input
// order, and the error is the first bad resource's, however late or early
// the workers finish; in the patient index as in a table.
func TestNDJSONManyBlocksFirstError(t *testing.T) {
	const n = 12000 // about 2.5 MB of conditions, 2 MB of patients: several blocks each
	var pats, conds strings.Builder
	for i := range n {
		fmt.Fprintf(&pats, `{"resourceType":"Patient","id":"p%d","birthDate":"1970-01-01","text":{"div":"%s"}}`+"\n", i, strings.Repeat("t", 100))
		fmt.Fprintf(&conds, `{"resourceType":"Condition","subject":{"reference":"Patient/p%d"},"code":{"text":"c%d","coding":[{"system":"http://snomed.info/sct","code":"%d"}]},"onsetDateTime":"2020-01-01","note":"%s"}`+"\n",
			i, i, i, strings.Repeat("n", 100))
	}
	good := writeFiles(t, map[string]string{"Patient.000.ndjson": pats.String(), "Condition.000.ndjson": conds.String()})
	e := openT(t, good, FormatFHIR)
	rows := readTable(t, e, Condition)
	if len(rows) != n {
		t.Fatalf("%d conditions, want %d", len(rows), n)
	}
	for i, r := range rows {
		if want := fmt.Sprintf("p%d", i); r["source_person_id"] != want {
			t.Fatalf("row %d is %v's, want %s's: order lost", i, r["source_person_id"], want)
		}
	}

	lines := strings.SplitAfter(conds.String(), "\n")
	lines[9000] = `{"resourceType":"Condition","subject":{"reference":"Patient/zz"}}` + "\n"
	lines[11000] = `{"resourceType":"Condition"}` + "\n"
	plines := strings.SplitAfter(pats.String(), "\n")
	for name, tc := range map[string]struct {
		files map[string]string
		file  string
		line  int
		want  error
	}{
		"table":         {map[string]string{"Patient.000.ndjson": pats.String(), "Condition.000.ndjson": strings.Join(lines, "")}, "Condition.000.ndjson", 9001, ErrUnknownPatient},
		"patient index": {map[string]string{"Patient.000.ndjson": strings.Join(plines[:11000], "") + `{"resourceType":"Patient"}` + "\n" + strings.Join(plines[11000:], ""), "Condition.000.ndjson": strings.Join(lines, "")}, "Patient.000.ndjson", 11001, ErrMissingField},
	} {
		t.Run(name, func(t *testing.T) {
			err := firstErr(t, writeFiles(t, tc.files), FormatFHIR, Condition)
			var pe *ParseError
			if !errors.As(err, &pe) || !errors.Is(err, tc.want) || filepath.Base(pe.File) != tc.file || pe.Line != tc.line {
				t.Fatalf("error %v, want %v at %s line %d", err, tc.want, tc.file, tc.line)
			}
		})
	}
}
