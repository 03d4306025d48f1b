package demo

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// repoDir walks up from the package directory to the repository root (the
// directory with go.mod).
func repoDir(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the package directory")
		}
		dir = parent
	}
}

var notebooks = []string{"01-researcher-quickstart.ipynb", "02-adverse-event-surveillance.ipynb"}

type notebook struct {
	Cells []struct {
		CellType       string            `json:"cell_type"`
		ExecutionCount *int              `json:"execution_count"`
		Outputs        []json.RawMessage `json:"outputs"`
		Source         any               `json:"source"`
	} `json:"cells"`
}

func readNotebook(t *testing.T, path string) notebook {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var nb notebook
	if err := json.Unmarshal(b, &nb); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return nb
}

// The notebooks are committed without rendered outputs.
func TestNotebooksHaveNoOutputs(t *testing.T) {
	for _, name := range notebooks {
		nb := readNotebook(t, filepath.Join(repoDir(t), "notebooks", name))
		code := 0
		for i, c := range nb.Cells {
			if c.CellType != "code" {
				continue
			}
			code++
			if len(c.Outputs) > 0 || c.ExecutionCount != nil {
				t.Errorf("%s cell %d has rendered outputs: clear them before committing", name, i)
			}
		}
		if code < 4 {
			t.Errorf("%s has %d code cells", name, code)
		}
	}
}

// Both notebooks run to the end against the demo's API, as a researcher
// would run them, with jupyter nbconvert; any cell that raises fails.
func TestNotebooksExecute(t *testing.T) {
	jupyter, err := exec.LookPath("jupyter")
	if err == nil {
		err = exec.Command(jupyter, "nbconvert", "--version").Run()
	}
	if err != nil {
		t.Skip("no jupyter nbconvert: install it to run the notebooks (Debian: apt-get install jupyter-nbconvert python3-ipykernel python3-pandas python3-matplotlib python3-requests; .ci/run does)")
	}
	s := serving(t)
	dir := filepath.Join(repoDir(t), "notebooks")
	out := t.TempDir()
	for _, name := range notebooks {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, jupyter, "nbconvert", "--to", "notebook", "--execute",
				"--ExecutePreprocessor.timeout=240", "--output-dir", out, filepath.Join(dir, name))
			cmd.Dir = dir // the helper module sits beside the notebooks
			cmd.Env = append(os.Environ(), "COHORTNET_API="+s.URL, "COHORTNET_TOKEN="+s.Token,
				"PYDEVD_DISABLE_FILE_VALIDATION=1", "PYTHONDONTWRITEBYTECODE=1", "MPLBACKEND=module://matplotlib_inline.backend_inline")
			b, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("nbconvert --execute %s: %v\n%s", name, err, tail(string(b), 3000))
			}
			nb := readNotebook(t, filepath.Join(out, name))
			images := 0
			for i, c := range nb.Cells {
				for _, o := range c.Outputs {
					var out struct {
						OutputType string         `json:"output_type"`
						Data       map[string]any `json:"data"`
						Ename      string         `json:"ename"`
					}
					if err := json.Unmarshal(o, &out); err != nil {
						t.Fatal(err)
					}
					if out.OutputType == "error" {
						t.Errorf("cell %d raised %s", i, out.Ename)
					}
					if out.Data["image/png"] != nil {
						images++
					}
				}
			}
			if images < 2 {
				t.Errorf("%s drew %d plots, want 2", name, images)
			}
		})
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
