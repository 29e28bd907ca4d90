package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps/runs"
)

// TestPaired runs cadps paired on the stored evaluation folders: the
// documented paired differences come out, and bad input is refused.
func TestPaired(t *testing.T) {
	const (
		dps   = "../../docs/small-prior-quality:dps"
		other = "../../docs/small-prior-quality-ddrm-diffpir-daps"
	)
	var out bytes.Buffer
	if err := runPaired([]string{"-base", dps, other + ":ddrm", other + ":daps"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| task | ddrm − dps | daps − dps |",
		"| `inpaint_box:size=12` | +3.82 ± 0.38 (85/100) | +4.31 ± 0.32 (92/100) |",
		"| `sr:factor=2` | +7.61 ± 0.26 (100/100) | +7.12 ± 0.26 (100/100) |",
		"| `gaussian_blur:kernel_size=9,intensity=1` | +8.71 ± 0.22 (100/100) | +7.24 ± 0.19 (100/100) |",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if err := runPaired([]string{"-metric", "ssim", "-base", dps, "../../docs/small-prior-quality-100steps:dps"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "small-prior-quality-100steps:dps − small-prior-quality:dps") {
		t.Errorf("sides sharing a method are not told apart by their folders:\n%s", out.String())
	}

	// A copy of the base whose first baseline differs: other measurements.
	moved := t.TempDir()
	data, err := os.ReadFile("../../docs/small-prior-quality/results.csv")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitN(string(data), "\n", 3)
	lines[1] = strings.Replace(lines[1], ",21.706062,", ",23.706062,", 1)
	if err := os.WriteFile(filepath.Join(moved, "results.csv"), []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		args  []string
		usage bool
		want  string
	}{
		{"no base", []string{other + ":ddrm"}, true, "-base FOLDER:METHOD is required"},
		{"nothing to compare", []string{"-base", dps}, true, "at least one FOLDER:METHOD"},
		{"no method", []string{"-base", dps, other}, true, "want FOLDER:METHOD"},
		{"the base against itself", []string{"-base", dps, "../../docs/./small-prior-quality:dps"}, true, "small-prior-quality:dps is the base: compared with itself it differs by 0 on every image"},
		{"a side twice", []string{"-base", dps, other + ":ddrm", other + ":daps", other + "/:ddrm"}, true, "small-prior-quality-ddrm-diffpir-daps/:ddrm is given twice"},
		{"bad metric", []string{"-metric", "fid", "-base", dps, other + ":ddrm"}, true, "want psnr, ssim or lpips"},
		{"LPIPS not recorded", []string{"-metric", "lpips", "-base", dps, other + ":ddrm"}, false, "ddrm against dps: no image has LPIPS recorded on both sides"},
		{"not a folder of results", []string{"-base", dps, t.TempDir() + ":ddrm"}, false, "is it a cadps evaluate folder"},
		{"unknown method", []string{"-base", dps, other + ":pigdm"}, false, `no rows of method "pigdm" (the folder's methods: ddrm, diffpir, daps)`},
		{"other measurements", []string{"-base", dps, moved + ":dps"}, false, "the two sides restored different measurements"},
	} {
		err := runPaired(c.args, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), c.want) || errors.As(err, new(usageError)) != c.usage {
			t.Errorf("%s: error %v (usage %v), want one containing %q (usage %v)", c.name, err, errors.As(err, new(usageError)), c.want, c.usage)
		}
	}
}

// TestPairedTasks: every task of the base is listed, in its order and
// spelling, with "–" and the reason where the other has none of its
// images; tasks match however their parameters are ordered; small
// differences keep the standard error's two significant digits.
func TestPairedTasks(t *testing.T) {
	const base = "../../docs/small-prior-quality"
	rows, err := runs.ReadEvalRows(filepath.Join(base, runs.EvalResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	// CA-DPS's rows with blur spelt in another order, without SR, and
	// inpainting on other images.
	var kept []runs.EvalRow
	for _, r := range rows {
		switch {
		case r.Method != "cadps" || r.Task == "sr:factor=2":
			continue
		case r.Task == "gaussian_blur:kernel_size=9,intensity=1":
			r.Task = "gaussian_blur:intensity=1,kernel_size=9"
		case r.Task == "inpaint_box:size=12":
			r.Index += 1000
		}
		kept = append(kept, r)
	}
	other := t.TempDir()
	if err := runs.WriteEvalRows(filepath.Join(other, runs.EvalResultsFile), kept); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := runPaired([]string{"-base", base + ":dps", base + ":cadps", other + ":cadps"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	name := filepath.Base(other)
	want := "PSNR, other − dps per test image (mean ± standard error; images where the other scores higher / images compared):\n\n" +
		"| task | small-prior-quality:cadps − dps | " + name + ":cadps − dps |\n|---|---|---|\n" +
		"| `inpaint_box:size=12` | +0.0176 ± 0.0077 (65/100) | – (no test image in common) |\n" +
		"| `sr:factor=2` | +0.0255 ± 0.0024 (91/100) | – (no rows of this task) |\n" +
		"| `gaussian_blur:kernel_size=9,intensity=1` | +0.0267 ± 0.0036 (80/100) | +0.0267 ± 0.0036 (80/100) |\n"
	if out.String() != want {
		t.Errorf("output\n%s\nwant\n%s", out.String(), want)
	}
}

// TestPairedLPIPS: -metric lpips pairs the recorded LPIPS, counting the
// images where the other scores lower, and says that lower is better.
func TestPairedLPIPS(t *testing.T) {
	lpips := map[string][]float64{"dps": {0.2, 0.2, 0.2, 0.2}, "ddrm": {0.1, 0.3, 0.1, 0.1}}
	var rows []runs.EvalRow
	for _, method := range []string{"dps", "ddrm"} {
		for i, l := range lpips[method] {
			rows = append(rows, runs.EvalRow{Task: "sr:factor=2", Method: method, Index: i, PSNR: 20, SSIM: 0.5,
				BasePSNR: 18, BaseSSIM: 0.4, Residual: 1, LPIPS: l})
		}
	}
	dir := t.TempDir()
	if err := runs.WriteEvalRows(filepath.Join(dir, runs.EvalResultsFile), rows); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := runPaired([]string{"-metric", "lpips", "-base", dir + ":dps", dir + ":ddrm"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	// Differences −0.1, +0.1, −0.1, −0.1: mean −0.05, standard deviation
	// 0.1, standard error 0.05; lower on 3 of 4 images.
	want := "LPIPS, other − dps per test image (mean ± standard error; images where the other scores lower, lower being better / images compared):\n\n" +
		"| task | ddrm − dps |\n|---|---|\n" +
		"| `sr:factor=2` | -0.050 ± 0.050 (3/4) |\n"
	if out.String() != want {
		t.Errorf("output\n%s\nwant\n%s", out.String(), want)
	}
}

// TestDocumentedPairedOutputs runs every `go run ./scripts/cadps paired`
// command of the docs that a "prints" block follows, and compares what it
// prints with the block.
func TestDocumentedPairedOutputs(t *testing.T) {
	root := filepath.Join("..", "..")
	block := regexp.MustCompile("(?s)```sh\n(go run \\./scripts/cadps paired [^`]*?)```\n\nprints\n\n```text\n(.*?)```")
	checked := 0
	for _, doc := range []string{"docs/cli.md", "docs/results.md"} {
		text, err := os.ReadFile(filepath.Join(root, doc))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range block.FindAllStringSubmatch(string(text), -1) {
			args := strings.Fields(strings.ReplaceAll(m[1], "\\\n", " "))[4:] // after go run ./scripts/cadps paired
			for i, a := range args {
				if strings.HasPrefix(a, "docs/") {
					args[i] = filepath.Join(root, a)
				}
			}
			var out bytes.Buffer
			if err := runPaired(args, &out, io.Discard); err != nil {
				t.Errorf("%s: %s: %v", doc, m[1], err)
				continue
			}
			checked++
			if out.String() != m[2] {
				t.Errorf("%s: %s prints\n%s\nthe page says\n%s", doc, m[1], out.String(), m[2])
			}
		}
	}
	if checked < 4 {
		t.Errorf("checked %d documented paired outputs, want at least 4", checked)
	}
}
