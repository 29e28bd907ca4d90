package restore

import (
	"slices"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps"
	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/diffusion"
	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/cadps/imageio"
	"github.com/cadps/toolkit/cadps/unet"
	"github.com/cadps/toolkit/internal/randunet"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// tinyClasses is the number of classes of tinyPrior's class-conditional
// network.
const tinyClasses = 4

// tinyPrior loads a 16×16 RGB UNet with random weights (randunet.Tiny)
// from a create_model JSON config and a safetensors file:
// class-conditional with tinyClasses classes when classCond.
func tinyPrior(t *testing.T, classCond bool) *Prior {
	t.Helper()
	classes := 0
	if classCond {
		classes = tinyClasses
	}
	config, weights, err := randunet.Write(t.TempDir(), "tiny", randunet.Tiny(classes), 11)
	if err != nil {
		t.Fatal(err)
	}
	p, err := LoadPrior(ModelSpec{ConfigPath: config, Weights: weights})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// withClass returns a copy of p conditioned on label.
func withClass(p *Prior, label int) *Prior {
	c := *p
	c.Class = &label
	return &c
}

// TestClassLabelRestores checks that a restoration with a class-conditional
// prior given label c is, bit for bit, the run of a sampler built on
// cadps.ClassConditionalNetwork(m, c) with the same measurement, process,
// method and noise, for CA-DPS (two network calls a step, apart and
// batched) as for the methods that call the network otherwise; that
// another label gives another reconstruction; and that the settings
// record the label.
func TestClassLabelRestores(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	base := tinyPrior(t, true)
	truth := testImage(3, 16, 0.3)
	const seed = 4
	for _, method := range []string{"cadps", "cadps:batched=true", "dps", "ddrm", "diffpir", "daps"} {
		t.Run(method, func(t *testing.T) {
			restoreWith := func(label int) (*Restorer, *Result) {
				t.Helper()
				r, err := New(b, withClass(base, label), Options{Task: SpecTask("super_resolution:factor=2"), Method: method, Steps: 2})
				if err != nil {
					t.Fatal(err)
				}
				res, err := r.Restore(truth, seed, nil)
				if err != nil {
					t.Fatal(err)
				}
				return r, res
			}
			r, got := restoreWith(2)
			if c := r.Settings().Class; c == nil || *c != 2 {
				t.Errorf("settings record class %v, want 2", c)
			}
			want, wantFit := classSamplerRun(t, b, r, base.Model, 2, truth, seed)
			if !slices.Equal(got.Reconstruction.Pix, want.Pix) || got.Residual != wantFit {
				t.Errorf("label 2: reconstruction and residual %g differ from ClassConditionalNetwork's (residual %g)", got.Residual, wantFit)
			}
			if _, other := restoreWith(1); slices.Equal(other.Reconstruction.Pix, got.Reconstruction.Pix) {
				t.Error("label 1 restores as label 2 does: the label is not used")
			}
		})
	}
}

// classSamplerRun runs the restorer r's pipeline by hand, with its network
// replaced by cadps.ClassConditionalNetwork(m, label): the measurement of
// truth for seed, one sampler draw, and the reconstruction as Restore
// returns it with its residual ‖y − A(x0)‖.
func classSamplerRun(t *testing.T, b backends.Backend, r *Restorer, m *unet.Model, label int, truth *imageio.Image, seed uint64) (*imageio.Image, float64) {
	t.Helper()
	x, dims, err := imageio.ToNCHW(truth)
	if err != nil {
		t.Fatal(err)
	}
	shape := dims[:]
	meas, err := r.measure(x, shape, seed)
	if err != nil {
		t.Fatal(err)
	}
	s, err := cadps.NewSampler(cadps.Problem{
		Backend: b, Ctx: r.prior.Ctx, Net: cadps.ClassConditionalNetwork(m, label), Process: r.process,
		Op: meas.op, Method: r.method, Scale: r.scale, Ramp: r.opts.Ramp, SigmaY: r.sigmaY,
		DDIM: r.process.Config().Sampler == diffusion.SamplerDDIM, Eta: r.opts.Eta,
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Run(nil, shape, meas.y, cadps.NewSeededNoise(drawSeed(seed, 0)), nil)
	if err != nil {
		t.Fatal(err)
	}
	flat := tensors.MustCopyFlatData[float32](out)
	fit, err := r.fits(meas, flat, shape)
	if err != nil {
		t.Fatal(err)
	}
	ims, err := imageio.FromNCHW(flat, shape...)
	if err != nil {
		t.Fatal(err)
	}
	return ims[0].Quantize8(), fit[0]
}

// TestClassLabelSamples checks that sampling a class-conditional prior
// given label c is, bit for bit, the sampler's run on
// cadps.ClassConditionalNetwork(m, c), and that another label gives other
// samples.
func TestClassLabelSamples(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	base := tinyPrior(t, true)
	const n, steps, seed = 2, 3, 7
	got, err := withClass(base, 3).Sample(b, n, steps, false, seed)
	if err != nil {
		t.Fatal(err)
	}
	proc, err := base.Process(steps, false)
	if err != nil {
		t.Fatal(err)
	}
	s, err := cadps.NewSampler(cadps.Problem{Backend: b, Ctx: base.Ctx, Net: cadps.ClassConditionalNetwork(base.Model, 3),
		Process: proc, Method: guidance.Unconditional{}})
	if err != nil {
		t.Fatal(err)
	}
	shape := base.ImageShape()
	shape[0] = n
	x, err := s.Run(nil, shape, nil, cadps.NewSeededNoise(seed), nil)
	if err != nil {
		t.Fatal(err)
	}
	want, err := imageio.FromNCHW(tensors.MustCopyFlatData[float32](x), shape...)
	if err != nil {
		t.Fatal(err)
	}
	other, err := withClass(base, 0).Sample(b, n, steps, false, seed)
	if err != nil {
		t.Fatal(err)
	}
	for k := range n {
		if !slices.Equal(got[k].Pix, want[k].Pix) {
			t.Errorf("sample %d with label 3 differs from ClassConditionalNetwork's", k)
		}
		if slices.Equal(other[k].Pix, got[k].Pix) {
			t.Errorf("sample %d: label 0 gives label 3's sample", k)
		}
	}
}

// TestClassLabelRefused checks that restoring and sampling refuse a
// class-conditional prior without a label (saying how to give one), a
// label given to an unconditional prior, and a label outside the
// network's classes (naming their range), before any step, in errors
// that name no command-line flag.
func TestClassLabelRefused(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	cond, uncond := tinyPrior(t, true), tinyPrior(t, false)
	for _, tc := range []struct {
		name  string
		prior *Prior
		want  []string
	}{
		{"no label", cond, []string{"model " + cond.Name + " is class-conditional (class_cond=True, 4 classes)",
			"give one from 0 to 3 (Prior.Class), or use", "256x256_diffusion_uncond.pt"}},
		{"label of an unconditional prior", withClass(uncond, 0), []string{
			"restore: model " + uncond.Name + ": cadps: class label 0 given to a model without classes (class_cond=False)"}},
		{"label past the classes", withClass(cond, 4), []string{"class label 4 is outside the model's 4 classes (0 to 3)"}},
		{"negative label", withClass(cond, -1), []string{"class label -1 is outside the model's 4 classes (0 to 3)"}},
	} {
		for _, call := range []struct {
			name string
			run  func() error
		}{
			{"New", func() error {
				_, err := New(b, tc.prior, Options{Task: SpecTask("super_resolution:factor=2"), Method: "cadps", Steps: 2})
				return err
			}},
			{"Sample", func() error { _, err := tc.prior.Sample(b, 1, 2, false, 0); return err }},
		} {
			t.Run(tc.name+", "+call.name, func(t *testing.T) {
				err := call.run()
				if err == nil {
					t.Fatal("no error")
				}
				for _, w := range tc.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not contain %q", err, w)
					}
				}
				if strings.Contains(err.Error(), " -class") || strings.Contains(err.Error(), "command line") {
					t.Errorf("error %q names a command-line flag: a library error reads the same from Go as from the command", err)
				}
			})
		}
	}
}
