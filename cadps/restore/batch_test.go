package restore

import (
	"errors"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps"
	"github.com/cadps/toolkit/cadps/imageio"
	"github.com/cadps/toolkit/ops"
)

func TestBaseline(t *testing.T) {
	sr, err := ops.NewSuperResolution(2, "cubic")
	if err != nil {
		t.Fatal(err)
	}
	blur, err := ops.NewGaussianBlur(5, 1)
	if err != nil {
		t.Fatal(err)
	}
	pr, err := ops.Parse("phase_retrieval", []int{1, 1, 8, 8}, 0)
	if err != nil {
		t.Fatal(err)
	}
	// A linear ramp along each axis: cubic interpolation reproduces it
	// where no tap is mirrored (output rows and columns 3 and 4 of 8).
	ramp := make([]float32, 2*4*4)
	for k := range ramp {
		i, j := (k%16)/4, k%4
		ramp[k] = float32(i+j)/8 - 0.5
	}
	cases := []struct {
		name          string
		op            ops.Operator
		y             []float32
		yShape, shape []int
		check         func(t *testing.T, got []float32)
		err           string
		none          bool // the error wraps ErrNoBaseline
	}{
		{name: "sr ramp", op: sr, y: ramp, yShape: []int{2, 1, 4, 4}, shape: []int{2, 1, 8, 8},
			check: func(t *testing.T, got []float32) {
				for n := range 2 {
					for i := 3; i < 5; i++ {
						for j := 3; j < 5; j++ {
							// output pixel o sits at input coordinate (o+0.5)/2−0.5.
							want := ((float64(i)+0.5)/2-0.5+(float64(j)+0.5)/2-0.5)/8 - 0.5
							want = (want + 1) / 2
							if g := float64(got[n*64+i*8+j]); math.Abs(g-want) > 1e-6 {
								t.Fatalf("image %d pixel (%d,%d) = %v, want %v", n, i, j, g, want)
							}
						}
					}
				}
			}},
		{name: "blur is y", op: blur, y: []float32{-1, 0, 1, 0.5}, yShape: []int{1, 1, 2, 2}, shape: []int{1, 1, 2, 2},
			check: func(t *testing.T, got []float32) {
				want := []float32{0, 0.5, 1, 0.75}
				for k := range want {
					if got[k] != want[k] {
						t.Fatalf("pixel %d = %v, want %v", k, got[k], want[k])
					}
				}
			}},
		{name: "phase retrieval", op: pr, y: make([]float32, 144), yShape: []int{1, 1, 12, 12}, shape: []int{1, 1, 8, 8}, err: "not an image", none: true},
		{name: "vector measurement", op: blur, y: []float32{0, 1}, yShape: []int{1, 2}, shape: []int{1, 1, 1, 1}, err: "not an image", none: true},
		{name: "image rank", op: blur, y: []float32{0}, yShape: []int{1, 1, 1, 1}, shape: []int{1, 1}, err: "NCHW"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ims, err := Baseline(c.op, c.y, c.yShape, c.shape)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one containing %q", err, c.err)
				}
				if errors.Is(err, ErrNoBaseline) != c.none {
					t.Fatalf("error %v: wraps ErrNoBaseline %v, want %v", err, !c.none, c.none)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []float32
			for _, im := range ims {
				got = append(got, im.Pix...)
			}
			c.check(t, got)
		})
	}
}

// TestRestoreBatchCallback restores two test images together with CA-DPS
// and a callback: it sees every step, each image's residual and the
// multiplier of the whole batch; it does not change the result; and an
// error from it stops the run and is returned.
func TestRestoreBatchCallback(t *testing.T) {
	b, prior := shippedPrior(t)
	truths := twoTestImages(t, prior)
	r, err := New(b, prior, Options{Task: SpecTask("gaussian_blur:kernel_size=9,intensity=1"), Method: "cadps", Steps: 3})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := r.RestoreBatch(truths, 4, nil)
	if err != nil {
		t.Fatal(err)
	}
	var steps []int
	seen, err := r.RestoreBatch(truths, 4, func(info cadps.StepInfo) error {
		steps = append(steps, info.Step)
		if len(info.Residual) != 2 || !(info.Residual[0] > 0) || !(info.Residual[1] > 0) {
			t.Errorf("step %d: residuals %v, want two positive", info.Step, info.Residual)
		}
		m, ok := info.Extra["multiplier"]
		if !ok {
			t.Fatalf("step %d: no multiplier in %v", info.Step, info.Extra)
		}
		if got, want := m.Shape().Dimensions, []int{2, 1, 32, 32}; !slices.Equal(got, want) {
			t.Errorf("step %d: multiplier shape %v, want %v", info.Step, got, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(steps, []int{1, 2, 3}) {
		t.Errorf("callback saw steps %v, want 1 2 3", steps)
	}
	for k := range truths {
		if a, b := plain.Items[k].Metrics, seen.Items[k].Metrics; a != b {
			t.Errorf("image %d: %+v without a callback, %+v with one", k, a, b)
		}
	}
	stop := errors.New("stop at step 2")
	_, err = r.RestoreBatch(truths, 4, func(info cadps.StepInfo) error {
		if info.Step == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Errorf("error %v, want the callback's", err)
	}
}

// TestRestoreBatchPhaseRetrieval restores a batch whose measurement is no
// image: the reconstruction is measured, the baseline is absent (nil image,
// NaN metrics), and the measurement is shown as a log-magnitude image of
// the padded size.
func TestRestoreBatchPhaseRetrieval(t *testing.T) {
	b, prior := shippedPrior(t)
	truths := twoTestImages(t, prior)
	r, err := New(b, prior, Options{Task: SpecTask("phase_retrieval:oversample=2"), Method: "dps", Steps: 2})
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.RestoreBatch(truths, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, it := range res.Items {
		if it.Baseline != nil || !math.IsNaN(it.BaselineMetrics.PSNR) || !math.IsNaN(it.BaselineMetrics.SSIM) {
			t.Errorf("image %d: baseline %v with metrics %+v, want none and NaN", k, it.Baseline, it.BaselineMetrics)
		}
		if m := it.Metrics; math.IsNaN(m.PSNR) || m.PSNR <= 0 || math.IsNaN(m.SSIM) {
			t.Errorf("image %d: metrics %+v, want finite", k, m)
		}
		if it.Measurement == nil || it.Measurement.H != 48 || it.Measurement.W != 48 {
			t.Errorf("image %d: measurement %v, want a 48×48 log-magnitude image", k, it.Measurement)
		}
	}
}

// twoTestImages loads two of the shipped test images at the prior's size.
func twoTestImages(t *testing.T, prior *Prior) []*imageio.Image {
	t.Helper()
	var truths []*imageio.Image
	for _, name := range []string{"0-tshirt.png", "9-boot.png"} {
		im, err := LoadImage(filepath.Join("..", "..", "cadps", "prior", "small", "testimages", name), prior.ImageShape(), FitNone)
		if err != nil {
			t.Fatal(err)
		}
		truths = append(truths, im)
	}
	return truths
}
