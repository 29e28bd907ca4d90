package guidance_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps"
	"github.com/cadps/toolkit/cadps/diffusion"
	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/internal/fixtures"
	"github.com/cadps/toolkit/ops"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// dapsFixture is the part of a DAPS fixture.json the replay reads.
type dapsFixture struct {
	Anneal struct {
		Steps    int     `json:"num_steps"`
		SigmaMax float64 `json:"sigma_max"`
		SigmaMin float64 `json:"sigma_min"`
		Timestep string  `json:"timestep"`
	} `json:"annealing_scheduler_config"`
	Diffusion struct {
		Steps    int     `json:"num_steps"`
		SigmaMin float64 `json:"sigma_min"`
		Timestep string  `json:"timestep"`
	} `json:"diffusion_scheduler_config"`
	MCMC struct {
		Steps      int     `json:"num_steps"`
		LR         float64 `json:"lr"`
		Tau        float64 `json:"tau"`
		LRMinRatio float64 `json:"lr_min_ratio"`
		Algo       string  `json:"mc_algo"`
		Prior      string  `json:"prior_solver"`
	} `json:"mcmc_sampler_config"`
	Operator struct {
		Name       string  `json:"name"`
		Scale      int     `json:"scale_factor"`
		Sigma      float64 `json:"sigma"`
		KernelSize int     `json:"kernel_size"`
		Intensity  float64 `json:"intensity"`
	} `json:"operator"`
}

// dapsOperator returns the fixture's operator: DPS's bicubic resizer for
// down_sampling, the recorded mask for inpainting, DPS's Gaussian blur for
// gaussian_blur (DAPS builds the same reflect-padded scipy kernel), and the
// recorded kernel ("kernel", random in DAPS) for motion_blur.
func dapsOperator(r *replay, fx dapsFixture, in []int) ops.Operator {
	switch fx.Operator.Name {
	case "gaussian_blur":
		op, err := ops.NewGaussianBlur(fx.Operator.KernelSize, fx.Operator.Intensity)
		if err != nil {
			r.t.Fatal(err)
		}
		return op
	case "motion_blur":
		if _, ok := r.data.Tensors["kernel"]; !ok {
			r.t.Fatal("daps motion_blur: the fixture records no \"kernel\" tensor (DAPS draws the kernel at random)")
		}
		k, shape := r.slab("kernel", -1)
		op, err := ops.NewMotionBlurKernel(k, shape[len(shape)-1])
		if err != nil {
			r.t.Fatal(err)
		}
		return op
	case "down_sampling":
		op, err := ops.NewSuperResolution(fx.Operator.Scale, "")
		if err != nil {
			r.t.Fatal(err)
		}
		return op
	case "inpainting":
		m, _ := r.slab("mask", -1)
		op, err := ops.NewInpainting(m[len(m)-in[2]*in[3]:], in[2], in[3])
		if err != nil {
			r.t.Fatal(err)
		}
		return op
	}
	r.t.Fatalf("daps operator %q: no replay", fx.Operator.Name)
	return nil
}

