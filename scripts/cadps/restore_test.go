package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/imageio"
	"github.com/cadps/toolkit/cadps/metrics"
	"github.com/cadps/toolkit/cadps/prior/small"
	"github.com/cadps/toolkit/cadps/restore"
	"github.com/cadps/toolkit/cadps/runs"
	"github.com/cadps/toolkit/internal/fixtures"
)

// fixtureModel returns the -model-config and -weights flags of a reference
// fixture network: an unconditional 16×16 one with fixed variances ("fixed",
// the shared unet-b) or with learned ones ("learned"), whose weights do not
// fit the fixed one.
func fixtureModel(t *testing.T, variances string) []string {
	t.Helper()
	m := fixtures.UNetModels(t, func(m fixtures.UNetModel) bool {
		return !m.Kwargs.ClassCond && m.Kwargs.LearnSigma == (variances == "learned") &&
			(variances == "learned" || m.Kwargs.ImageSize == 16)
	})[0]
	return []string{"-model-config", m.Config, "-weights", m.Weights}
}

// writeTestImage writes a smooth RGB size×size PNG.
func writeTestImage(t *testing.T, path string, size int, phase float64) {
	t.Helper()
	im, err := imageio.New(3, size, size)
	if err != nil {
		t.Fatal(err)
	}
	for c := range 3 {
		for y := range size {
			for x := range size {
				im.Set(c, y, x, float32(0.5+0.4*math.Sin(float64(x)/3+phase+float64(c))*math.Cos(float64(y)/4-phase)))
			}
		}
	}
	if err := imageio.Save(path, im); err != nil {
		t.Fatal(err)
	}
}

// runCmd runs a command's entry point and returns its output.
func runCmd(run func([]string, io.Writer, io.Writer) error, args ...string) (string, string, error) {
	var out, errOut bytes.Buffer
	err := run(args, &out, &errOut)
	return out.String(), errOut.String(), err
}

// tempFiles lists the temporary files (".name.tmp…") under dir.
func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	var found []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasPrefix(d.Name(), ".") && strings.Contains(d.Name(), ".tmp") {
			found = append(found, p)
		}
		return nil
	})
	return found
}

