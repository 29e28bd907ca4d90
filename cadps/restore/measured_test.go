package restore

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps/imageio"
	"github.com/cadps/toolkit/ops"
)

// TestRestoreMeasurementRoundTrip restores the measurement Restore
// synthesised, with Restore's seed: the sampler's draws depend on the seed
// alone, so the reconstruction, the residuals and the draw kept are
// Restore's, bit for bit. The measurement is exact as an image: a half
// mask of an 8-bit image without noise. Another seed gives another
// reconstruction.
func TestRestoreMeasurementRoundTrip(t *testing.T) {
	b, prior := fixedPrior(t)
	clean, err := ops.ParseNoise("clean")
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(b, prior, Options{Task: SpecTask("inpaint_half"), Method: "dps", Steps: 3, Noise: clean, Draws: 2, ProgressEvery: 2})
	if err != nil {
		t.Fatal(err)
	}
	const seed = 7
	want, err := r.Restore(testImage(3, 16, 0).Quantize8(), seed, nil)
	if err != nil {
		t.Fatal(err)
	}
	var steps int
	got, err := r.RestoreMeasurement(want.Measurement, seed, func(Progress) { steps++ })
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Reconstruction.Pix, want.Reconstruction.Pix) {
		t.Error("the reconstruction from the given measurement is not Restore's")
	}
	if !slices.Equal(got.Residuals, want.Residuals) || got.Residual != want.Residual || got.Draw != want.Draw {
		t.Errorf("residuals %v (%v, draw %d), Restore's %v (%v, draw %d)", got.Residuals, got.Residual, got.Draw, want.Residuals, want.Residual, want.Draw)
	}
	if !slices.Equal(got.Measurement.Pix, want.Measurement.Pix) || got.MeasurementView != "image" || got.Operator != want.Operator {
		t.Errorf("measurement %q view %q, want Restore's %q view image", got.Operator, got.MeasurementView, want.Operator)
	}
	if len(got.Progress) != len(want.Progress) || steps != 2*3 {
		t.Errorf("%d snapshots and %d callbacks, want %d and 6", len(got.Progress), steps, len(want.Progress))
	}
	if got.Truth != nil || !math.IsNaN(got.Metrics.PSNR) || !math.IsNaN(got.Metrics.SSIM) {
		t.Errorf("truth %v, metrics %+v: want none and NaN", got.Truth, got.Metrics)
	}
	// Without a clean image, Save writes no label.
	dir := t.TempDir()
	if err := got.Save(OutputFiles{Reconstruction: filepath.Join(dir, "recon.png"), Truth: filepath.Join(dir, "label.png")}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "label.png")); !os.IsNotExist(err) {
		t.Errorf("label.png written for a result without a clean image (%v)", err)
	}
	other, err := r.RestoreMeasurement(want.Measurement, seed+1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(other.Reconstruction.Pix, want.Reconstruction.Pix) {
		t.Error("seeds 7 and 8 gave the same reconstruction")
	}
}

