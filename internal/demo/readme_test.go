package demo

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// readmeBlock returns the first ```sh block after marker in the README.
func readmeBlock(t *testing.T, readme, marker string) string {
	t.Helper()
	i := strings.Index(readme, marker)
	if i < 0 {
		t.Fatalf("README has no %q", marker)
	}
	rest := readme[i+len(marker):]
	start := strings.Index(rest, "```sh\n")
	if start < 0 {
		t.Fatalf("no sh block after %q", marker)
	}
	rest = rest[start+len("```sh\n"):]
	end := strings.Index(rest, "```")
	if end < 0 {
		t.Fatalf("unterminated sh block after %q", marker)
	}
	return rest[:end]
}

// The quick start is exactly the two commands.
func TestReadmeQuickStart(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoDir(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	got := readmeBlock(t, string(b), "## Quick start")
	if want := "go run ./cmd/cohortnet demo\ngo test ./...\n"; got != want {
		t.Errorf("quick start block:\n%s\nwant:\n%s", got, want)
	}
}

// The README's offline command lines (the two-node set-up) run as written.
func TestReadmeOfflineCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the cohortnet binary")
	}
	root := repoDir(t)
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	script := readmeBlock(t, string(b), "<!-- readme-test: offline -->")
	bin := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(bin, "cohortnet"), "./cmd/cohortnet")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/cohortnet: %v\n%s", err, out)
	}
	work := t.TempDir()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"), "HOME="+work, "COHORTNET_DATA=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the README's set-up failed: %v\n%s", err, tail(string(out), 3000))
	}
	for _, f := range []string{"consortium.yaml", "hosp/consortium.yaml", "lab/consortium.yaml", "deid-a/deid-report.json", "export/truth.json"} {
		if _, err := os.Stat(filepath.Join(work, f)); err != nil {
			t.Errorf("after the set-up: %v", err)
		}
	}
	if !strings.Contains(string(out), "signed version") {
		t.Errorf("the set-up did not sign the consortium:\n%s", tail(string(out), 2000))
	}
}