func TestRestoreWritesEverything(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "face.png")
	writeTestImage(t, img, 16, 0)
	out := filepath.Join(dir, "out")
	args := append([]string{img, "-task", "super_resolution:factor=2", "-method", "dps", "-steps", "4",
		"-progress-every", "2", "-seed", "5", "-out", out, "-gif"}, fixtureModel(t, "fixed")...)
	stdout, stderr, err := runCmd(runRestore, args...)
	if err != nil {
		t.Fatalf("restore: %v\n%s", err, stderr)
	}
	if !strings.Contains(stdout, "PSNR") || strings.Contains(stdout, "\r") {
		t.Errorf("stdout %q: want one summary line and no progress bar (not a terminal)", stdout)
	}
	want := map[string][2]int{ // file: height, width
		runs.RestoreReconFile: {16, 16}, runs.RestoreLabelFile: {16, 16}, runs.RestoreMeasurementFile: {8, 8},
		runs.RestoreProgressFile: {16 + 2*2, 2*16 + 3*2}, // steps 2 and 4, 2-pixel padding around
	}
	for name, hw := range want {
		im, err := imageio.Load(filepath.Join(out, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if im.H != hw[0] || im.W != hw[1] {
			t.Errorf("%s is %s, want height %d, width %d", name, im.Size(), hw[0], hw[1])
		}
	}
	if st, err := os.Stat(filepath.Join(out, runs.RestoreGIFFile)); err != nil || st.Size() == 0 {
		t.Errorf("GIF: %v", err)
	}
	rec, raw := readRestoreRecord(t, out)
	if rec.Seed != 5 || rec.Settings.Backend == "" || rec.Settings.Steps != 4 || rec.Settings.Method != "dps" ||
		rec.Settings.Scale != 0.3 || rec.Settings.SigmaY != 0.05 || len(rec.Residuals) != 4 ||
		len(rec.ProgressSteps) != 2 || rec.Timings.Sample <= 0 || rec.Metrics.PSNR <= 0 || len(rec.Files) != 5 {
		t.Errorf("record %s", raw)
	}
	// The metrics in the record are those of the files.
	ref, _ := imageio.Load(filepath.Join(out, runs.RestoreLabelFile))
	got, _ := imageio.Load(filepath.Join(out, runs.RestoreReconFile))
	if psnr, err := metrics.PSNR(ref, got, 1); err != nil || psnr != rec.Metrics.PSNR {
		t.Errorf("PSNR of the files %v, record says %v", psnr, rec.Metrics.PSNR)
	}
	if tmp := tempFiles(t, out); len(tmp) > 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
}

func TestRestoreAndReproduceErrors(t *testing.T) {
	dir := t.TempDir()
	model := fixtureModel(t, "fixed")
	good := filepath.Join(dir, "good.png")
	writeTestImage(t, good, 16, 0)
	big := filepath.Join(dir, "big.png")
	writeTestImage(t, big, 20, 0)
	garbage := filepath.Join(dir, "garbage.png")
	if err := os.WriteFile(garbage, []byte("this is not an image"), 0o644); err != nil {
		t.Fatal(err)
	}
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	folder := filepath.Join(dir, "images")
	os.Mkdir(folder, 0o755)
	writeTestImage(t, filepath.Join(folder, "a.png"), 16, 0)
	writeTestImage(t, filepath.Join(folder, "b.png"), 20, 0)
	otherWeights := fixtureModel(t, "learned")[3]
	out, restoreOut := filepath.Join(dir, "out"), filepath.Join(dir, "restore-out")
	restoreArgs := func(image string, extra ...string) []string {
		return append(append([]string{image, "-task", "sr:factor=2", "-method", "dps", "-steps", "2", "-out", restoreOut}, model...), extra...)
	}
	for _, tc := range []struct {
		name string
		run  func([]string, io.Writer, io.Writer) error
		args []string
		want string
	}{
		{"missing image", runRestore, restoreArgs(filepath.Join(dir, "nope.png")), "no such file"},
		{"unreadable image", runRestore, restoreArgs(garbage), "cannot read image"},
		{"wrong size", runRestore, restoreArgs(big), "is 20×20, but the model takes 16×16 images (use -resize or -crop"},
		{"unknown task", runRestore, append([]string{good, "-task", "deblur", "-method", "dps", "-out", restoreOut}, model...), `unknown operator "deblur"`},
		{"unknown method", runRestore, restoreArgs(good, "-method", "magic"), `unknown method "magic"`},
		{"unknown preset", runRestore, []string{good, "-task", "sr:factor=2", "-model", "ffhq1024", "-weights", otherWeights, "-out", restoreOut}, `unknown model "ffhq1024"`},
		{"weights that do not fit", runRestore, restoreArgs(good, "-weights", otherWeights), "do not fit model"},
		{"weights that do not fit a preset", runRestore, []string{good, "-task", "sr:factor=2", "-model", "ffhq256", "-weights", otherWeights, "-out", restoreOut}, "do not fit model ffhq256"},
		{"output not writable", runRestore, append(restoreArgs(good), "-out", filepath.Join(blocker, "sub")), "output folder " + filepath.Join(blocker, "sub") + " is not writable"},
		{"resize and crop", runRestore, restoreArgs(good, "-resize", "-crop"), "exclude each other"},
		{"no draws", runRestore, restoreArgs(good, "-draws", "0"), "-draws 0: need at least 1"},
		{"no task", runRestore, append([]string{good, "-method", "dps", "-out", restoreOut}, model...), "-task SPEC is required"},
		{"measurement of the wrong size", runRestore, restoreArgs(good, "-measured"), "the measurement is 16×16 RGB, but task sr_factor=2 measures the model's 16×16 images as 8×8 RGB"},
		{"measurement of a random mask", runRestore, append([]string{good, "-measured", "-task", "inpaint_box:size=6", "-method", "dps", "-out", restoreOut}, model...),
			"task inpaint_box_size=6 draws its operator's random parts (a mask, a kernel) from the seed, so its operator is not the one that made a given measurement: give the mask as a file (inpaint_file:path=MASK.png"},
		{"measurement of phase retrieval", runRestore, append([]string{good, "-measured", "-task", "phase_retrieval", "-method", "dps", "-out", restoreOut}, model...),
			"measures values that are not an image (for phase retrieval, Fourier magnitudes): its measurement cannot be given as an image"},
		{"measurement resized", runRestore, restoreArgs(good, "-measured", "-resize"), "-measured takes the measurement as it is: -resize and -crop"},
		{"measurement with LPIPS", runRestore, restoreArgs(good, "-measured", "-lpips", dir), "-lpips compares the reconstruction with the clean image, and -measured has none"},
		{"reproduce wrong size", runReproduce, append([]string{folder, "-task", "sr:factor=2", "-methods", "dps", "-out", out}, model...), "b.png is 20×20"},
		{"reproduce unknown method", runReproduce, append([]string{folder, "-task", "sr:factor=2", "-methods", "dps,magic", "-out", out}, model...), `unknown method "magic"`},
		{"reproduce missing folder", runReproduce, append([]string{filepath.Join(dir, "none"), "-task", "sr:factor=2", "-methods", "dps", "-out", out}, model...), "no such file"},
		{"reproduce output not writable", runReproduce, append([]string{folder, "-resize", "-task", "sr:factor=2", "-methods", "dps", "-out", filepath.Join(blocker, "x")}, model...), "is not writable"},
		{"reproduce method that cannot use the task", runReproduce, append([]string{folder, "-resize", "-task", "phase_retrieval", "-methods", "dps,pigdm", "-out", out}, model...), "pigdm cannot run on phase_retrieval: it needs a linear operator"},
		{"reproduce bad shard", runReproduce, append([]string{folder, "-task", "sr:factor=2", "-methods", "dps", "-out", out, "-shard", "3/3"}, model...), "not in [0, 3)"},
		{"merge nothing", runMerge, []string{dir}, "no item records"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := runCmd(tc.run, tc.args...)
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			t.Log(err)
			if msg := err.Error(); !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") {
				t.Errorf("error %q, want one line containing %q", msg, tc.want)
			}
		})
	}
	// A refused restore makes no output folder; a refused reproduction
	// writes nothing into the one it checked.
	if _, err := os.Stat(restoreOut); !os.IsNotExist(err) {
		t.Errorf("refused restores left %s (%v)", restoreOut, err)
	}
	entries, _ := os.ReadDir(out)
	if len(entries) != 0 {
		t.Errorf("failed runs left %d entries in the output folder", len(entries))
	}
}

