package restore_test

import (
	"fmt"
	"log"
	"slices"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/cadps/restore"
	"github.com/cadps/toolkit/ops"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// A notebook restores one image and keeps everything the run produced.
func Example() {
	b, err := backend.New()
	if err != nil {
		log.Fatal(err)
	}
	prior, err := restore.LoadPrior(restore.ModelSpec{Name: "ffhq256", Weights: "models/ffhq_10m.pt"})
	if err != nil {
		log.Fatal(err)
	}
	img, err := restore.LoadImage("data/samples/00000.png", prior.ImageShape(), restore.FitResize)
	if err != nil {
		log.Fatal(err)
	}
	r, err := restore.New(b, prior, restore.Options{
		Task:   restore.SpecTask("super_resolution:factor=4"),
		Method: "cadps",
		Steps:  1000,
	})
	if err != nil {
		log.Fatal(err)
	}
	res, err := r.Restore(img, 0, func(p restore.Progress) {
		if p.Step%100 == 0 {
			fmt.Printf("step %d/%d: residual %.3f\n", p.Step, p.Steps, p.Residual)
		}
	})
	if err != nil {
		log.Fatal(err) // errors.Is(err, cadps.ErrDiverged) when sampling produced NaN
	}
	fmt.Printf("PSNR %.2f dB, SSIM %.4f, %d x̂0 snapshots\n", res.Metrics.PSNR, res.Metrics.SSIM, len(res.Progress))
	if err := res.Save(restore.OutputFiles{
		Reconstruction: "out/recon.png", Measurement: "out/measurement.png", Progress: "out/progress.png",
	}); err != nil {
		log.Fatal(err)
	}
}

// sqDPS is an ablation of DPS written as a method of one's own: the
// gradient of the squared residual norm ‖y − A(x̂0)‖² in place of the norm
// the released code differentiates.
type sqDPS struct{}

func (sqDPS) Name() string { return "dps-squared" }

func (sqDPS) Step(s *guidance.Step) guidance.Result {
	mv := s.Denoise(s.X, s.I) // x̂0, ε and the posterior mean at x_t
	norm := s.ResidualNorm(mv.PredXStart)
	grad := graph.Gradient(graph.ReduceAllSum(graph.Square(norm)), s.X)[0]
	return guidance.Result{Next: graph.Sub(s.Prior(mv), s.Scaled(grad)), PredXStart: mv.PredXStart, Residual: norm}
}

// A method and an operator of one's own run through the restorer like the
// toolkit's: here the squared-norm ablation of DPS on a saturating sensor,
// y = tanh(2x). The operator reports no kind, so ζ is set, and does not
// depend on the seed (Fixed), so one compiled sampler serves every image.
func ExampleOptions_custom() {
	b, err := backend.New()
	if err != nil {
		log.Fatal(err)
	}
	prior, err := restore.LoadPrior(restore.ModelSpec{Name: restore.SmallPriorName})
	if err != nil {
		log.Fatal(err)
	}
	img, err := restore.LoadImage("../prior/small/testimages/0-tshirt.png", prior.ImageShape(), restore.FitNone)
	if err != nil {
		log.Fatal(err)
	}
	sensor := restore.Task{Label: "saturated", Fixed: true, Build: func([]int, uint64) (ops.Operator, error) {
		return ops.NewFunc("saturated", nil, func(x *graph.Node) *graph.Node { return graph.Tanh(graph.MulScalar(x, 2)) })
	}}
	zeta := 0.1
	r, err := restore.New(b, prior, restore.Options{Task: sensor, Custom: sqDPS{}, Scale: &zeta, Steps: 20})
	if err != nil {
		log.Fatal(err)
	}
	res, err := r.Restore(img, 1, nil)
	if err != nil {
		log.Fatal(err)
	}
	s := r.Settings()
	fmt.Printf("%s on %s: %d steps, ζ %g, %d×%d reconstruction\n", s.Method, s.Task, s.Steps, s.Scale, res.Reconstruction.W, res.Reconstruction.H)
	// Output: dps-squared on saturated: 20 steps, ζ 0.1, 32×32 reconstruction
}

// rowSensor is an operator of one's own written as a type: a sensor that
// reads every other row of the image, [N,C,H,W] → [N,C,H/2,W]. Any type
// with Name, OutputShape and Apply is an ops.Operator; Kind (ops.Kinder)
// says which family of tasks it belongs to, and with it the methods'
// default step size.
type rowSensor struct{}

func (rowSensor) Name() string { return "even_rows" }

func (rowSensor) OutputShape(in []int) ([]int, error) {
	if len(in) != 4 || in[2]%2 != 0 {
		return nil, fmt.Errorf("even_rows: want an NCHW shape of even height, got %v", in)
	}
	return []int{in[0], in[1], in[2] / 2, in[3]}, nil
}

func (rowSensor) Apply(x *graph.Node) *graph.Node {
	d := x.Shape().Dimensions
	pairs := graph.Reshape(x, d[0], d[1], d[2]/2, 2, d[3]) // rows 2k and 2k+1 side by side
	return graph.Squeeze(graph.Slice(pairs, graph.AxisRange(), graph.AxisRange(), graph.AxisRange(), graph.AxisElem(0)), 3)
}

func (rowSensor) Kind() ops.Kind { return ops.KindInpainting }

// A task whose operator is a type of one's own: Build returns it for the
// batch's image shape, and Fixed says it does not depend on the seed. As an
// inpainting operator it takes DPS's ζ for inpainting, without Options.Scale.
func ExampleTask_operator() {
	b, err := backend.New()
	if err != nil {
		log.Fatal(err)
	}
	prior, err := restore.LoadPrior(restore.ModelSpec{Name: restore.SmallPriorName})
	if err != nil {
		log.Fatal(err)
	}
	img, err := restore.LoadImage("../prior/small/testimages/0-tshirt.png", prior.ImageShape(), restore.FitNone)
	if err != nil {
		log.Fatal(err)
	}
	rows := restore.Task{Label: "even-rows", Fixed: true, Build: func([]int, uint64) (ops.Operator, error) { return rowSensor{}, nil }}
	r, err := restore.New(b, prior, restore.Options{Task: rows, Method: "dps", Steps: 20})
	if err != nil {
		log.Fatal(err)
	}
	res, err := r.Restore(img, 1, nil)
	if err != nil {
		log.Fatal(err)
	}
	s := r.Settings()
	fmt.Printf("%s on %s: ζ %g, measurement %d×%d, reconstruction %d×%d\n", s.Method, s.Task, s.Scale,
		res.Measurement.W, res.Measurement.H, res.Reconstruction.W, res.Reconstruction.H)
	// Output: dps on even-rows: ζ 0.5, measurement 32×16, reconstruction 32×32
}

// One image of the shipped prior restored with DPS and with CA-DPS: ×2
// super-resolution with the DPS configurations' noise (Gaussian, σ = 0.05),
// the x̂0 estimates every 5 steps as a strip (the "reconstruction process"
// figure) and PSNR/SSIM against the clean image. Twenty steps keep it fast;
// Steps 0 samples over the prior's 1000.
func ExampleRestorer_Restore() {
	b, err := backend.New()
	if err != nil {
		log.Fatal(err)
	}
	prior, err := restore.LoadPrior(restore.ModelSpec{Name: restore.SmallPriorName})
	if err != nil {
		log.Fatal(err)
	}
	img, err := restore.LoadImage("../prior/small/testimages/0-tshirt.png", prior.ImageShape(), restore.FitNone)
	if err != nil {
		log.Fatal(err)
	}
	recons := map[string][]float32{}
	for _, method := range []string{"dps", "cadps"} {
		r, err := restore.New(b, prior, restore.Options{
			Task: restore.SpecTask("super_resolution:factor=2"), Method: method, Steps: 20, ProgressEvery: 5,
		})
		if err != nil {
			log.Fatal(err)
		}
		res, err := r.Restore(img, 1, nil)
		if err != nil {
			log.Fatal(err)
		}
		strip, err := res.ProgressStrip() // res.Save(restore.OutputFiles{Progress: "progress.png"}) writes it
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s: ζ %g, x̂0 after steps", method, r.Settings().Scale)
		for _, s := range res.Progress {
			fmt.Printf(" %d", s.Step)
		}
		fmt.Printf(" (a %d×%d strip), %d residuals, PSNR %.1f dB\n", strip.W, strip.H, len(res.Residuals), res.Metrics.PSNR)
		recons[method] = res.Reconstruction.Pix
	}
	// Twenty steps leave the two PSNRs within 0.01 dB, but CA-DPS's
	// multiplier makes another image.
	fmt.Println("cadps's reconstruction differs from dps's:", !slices.Equal(recons["dps"], recons["cadps"]))
	// Output:
	// dps: ζ 0.3, x̂0 after steps 5 10 15 20 (a 138×36 strip), 20 residuals, PSNR 17.5 dB
	// cadps: ζ 0.3, x̂0 after steps 5 10 15 20 (a 138×36 strip), 20 residuals, PSNR 17.5 dB
	// cadps's reconstruction differs from dps's: true
}

// cadpsAlpha is an ablation of CA-DPS written as a method of one's own:
// the released multiplier 1 + d of the DPS gradient becomes 1 + α·d, so
// that α = 0 is DPS and α = 1 the released CA-DPS. Its Name carries α, so
// that settings and result folders tell the variants apart.
type cadpsAlpha struct{ alpha float64 }

func (m cadpsAlpha) Name() string { return fmt.Sprintf("cadps-alpha%g", m.alpha) }

func (m cadpsAlpha) Step(s *guidance.Step) guidance.Result {
	// ε at x_t's timestep (differentiated, for x̂0 and the DPS gradient) and
	// at the previous retained timestep (not differentiated).
	now := s.Predict(s.X, s.Timestep(s.I))
	before := s.Predict(graph.StopGradient(s.X), s.Timestep(guidance.PrevIndex(s.I)))
	mv := now.MeanVariance(s.I)
	grad, norm := s.NormGradient(mv.PredXStart)
	// d = ε(x_t, t_i) − ε(x_t, t_{i−1}); at the last step (i = 0) the
	// released code drops the second term, so d = ε(x_t, t_0) there.
	epsPrev := graph.StopGradient(before.Eps())
	last := graph.ConvertDType(graph.Equal(s.I, graph.ScalarZero(s.I.Graph(), s.I.DType())), epsPrev.DType())
	d := graph.Sub(graph.StopGradient(now.Eps()), graph.Mul(epsPrev, graph.OneMinus(last)))
	multiplier := graph.OnePlus(graph.MulScalar(d, m.alpha))
	next := graph.Sub(s.Prior(mv), s.Scaled(graph.Mul(grad, multiplier)))
	return guidance.Result{Next: next, PredXStart: mv.PredXStart, Residual: norm,
		Extra: map[string]*graph.Node{"multiplier": multiplier}}
}

// An ablation of CA-DPS's multiplier: 1 + α·d for a chosen α, run through
// the restorer beside the toolkit's dps and cadps on the same measurement
// and seed. α = 0 gives dps's reconstruction and α = 1 cadps's, bit for
// bit; the callback sees each step's residual ‖y − A(x̂0)‖, x̂0 and the
// method's Extra diagnostics.
func ExampleOptions_ablation() {
	b, err := backend.New()
	if err != nil {
		log.Fatal(err)
	}
	prior, err := restore.LoadPrior(restore.ModelSpec{Name: restore.SmallPriorName})
	if err != nil {
		log.Fatal(err)
	}
	img, err := restore.LoadImage("../prior/small/testimages/9-boot.png", prior.ImageShape(), restore.FitNone)
	if err != nil {
		log.Fatal(err)
	}
	restored := func(o restore.Options) []float32 {
		o.Task, o.Steps = restore.SpecTask("super_resolution:factor=2"), 20
		r, err := restore.New(b, prior, o)
		if err != nil {
			log.Fatal(err)
		}
		var residuals []float64
		var negative int // multiplier entries below 0, over the run
		res, err := r.Restore(img, 1, func(p restore.Progress) {
			residuals = append(residuals, p.Residual) // p.PredXStart is this step's x̂0
			if m, ok := p.Extra["multiplier"]; ok {
				for _, v := range tensors.MustCopyFlatData[float32](m) {
					if v < 0 {
						negative++
					}
				}
			}
		})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s: %d residuals, multiplier below 0: %v\n", r.Settings().Method, len(residuals), negative > 0)
		return res.Reconstruction.Pix
	}
	dps := restored(restore.Options{Method: "dps"})
	cadps := restored(restore.Options{Method: "cadps"})
	fmt.Println("α = 0 is dps:", slices.Equal(restored(restore.Options{Custom: cadpsAlpha{0}}), dps))
	fmt.Println("α = 1 is cadps:", slices.Equal(restored(restore.Options{Custom: cadpsAlpha{1}}), cadps))
	restored(restore.Options{Custom: cadpsAlpha{2}})
	// Output:
	// dps: 20 residuals, multiplier below 0: false
	// cadps: 20 residuals, multiplier below 0: true
	// cadps-alpha0: 20 residuals, multiplier below 0: false
	// α = 0 is dps: true
	// cadps-alpha1: 20 residuals, multiplier below 0: true
	// α = 1 is cadps: true
	// cadps-alpha2: 20 residuals, multiplier below 0: true
}
