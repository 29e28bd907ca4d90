package restore

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps"
	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/diffusion"
	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/cadps/imageio"
	"github.com/cadps/toolkit/cadps/prior/small"
	"github.com/cadps/toolkit/checkpoints"
	"github.com/cadps/toolkit/internal/fixtures"
	"github.com/cadps/toolkit/ops"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// fixtureSpec returns the spec of a reference fixture network: an
// unconditional 16×16 one with fixed variances ("fixed", the shared unet-b)
// or with learned ones ("learned"), whose weights do not fit the fixed one.
func fixtureSpec(t *testing.T, variances string) ModelSpec {
	t.Helper()
	m := fixtures.UNetModels(t, func(m fixtures.UNetModel) bool {
		return !m.Kwargs.ClassCond && m.Kwargs.LearnSigma == (variances == "learned") &&
			(variances == "learned" || m.Kwargs.ImageSize == 16)
	})[0]
	return ModelSpec{ConfigPath: m.Config, Weights: m.Weights}
}

// fixedPrior returns the default backend and the prior of the "fixed"
// fixture network (see fixtureSpec).
func fixedPrior(t *testing.T) (backends.Backend, *Prior) {
	t.Helper()
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	prior, err := LoadPrior(fixtureSpec(t, "fixed"))
	if err != nil {
		t.Fatal(err)
	}
	return b, prior
}

// testImage returns a smooth c-channel size×size image.
func testImage(c, size int, phase float64) *imageio.Image {
	im, _ := imageio.New(c, size, size)
	for ch := range c {
		for y := range size {
			for x := range size {
				v := 0.5 + 0.4*math.Sin(float64(x)/3+phase+float64(ch))*math.Cos(float64(y)/4-phase)
				im.Set(ch, y, x, float32(v))
			}
		}
	}
	return im
}

func TestRestoreTasks(t *testing.T) {
	b, prior := fixedPrior(t)
	truth := testImage(3, 16, 0)
	for _, tc := range []struct {
		spec     string
		method   string
		view     string
		measH    int
		scale    float64
		progress int
		reused   bool // one compiled sampler for every seed
	}{
		{"super_resolution:factor=2", "dps", "image", 8, 0.3, 2, true},
		{"gaussian_blur:kernel_size=5,intensity=1", "dps", "image", 16, 0.3, 2, true},
		{"inpaint_box:size=6", "dps", "image", 16, 0.5, 2, false},
		{"phase_retrieval:oversample=2", "dps", "log-magnitude", 24, 1.0, 2, true},
		// Method specs: options reach the method, ζ defaults by its name.
		{"super_resolution:factor=2", "tmpd:diagonal=hutchinson,probes=2", "image", 8, 1, 2, true},
		{"inpaint_box:size=6", "mmps:cg=2", "image", 16, 1, 2, false},
	} {
		t.Run(tc.spec+"/"+tc.method, func(t *testing.T) {
			r, err := New(b, prior, Options{Task: SpecTask(tc.spec), Method: tc.method, Steps: 3, ProgressEvery: 2})
			if err != nil {
				t.Fatal(err)
			}
			if got := r.Settings().Scale; got != tc.scale {
				t.Errorf("default ζ = %v, want %v", got, tc.scale)
			}
			var calls int
			res, err := r.Restore(truth, 7, func(p Progress) { calls++ })
			if err != nil {
				t.Fatal(err)
			}
			if calls != 3 || len(res.Residuals) != 3 {
				t.Errorf("%d callbacks, %d residuals; want 3 each", calls, len(res.Residuals))
			}
			if res.MeasurementView != tc.view || res.Measurement == nil || res.Measurement.H != tc.measH {
				t.Errorf("measurement view %q (%v), want %q with height %d", res.MeasurementView, res.Measurement, tc.view, tc.measH)
			}
			// Steps 2 and 3 (the last) are kept.
			if len(res.Progress) != tc.progress || res.Progress[len(res.Progress)-1].Step != 3 {
				t.Errorf("progress snapshots %d, want %d ending at step 3", len(res.Progress), tc.progress)
			}
			if math.IsNaN(res.Metrics.PSNR) || res.Metrics.SSIM < -1 || res.Metrics.SSIM > 1 {
				t.Errorf("metrics %+v", res.Metrics)
			}
			for _, r := range res.Residuals {
				if !(r > 0) {
					t.Errorf("residual %v, want positive", r)
				}
			}
			// Same seed, same result.
			again, err := r.Restore(truth, 7, nil)
			if err != nil {
				t.Fatal(err)
			}
			if again.Metrics != res.Metrics {
				t.Errorf("rerun with the same seed gave %+v, first run %+v", again.Metrics, res.Metrics)
			}
			if reused := r.fixedSampler != nil; reused != tc.reused {
				t.Errorf("sampler kept for later seeds: %v, want %v", reused, tc.reused)
			}
			// The seed-independent operator's graph, or the one every box
			// is applied through.
			if len(r.applier.shaped) == 0 && len(r.applier.bound) == 0 {
				t.Error("no operator graph kept for later seeds")
			}
		})
	}
}