func TestProgressBar(t *testing.T) {
	var buf bytes.Buffer
	if bar := newProgressBar(&buf, false); bar.on {
		t.Error("a progress bar on a buffer, which is not a terminal")
	}
	bar := &progressBar{w: &buf, on: true}
	for s := 1; s <= 3; s++ {
		bar.update(restore.Progress{Step: s, Steps: 3, Residual: 1.5, Elapsed: time.Duration(s) * time.Second})
	}
	bar.done()
	out := buf.String()
	// The first and last steps are always drawn, and the line ends.
	if !strings.HasPrefix(out, "\r[==========                    ] 1/3 residual 1.5 ETA 2s") ||
		!strings.Contains(out, "\r[==============================] 3/3") || !strings.HasSuffix(out, "\n") {
		t.Errorf("progress bar output %q", out)
	}
	// With draws, the bar names the draw and its ETA counts the draws
	// left: 4 of 6 steps in 4 s leave 2 s.
	buf.Reset()
	bar.lastAt = time.Time{} // not throttled
	bar.update(restore.Progress{Step: 1, Steps: 3, Draw: 1, Draws: 2, Residual: 2, Elapsed: 4 * time.Second})
	if out := buf.String(); !strings.HasPrefix(out, "\rdraw 2/2 [==========                    ] 1/3 residual 2 ETA 2s") {
		t.Errorf("progress bar with draws: %q", out)
	}
	buf.Reset()
	quiet := &progressBar{w: &buf, on: false}
	quiet.update(restore.Progress{Step: 3, Steps: 3})
	quiet.done()
	if buf.Len() != 0 {
		t.Errorf("a quiet bar wrote %q", buf.String())
	}
}

func TestParseInterleaved(t *testing.T) {
	for _, tc := range []struct {
		args []string
		pos  []string
		n    int
	}{
		{[]string{"img.png", "-n", "3"}, []string{"img.png"}, 3},
		{[]string{"-n", "2", "a", "b"}, []string{"a", "b"}, 2},
		{[]string{"a", "-n", "4", "b"}, []string{"a", "b"}, 4},
		{[]string{"-n", "1", "--", "-odd"}, []string{"-odd"}, 1},
		{nil, nil, 0},
	} {
		fs := newFlagSet("test", "", io.Discard)
		n := fs.Int("n", 0, "")
		pos, err := parseInterleaved(fs, tc.args)
		if err != nil || !slices.Equal(pos, tc.pos) || *n != tc.n {
			t.Errorf("%q: positional %q, n=%d, err %v; want %q, %d", tc.args, pos, *n, err, tc.pos, tc.n)
		}
	}
	fs := newFlagSet("test", "", io.Discard)
	if _, err := parseInterleaved(fs, []string{"a", "-bogus"}); !errors.As(err, new(usageError)) {
		t.Errorf("unknown flag after an argument: %v, want a usage error", err)
	}
}

