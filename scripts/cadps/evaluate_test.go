package main

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/imageio"
	"github.com/cadps/toolkit/cadps/prior/small"
	"github.com/cadps/toolkit/cadps/runs"
	"github.com/cadps/toolkit/checkpoints"
	"github.com/cadps/toolkit/internal/buildinfo"
)

// testImagesDir is the folder of the shipped prior's Fashion-MNIST test
// images, as an absolute path (tests run in the package's folder; the
// source file's path is not used, since -trimpath builds do not record it).
func testImagesDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(smallImages)
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestEvaluateResume runs a tiny evaluation, checks its outputs, and reruns
// it: nothing is recomputed and nothing changes; other settings into the
// same folder are refused; a partly done run (one batch's rows removed)
// completes only what is missing.
func TestEvaluateResume(t *testing.T) {
	out := t.TempDir()
	args := []string{"-data", testImagesDir(t), "-count", "3", "-batch", "2", "-steps", "2",
		"-tasks", "inpaint_box:size=12", "-methods", "dps", "-keep", "1", "-out", out}
	stdout, _, err := runCmd(runEvaluate, args...)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(stdout, "batch "); n != 2 {
		t.Fatalf("%d batches run, want 2:\n%s", n, stdout)
	}
	results := filepath.Join(out, runs.EvalResultsFile)
	first, err := os.ReadFile(results)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := runs.ReadEvalRows(results)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 {
		t.Fatalf("%d rows, want 3", len(rows))
	}
	for _, r := range rows {
		if !(r.BasePSNR > 5 && r.BasePSNR < 60) || !(r.PSNR > 0 && r.PSNR < 60) || r.BaseSSIM <= 0 {
			t.Errorf("implausible row %+v", r)
		}
	}
	for _, name := range []string{"truth", "measurement", "baseline", "dps"} {
		if _, err := os.Stat(filepath.Join(out, runs.EvalImagesDir, "inpaint_box_size12", name+"-00000.png")); err != nil {
			t.Error(err)
		}
	}
	grid, err := imageio.Load(filepath.Join(out, runs.EvalImagesDir, "inpaint_box_size12.png"))
	if err != nil {
		t.Fatal(err)
	}
	// One kept image: a row of truth, measurement, baseline and dps, 32×32
	// each with 2-pixel padding, enlarged 2×.
	if grid.W != 2*(4*32+5*2) || grid.H != 2*(32+2*2) {
		t.Errorf("grid is %s", grid.Size())
	}
	table, err := os.ReadFile(filepath.Join(out, runs.EvalTableFile))
	if err != nil || !strings.Contains(string(table), "| `inpaint_box:size=12` | 3 |") {
		t.Fatalf("table %q, %v", table, err)
	}

	var st runs.EvalSettings
	if data, err := os.ReadFile(filepath.Join(out, runs.EvalSettingsFile)); err != nil {
		t.Fatal(err)
	} else if err := json.Unmarshal(data, &st); err != nil {
		t.Fatal(err)
	}
	if st.Digest != small.Digest() {
		t.Errorf("settings record weights %q, the shipped prior is %q", st.Digest, small.Digest())
	}

	stdout, _, err = runCmd(runEvaluate, args...)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stdout, "batch ") {
		t.Errorf("a complete run was recomputed:\n%s", stdout)
	}
	again, _ := os.ReadFile(results)
	if string(again) != string(first) {
		t.Error("rerunning a complete evaluation changed results.csv")
	}

	// Drop the second batch: a rerun computes only it, with the same values.
	if err := runs.WriteEvalRows(results, rows[:2]); err != nil {
		t.Fatal(err)
	}
	stdout, _, err = runCmd(runEvaluate, args...)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(stdout, "batch "); n != 1 {
		t.Fatalf("%d batches rerun, want 1:\n%s", n, stdout)
	}
	redone, err := runs.ReadEvalRows(results)
	if err != nil {
		t.Fatal(err)
	}
	if len(redone) != 3 || redone[2].PSNR != rows[2].PSNR || redone[2].BasePSNR != rows[2].BasePSNR {
		t.Errorf("the resumed batch differs: %+v vs %+v", redone, rows)
	}

	other := append(append([]string{}, args...), "-seed", "7")
	if _, _, err := runCmd(runEvaluate, other...); err == nil || !strings.Contains(err.Error(), "other settings (seed: was 0, now 7)") {
		t.Errorf("rerun with another seed: error %v, want one naming the seed", err)
	}
	// 3 images in batches of 2: a fourth would change the last batch.
	more := append(append([]string{}, args...), "-count", "4")
	if _, _, err := runCmd(runEvaluate, more...); err == nil || !strings.Contains(err.Error(), "3 is not a multiple of the batch size 2") {
		t.Errorf("growing a partial last batch: error %v", err)
	}
}

