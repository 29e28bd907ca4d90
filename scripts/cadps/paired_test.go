package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
		{"bad metric", []string{"-metric", "lpips", "-base", dps, other + ":ddrm"}, true, "want psnr or ssim"},
		{"not a folder of results", []string{"-base", dps, t.TempDir() + ":ddrm"}, false, "is it a cadps evaluate folder"},
		{"unknown method", []string{"-base", dps, other + ":pigdm"}, false, `no rows of method "pigdm"`},
		{"other measurements", []string{"-base", dps, moved + ":dps"}, false, "the two sides restored different measurements"},
	} {
		err := runPaired(c.args, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), c.want) || errors.As(err, new(usageError)) != c.usage {
			t.Errorf("%s: error %v (usage %v), want one containing %q (usage %v)", c.name, err, errors.As(err, new(usageError)), c.want, c.usage)
		}
	}
}