func TestRestoreDiverges(t *testing.T) {
	b, prior := fixedPrior(t)
	huge := 1e38
	r, err := New(b, prior, Options{Task: SpecTask("super_resolution:factor=2"), Method: "dps", Steps: 3, Scale: &huge})
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Restore(testImage(3, 16, 0), 1, nil)
	if !errors.Is(err, cadps.ErrDiverged) {
		t.Fatalf("error %v, want one wrapping cadps.ErrDiverged", err)
	}
}

func TestRestoreErrors(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	spec := fixtureSpec(t, "fixed")
	prior, err := LoadPrior(spec)
	if err != nil {
		t.Fatal(err)
	}
	other := fixtureSpec(t, "learned")
	for _, tc := range []struct {
		name string
		run  func() error
		want string
	}{
		{"unknown preset", func() error { _, err := LoadPrior(ModelSpec{Name: "ffhq512", Weights: spec.Weights}); return err }, `unknown model "ffhq512"`},
		{"weights that do not fit", func() error {
			_, err := LoadPrior(ModelSpec{ConfigPath: spec.ConfigPath, Weights: other.Weights})
			return err
		}, "do not fit model"},
		{"missing weights", func() error {
			_, err := LoadPrior(ModelSpec{ConfigPath: spec.ConfigPath, Weights: "/nonexistent.safetensors"})
			return err
		}, "no such file"},
		{"unknown method", func() error {
			_, err := New(b, prior, Options{Task: SpecTask("sr:factor=2"), Method: "magic"})
			return err
		}, `unknown method "magic"`},
		{"bad method option", func() error {
			_, err := New(b, prior, Options{Task: SpecTask("sr:factor=2"), Method: "mmps:solver=lu"})
			return err
		}, `unknown solver "lu"`},
		{"unknown task", func() error { _, err := New(b, prior, Options{Task: SpecTask("deblur9"), Method: "dps"}); return err }, `unknown operator "deblur9"`},
		{"method that cannot use the operator", func() error {
			_, err := New(b, prior, Options{Task: SpecTask("phase_retrieval"), Method: "pigdm"})
			return err
		}, "pigdm cannot run on phase_retrieval: it needs a linear operator"},
		{"task that does not fit", func() error {
			_, err := New(b, prior, Options{Task: SpecTask("sr:factor=3"), Method: "dps"})
			return err
		}, "does not divide"},
		{"NaN step size", func() error {
			nan := math.NaN()
			_, err := New(b, prior, Options{Task: SpecTask("sr:factor=2"), Method: "dps", Scale: &nan})
			return err
		}, "step size ζ = NaN must be finite and non-negative"},
		{"negative σ_y", func() error {
			neg := -0.05
			_, err := New(b, prior, Options{Task: SpecTask("sr:factor=2"), Method: "dps", SigmaY: &neg})
			return err
		}, "σ_y = -0.05 must be finite and non-negative"},
		{"infinite σ_y", func() error {
			inf := math.Inf(1)
			_, err := New(b, prior, Options{Task: SpecTask("sr:factor=2"), Method: "dps", SigmaY: &inf})
			return err
		}, "σ_y = +Inf must be finite and non-negative"},
		{"η without DDIM", func() error {
			_, err := New(b, prior, Options{Task: SpecTask("sr:factor=2"), Method: "dps", Eta: 0.5})
			return err
		}, "η = 0.5 is DDIM's"},
		{"DDIM η above 1", func() error {
			_, err := New(b, prior, Options{Task: SpecTask("sr:factor=2"), Method: "dps", DDIM: true, Eta: 2})
			return err
		}, "DDIM η = 2 must lie in [0, 1]"},
		{"bad ramp", func() error {
			_, err := New(b, prior, Options{Task: SpecTask("sr:factor=2"), Method: "dps", Ramp: guidance.Ramp{From: -1, Over: 0.5}})
			return err
		}, "ramp FROM = -1"},
		{"more steps than the process", func() error {
			_, err := New(b, prior, Options{Task: SpecTask("sr:factor=2"), Method: "dps", Steps: prior.Diffusion.Steps + 1})
			return err
		}, fmt.Sprintf("restore: %d sampling steps exceed the %d steps of the prior's diffusion process: give at most %d", prior.Diffusion.Steps+1, prior.Diffusion.Steps, prior.Diffusion.Steps)},
		{"more sampled steps than the process", func() error {
			_, err := prior.Sample(b, 1, prior.Diffusion.Steps+1, false, 0)
			return err
		}, fmt.Sprintf("restore: %d sampling steps exceed the %d steps", prior.Diffusion.Steps+1, prior.Diffusion.Steps)},
		{"wrong image size", func() error {
			r, err := New(b, prior, Options{Task: SpecTask("sr:factor=2"), Method: "dps", Steps: 2})
			if err != nil {
				return err
			}
			_, err = r.Restore(testImage(3, 32, 0), 0, nil)
			return err
		}, "the model takes 3-channel 16×16 images"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			if err == nil {
				t.Fatalf("no error, want one containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q, want one line containing %q", err, tc.want)
			}
		})
	}
}