// TestEvaluatePhaseRetrieval evaluates a task whose measurement has no
// image baseline: the rows record NaN for it (and read back), the table
// shows "–", the kept images have no baseline file, and a resumed run reads
// the folder as it is.
func TestEvaluatePhaseRetrieval(t *testing.T) {
	out := t.TempDir()
	args, rows := evaluatePhaseRetrieval(t, out, "1")
	for _, r := range rows {
		if !math.IsNaN(r.BasePSNR) || !math.IsNaN(r.BaseSSIM) || !(r.PSNR > 0 && r.PSNR < 60) {
			t.Errorf("row %+v: want NaN baseline metrics and a plausible PSNR", r)
		}
	}
	table, err := os.ReadFile(filepath.Join(out, runs.EvalTableFile))
	if err != nil || !strings.Contains(string(table), "| `phase_retrieval:oversample=2` | 2 | – | – | ") {
		t.Fatalf("table %q, %v", table, err)
	}
	dir := filepath.Join(out, runs.EvalImagesDir, "phase_retrieval_oversample2")
	for name, want := range map[string]bool{"truth": true, "measurement": true, "dps": true, "baseline": false} {
		if _, err := os.Stat(filepath.Join(dir, name+"-00000.png")); (err == nil) != want {
			t.Errorf("%s image: %v, want it present %v", name, err, want)
		}
	}
	grid, err := imageio.Load(filepath.Join(out, runs.EvalImagesDir, "phase_retrieval_oversample2.png"))
	if err != nil {
		t.Fatal(err)
	}
	// Truth, the 48×48 measurement and dps, without an empty baseline
	// column: cells of the largest size, 2-pixel padding, enlarged 2×.
	if grid.W != 2*(3*48+4*2) || grid.H != 2*(48+2*2) {
		t.Errorf("grid is %s", grid.Size())
	}
	stdout, _, err := runCmd(runEvaluate, args...)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stdout, "batch ") {
		t.Errorf("a complete run was recomputed:\n%s", stdout)
	}
}

