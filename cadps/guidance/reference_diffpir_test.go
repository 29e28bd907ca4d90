package guidance_test

import (
	"fmt"
	"testing"

	"github.com/cadps/toolkit/cadps"
	"github.com/cadps/toolkit/cadps/diffusion"
	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/internal/fixtures"
	"github.com/cadps/toolkit/ops"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// diffpirFixture is the part of a DiffPIR fixture.json the replay reads.
type diffpirFixture struct {
	Config struct {
		IterNum       int     `json:"iter_num"`
		SkipType      string  `json:"skip_type"`
		TStart        int     `json:"t_start"`
		Lambda        float64 `json:"lambda"`
		Zeta          float64 `json:"zeta"`
		Eta           float64 `json:"eta"`
		GuidanceScale float64 `json:"guidance_scale"`
		NoiseLevelImg string  `json:"noise_level_img"`
	} `json:"diffpir_config"`
	Diffusion struct {
		Steps         int    `json:"steps"`
		NoiseSchedule string `json:"noise_schedule"`
		ClipDenoised  bool   `json:"clip_denoised"`
	} `json:"guided_diffusion"`
	Operator struct {
		SF int `json:"sf"`
	} `json:"operator"`
}

// diffpirOperator returns the data-step operator the fixture records: the
// mask for inpainting, else the kernel k with decimation by sf (none when
// the fixture gives no sf, as for deblurring).
func diffpirOperator(r *replay, fx diffpirFixture, in []int) ops.Operator {
	if _, ok := r.data.Tensors["mask"]; ok {
		m, _ := r.slab("mask", -1)
		op, err := ops.NewInpainting(m, in[2], in[3])
		if err != nil {
			r.t.Fatal(err)
		}
		return op
	}
	k, shape := r.tensor("k")
	for i, v := range k {
		k[i] = float64(float32(v)) // the reference's FFT takes the kernel in float32
	}
	sf := fx.Operator.SF
	if sf == 0 { // deblurring: the kernel alone
		sf = 1
	}
	op, err := ops.NewDecimatedConv(k, shape[0], shape[1], sf)
	if err != nil {
		r.t.Fatal(err)
	}
	return op
}

func replayDiffPIR(t *testing.T, f *fixtures.Fixture) {
	r := newReplay(t, f)
	var fx diffpirFixture
	if err := f.Decode(&fx); err != nil {
		t.Fatal(err)
	}
	var num, den float64
	if _, err := fmt.Sscanf(fx.Config.NoiseLevelImg, "%g/%g", &num, &den); err != nil || den == 0 {
		t.Fatalf("noise_level_img %q: want a/b", fx.Config.NoiseLevelImg)
	}
	sigmaY := 2 * num / den // [-1,1] units
	if fx.Config.SkipType != "quad" || fx.Config.TStart != fx.Diffusion.Steps-1 {
		t.Fatalf("skip_type %q, t_start %d: only the quad grid from T-1 is implemented", fx.Config.SkipType, fx.Config.TStart)
	}
	proc, err := diffusion.New(diffusion.Config{Steps: fx.Diffusion.Steps, NoiseSchedule: fx.Diffusion.NoiseSchedule,
		Respacing: fmt.Sprint(fx.Config.IterNum), MeanType: diffusion.MeanEpsilon, VarType: diffusion.VarLearnedRange,
		ClipDenoised: fx.Diffusion.ClipDenoised})
	if err != nil {
		t.Fatal(err)
	}
	xT, in := r.slab("x_T_noise", -1)
	op := diffpirOperator(r, fx, in)
	m := guidance.DiffPIR{Lambda: fx.Config.Lambda, Zeta: fx.Config.Zeta, Eta: fx.Config.Eta, Guidance: fx.Config.GuidanceScale}
	s := r.sampler(proc, op, m, sigmaY)

	// Schedules and grid.
	sched, err := guidance.DiffPIRSchedule(proc, fx.Config.Lambda, sigmaY)
	if err != nil {
		t.Fatal(err)
	}
	schedTol := r.tol("schedules (betas, alphas_cumprod, sqrt_alphas_cumprod, sqrt_1m_alphas_cumprod, reduced_alpha_cumprod, sigmas, sigma_ks, rhos)")
	for name, v := range sched {
		r.compareValues(name, schedTol, fixtures.Float64s(v), name)
	}
	ts, err := guidance.DiffPIRTimesteps(proc)
	if err != nil {
		t.Fatal(err)
	}
	// What the exact entry lists as equal: the grid (step k runs at
	// T−1−seq[k]) and the timestep the network gets.
	exact := map[string][]int{"t_i": ts, "t_im1": ts[1:], "seq": make([]int, len(ts)), "model_t": make([]int, len(ts))}
	for k, tk := range ts {
		exact["seq"][k] = fx.Diffusion.Steps - 1 - tk
		exact["model_t"][k] = int(proc.NetworkTimestep(float64(tk)))
	}

	// The measurement in [-1,1] units, and the start.
	y01, yShape := r.slab("y", -1)
	yv := make([]float32, len(y01))
	for i, v := range y01 {
		yv[i] = 2*v - 1
	}
	y := tensors.FromFlatDataAndDimensions(yv, yShape...)
	x0, err := s.Start(tensors.FromFlatDataAndDimensions(xT, in...), y)
	if err != nil {
		t.Fatal(err)
	}
	r.compare("x_T", r.tol("img_L, y, x_T"), x0, "x_T", -1)

	steps := len(ts)
	taus, _ := r.tensor("tau")
	modelTol := r.tol("eps[k] from x[k] (UNet), x0_model[k]")
	dataTol := r.tol("x0_data[k] from x0_model[k] (float32 implementations)")
	f64Tol := r.tol("x0_data_f64[k] from x0_model[k] (float64 implementations)")
	nextTol := r.tol("x[k+1] from the recorded x[k], x0_data[k] and the draws of step k")
	rec := &cadps.RecordedNoise{Init: xT, Draws: map[int][]float32{}}
	renoise, prox, predX0 := diffpirExecs(r.b, proc, op, m)
	for k := range steps {
		i := steps - 1 - k
		n1, n2 := make([]float32, len(xT)), make([]float32, len(xT))
		if k < steps-1 {
			n1, _ = r.slab("noise_eta", k)
			n2, _ = r.slab("noise_zeta", k)
		}
		rec.Draws[i] = append(append([]float32(nil), n1...), n2...)
		draws := []*tensors.Tensor{tensors.FromFlatDataAndDimensions(n1, in...), tensors.FromFlatDataAndDimensions(n2, in...)}
		info, err := s.StepDraws(r.gomlx("x", k), i, draws, y)
		if err != nil {
			t.Fatal(err)
		}
		// The network from the recorded state, then x̂0 from the recorded ε
		// (x̂0 magnifies ε's machine-dependent rounding by √(1/ᾱ_t − 1),
		// 156 at t = 999).
		r.compare(fmt.Sprintf("step %d eps", k), modelTol, info.Extra["eps"], "eps", k)
		px, err := predX0.Exec(r.gomlx("x", k), r.gomlx("eps", k), int32(i))
		if err != nil {
			t.Fatal(err)
		}
		r.compare(fmt.Sprintf("step %d x0_model", k), modelTol, px[0], "x0_model", k)
		if k == steps-1 {
			r.compare("last step keeps x", nextTol, info.X, "x", k+1)
			continue
		}
		d32, err := prox.Exec(r.gomlx("x0_model", k), r.gomlx("y", -1), float32(taus[k]))
		if err != nil {
			t.Fatal(err)
		}
		r.compare(fmt.Sprintf("step %d x0_data", k), dataTol.AtTau(taus[k]), d32[0], "x0_data", k)
		out, err := renoise.Exec(r.gomlx("x", k), r.gomlx("x0_data", k), draws[0], draws[1], int32(i))
		if err != nil {
			t.Fatal(err)
		}
		r.compare(fmt.Sprintf("step %d x[k+1] from x0_data", k), nextTol, out[0], "x", k+1)
		xm, _ := r.tensor("x0_model")
		n := len(xm) / steps
		y64, _ := r.tensor("y")
		got, err := prox.Exec(tensors.FromFlatDataAndDimensions(xm[k*n:(k+1)*n], in...), tensors.FromFlatDataAndDimensions(y64, yShape...), float64(float32(taus[k])))
		if err != nil {
			t.Fatal(err)
		}
		want, wShape := r.tensor("x0_data_f64")
		nw := len(want) / wShape[0]
		f.Compare(t, fmt.Sprintf("step %d x0_data_f64", k), f64Tol.AtTau(taus[k]), tensors.MustCopyFlatData[float64](got[0]), want[k*nw:(k+1)*nw], in, wShape[1:])
	}

	final, err := s.Run(nil, in, y, rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	freeTol := r.tol("final and x_0_out, running freely from x_T with the recorded draws")
	r.compare("final (free running)", freeTol, final, "final", -1)
	out := flatOf(final)
	for i := range out {
		out[i] = out[i]/2 + 0.5
	}
	r.compare("x_0_out (free running)", freeTol, tensors.FromFlatDataAndDimensions(out, in...), "x_0_out", -1)
	r.checkExact(exact, map[string]string{
		"y_noise":       "the replay takes the recorded measurement y, its noise included",
		"noise_psample": "DiffPIR uses only p_sample's x̂0: the reference draws this noise and discards it",
	})
}

// diffpirExecs returns the re-noising graph (x, guided x̂0, n₁, n₂, index),
// the float64 data step (x̂0 [-1,1], y [0,1], τ) and x̂0 from (x, ε, index)
// of DiffPIR.
func diffpirExecs(b backends.Backend, p *diffusion.Process, op ops.Operator, m guidance.DiffPIR) (renoise, prox, predX0 *graph.Exec) {
	predX0 = graph.MustNewExec(b, func(x, eps, i *graph.Node) *graph.Node {
		return guidance.DiffPIRPredX0(p, x, eps, i)
	})
	renoise = graph.MustNewExec(b, func(x, x0, n1, n2, i *graph.Node) *graph.Node {
		return guidance.DiffPIRRenoise(m, p, op, x, x0, n1, n2, i)
	})
	prox = graph.MustNewExec(b, func(x0, y01, tau *graph.Node) *graph.Node {
		x01 := graph.AddScalar(graph.MulScalar(x0, 0.5), 0.5)
		xp := graph.AddScalar(graph.MulScalar(op.(ops.Proximal).Prox(x01, y01, tau), 2), -1)
		return graph.Add(x0, graph.MulScalar(graph.Sub(xp, x0), m.Guidance))
	})
	return renoise, prox, predX0
}