func TestLoadImageFit(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.png")
	if err := imageio.Save(big, testImage(3, 24, 0)); err != nil {
		t.Fatal(err)
	}
	small := filepath.Join(dir, "small.png")
	if err := imageio.Save(small, testImage(3, 8, 0)); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(dir, "garbage.png")
	if err := os.WriteFile(garbage, []byte("not an image"), 0o644); err != nil {
		t.Fatal(err)
	}
	shape := []int{1, 1, 16, 16}
	for _, tc := range []struct {
		path string
		fit  Fit
		want string // "" for success
	}{
		{big, FitNone, "is 24×24, but the model takes 16×16"},
		{big, FitCrop, ""},
		{big, FitResize, ""},
		{small, FitCrop, "is 8×8"},
		{small, FitResize, ""},
		{garbage, FitNone, "cannot read image"},
		{filepath.Join(dir, "missing.png"), FitNone, "no such file"},
	} {
		im, err := LoadImage(tc.path, shape, tc.fit)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s %v: %v", filepath.Base(tc.path), tc.fit, err)
		case tc.want == "" && (im.C != 1 || im.H != 16 || im.W != 16):
			t.Errorf("%s %v: loaded %s, want gray 16×16", filepath.Base(tc.path), tc.fit, im.Size())
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s %v: error %v, want %q", filepath.Base(tc.path), tc.fit, err, tc.want)
		}
	}
}