func TestRestoreTaskConfig(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "face.png")
	writeTestImage(t, img, 16, 0)
	cfg := filepath.Join(dir, "phase_retrieval_config.yaml")
	if err := os.WriteFile(cfg, []byte(`conditioning:
  method: ps
  params:
    scale: 0.7

data:
  name: ffhq
  root: ./data/samples/

measurement:
  operator:
    name: phase_retrieval
    oversample: 2.0

  noise: 
    name: poisson
    rate: 1.0`), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	args := append([]string{img, "-task-config", cfg, "-steps", "2", "-out", out, "-quiet"}, fixtureModel(t, "fixed")...)
	stdout, stderr, err := runCmd(runRestore, args...)
	if err != nil {
		t.Fatalf("restore: %v\n%s", err, stderr)
	}
	if stdout != "" {
		t.Errorf("-quiet printed %q", stdout)
	}
	rec, _ := readRestoreRecord(t, out)
	s := rec.Settings
	if s.Method != "dps" || s.Scale != 0.7 || s.Noise != "poisson:rate=1" || s.Task != "phase_retrieval" || rec.MeasurementView != "log-magnitude" {
		t.Errorf("record %+v", rec)
	}
	if _, _, err := runCmd(runRestore, append(args, "-task", "sr:factor=2")...); err == nil || !strings.Contains(err.Error(), "not both") {
		t.Errorf("-task with -task-config: %v", err)
	}
}

// TestRestoreMeasured restores a measurement one has (-measured) with the
// shipped prior: a 16×16 low-resolution image for super-resolution by 2
// gives a 32×32 reconstruction, the record says that the image was a
// measurement and has no metrics, the folder's earlier label.png goes, and
// a rerun with the record's values gives the same reconstruction.
func TestRestoreMeasured(t *testing.T) {
	dir := t.TempDir()
	clean, lowres := filepath.Join(dir, "shirt.png"), filepath.Join(dir, "lowres.png")
	writeTestImage(t, clean, 32, 0)
	writeTestImage(t, lowres, 16, 1)
	out, again := filepath.Join(dir, "out"), filepath.Join(dir, "again")
	run := func(args ...string) string {
		t.Helper()
		stdout, stderr, err := runCmd(runRestore, append(args, "-task", "sr:factor=2", "-method", "dps", "-steps", "2", "-seed", "3")...)
		if err != nil {
			t.Fatalf("restore %v: %v\n%s", args, err, stderr)
		}
		return stdout
	}
	run(clean, "-out", out, "-quiet") // an earlier restoration, with a label.png
	stdout := run("-measured", lowres, "-out", out)
	if !strings.Contains(stdout, "residual ‖y − A(x0)‖") || strings.Contains(stdout, "PSNR") {
		t.Errorf("summary %q: want the residual, no PSNR", stdout)
	}
	for name, size := range map[string]int{runs.RestoreReconFile: 32, runs.RestoreMeasurementFile: 16} {
		im, err := imageio.Load(filepath.Join(out, name))
		if err != nil || im.H != size || im.W != size {
			t.Errorf("%s: %v, want %d×%d", name, err, size, size)
		}
	}
	if _, err := os.Stat(filepath.Join(out, runs.RestoreLabelFile)); !os.IsNotExist(err) {
		t.Errorf("%s: %v, want none (no clean image)", runs.RestoreLabelFile, err)
	}
	rec, raw := readRestoreRecord(t, out)
	if !rec.Measured || rec.Image != lowres || rec.Metrics != nil || strings.Contains(raw, `"metrics"`) || slices.Contains(rec.Files, runs.RestoreLabelFile) ||
		rec.Settings.TaskSpec != "sr:factor=2" || rec.Seed != 3 || len(rec.Residuals) != 2 {
		t.Errorf("record %s", raw)
	}
	run("-measured", rec.Image, "-out", again, "-quiet", "-scale", "0.3", "-sigma-y", "0.05", "-noise", "gaussian:sigma=0.05")
	if readFile(t, filepath.Join(out, runs.RestoreReconFile)) != readFile(t, filepath.Join(again, runs.RestoreReconFile)) {
		t.Error("the rerun from the record gave another recon.png")
	}
}

