package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps/runs"
)

// TestTrace traces a two-image CA-DPS batch with a ramped step size and
// checks its CSV against the run's shape and schedule, and its PSNRs against
// `cadps evaluate` on the same batch with the same ramp.
func TestTrace(t *testing.T) {
	dir := t.TempDir()
	common := []string{"-data", testImagesDir(t), "-steps", "3"}
	csvPath := filepath.Join(dir, "trace.csv")
	stdout, _, err := runCmd(runTrace, append(common, "-count", "2", "-task", "gaussian_blur:kernel_size=9,intensity=1",
		"-method", "cadps", "-scale", "3", "-ramp", "0.5:0.5", "-out", csvPath)...)
	if err != nil {
		t.Fatal(err)
	}
	recs := readCSV(t, csvPath)
	want := []string{"step", "index", "zeta", "image", "residual", "clamped", "multiplier_min", "multiplier_max", "multiplier_negative"}
	if len(recs) != 1+3*2 || strings.Join(recs[0], ",") != strings.Join(want, ",") {
		t.Fatalf("%d records, header %v; want 7 and %v", len(recs), recs[0], want)
	}
	wantZeta := map[string]string{"1": "1.5", "2": "2.5", "3": "3"} // 3·(0.5 + 0.5·min(1, (k−1)/1.5))
	for _, r := range recs[1:] {
		if r[2] != wantZeta[r[0]] {
			t.Errorf("row %v: ζ = %s, want %s", r, r[2], wantZeta[r[0]])
		}
		clamped, err := strconv.ParseFloat(r[5], 64)
		if err != nil || clamped < 0 || clamped > 1 {
			t.Errorf("row %v: clamped fraction %q", r, r[5])
		}
		lo, err1 := strconv.ParseFloat(r[6], 64)
		hi, err2 := strconv.ParseFloat(r[7], 64)
		if err1 != nil || err2 != nil || !(lo <= hi) {
			t.Errorf("row %v: multiplier range [%s, %s]", r, r[6], r[7])
		}
	}

	// The same batch through evaluate gives the same PSNRs.
	if _, _, err := runCmd(runEvaluate, append(common, "-count", "2", "-batch", "2", "-tasks", "gaussian_blur:kernel_size=9,intensity=1",
		"-methods", "cadps", "-scale", "3", "-ramp", "0.5:0.5", "-keep", "0", "-quiet", "-out", filepath.Join(dir, "eval"))...); err != nil {
		t.Fatal(err)
	}
	rows, err := runs.ReadEvalRows(filepath.Join(dir, "eval", runs.EvalResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		line := strconv.Itoa(r.Index) + "\t" + strconv.FormatFloat(r.PSNR, 'f', 2, 64) + "\t"
		if !strings.Contains(stdout, line) {
			t.Errorf("trace output lacks evaluate's image %d at %.2f dB:\n%s", r.Index, r.PSNR, stdout)
		}
	}
}

// TestTraceErrors checks that bad input is refused by name and writes
// nothing.
func TestTraceErrors(t *testing.T) {
	dir := testImagesDir(t)
	trainOnly := t.TempDir()
	writeIDXImages(t, filepath.Join(trainOnly, "train-images-idx3-ubyte.gz"), 2, 28, 28, 0)
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"no out", []string{"-data", dir}, "-data and -out are required"},
		{"method", []string{"-data", dir, "-method", "nosuch"}, "nosuch"},
		{"task", []string{"-data", dir, "-task", "nosuch_task"}, "nosuch_task"},
		{"too many", []string{"-data", dir, "-count", "11"}, "holds 10 images"},
		{"ramp", []string{"-data", dir, "-ramp", "0.5"}, "-ramp"},
		{"offset", []string{"-data", dir, "-offset", "-1"}, "-offset must be non-negative"},
		{"noise", []string{"-data", dir, "-noise", "laplace"}, "-noise"},
		{"training images only", []string{"-data", trainOnly, "-count", "1"}, "no test images t10k-images-idx3-ubyte[.gz]"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "trace.csv")
			args := c.args
			if c.name != "no out" {
				args = append(args, "-out", out)
			}
			if _, _, err := runCmd(runTrace, args...); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("a refused trace wrote %s", out)
			}
		})
	}
}

// TestTraceDefaultBatch checks that trace's default batch is the first
// batch of an evaluation with evaluate's default -batch: the same PSNRs.
func TestTraceDefaultBatch(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "t10k-images-idx3-ubyte.gz")
	writeIDXImages(t, data, 30, 28, 28, 90)
	common := []string{"-data", data, "-steps", "2", "-method", "dps"}
	stdout, _, err := runCmd(runTrace, append(common, "-out", filepath.Join(dir, "trace.csv"))...)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCmd(runEvaluate, "-data", data, "-steps", "2", "-methods", "dps", "-tasks", "sr:factor=2",
		"-count", "25", "-keep", "0", "-quiet", "-out", filepath.Join(dir, "eval")); err != nil {
		t.Fatal(err)
	}
	rows, err := runs.ReadEvalRows(filepath.Join(dir, "eval", runs.EvalResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(stdout, "\n") - 1; got != len(rows) {
		t.Errorf("trace restored %d images by default, evaluate's first batch %d:\n%s", got, len(rows), stdout)
	}
	for _, r := range rows {
		line := strconv.Itoa(r.Index) + "\t" + strconv.FormatFloat(r.PSNR, 'f', 2, 64) + "\t"
		if !strings.Contains(stdout, line) {
			t.Errorf("trace output lacks evaluate's image %d at %.2f dB:\n%s", r.Index, r.PSNR, stdout)
		}
	}
}