// TestRestoreMeasurementRefused: a measurement of the wrong shape, a task
// with a random mask or kernel, one of one's own not marked fixed, phase
// retrieval and unconditional sampling are refused, naming the problem and
// the fix.
func TestRestoreMeasurementRefused(t *testing.T) {
	b, prior := fixedPrior(t)
	halfBuild := func(shape []int, _ uint64) (ops.Operator, error) {
		return ops.Parse("inpaint_half", shape, 0)
	}
	for _, tc := range []struct {
		name   string
		task   Task
		method string
		y      *imageio.Image
		want   []string
	}{
		{"larger", SpecTask("sr:factor=2"), "dps", testImage(3, 16, 0),
			[]string{"the measurement is 16×16 RGB, but task sr_factor=2 measures the model's 16×16 images as 8×8 RGB"}},
		{"gray", SpecTask("sr:factor=2"), "dps", testImage(1, 8, 0), []string{"the measurement is 8×8 gray", "as 8×8 RGB"}},
		{"random box", SpecTask("inpaint_box:size=6"), "dps", testImage(3, 16, 0),
			[]string{"task inpaint_box_size=6 draws its operator's random parts", "inpaint_file:path=MASK.png"}},
		{"random kernel", SpecTask("motion_blur:kernel_size=5"), "dps", testImage(3, 16, 0),
			[]string{"task motion_blur_kernel_size=5 draws", "motion_blur:file="}},
		{"own operator not fixed", Task{Label: "mine", Build: halfBuild}, "dps", testImage(3, 16, 0), []string{"task mine draws", "mark the task Fixed"}},
		{"phase retrieval", SpecTask("phase_retrieval"), "dps", testImage(3, 24, 0),
			[]string{"task phase_retrieval", "not an image", "cannot be given as an image"}},
		{"unconditional", SpecTask("sr:factor=2"), "unconditional", testImage(3, 8, 0), []string{"method unconditional samples unconditionally: it takes no measurement"}},
		{"no image", SpecTask("sr:factor=2"), "dps", nil, []string{"no measurement image"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			scale := 1.0
			r, err := New(b, prior, Options{Task: tc.task, Method: tc.method, Steps: 2, Scale: &scale})
			if err != nil {
				t.Fatal(err)
			}
			if err := r.CheckMeasurement(tc.y); err == nil {
				t.Fatal("CheckMeasurement: no error")
			}
			_, err = r.RestoreMeasurement(tc.y, 1, nil)
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q, want it to contain %q", err, w)
				}
			}
		})
	}
	// A fixed operator of one's own is taken.
	r, err := New(b, prior, Options{Task: Task{Label: "mine", Build: halfBuild, Fixed: true}, Method: "dps", Steps: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.CheckMeasurement(testImage(3, 16, 0)); err != nil {
		t.Errorf("a fixed operator of one's own: %v", err)
	}
}

// TestRestoreMeasurementIgnoresMaskedPixels: what a given measurement
// holds where an inpainting mask observes nothing (a hole painted white)
// does not change the reconstruction, as it is not part of y.
func TestRestoreMeasurementIgnoresMaskedPixels(t *testing.T) {
	b, prior := fixedPrior(t)
	clean, err := ops.ParseNoise("clean")
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(b, prior, Options{Task: SpecTask("inpaint_half"), Method: "dps", Steps: 3, Noise: clean})
	if err != nil {
		t.Fatal(err)
	}
	want, err := r.Restore(testImage(3, 16, 0).Quantize8(), 7, nil)
	if err != nil {
		t.Fatal(err)
	}
	mask := r.fixedOp.(*ops.Inpainting).Mask()
	painted := want.Measurement.Clone()
	hw, holes := len(mask), 0
	for i := range painted.Pix {
		if mask[i%hw] == 0 {
			painted.Pix[i], holes = 1, holes+1
		}
	}
	if holes == 0 {
		t.Fatal("the mask observes every pixel")
	}
	got, err := r.RestoreMeasurement(painted, 7, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Reconstruction.Pix, want.Reconstruction.Pix) || !slices.Equal(got.Residuals, want.Residuals) {
		t.Errorf("with %d unobserved values painted white: residuals %v, want %v (and the same reconstruction)", holes, got.Residuals, want.Residuals)
	}
}

// TestLoadMeasurement reads a measurement at its own size, in the mode of
// the prior's images: an RGB file for a gray prior is read as gray.
func TestLoadMeasurement(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "lowres.png")
	if err := imageio.Save(path, testImage(3, 8, 0).Quantize8()); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		shape []int
		want  int // channels
	}{
		{"RGB prior", []int{1, 3, 32, 32}, 3},
		{"gray prior", []int{1, 1, 32, 32}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			y, err := LoadMeasurement(path, tc.shape)
			if err != nil {
				t.Fatal(err)
			}
			if y.C != tc.want || y.H != 8 || y.W != 8 {
				t.Errorf("read %s, want 8×8 with %d channels", y.Size(), tc.want)
			}
		})
	}
	if _, err := LoadMeasurement(path, []int{1, 2, 32, 32}); err == nil || !strings.Contains(err.Error(), "C 1 or 3") {
		t.Errorf("a 2-channel prior shape: error %v", err)
	}
	if _, err := LoadMeasurement(filepath.Join(dir, "none.png"), []int{1, 3, 32, 32}); err == nil || !strings.Contains(err.Error(), "restore: measurement:") {
		t.Errorf("a missing file: error %v", err)
	}
}

// TestRestoreMeasurementKeepsOperatorGraph: the draws of a given
// measurement are scored through one kept graph of A, as Restore's are,
// not one compiled per draw.
func TestRestoreMeasurementKeepsOperatorGraph(t *testing.T) {
	b, prior := fixedPrior(t)
	r, err := New(b, prior, Options{Task: SpecTask("sr:factor=2"), Method: "dps", Steps: 2, Draws: 2})
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Restore(testImage(3, 16, 0).Quantize8(), 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := New(b, prior, Options{Task: SpecTask("sr:factor=2"), Method: "dps", Steps: 2, Draws: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fresh.RestoreMeasurement(res.Measurement, 1, nil); err != nil {
		t.Fatal(err)
	}
	if len(fresh.applier.shaped) != 1 {
		t.Errorf("%d operator graphs kept for the batch shape, want 1", len(fresh.applier.shaped))
	}
}