// TestLoadImageShape checks that LoadImage and CheckImage refuse a shape
// or size no prior has with an error naming it, where LoadImage indexed
// the shape and panicked, and CheckImage compared the file with a 0×0 model.
func TestLoadImageShape(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.png")
	if err := imageio.Save(path, testImage(1, 16, 0)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		shape []int
		want  string // "" for success
	}{
		{"gray", []int{1, 1, 16, 16}, ""},
		{"rgb", []int{1, 3, 16, 16}, ""},
		{"nil", nil, "image shape [], want the NCHW shape"},
		{"CHW", []int{1, 16, 16}, "image shape [1 16 16], want the NCHW shape"},
		{"two channels", []int{1, 2, 16, 16}, "image shape [1 2 16 16]"},
		{"zero size", []int{1, 1, 0, 0}, "image shape [1 1 0 0]"},
		{"not square", []int{1, 1, 16, 8}, "image shape [1 1 16 8]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			im, err := LoadImage(path, tc.shape, FitNone)
			switch {
			case tc.want == "" && err != nil:
				t.Fatal(err)
			case tc.want == "" && (im.C != tc.shape[1] || im.H != 16 || im.W != 16):
				t.Errorf("loaded %s for shape %v", im.Size(), tc.shape)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	for _, size := range []int{0, -16} {
		want := fmt.Sprintf("image size %d is not positive", size)
		if err := CheckImage(path, size, FitResize); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckImage size %d: error %v, want one containing %q", size, err, want)
		}
	}
}

// TestRecordName checks the name records give the shipped prior under
// either of its names, its architecture with other weights, and other
// models.
func TestRecordName(t *testing.T) {
	for _, tc := range []struct{ name, weights, want string }{
		{SmallPriorName, "", small.Name},
		{small.Name, "", small.Name},
		{SmallPriorName, "ema.safetensors", SmallPriorName},
		{small.Name, "ema.safetensors", SmallPriorName},
		{"ffhq256", "ffhq_10m.pt", "ffhq256"},
		{"", "model.safetensors", ""},
	} {
		if got := RecordName(tc.name, tc.weights); got != tc.want {
			t.Errorf("RecordName(%q, %q) = %q, want %q", tc.name, tc.weights, got, tc.want)
		}
	}
}

// TestModelNames checks that ModelNames lists every name LoadPrior takes,
// the shipped prior's recorded name among them, and only those.
func TestModelNames(t *testing.T) {
	want := []string{"ffhq256", small.Name, "imagenet256", SmallPriorName}
	if got := ModelNames(); !slices.Equal(got, want) {
		t.Errorf("ModelNames() = %q, want %q", got, want)
	}
}

func TestSmallPrior(t *testing.T) {
	for _, name := range []string{SmallPriorName, "fmnist32"} {
		prior, err := LoadPrior(ModelSpec{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		if prior.Record != small.Name {
			t.Errorf("%s: recorded as %q, want %q", name, prior.Record, small.Name)
		}
		if got := prior.ImageShape(); got[1] != 1 || got[2] != 32 || got[3] != 32 || !prior.Diffusion.ClipDenoised {
			t.Errorf("%s: image shape %v, diffusion %+v; want gray 32×32 with clipped x̂0", name, got, prior.Diffusion)
		}
	}
	if _, err := LoadPrior(ModelSpec{Name: SmallPriorName, Weights: "x.pt"}); err == nil || !strings.Contains(err.Error(), "x.pt") {
		t.Errorf("small with a missing weights file: %v", err)
	}
	// The shipped weights through a file give the same prior.
	sd, err := small.Weights()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ema.safetensors")
	if err := checkpoints.SaveSafetensors(path, sd); err != nil {
		t.Fatal(err)
	}
	fromFile, err := LoadPrior(ModelSpec{Name: SmallPriorName, Weights: path})
	if err != nil {
		t.Fatal(err)
	}
	if fromFile.Weights != path || fromFile.Record != SmallPriorName || !fromFile.Diffusion.ClipDenoised || fromFile.Diffusion.VarType != diffusion.VarLearnedRange {
		t.Errorf("small with a weights file: %+v", fromFile)
	}
	b, prior := shippedPrior(t)
	r, err := New(b, prior, Options{Task: SpecTask("super_resolution:factor=2"), Method: "dps", Steps: 2})
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Restore(testImage(1, 32, 0), 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Reconstruction.C != 1 || res.Measurement.H != 16 || r.Settings().Model != "fmnist32" {
		t.Errorf("reconstruction %s, measurement %s, model %q", res.Reconstruction.Size(), res.Measurement.Size(), r.Settings().Model)
	}
}

// TestDiagonalMethodsOnSmallPrior is the image case that showed why tmpd and
// cadps-gauss replace a negative diagonal entry by its magnitude
// (guidance.NegativeRule): box inpainting of the shipped test T-shirt with
// the shipped prior, 50 steps. With negative entries clamped to 0, one step
// overshot by up to 10⁴ and left a black box; the seeds are ones where that
// happened (PSNR with the clamp → with the magnitude, measured: tmpd seed 2
// 16.7 → 25.3 dB, tmpd in pixel space seed 3 13.4 → 31.2, cadps-gauss
// seed 3 24.2 → 31.2; DPS gives 24.6 and 25.7).
func TestDiagonalMethodsOnSmallPrior(t *testing.T) {
	b, prior := shippedPrior(t)
	truth, err := LoadImage(filepath.Join("..", "..", "cadps", "prior", "small", "testimages", "0-tshirt.png"), prior.ImageShape(), FitNone)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		method  string
		seed    uint64
		minPSNR float64
	}{
		{"tmpd", 2, 22},
		{"tmpd:space=pixels", 3, 27},
		{"cadps-gauss", 3, 27},
	} {
		t.Run(c.method, func(t *testing.T) {
			r, err := New(b, prior, Options{Task: SpecTask("inpaint_box:size=12"), Method: c.method, Steps: 50})
			if err != nil {
				t.Fatal(err)
			}
			res, err := r.Restore(truth, c.seed, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.Metrics.PSNR < c.minPSNR {
				t.Errorf("seed %d: PSNR %.2f dB, want ≥ %g", c.seed, res.Metrics.PSNR, c.minPSNR)
			}
		})
	}
}

// shippedPrior returns the pure-Go backend and the shipped small prior.
func shippedPrior(t *testing.T) (backends.Backend, *Prior) {
	t.Helper()
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	prior, err := LoadPrior(ModelSpec{Name: SmallPriorName})
	if err != nil {
		t.Fatal(err)
	}
	return b, prior
}

// TestRestoreRamp checks that a step-size ramp reaches the sampler on both
// restoration paths and is recorded in the settings, and that a ramp of
// constant weight 1 reproduces the plain run exactly.
func TestRestoreRamp(t *testing.T) {
	b, prior := shippedPrior(t)
	truth, err := LoadImage(filepath.Join("..", "..", "cadps", "prior", "small", "testimages", "9-boot.png"), prior.ImageShape(), FitNone)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		ramp      guidance.Ramp
		setting   string
		samePlain bool
	}{
		{guidance.Ramp{}, "", true},
		{guidance.Ramp{From: 1, Over: 0.5}, "1:0.5", true},
		{guidance.Ramp{From: 0.1, Over: 1}, "0.1:1", false},
	} {
		r, err := New(b, prior, Options{Task: SpecTask("sr:factor=2"), Method: "dps", Steps: 3, Ramp: c.ramp})
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Settings().Ramp; got != c.setting {
			t.Errorf("ramp %v: settings record %q, want %q", c.ramp, got, c.setting)
		}
		one, err := r.Restore(truth, 2, nil)
		if err != nil {
			t.Fatal(err)
		}
		batch, err := r.RestoreBatch([]*imageio.Image{truth}, 2, nil)
		if err != nil {
			t.Fatal(err)
		}
		plain, err := New(b, prior, Options{Task: SpecTask("sr:factor=2"), Method: "dps", Steps: 3})
		if err != nil {
			t.Fatal(err)
		}
		plainOne, err := plain.Restore(truth, 2, nil)
		if err != nil {
			t.Fatal(err)
		}
		plainBatch, err := plain.RestoreBatch([]*imageio.Image{truth}, 2, nil)
		if err != nil {
			t.Fatal(err)
		}
		if same := one.Metrics == plainOne.Metrics; same != c.samePlain {
			t.Errorf("ramp %v, Restore: %+v against the plain run's %+v; same = %v, want %v", c.ramp, one.Metrics, plainOne.Metrics, same, c.samePlain)
		}
		if same := batch.Items[0].Metrics == plainBatch.Items[0].Metrics; same != c.samePlain {
			t.Errorf("ramp %v, RestoreBatch: %+v against the plain run's %+v; same = %v, want %v", c.ramp, batch.Items[0].Metrics, plainBatch.Items[0].Metrics, same, c.samePlain)
		}
	}
}

// TestDDRMCleanBlur restores a blurred shipped test image with DDRM from a
// noiseless measurement (σ_y = 0). The blur's smallest singular values are
// about 10⁻¹²; divided into y's rounding error they would give x̂0 values
// of 10³ and a PSNR of 4 dB, had DDRM not treated them as zero
// (guidance.DDRMAxisZero, this blur being separable).
func TestDDRMCleanBlur(t *testing.T) {
	b, prior := shippedPrior(t)
	im, err := imageio.Load(filepath.Join("..", "prior", "small", "testimages", "6-shirt.png"), imageio.WithMode(imageio.Gray))
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(b, prior, Options{Task: SpecTask("gaussian_blur:kernel_size=61,intensity=3"), Method: "ddrm", Steps: 10,
		Noise: ops.CleanNoise{}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Restore(im, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Metrics.PSNR < 18 {
		t.Errorf("PSNR %.2f dB, want at least 18", res.Metrics.PSNR)
	}
	t.Logf("PSNR %.2f dB", res.Metrics.PSNR)
}

// TestSettingsEta checks that the settings record DDIM's η whenever the
// updates are DDIM's: asked for with Options.DDIM, or by a prior whose
// diffusion configuration names the ddim sampler.
func TestSettingsEta(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name         string
		configured   string // the prior's diffusion sampler
		ddim         bool
		eta, wantEta float64
		wantSampler  string
	}{
		{"ddpm", diffusion.SamplerDDPM, false, 0, 0, "ddpm"},
		{"Options.DDIM", diffusion.SamplerDDPM, true, 0.5, 0.5, "ddim"},
		{"ddim configured", diffusion.SamplerDDIM, false, 0.5, 0.5, "ddim"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prior, err := LoadPrior(fixtureSpec(t, "fixed"))
			if err != nil {
				t.Fatal(err)
			}
			prior.Diffusion.Sampler = tc.configured
			r, err := New(b, prior, Options{Task: SpecTask("sr:factor=2"), Method: "dps", Steps: 2, DDIM: tc.ddim, Eta: tc.eta})
			if err != nil {
				t.Fatal(err)
			}
			s := r.Settings()
			if s.Eta != tc.wantEta || s.Sampler != tc.wantSampler {
				t.Errorf("settings record sampler %q and η = %v, want %q and %v", s.Sampler, s.Eta, tc.wantSampler, tc.wantEta)
			}
		})
	}
}

// TestProgressPredXStart checks that the progress callback sees each
// step's x̂0: one image shaped like the truth at every step of every draw,
// and at the steps Result.Progress keeps, the draw kept's snapshots.
func TestProgressPredXStart(t *testing.T) {
	b, prior := fixedPrior(t)
	truth := testImage(3, 16, 0)
	for _, tc := range []struct {
		name   string
		method string
		draws  int
	}{
		{"dps", "dps", 1},
		{"cadps two draws", "cadps", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const steps = 3
			r, err := New(b, prior, Options{Task: SpecTask("super_resolution:factor=2"), Method: tc.method, Steps: steps, ProgressEvery: 2, Draws: tc.draws})
			if err != nil {
				t.Fatal(err)
			}
			seen := map[[2]int]*imageio.Image{} // by draw and step
			res, err := r.Restore(truth, 7, func(p Progress) {
				if p.PredXStart == nil {
					t.Errorf("draw %d step %d: no x̂0", p.Draw, p.Step)
					return
				}
				ims, err := imageio.FromNCHW(tensors.MustCopyFlatData[float32](p.PredXStart), p.PredXStart.Shape().Dimensions...)
				if err != nil || len(ims) != 1 || ims[0].C != truth.C || ims[0].H != truth.H || ims[0].W != truth.W {
					t.Errorf("draw %d step %d: x̂0 shaped %s (%v), want one image like the truth", p.Draw, p.Step, p.PredXStart.Shape(), err)
					return
				}
				seen[[2]int{p.Draw, p.Step}] = ims[0].Clamp()
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(seen) != tc.draws*steps {
				t.Errorf("x̂0 at %d steps, want %d", len(seen), tc.draws*steps)
			}
			if len(res.Progress) == 0 {
				t.Fatal("no snapshots")
			}
			for _, s := range res.Progress {
				got := seen[[2]int{res.Draw, s.Step}]
				if got == nil || !slices.Equal(got.Pix, s.Image.Pix) {
					t.Errorf("x̂0 of draw %d step %d in the callback differs from its snapshot", res.Draw, s.Step)
				}
			}
		})
	}
}