// TestRestoreShippedPrior runs the default prior, the shipped fmnist32
// (32×32 gray): an RGB image is read as gray. The record names the weights
// by their digest, the diffusion process and the backend configuration.
func TestRestoreShippedPrior(t *testing.T) {
	t.Setenv(backend.EnvVar, backend.Name+":parallelism=2")
	dir := t.TempDir()
	img := filepath.Join(dir, "shirt.png")
	writeTestImage(t, img, 32, 0)
	out := filepath.Join(dir, "out")
	if _, stderr, err := runCmd(runRestore, img, "-task", "gaussian_blur:kernel_size=5", "-method", "dps", "-steps", "2", "-out", out); err != nil {
		t.Fatalf("restore: %v\n%s", err, stderr)
	}
	rec, _ := readRestoreRecord(t, out)
	if rec.Settings.Model != "fmnist32" || !slices.Equal(rec.Settings.ImageShape, []int{1, 1, 32, 32}) {
		t.Errorf("settings %+v", rec.Settings)
	}
	if rec.WeightsDigest != small.Digest() {
		t.Errorf("weights_sha256 %q, want the shipped prior's %q", rec.WeightsDigest, small.Digest())
	}
	want := small.Diffusion()
	want.ClipDenoised = true // as restore loads it
	if rec.Diffusion == nil || !reflect.DeepEqual(*rec.Diffusion, want) || rec.DiffusionConfig != "" {
		t.Errorf("diffusion %+v (file %q), want the shipped prior's %+v", rec.Diffusion, rec.DiffusionConfig, want)
	}
	if rec.BackendConfig != backend.Name+":parallelism=2" {
		t.Errorf("backend_config %q, want GOMLX_BACKEND's", rec.BackendConfig)
	}
	im, err := imageio.Load(filepath.Join(out, runs.RestoreReconFile), imageio.WithMode(imageio.Gray))
	if err != nil || im.H != 32 {
		t.Errorf("reconstruction: %v", err)
	}
}

// TestRestoreGraphNoiseBF16 runs the shipped prior with in-graph noise and a
// bfloat16 network: the record says so, the run is deterministic, and it
// differs from the default run of the same seed.
func TestRestoreGraphNoiseBF16(t *testing.T) {
	t.Parallel() // with the package's other long, self-contained tests, on the second core
	image := filepath.Join(testImagesDir(t), "9-boot.png")
	base := []string{image, "-task", "inpaint_box:size=12", "-method", "dps", "-steps", "3", "-quiet"}
	run := func(extra ...string) (restoreRecord, []byte) {
		t.Helper()
		out := t.TempDir()
		if _, _, err := runCmd(runRestore, append(append(base, "-out", out), extra...)...); err != nil {
			t.Fatal(err)
		}
		rec, _ := readRestoreRecord(t, out)
		png, err := os.ReadFile(filepath.Join(out, runs.RestoreReconFile))
		if err != nil {
			t.Fatal(err)
		}
		return rec, png
	}
	plain, plainPNG := run()
	fast, fastPNG := run("-graph-noise", "-bf16")
	_, againPNG := run("-graph-noise", "-bf16")
	if plain.Settings.GraphNoise || plain.Settings.BFloat16 || !fast.Settings.GraphNoise || !fast.Settings.BFloat16 {
		t.Errorf("settings recorded: default %+v, fast %+v", plain.Settings, fast.Settings)
	}
	if !bytes.Equal(fastPNG, againPNG) {
		t.Error("two -graph-noise -bf16 runs of one seed differ")
	}
	if bytes.Equal(fastPNG, plainPNG) {
		t.Error("the -graph-noise -bf16 run equals the default run")
	}
	if math.IsNaN(fast.Metrics.PSNR) || fast.Metrics.PSNR <= 0 {
		t.Errorf("PSNR %v", fast.Metrics.PSNR)
	}
}