func replayDAPS(t *testing.T, f *fixtures.Fixture) {
	r := newReplay(t, f)
	var fx dapsFixture
	if err := f.Decode(&fx); err != nil {
		t.Fatal(err)
	}
	if fx.Anneal.Timestep != "poly-7" || fx.Diffusion.Timestep != "poly-7" || fx.MCMC.Algo != "langevin" || fx.MCMC.Prior != "gaussian" {
		t.Fatalf("configuration %+v: only poly-7 grids, Langevin and the gaussian prior solver are implemented", fx)
	}
	m := guidance.DAPS{SigmaMax: fx.Anneal.SigmaMax, SigmaMin: fx.Anneal.SigmaMin, ODESteps: fx.Diffusion.Steps,
		ODESigmaMin: fx.Diffusion.SigmaMin, LangevinSteps: fx.MCMC.Steps, LR: fx.MCMC.LR, LRMinRatio: fx.MCMC.LRMinRatio, Tau: fx.MCMC.Tau}
	proc, err := diffusion.New(diffusion.Config{Steps: 1000, NoiseSchedule: "linear",
		Respacing: fmt.Sprint(fx.Anneal.Steps), MeanType: diffusion.MeanEpsilon, VarType: diffusion.VarLearnedRange})
	if err != nil {
		t.Fatal(err)
	}
	noise, in := r.slab("x_start_noise", -1)
	op := dapsOperator(r, fx, in)
	y := r.gomlx("y", -1)
	s := r.sampler(proc, op, m, fx.Operator.Sigma)

	// Schedules.
	sigma, odeT, lr := guidance.DAPSGrid(m, fx.Anneal.Steps, op)
	gridTol := r.tol("anneal_sigma, ode_t")
	r.compareValues("anneal_sigma", gridTol, fixtures.Float64s(sigma), "anneal_sigma")
	var flatT []float32
	for _, row := range odeT {
		flatT = append(flatT, row...)
	}
	r.compareValues("ode_t", gridTol, fixtures.Float64s(flatT), "ode_t")
	lrTol := r.exactLR()
	r.compareValues("lr", lrTol, lr, "lr")

	// The measurement and the start.
	startTol := r.tol("y, x_start")
	measure := graph.MustNewExec(r.b, func(x, n *graph.Node) *graph.Node {
		return graph.Add(op.Apply(x), graph.MulScalar(n, fx.Operator.Sigma))
	})
	got, err := measure.Exec(r.gomlx("images", -1), r.gomlx("y_noise", -1))
	if err != nil {
		t.Fatal(err)
	}
	r.compare("y", startTol, got[0], "y", -1)
	x0, err := s.Start(tensors.FromFlatDataAndDimensions(noise, in...), y)
	if err != nil {
		t.Fatal(err)
	}
	r.compare("x_start", startTol, x0, "x_start", -1)

	execs := newDAPSExecs(r, m, op)
	rec := &cadps.RecordedNoise{Init: noise, Draws: map[int][]float32{}}
	for n := range fx.Anneal.Steps {
		replayDAPSStage(r, execs, n, sigma, odeT[n], float32(lr[n]), y)
		var draws []float32
		for k := range fx.MCMC.Steps {
			draws = append(draws, flatOf(r.slab2("lgv_eps", n, k))...)
		}
		rec.Draws[fx.Anneal.Steps-1-n] = append(draws, flatOf(r.gomlx("fwd_noise", n))...)
	}

	final, err := s.Run(nil, in, y, rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.compare("final (free running)", r.tol("final, running freely from x_start with the recorded draws"), final, "final", -1)
	r.checkExact(nil, map[string]string{"data_noise": "the reference scales it by σ = 0: it has no effect"})
}

// dapsExecs are the graphs of DAPS's parts the per-step replay runs.
type dapsExecs struct {
	denoise            *context.Exec
	ode, renoise       *graph.Exec
	langevin           *graph.Exec
	unetTol, odeTol    fixtures.Tolerance
	lgvTol, forwardTol fixtures.Tolerance
}

func newDAPSExecs(r *replay, m guidance.DAPS, op ops.Operator) dapsExecs {
	e := dapsExecs{
		unetTol:    r.tol("unet_eps, ode_denoised from the recorded unet_in / ode_x"),
		odeTol:     r.tol("each ODE step from the recorded ode_x[n,m] and ode_denoised[n,m]"),
		lgvTol:     r.tol("each Langevin step from the recorded lgv_x[n,k] (with ode_x[n,0], x0hat[n], lgv_eps[n,k]); lgv_loss"),
		forwardTol: r.tol("xt[n] from x0y[n] and fwd_noise[n]"),
	}
	var err error
	e.denoise, err = context.NewExec(r.b, r.ctx, func(ctx *context.Context, x, sigma, c *graph.Node) *graph.Node {
		return guidance.DAPSDenoise(ctx, r.net, x, sigma, c)
	})
	if err != nil {
		r.t.Fatal(err)
	}
	e.ode = graph.MustNewExec(r.b, guidance.DAPSODEStep)
	e.renoise = graph.MustNewExec(r.b, func(x0y, z, sigma *graph.Node) *graph.Node { return graph.Add(x0y, graph.Mul(sigma, z)) })
	e.langevin = graph.MustNewExec(r.b, func(in []*graph.Node) []*graph.Node {
		next, loss := guidance.DAPSLangevin(m, op, in[0], in[1], in[2], in[3], in[4], in[5], in[6])
		return []*graph.Node{next, loss}
	})
	return e
}

// replayDAPSStage checks annealing stage n step by step from the recorded
// states: the denoiser and each ODE step, each Langevin step with its loss,
// and the forward diffusion.
func replayDAPSStage(r *replay, e dapsExecs, n int, sigma, odeT []float32, lr float32, y *tensors.Tensor) {
	t := r.t
	for j := range len(odeT) - 1 {
		c := guidance.DAPSNoise(odeT[j])
		want, _ := r.slab("unet_t", n)
		if d := float64(c - want[j]); d*d > 1e-8*float64(want[j]*want[j]) {
			t.Errorf("stage %d ODE step %d: network timestep %v, want %v", n, j, c, want[j])
		}
		out, err := e.denoise.Exec(r.slab2("ode_x", n, j), odeT[j], c)
		if err != nil {
			t.Fatal(err)
		}
		r.compareTensor(fmt.Sprintf("stage %d ode_denoised[%d]", n, j), e.unetTol, out[0], r.slab2("ode_denoised", n, j))
		next, err := e.ode.Exec(r.slab2("ode_x", n, j), r.slab2("ode_denoised", n, j), odeT[j], odeT[j+1])
		if err != nil {
			t.Fatal(err)
		}
		r.compareTensor(fmt.Sprintf("stage %d ODE step %d", n, j), e.odeTol, next[0], r.slab2("ode_x", n, j+1))
	}
	steps := r.data.Tensors["lgv_eps"].Shape[1]
	losses, _ := r.slab("lgv_loss", n)
	for k := range steps {
		out, err := e.langevin.Exec(y, r.slab2("lgv_x", n, k), r.slab2("ode_x", n, 0), r.gomlx("x0hat", n), sigma[n], lr, r.slab2("lgv_eps", n, k))
		if err != nil {
			t.Fatal(err)
		}
		r.compareTensor(fmt.Sprintf("stage %d Langevin step %d", n, k), e.lgvTol, out[0], r.slab2("lgv_x", n, k+1))
		r.compareTensor(fmt.Sprintf("stage %d Langevin loss %d", n, k), e.lgvTol, out[1], tensors.FromFlatDataAndDimensions([]float32{losses[k]}, 1))
	}
	out, err := e.renoise.Exec(r.gomlx("x0y", n), r.gomlx("fwd_noise", n), sigma[n+1])
	if err != nil {
		t.Fatal(err)
	}
	r.compare(fmt.Sprintf("stage %d xt", n), e.forwardTol, out[0], "xt", n)
}

// exactLR returns the bound of the learning rates, which the "exact" entry
// states after its list of injected draws ("...; lr relative 1e-12").
func (r *replay) exactLR() fixtures.Tolerance {
	r.t.Helper()
	for _, clause := range r.exact().Other {
		if lr, ok := strings.CutPrefix(clause, "lr "); ok {
			tol, err := fixtures.ParseTolerance(lr)
			if err != nil {
				r.t.Fatalf("%s: tolerance \"exact\", lr: %v", r.f.Name, err)
			}
			return tol
		}
	}
	r.t.Fatalf("%s: tolerance \"exact\" states no bound for lr (\"lr relative ...\")", r.f.Name)
	return fixtures.Tolerance{}
}