// evaluatePhaseRetrieval evaluates DPS on two test images with phase
// retrieval and 2 steps into out, keeping keep images, with the extra
// flags; it returns the arguments and the rows.
func evaluatePhaseRetrieval(t *testing.T, out, keep string, extra ...string) ([]string, []runs.EvalRow) {
	t.Helper()
	args := append([]string{"-data", testImagesDir(t), "-count", "2", "-batch", "2", "-steps", "2",
		"-tasks", "phase_retrieval:oversample=2", "-methods", "dps", "-keep", keep, "-out", out}, extra...)
	if _, _, err := runCmd(runEvaluate, args...); err != nil {
		t.Fatal(err)
	}
	rows, err := runs.ReadEvalRows(filepath.Join(out, runs.EvalResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 {
		t.Fatalf("%d rows, want 2", len(rows))
	}
	return args, rows
}

// TestEvaluateDraws keeps the best of two draws per image: every row
// records a finite residual and the draw kept, the settings record the
// draws, and a rerun with one draw into the folder is refused by name.
func TestEvaluateDraws(t *testing.T) {
	out := t.TempDir()
	args, rows := evaluatePhaseRetrieval(t, out, "0", "-draws", "2")
	args = args[:len(args)-2] // the same without -draws 2
	for _, r := range rows {
		if !(r.Residual > 0) || math.IsInf(r.Residual, 0) || r.Draw < 0 || r.Draw > 1 {
			t.Errorf("row %+v: want a positive finite residual and draw 0 or 1", r)
		}
	}
	var st runs.EvalSettings
	if data, err := os.ReadFile(filepath.Join(out, runs.EvalSettingsFile)); err != nil {
		t.Fatal(err)
	} else if err := json.Unmarshal(data, &st); err != nil {
		t.Fatal(err)
	}
	if st.Draws != 2 {
		t.Errorf("settings record %d draws, want 2", st.Draws)
	}
	if _, _, err := runCmd(runEvaluate, args...); err == nil || !strings.Contains(err.Error(), "draws") {
		t.Errorf("rerun with one draw: error %v, want one naming draws", err)
	}
	if _, _, err := runCmd(runEvaluate, append(args, "-draws", "0")...); err == nil || !strings.Contains(err.Error(), "-draws must be positive") {
		t.Errorf("-draws 0: error %v", err)
	}
}

// TestEvaluateExtend grows a finished evaluation by more images and another
// method: only the new rows are computed, the old ones stay as they were,
// and the result equals the same evaluation run at once. Shrinking or
// reordering is refused.
func TestEvaluateExtend(t *testing.T) {
	dir := t.TempDir()
	args := func(out, count, methods string) []string {
		return []string{"-data", testImagesDir(t), "-count", count, "-batch", "1", "-steps", "2",
			"-tasks", "inpaint_box:size=12", "-methods", methods, "-keep", "0", "-quiet", "-out", filepath.Join(dir, out)}
	}
	if _, _, err := runCmd(runEvaluate, args("grown", "2", "dps")...); err != nil {
		t.Fatal(err)
	}
	before, err := runs.ReadEvalRows(filepath.Join(dir, "grown", runs.EvalResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCmd(runEvaluate, args("grown", "3", "dps,cadps")...); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCmd(runEvaluate, args("whole", "3", "dps,cadps")...); err != nil {
		t.Fatal(err)
	}
	grown, err := runs.ReadEvalRows(filepath.Join(dir, "grown", runs.EvalResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	whole, err := runs.ReadEvalRows(filepath.Join(dir, "whole", runs.EvalResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(grown) != 6 || len(whole) != 6 {
		t.Fatalf("%d and %d rows, want 6", len(grown), len(whole))
	}
	for i, r := range grown {
		w := whole[i]
		if r.Task != w.Task || r.Method != w.Method || r.Index != w.Index || r.PSNR != w.PSNR || r.BasePSNR != w.BasePSNR {
			t.Errorf("row %d: grown %+v, run at once %+v", i, r, w)
		}
	}
	for _, b := range before {
		i := slices.IndexFunc(grown, func(r runs.EvalRow) bool { return r.Method == b.Method && r.Index == b.Index })
		if i < 0 || fmt.Sprintf("%+v", grown[i]) != fmt.Sprintf("%+v", b) { // as printed: NaN (no LPIPS) equals NaN
			t.Errorf("row %+v was not kept as it was", b)
		}
	}
	for _, c := range []struct{ count, methods, want string }{
		{"2", "dps,cadps", "(the image count 2 is fewer than the 3 the folder was set up for, and may only grow); use another output folder"},
		{"3", "cadps,dps", `the methods must keep "dps,cadps"`},
		{"3", "dps", `the methods must keep "dps,cadps"`},
	} {
		if _, _, err := runCmd(runEvaluate, args("grown", c.count, c.methods)...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("-count %s -methods %s: error %v, want %q", c.count, c.methods, err, c.want)
		}
	}
	// A step-size ramp is a setting: a folder made without one is not
	// resumed with one.
	if _, _, err := runCmd(runEvaluate, append(args("grown", "3", "dps,cadps"), "-ramp", "0.1:0.5")...); err == nil || !strings.Contains(err.Error(), "ramp") {
		t.Errorf("-ramp 0.1:0.5 into a folder made without: error %v, want one naming the ramp", err)
	}
	// A valid extension refused for another reason (more images than the
	// data holds, an unknown task) leaves settings.json as it was.
	settings := filepath.Join(dir, "grown", runs.EvalSettingsFile)
	was, err := os.ReadFile(settings)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		count string
		extra []string
		want  string
	}{
		{"11", nil, "holds 10 images"},
		{"4", []string{"-tasks", "inpaint_box:size=12;nosuch_task"}, "nosuch_task"},
	} {
		_, _, err := runCmd(runEvaluate, append(args("grown", c.count, "dps,cadps,pigdm"), c.extra...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("-count %s %q: error %v, want %q", c.count, c.extra, err, c.want)
		}
		if now, err := os.ReadFile(settings); err != nil || string(now) != string(was) {
			t.Fatalf("-count %s %q: settings.json changed by a refused run (err %v):\n%s", c.count, c.extra, err, now)
		}
	}
}

// TestEvaluateOtherWeights overwrites a weights file in place between two
// runs into the same folder: the second is refused, naming the weights,
// and the first run's results stay as they were.
func TestEvaluateOtherWeights(t *testing.T) {
	dir := t.TempDir()
	weights, out := filepath.Join(dir, "ema.safetensors"), filepath.Join(dir, "eval")
	sd, err := small.Weights()
	if err != nil {
		t.Fatal(err)
	}
	save := func() {
		t.Helper()
		if err := checkpoints.SaveSafetensors(weights, sd); err != nil {
			t.Fatal(err)
		}
	}
	save()
	args := []string{"-model", "small", "-weights", weights, "-data", testImagesDir(t), "-count", "1", "-batch", "1",
		"-steps", "2", "-tasks", "inpaint_box:size=12", "-methods", "dps", "-keep", "0", "-quiet", "-out", out}
	if _, _, err := runCmd(runEvaluate, args...); err != nil {
		t.Fatal(err)
	}
	results := filepath.Join(out, runs.EvalResultsFile)
	first, err := os.ReadFile(results)
	if err != nil {
		t.Fatal(err)
	}
	sd.Tensors[sd.Names[0]].Data[0] ^= 1
	save()
	_, _, err = runCmd(runEvaluate, args...)
	if err == nil || !strings.Contains(err.Error(), "other weights") {
		t.Errorf("rerun with changed weights: error %v, want one about other weights", err)
	}
	if again, _ := os.ReadFile(results); string(again) != string(first) {
		t.Error("the refused run changed results.csv")
	}
}

// TestEvaluateNonFiniteWeights: weights holding a NaN are refused when
// they are loaded, naming the file and the tensor, before the output
// folder is made, so that a rerun with sound weights into the same folder
// is not refused as made with other weights.
func TestEvaluateNonFiniteWeights(t *testing.T) {
	dir := t.TempDir()
	weights, out := filepath.Join(dir, "ema.safetensors"), filepath.Join(dir, "eval")
	sd, err := small.Weights()
	if err != nil {
		t.Fatal(err)
	}
	bias, err := sd.Get("input_blocks.0.0.bias")
	if err != nil {
		t.Fatal(err)
	}
	bias.DType, bias.Data = checkpoints.F32, make([]byte, 4*bias.NumElements())
	binary.LittleEndian.PutUint32(bias.Data, math.Float32bits(float32(math.NaN())))
	if err := checkpoints.SaveSafetensors(weights, sd); err != nil {
		t.Fatal(err)
	}
	_, _, err = runCmd(runEvaluate, "-model", "small", "-weights", weights, "-data", testImagesDir(t), "-count", "1", "-batch", "1",
		"-steps", "2", "-tasks", "inpaint_box:size=12", "-methods", "dps", "-keep", "0", "-quiet", "-out", out)
	want := weights + `: tensor "input_blocks.0.0.bias" holds a non-finite value, NaN, at element 0 of `
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error %v, want one containing %q", err, want)
	}
	for _, p := range []string{filepath.Join(out, runs.EvalSettingsFile), out} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("the refused run left %s", p)
		}
	}
}

// TestEvaluateMethodRevision checks that settings.json records the
// revision of a method whose default output changed, and that a folder
// started by an earlier revision is not resumed.
func TestEvaluateMethodRevision(t *testing.T) {
	out := filepath.Join(t.TempDir(), "eval")
	args := []string{"-data", testImagesDir(t), "-count", "1", "-batch", "1", "-steps", "2",
		"-tasks", "inpaint_box:size=12", "-methods", "dps,tmpd", "-keep", "0", "-quiet", "-out", out}
	if _, _, err := runCmd(runEvaluate, args...); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(out, runs.EvalSettingsFile)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var st runs.EvalSettings
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(st.Revisions, map[string]int{"tmpd": 2}) {
		t.Fatalf("method_revisions %v, want tmpd: 2 alone", st.Revisions)
	}
	// The folder as a build before tmpd's changes wrote it.
	st.Revisions = nil
	if data, err = json.Marshal(st); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	results := filepath.Join(out, runs.EvalResultsFile)
	before, err := os.ReadFile(results)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = runCmd(runEvaluate, args...)
	if err == nil || !strings.Contains(err.Error(), "made by revision 0 of method tmpd; this build runs revision 2") {
		t.Errorf("resuming an earlier revision's folder: error %v", err)
	}
	if after, _ := os.ReadFile(results); string(after) != string(before) {
		t.Error("the refused run changed results.csv")
	}
}

// TestEvaluateScale checks -scale: it is recorded, and it changes the
// reconstructions but not the measurements.
func TestEvaluateScale(t *testing.T) {
	dir := t.TempDir()
	run := func(out string, extra ...string) runs.EvalRow {
		t.Helper()
		args := append([]string{"-data", testImagesDir(t), "-count", "1", "-batch", "1", "-steps", "3",
			"-tasks", "sr:factor=2", "-methods", "dps", "-keep", "0", "-quiet", "-out", filepath.Join(dir, out)}, extra...)
		if _, _, err := runCmd(runEvaluate, args...); err != nil {
			t.Fatal(err)
		}
		rows, err := runs.ReadEvalRows(filepath.Join(dir, out, runs.EvalResultsFile))
		if err != nil || len(rows) != 1 {
			t.Fatalf("rows %v, %v", rows, err)
		}
		return rows[0]
	}
	def, strong := run("default"), run("strong", "-scale", "3")
	if def.BasePSNR != strong.BasePSNR || def.PSNR == strong.PSNR {
		t.Errorf("ζ = 3 against the default: baseline %v/%v, PSNR %v/%v; want the same baseline and another PSNR",
			def.BasePSNR, strong.BasePSNR, def.PSNR, strong.PSNR)
	}
	var st runs.EvalSettings
	if data, err := os.ReadFile(filepath.Join(dir, "strong", runs.EvalSettingsFile)); err != nil {
		t.Fatal(err)
	} else if err := json.Unmarshal(data, &st); err != nil || st.Scale != 3 {
		t.Errorf("settings record scale %v (%v), want 3", st.Scale, err)
	}
}

func TestEvaluateErrors(t *testing.T) {
	dir := testImagesDir(t)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no data", nil, "-data is required"},
		{"method", []string{"-data", dir, "-methods", "nosuch"}, "nosuch"},
		{"count", []string{"-data", dir, "-count", "0"}, "-count must be positive, got 0"},
		{"batch", []string{"-data", dir, "-batch", "0"}, "-batch must be positive, got 0"},
		{"jobs", []string{"-data", dir, "-jobs", "-2"}, "-jobs must be positive, got -2"},
		{"draws", []string{"-data", dir, "-draws", "0"}, "-draws must be positive, got 0"},
		{"keep", []string{"-data", dir, "-keep", "-1"}, "-keep must be non-negative, got -1"},
		{"too many", []string{"-data", dir, "-count", "11"}, "holds 10 images"},
		{"task", []string{"-data", dir, "-count", "1", "-tasks", "nosuch_task"}, "nosuch_task"},
		{"missing data", []string{"-data", filepath.Join(dir, "nothing-here")}, "nothing-here"},
		{"negative scale", []string{"-data", dir, "-scale", "-1"}, "-scale: step size ζ = -1 must be finite and non-negative"},
		{"NaN scale", []string{"-data", dir, "-scale", "NaN"}, "-scale: step size ζ = NaN must be finite and non-negative"},
		{"ramp", []string{"-data", dir, "-ramp", "0.1:2"}, "-ramp: guidance: ramp OVER = 2"},
		{"offset", []string{"-data", dir, "-offset", "-1"}, "-offset must be non-negative"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "eval")
			_, _, err := runCmd(runEvaluate, append(c.args, "-out", out)...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("a refused run created %s", out)
			}
		})
	}
	if _, _, err := runCmd(runEvaluate, "-data", dir); err == nil || !strings.Contains(err.Error(), "-out is required") {
		t.Errorf("no -out: error %v", err)
	}
}

// writeIDXImages writes n h×w gray images, every pixel value, as a
// gzip-compressed IDX file.
func writeIDXImages(t *testing.T, path string, n, h, w int, value byte) {
	t.Helper()
	var raw bytes.Buffer
	raw.Write([]byte{0, 0, 0x08, 3})
	for _, d := range []int{n, h, w} {
		binary.Write(&raw, binary.BigEndian, uint32(d))
	}
	raw.Write(bytes.Repeat([]byte{value}, n*h*w))
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(raw.Bytes())
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, gz.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestEvaluateData: a dataset folder given as -data is read for its test
// images (t10k-images-idx3-ubyte.gz), never its training images, and the
// settings record that file, so that a rerun naming the file resumes the
// folder's run; a folder with training images only is refused, naming
// the file to give. A colour prior reads RGB images in colour.
func TestEvaluateData(t *testing.T) {
	dir := t.TempDir()
	both, trainOnly, rgb := filepath.Join(dir, "fashion"), filepath.Join(dir, "train-only"), filepath.Join(dir, "rgb")
	for _, d := range []string{both, trainOnly, rgb} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeIDXImages(t, filepath.Join(both, "train-images-idx3-ubyte.gz"), 1, 28, 28, 0)
	writeIDXImages(t, filepath.Join(both, "t10k-images-idx3-ubyte.gz"), 1, 28, 28, 200)
	writeIDXImages(t, filepath.Join(trainOnly, "train-images-idx3-ubyte.gz"), 1, 28, 28, 0)
	writeTestImage(t, filepath.Join(rgb, "a.png"), 16, 0)
	testSet := filepath.Join(both, "t10k-images-idx3-ubyte.gz")
	for _, c := range []struct {
		name  string
		args  []string
		data  string // the data settings.json records
		truth string // the image the kept truth must equal ("": the test set's gray 200)
		want  string // the error, when refused
	}{
		{"dataset folder", []string{"-data", both}, testSet, "", ""},
		{"the test set's file", []string{"-data", testSet}, testSet, "", ""},
		{"training images only", []string{"-data", trainOnly}, "", "", "holds the training images train-images-idx3-ubyte.gz but no test images t10k-images-idx3-ubyte[.gz]"},
		{"colour prior, RGB images", append([]string{"-data", rgb}, fixtureModel(t, "fixed")...), rgb, filepath.Join(rgb, "a.png"), ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "eval")
			args := append([]string{"-count", "1", "-batch", "1", "-steps", "2", "-tasks", "sr:factor=2", "-methods", "dps", "-keep", "1", "-out", out}, c.args...)
			stdout, _, err := runCmd(runEvaluate, args...)
			if c.want != "" {
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("error %v, want one containing %q", err, c.want)
				}
				if _, err := os.Stat(out); !os.IsNotExist(err) {
					t.Errorf("a refused run made %s", out)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(stdout, "batch ") {
				t.Fatalf("output %q: want a line per batch", stdout)
			}
			var st runs.EvalSettings
			if data, err := os.ReadFile(filepath.Join(out, runs.EvalSettingsFile)); err != nil {
				t.Fatal(err)
			} else if err := json.Unmarshal(data, &st); err != nil || st.Data != c.data {
				t.Errorf("settings record data %q (%v), want %q", st.Data, err, c.data)
			}
			truth, err := imageio.Load(filepath.Join(out, runs.EvalImagesDir, runs.EvalLabel("sr:factor=2"), "truth-00000.png"))
			if err != nil {
				t.Fatal(err)
			}
			if c.truth != "" {
				want, err := imageio.Load(c.truth)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(truth.Pix, want.Pix) {
					t.Errorf("the kept truth is not %s", c.truth)
				}
				return
			}
			// The test set's 28×28 images of value 200, padded to 32×32.
			if v := truth.At(0, 16, 16); math.Abs(float64(v)-200.0/255) > 1e-6 {
				t.Errorf("truth centre %v, want the test set's %v", v, 200.0/255)
			}
			// The file resumes the run of the folder that holds it.
			stdout, _, err = runCmd(runEvaluate, append(args[:len(args)-len(c.args)], "-data", testSet)...)
			if err != nil || strings.Contains(stdout, "batch ") {
				t.Errorf("a rerun naming %s: %v, output %q; want nothing recomputed", testSet, err, stdout)
			}
		})
	}
}

// TestEvaluateRecordsDiffusionConfig reruns an evaluation into its folder
// with a -diffusion-config: one giving the shipped prior's own process
// resumes it, one with another noise schedule is refused, naming it,
// instead of adding its rows to those of the prior's own process.
func TestEvaluateRecordsDiffusionConfig(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	args := []string{"-data", testImagesDir(t), "-count", "1", "-batch", "1", "-steps", "2", "-jobs", "1",
		"-tasks", "inpaint_box:size=12", "-methods", "dps", "-keep", "0", "-quiet", "-out", out}
	if _, _, err := runCmd(runEvaluate, args...); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		schedule, wantErr string
	}{
		{"linear", ""},
		{"cosine", "diffusion"},
	} {
		_, _, err := runCmd(runEvaluate, append(args, "-diffusion-config", diffusionConfigFile(t, dir, c.schedule, "learned_range"))...)
		switch {
		case c.wantErr == "" && err != nil:
			t.Errorf("%s schedule: %v, want the folder resumed", c.schedule, err)
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
			t.Errorf("%s schedule: error %v, want one naming %q", c.schedule, err, c.wantErr)
		}
	}
}

// TestEvaluateRecordsBackendConfig runs an evaluation with one
// GOMLX_BACKEND and extends it with another: the folder resumes, each row
// names the backend, the GOMLX_BACKEND that computed it and the build, and
// the table counts the rows of each configuration.
func TestEvaluateRecordsBackendConfig(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	configs := []string{backend.Name + ":parallelism=2", backend.Name + ":parallelism=1"}
	for k, config := range configs {
		t.Setenv(backend.EnvVar, config)
		stdout, stderr, err := runCmd(runEvaluate, "-data", testImagesDir(t), "-count", strconv.Itoa(k+1), "-batch", "1", "-steps", "2",
			"-jobs", "1", "-tasks", "inpaint_box:size=12", "-methods", "dps", "-keep", "0", "-quiet", "-out", out)
		if err != nil {
			t.Fatalf("evaluate with %s=%s: %v\n%s", backend.EnvVar, config, err, stderr)
		}
		if stdout != "" {
			t.Errorf("-quiet printed %q", stdout)
		}
	}
	b, err := os.ReadFile(filepath.Join(out, runs.EvalTableFile))
	if err != nil {
		t.Fatal(err)
	}
	table := string(b)
	rows, err := runs.ReadEvalRows(filepath.Join(out, runs.EvalResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(configs) {
		t.Fatalf("%d rows, want %d", len(rows), len(configs))
	}
	for k, r := range rows {
		if r.Backend != backend.Name || r.BackendConfig != configs[k] || r.Toolkit != buildinfo.Toolkit() {
			t.Errorf("image %d: backend %q, backend_config %q, toolkit %q; want %q, %q, %q",
				r.Index, r.Backend, r.BackendConfig, r.Toolkit, backend.Name, configs[k], buildinfo.Toolkit())
		}
	}
	if want := "Rows from 2 backends or builds"; !strings.Contains(table, want) || !strings.Contains(table, "GOMLX_BACKEND=`"+configs[1]+"`") {
		t.Errorf("the table\n%s\ndoes not count the rows of each GOMLX_BACKEND", table)
	}
}

// TestEvaluateModelSetting checks the model that settings.json records
// for each way of choosing the prior: the shipped prior is fmnist32
// whether chosen by default, as small or as fmnist32, so that folders
// made either way resume each other; its architecture with other
// weights is small, as reproduce.json records it.
func TestEvaluateModelSetting(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, small.Name},
		{[]string{"-model", "small"}, small.Name},
		{[]string{"-model", "fmnist32"}, small.Name},
		{[]string{"-model", "small", "-weights", "ema.safetensors"}, "small"},
		{[]string{"-model", "fmnist32", "-weights", "ema.safetensors"}, "small"},
		{[]string{"-model", "ffhq256", "-weights", "ffhq_10m.pt"}, "ffhq256"},
		{[]string{"-model-config", "config.json", "-weights", "model.safetensors"}, ""},
	} {
		t.Run(strings.Join(append([]string{"evaluate"}, tc.args...), " "), func(t *testing.T) {
			fs := newFlagSet("evaluate", "", &bytes.Buffer{})
			f := addEvalFlags(fs)
			if err := fs.Parse(append([]string{"-data", "test", "-out", "out"}, tc.args...)); err != nil {
				t.Fatal(err)
			}
			st, _, err := f.settings()
			if err != nil {
				t.Fatal(err)
			}
			if st.Model != tc.want {
				t.Errorf("settings name the model %q, want %q", st.Model, tc.want)
			}
		})
	}
}