// folderFiles returns the regular files under dir by path, with their
// content.
func folderFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		files[strings.TrimPrefix(p, dir)] = string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestRestoreRefusedKeepsEarlierRun reruns a restoration into a folder
// holding an earlier one, where a folder stands at a path the rerun
// writes: the rerun is refused, naming it, before it samples, and the
// earlier run's files are as they were (never new images beside the old
// record).
func TestRestoreRefusedKeepsEarlierRun(t *testing.T) {
	model := fixtureModel(t, "fixed")
	dir := t.TempDir()
	first, second := filepath.Join(dir, "first.png"), filepath.Join(dir, "second.png")
	writeTestImage(t, first, 16, 0)
	writeTestImage(t, second, 16, 1)
	for _, tc := range []struct {
		name    string
		blocker string // a folder made in -out after the first run
		extra   []string
	}{
		{"progress.gif is a folder", runs.RestoreGIFFile, []string{"-gif"}},
		{"a staged name is a folder", stagedName(runs.RestoreReconFile), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			args := append([]string{first, "-task", "sr:factor=2", "-method", "dps", "-steps", "2", "-out", out, "-quiet"}, model...)
			if _, _, err := runCmd(runRestore, args...); err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(filepath.Join(out, tc.blocker, "x"), 0o755); err != nil {
				t.Fatal(err)
			}
			before := folderFiles(t, out)
			args = append(append([]string{second, "-task", "inpaint_box", "-method", "dps", "-steps", "2", "-out", out, "-quiet"}, model...), tc.extra...)
			_, _, err := runCmd(runRestore, args...)
			if want := tc.blocker + " is a folder, where restore writes a file"; err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("error %v, want one containing %q", err, want)
			}
			if after := folderFiles(t, out); !reflect.DeepEqual(after, before) {
				var changed []string
				for name := range after {
					if after[name] != before[name] {
						changed = append(changed, name)
					}
				}
				t.Errorf("the refused run changed the earlier run's folder: %v", changed)
			}
		})
	}
}

