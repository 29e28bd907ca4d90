// Package notebooks holds the checks of the notebooks in notebooks/ that
// need no kernel: what their code and prose must say. check.sh executes
// them.
package notebooks

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
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

// TestNotebookCommands runs the cadps commands the notebooks' prose gives,
// from the module root with the cadps command built from this checkout,
// and checks that they print what the notebooks say they do: the PSNRs
// reconstruction-process quotes for other step sizes, and the rows of
// the tables the notebooks' saved outputs show.
func TestNotebookCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("builds cadps and runs restorations of 100 steps")
	}
	const (
		restore = "go run ./scripts/cadps restore -task super_resolution:factor=4 -method cadps -steps 100 -seed 2 -scale 3 -out out/sneaker-sr4 cadps/prior/small/testimages/7-sneaker.png"
		gmm     = "go run ./scripts/cadps gmm -method dps -dim 8 -dim-y 2 -seed 8 -samples 500 -steps 100 -scale 0.3 -projections 200"
	)
	cases := []struct {
		notebook string
		command  string // as the prose gives it
		change   string // what the prose says to change in it: "add F" or "leave out F" ("" for none)
		prose    string // what the prose says of the run
		printed  string // what the command prints for it ("" for a cadps gmm row)
		saved    bool   // whether the saved outputs show it too
	}{
		{"reconstruction-process.ipynb", restore, "", "ζ = 3 gives 17.67 dB", "PSNR 17.67 dB", false},
		{"reconstruction-process.ipynb", restore, "add `-ramp 0.1:0.5`", "17.73 dB", "PSNR 17.73 dB", false},
		{"reconstruction-process.ipynb", restore, "leave out `-scale 3`", "against the 15.66 dB below", "PSNR 15.66 dB", true},
		{"posterior-fidelity.ipynb", gmm, "", "for the DPS row", "", true},
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "cadps")
	build := exec.Command("go", "build", "-o", bin, "./scripts/cadps")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building cadps: %v\n%s", err, out)
	}
	for _, c := range cases {
		t.Run(c.notebook+": "+c.prose, func(t *testing.T) {
			path := filepath.Join(root, "notebooks", c.notebook)
			cells, err := readNotebook(path)
			if err != nil {
				t.Fatal(err)
			}
			var prose strings.Builder
			for _, cell := range cells {
				if cell.kind == "markdown" {
					prose.WriteString(cell.source)
				}
			}
			for _, s := range []string{"`" + c.command + "`", c.prose, c.change} {
				if !strings.Contains(prose.String(), s) {
					t.Fatalf("the prose does not say %q", s)
				}
			}
			command := c.command
			if flag, ok := strings.CutPrefix(c.change, "add "); ok {
				command += " " + strings.Trim(flag, "`")
			} else if flag, ok := strings.CutPrefix(c.change, "leave out "); ok {
				command = strings.Replace(command, " "+strings.Trim(flag, "`")+" ", " ", 1)
			}
			command = strings.Replace(command, " -out out/", " -out "+tmp+"/", 1)
			run := exec.Command(bin, strings.Fields(strings.TrimPrefix(command, "go run ./scripts/cadps "))...)
			run.Dir = root
			out, err := run.Output()
			if err != nil {
				t.Fatalf("%s: %v", command, err)
			}
			want := c.printed
			if want == "" {
				if want, err = gmmRow(out); err != nil {
					t.Fatal(err)
				}
			} else if !strings.Contains(string(out), want) {
				t.Errorf("%s printed %q, not %q as the prose says (%q)", command, out, want, c.prose)
			}
			if !c.saved {
				return
			}
			saved, err := savedText(path)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(saved, want) {
				t.Errorf("%s gives %q, which the saved outputs do not show", command, want)
			}
		})
	}
}

// gmmRow returns the posterior-fidelity notebook's table row (method, ζ,
// SW₂, energy distance, weight TV) for what cadps gmm printed.
func gmmRow(printed []byte) (string, error) {
	var r struct {
		Method            string  `json:"method"`
		Scale             float64 `json:"scale"`
		SlicedWasserstein float64 `json:"sliced_wasserstein"`
		EnergyDistance    float64 `json:"energy_distance"`
		WeightTV          float64 `json:"weight_tv"`
	}
	if err := json.Unmarshal(printed, &r); err != nil {
		return "", fmt.Errorf("reading the output of cadps gmm: %w", err)
	}
	return fmt.Sprintf("| %s | %g | %.3f | %.3f | %.3f |", r.Method, r.Scale, r.SlicedWasserstein, r.EnergyDistance, r.WeightTV), nil
}

// savedText returns the text outputs of the notebook at path, joined.
func savedText(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading notebook: %w", err)
	}
	var nb struct {
		Cells []struct {
			Outputs []struct {
				Text json.RawMessage            `json:"text"`
				Data map[string]json.RawMessage `json:"data"`
			} `json:"outputs"`
		} `json:"cells"`
	}
	if err := json.Unmarshal(data, &nb); err != nil {
		return "", fmt.Errorf("notebook %s: %w", path, err)
	}
	var sb strings.Builder
	add := func(raw json.RawMessage) {
		var lines []string
		if json.Unmarshal(raw, &lines) != nil {
			var s string
			_ = json.Unmarshal(raw, &s)
			lines = []string{s}
		}
		sb.WriteString(strings.Join(lines, "") + "\n")
	}
	for _, c := range nb.Cells {
		for _, o := range c.Outputs {
			if o.Text != nil {
				add(o.Text)
			}
			for _, k := range []string{"text/plain", "text/markdown"} {
				if v, ok := o.Data[k]; ok {
					add(v)
				}
			}
		}
	}
	return sb.String(), nil
}
