// Package notebooks holds the checks of the notebooks in notebooks/ that
// need no kernel: what their code and prose must say. check.sh executes
// them.
package notebooks

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps/guidance"
)

// cell is a notebook cell: its kind ("code", "markdown") and its source.
type cell struct {
	kind, source string
}

// readNotebook returns the cells of the notebook at path.
func readNotebook(path string) ([]cell, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading notebook: %w", err)
	}
	var nb struct {
		Cells []struct {
			CellType string          `json:"cell_type"`
			Source   json.RawMessage `json:"source"`
		} `json:"cells"`
	}
	if err := json.Unmarshal(data, &nb); err != nil {
		return nil, fmt.Errorf("notebook %s: %w", path, err)
	}
	cells := make([]cell, len(nb.Cells))
	for i, c := range nb.Cells {
		// nbformat allows the source as one string or as a list of lines.
		var lines []string
		if err := json.Unmarshal(c.Source, &lines); err != nil {
			var s string
			if err := json.Unmarshal(c.Source, &s); err != nil {
				return nil, fmt.Errorf("notebook %s: cell %d: source is neither a string nor a list of lines", path, i)
			}
			lines = []string{s}
		}
		cells[i] = cell{kind: c.CellType, source: strings.Join(lines, "")}
	}
	return cells, nil
}

// notebooks returns the paths of the notebooks in notebooks/.
func notebooks(t *testing.T) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("..", "..", "notebooks", "*.ipynb"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatal("no notebooks in notebooks/")
	}
	return paths
}

// displays matches a call that sends an output to the notebook: GoNB's
// display functions and the notebooks' helpers around them.
var displays = regexp.MustCompile(`\bgonbui\.(Display\w*|SendData)\(|\bshow(SVG)?\(`)

// lastStatement returns the last line of code that is not blank and not a
// comment.
func lastStatement(code string) string {
	lines := strings.Split(code, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if l != "" && !strings.HasPrefix(l, "//") {
			return l
		}
	}
	return ""
}

// TestDisplayingCellsSync checks that every cell program (the code after
// a cell's %% line) that displays something ends with gonbui.Sync(): GoNB
// v0.11.1 closes its end of the display pipe as soon as the program exits,
// dropping the outputs it has not read yet, so that on a loaded machine a
// cell loses its last figure or table.
func TestDisplayingCellsSync(t *testing.T) {
	for _, path := range notebooks(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			cells, err := readNotebook(path)
			if err != nil {
				t.Fatal(err)
			}
			for i, c := range cells {
				_, program, ok := strings.Cut("\n"+c.source, "\n%%\n")
				if c.kind != "code" || !ok || !displays.MatchString(program) {
					continue
				}
				if last := lastStatement(program); last != "gonbui.Sync()" {
					t.Errorf("cell %d displays outputs and ends with %q, not gonbui.Sync(): its last outputs can be lost", i, last)
				}
			}
		})
	}
}

// TestGPUInstructionsTagXLA checks that a notebook whose prose says how to
// run on a GPU (GOMLX_BACKEND=xla:…) also says to build with the xla tag:
// without it the toolkit is built without XLA and backend.New refuses the
// setting.
func TestGPUInstructionsTagXLA(t *testing.T) {
	for _, path := range notebooks(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			cells, err := readNotebook(path)
			if err != nil {
				t.Fatal(err)
			}
			var prose strings.Builder
			for _, c := range cells {
				if c.kind == "markdown" {
					prose.WriteString(c.source)
				}
			}
			if p := prose.String(); strings.Contains(p, "GOMLX_BACKEND=xla") && !strings.Contains(p, "%goflags -tags=xla") {
				t.Errorf("the prose sets GOMLX_BACKEND=xla for a GPU but does not say to build the cells with %s", "%goflags -tags=xla")
			}
		})
	}
}

// methodList matches the ablation's setting of the methods it runs.
var methodList = regexp.MustCompile(`(?m)^\s*methods\s*=\s*\[\]string\{([^}]*)\}`)

// TestAblationRunsEveryMethod checks that the ablation notebook, which
// says it runs every guidance method of the toolkit, runs each of
// guidance.Names() but unconditional (the prior alone, no guidance), and
// nothing else.
func TestAblationRunsEveryMethod(t *testing.T) {
	cells, err := readNotebook(filepath.Join("..", "..", "notebooks", "ablation.ipynb"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range cells {
		m := methodList.FindStringSubmatch(c.source)
		if c.kind != "code" || m == nil {
			continue
		}
		for _, q := range strings.Split(m[1], ",") {
			name, err := strconv.Unquote(strings.TrimSpace(q))
			if err != nil {
				t.Fatalf("methods setting %q: %v", m[0], err)
			}
			got = append(got, name)
		}
		break
	}
	if got == nil {
		t.Fatal("no code cell sets methods = []string{...}")
	}
	want := slices.DeleteFunc(guidance.Names(), func(n string) bool { return n == "unconditional" })
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("the ablation runs %v, want every guidance method: %v", got, want)
	}
}