// TestWriteRestoreOutputs writes a restoration over an earlier one: in
// full it leaves exactly the new run (the earlier run's files it does not
// write removed, other files kept); a failure while the files are written
// under their staged names leaves the folder as it was; one while they are
// moved into place leaves no record.json and says so. No staged file is
// left either way.
func TestWriteRestoreOutputs(t *testing.T) {
	img := func(v float32) *imageio.Image {
		im, err := imageio.New(1, 4, 4)
		if err != nil {
			t.Fatal(err)
		}
		for i := range im.Pix {
			im.Pix[i] = v
		}
		return im
	}
	res := &restore.Result{Truth: img(0.5), Reconstruction: img(0.25), Progress: []restore.Snapshot{{Step: 1, Image: img(0.75)}}}
	earlier := []string{runs.RestoreReconFile, runs.RestoreLabelFile, runs.RestoreProgressFile, runs.RestoreMeasurementFile, runs.RestoreGIFFile}
	if got := stagedName(runs.RestoreRecordFile); got != runs.RestoreStagedRecordFile {
		t.Fatalf("the staged record is %s, but runs.FolderRun looks for %s", got, runs.RestoreStagedRecordFile)
	}
	for _, tc := range []struct {
		name    string
		blocker string // a folder that stands in the way
		want    string // the error ("": none)
	}{
		{"in full", "", ""},
		{"failure while staging", stagedName(runs.RestoreRecordFile), "writing"},
		{"failure while moving", runs.RestoreReconFile, "holds no record.json now"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, name := range append(slices.Clone(earlier), runs.RestoreRecordFile, "notes.txt") {
				if err := os.WriteFile(filepath.Join(dir, name), []byte("earlier "+name), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if tc.blocker != "" {
				os.Remove(filepath.Join(dir, tc.blocker))
				if err := os.MkdirAll(filepath.Join(dir, tc.blocker, "x"), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			before := folderFiles(t, dir)
			rec := &restoreRecord{Image: "new.png", Files: restoreFiles(res, false)}
			rec.Settings.Method = "dps"
			err := writeRestoreOutputs(dir, res, rec, earlier)
			after := folderFiles(t, dir)
			for name := range after {
				// A failure while moving leaves the staged record, which
				// marks the folder as restore's for the rerun.
				kept := tc.want == "holds no record.json now" && name == "/"+stagedName(runs.RestoreRecordFile)
				if strings.Contains(name, ".new.") && !kept {
					t.Errorf("staged file %s left", name)
				}
			}
			if after["/notes.txt"] != "earlier notes.txt" {
				t.Errorf("notes.txt, not restore's, is %q", after["/notes.txt"])
			}
			switch {
			case tc.want == "" && err != nil:
				t.Fatal(err)
			case tc.want == "":
				var got restoreRecord
				if err := json.Unmarshal([]byte(after["/"+runs.RestoreRecordFile]), &got); err != nil || got.Image != "new.png" {
					t.Errorf("record.json %q (%v), want the new run's", after["/"+runs.RestoreRecordFile], err)
				}
				for _, name := range []string{runs.RestoreMeasurementFile, runs.RestoreGIFFile} {
					if _, ok := after["/"+name]; ok {
						t.Errorf("the earlier run's %s, which this run does not write, is left", name)
					}
				}
				for _, name := range rec.Files {
					if after["/"+name] == before["/"+name] {
						t.Errorf("%s is the earlier run's", name)
					}
				}
			case err == nil || !strings.Contains(err.Error(), tc.want):
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			case tc.blocker == stagedName(runs.RestoreRecordFile):
				if !reflect.DeepEqual(after, before) {
					t.Errorf("a failure while staging changed the folder: %v, was %v", after, before)
				}
			default:
				if _, ok := after["/"+runs.RestoreRecordFile]; ok {
					t.Errorf("a failure while moving left record.json: %q", after["/"+runs.RestoreRecordFile])
				}
				if err := runs.CheckOutputFolder(dir, runs.CommandRestore); err != nil {
					t.Errorf("a rerun after a failure while moving is refused: %v", err)
				}
				os.RemoveAll(filepath.Join(dir, tc.blocker))
				if err := writeRestoreOutputs(dir, res, rec, nil); err != nil {
					t.Errorf("the rerun: %v", err)
				}
				if got := folderFiles(t, dir); got["/"+stagedName(runs.RestoreRecordFile)] != "" || !strings.Contains(got["/"+runs.RestoreRecordFile], "new.png") {
					t.Errorf("after the rerun the folder holds %v", got)
				}
			}
		})
	}
}

// TestRestoreAfterStoppedWhileMoving reruns a restoration into a folder
// that one stopped while moving its files into place left (its images,
// progress.gif among them, and its staged record, no record.json): a
// rerun without -gif that completes leaves its own files alone, none of
// the stopped run's; one that fails (or is killed) while it stages its
// files leaves the folder marked as restore's, so that the next rerun is
// not refused as meeting files no restoration made.
func TestRestoreAfterStoppedWhileMoving(t *testing.T) {
	im, err := imageio.New(1, 4, 4)
	if err != nil {
		t.Fatal(err)
	}
	res := &restore.Result{Truth: im, Reconstruction: im, Progress: []restore.Snapshot{{Step: 1, Image: im}}}
	stopped := `{"image":"old.png","settings":{"method":"dps"},"files":["recon.png","label.png","progress.png","measurement.png","progress.gif"]}`
	for _, tc := range []struct {
		name    string
		blocker string // a folder at a staged name, failing the rerun
	}{
		{"rerun completes", ""},
		{"rerun fails while staging", stagedName(runs.RestoreReconFile)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			files := map[string]string{runs.RestoreStagedRecordFile: stopped, "notes.txt": "mine"}
			for _, name := range []string{runs.RestoreReconFile, runs.RestoreLabelFile, runs.RestoreProgressFile, runs.RestoreMeasurementFile, runs.RestoreGIFFile} {
				files[name] = "stopped run's " + name
			}
			for name, content := range files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if tc.blocker != "" {
				if err := os.MkdirAll(filepath.Join(dir, tc.blocker, "x"), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			earlier, err := earlierRestoreOutputs(dir)
			if err != nil {
				t.Fatal(err)
			}
			rec := &restoreRecord{Image: "new.png", Files: restoreFiles(res, false)}
			rec.Settings.Method = "dps"
			err = writeRestoreOutputs(dir, res, rec, earlier)
			after := folderFiles(t, dir)
			if after["/notes.txt"] != "mine" {
				t.Errorf("notes.txt, not restore's, is %q", after["/notes.txt"])
			}
			if tc.blocker == "" {
				if err != nil {
					t.Fatal(err)
				}
				for _, name := range []string{runs.RestoreGIFFile, runs.RestoreMeasurementFile} {
					if _, ok := after["/"+name]; ok {
						t.Errorf("the stopped run's %s, which the rerun does not write, is left beside its record", name)
					}
				}
				if !strings.Contains(after["/"+runs.RestoreRecordFile], "new.png") {
					t.Errorf("record.json is %q, want the rerun's", after["/"+runs.RestoreRecordFile])
				}
				return
			}
			if err == nil {
				t.Fatal("the rerun wrote its files through a folder at a staged name")
			}
			if err := runs.CheckOutputFolder(dir, runs.CommandRestore); err != nil {
				t.Errorf("after a rerun that failed while staging, the next one is refused: %v", err)
			}
		})
	}
}

// TestRestoreDrawsSummary: with -draws, the summary line names the draw
// kept by the number record.json gives it (from 0, the plain run of
// -seed, which the record leaves out).
func TestRestoreDrawsSummary(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "a.png")
	writeTestImage(t, img, 16, 0)
	for _, seed := range []string{"1", "2", "3"} {
		t.Run("seed "+seed, func(t *testing.T) {
			out := filepath.Join(dir, "out"+seed)
			args := append([]string{img, "-task", "sr:factor=2", "-method", "dps", "-steps", "2", "-draws", "3", "-seed", seed, "-out", out},
				fixtureModel(t, "fixed")...)
			stdout, stderr, err := runCmd(runRestore, args...)
			if err != nil {
				t.Fatalf("restore: %v\n%s", err, stderr)
			}
			rec, raw := readRestoreRecord(t, out)
			if want := fmt.Sprintf(", kept draw %d (draws 0 to 2)", rec.Draw); !strings.Contains(stdout, want) {
				t.Errorf("summary %q, want %q as record.json says:\n%s", stdout, want, raw)
			}
		})
	}
}

// readRestoreRecord reads and decodes the record.json that restore wrote
// in out, and returns it with its text (for messages).
func readRestoreRecord(t *testing.T, out string) (restoreRecord, string) {
	t.Helper()
	raw := readFile(t, filepath.Join(out, runs.RestoreRecordFile))
	var rec restoreRecord
	if err := json.Unmarshal([]byte(raw), &rec); err != nil {
		t.Fatalf("%s: %v", filepath.Join(out, runs.RestoreRecordFile), err)
	}
	return rec, raw
}

// TestRestoreEtaWithDDIMConfig checks -eta without -ddim against a
// -diffusion-config: a config whose sampler is ddim makes the updates
// DDIM's, so η is taken; one whose sampler is ddpm refuses it, naming η.
func TestRestoreEtaWithDDIMConfig(t *testing.T) {
	dir := t.TempDir()
	image := filepath.Join(testImagesDir(t), "6-shirt.png") // the shipped prior's size
	ddpm := diffusionConfigFile(t, dir, "linear", "learned_range")
	text, err := os.ReadFile(ddpm)
	if err != nil {
		t.Fatal(err)
	}
	ddim := filepath.Join(dir, "ddim.yaml")
	if err := os.WriteFile(ddim, []byte(strings.Replace(string(text), "sampler: ddpm", "sampler: ddim", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	args := func(config, out string) []string {
		return []string{image, "-task", "sr:factor=2", "-method", "dps", "-steps", "2", "-eta", "0.5",
			"-diffusion-config", config, "-quiet", "-out", filepath.Join(dir, out)}
	}
	if _, stderr, err := runCmd(runRestore, args(ddim, "ddim")...); err != nil {
		t.Errorf("-eta with a ddim config: %v\n%s", err, stderr)
	}
	if _, _, err := runCmd(runRestore, args(ddpm, "ddpm")...); err == nil || !strings.Contains(err.Error(), "η = 0.5 is DDIM's") {
		t.Errorf("-eta with a ddpm config: %v, want η refused", err)
	}
}

// TestRestoreRemovesKilledRunsTemps: a restoration killed while writing a
// file leaves its hidden temporary file (atomicfile), staged or in place;
// the next restoration into the folder, which holds the folder's claim,
// removes those of restore's names and leaves any other file alone.
func TestRestoreRemovesKilledRunsTemps(t *testing.T) {
	im, err := imageio.New(1, 4, 4)
	if err != nil {
		t.Fatal(err)
	}
	res := &restore.Result{Truth: im, Reconstruction: im, Progress: []restore.Snapshot{{Step: 1, Image: im}}}
	dir := t.TempDir()
	left := []string{
		"." + runs.RestoreReconFile + ".tmp.0123456789abcdef-77.1",
		"." + stagedName(runs.RestoreRecordFile) + ".tmp3",
		"." + stagedName(runs.RestoreGIFFile) + ".tmp.0123456789abcdef-78.2",
	}
	kept := []string{".notes.txt.tmp1", "notes.txt"}
	for _, name := range append(slices.Clone(left), kept...) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rec := &restoreRecord{Image: "new.png", Files: restoreFiles(res, false)}
	rec.Settings.Method = "dps"
	if err := writeRestoreOutputs(dir, res, rec, nil); err != nil {
		t.Fatal(err)
	}
	for _, name := range left {
		if _, err := os.Stat(filepath.Join(dir, name)); !os.IsNotExist(err) {
			t.Errorf("%s, a killed restoration's temporary file, is still there (%v)", name, err)
		}
	}
	for _, name := range kept {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s, not restore's, is gone: %v", name, err)
		}
	}
}
