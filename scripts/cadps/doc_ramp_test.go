package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// rampTask matches a task's ramp claims in docs/cli.md's -scale row:
// (`TASK`, ζ = Z: CLAIMS).
var rampTask = regexp.MustCompile("\\(`([^`]+)`, ζ = ([0-9.]+): ([^)]*)\\)")

// rampClaim matches one claim: "A → B dB at N steps" (DPS's PSNR without
// and with the ramp) or "A dB at N steps either way".
var rampClaim = regexp.MustCompile(`([0-9.]+)(?: → ([0-9.]+))? dB at ([0-9]+) steps( either way)?`)

// TestDocumentedRampClaims checks what restore's -scale row in docs/cli.md says
// `-ramp 0.1:0.5` does for each task against the step-size table of
// docs/results.md: each number is DPS's PSNR there without and with the
// ramp at that task, step count and ζ; a task the ramp leaves unchanged
// says "either way", and the row claims no task is best with the ramp.
func TestDocumentedRampClaims(t *testing.T) {
	root := filepath.Join("..", "..")
	results, err := os.ReadFile(filepath.Join(root, "docs", "results.md"))
	if err != nil {
		t.Fatal(err)
	}
	// dps[task|steps|ζ|ramp] is the DPS cell's PSNR in the step-size table.
	dps := map[string]string{}
	var header []string
	for _, line := range strings.Split(string(results), "\n") {
		cells := tableCells(line)
		switch {
		case cells == nil:
			header = nil
		case len(cells) > 6 && cells[0] == "task" && cells[2] == "ζ" && cells[3] == "ramp" && cells[6] == "DPS":
			header = cells
		case header != nil && len(cells) == len(header):
			psnr, _, _ := strings.Cut(cells[6], " ")
			dps[strings.Trim(cells[0], "`")+"|"+cells[1]+"|"+cells[2]+"|"+strings.Trim(cells[3], "`")] = psnr
		}
	}
	cli, err := os.ReadFile(filepath.Join(root, "docs", "cli.md"))
	if err != nil {
		t.Fatal(err)
	}
	var row string
	for _, line := range strings.Split(string(cli), "\n") {
		if strings.HasPrefix(line, "| `-scale ζ` | the step size; default") {
			row = line
		}
	}
	if strings.Contains(row, "best with") {
		t.Errorf("docs/cli.md's -scale row says a task is best with a ramp: %s", row)
	}
	tasks := map[string]bool{}
	for _, m := range rampTask.FindAllStringSubmatch(row, -1) {
		task, zeta := m[1], m[2]
		claims := rampClaim.FindAllStringSubmatch(m[3], -1)
		for _, c := range claims {
			without, with := c[1], c[2]
			if c[4] != "" {
				with = without
			}
			key := task + "|" + c[3] + "|" + zeta + "|"
			if got := [2]string{dps[key+"–"], dps[key+"0.1:0.5"]}; got != [2]string{without, with} || with == "" {
				t.Errorf("docs/cli.md: %s at ζ = %s says %q; docs/results.md has DPS %s without the ramp and %s with 0.1:0.5", task, zeta, c[0], got[0], got[1])
			}
			if (without == with) != (c[4] != "") {
				t.Errorf("docs/cli.md: %s at ζ = %s: %q, want \"either way\" exactly where the ramp changes nothing", task, zeta, c[0])
			}
		}
		tasks[task] = len(claims) > 0
	}
	for _, task := range []string{"sr:factor=2", "gaussian_blur:kernel_size=9,intensity=1", "inpaint_box:size=12"} {
		if !tasks[task] {
			t.Errorf("docs/cli.md's -scale row says nothing measured of the ramp on %s", task)
		}
	}
}
