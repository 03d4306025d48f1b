package source

import (
	"bufio"
	"bytes"
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
