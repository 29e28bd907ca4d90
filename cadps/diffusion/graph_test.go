package diffusion

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// Test images are [n, c, h, w] = [2, 3, 4, 4].
const tn, tc, th, tw = 2, 3, 4, 4

func randn(r *rand.Rand, n int, scale float64) []float32 {
	v := make([]float32, n)
	for k := range v {
		v[k] = float32(r.NormFloat64() * scale)
	}
	return v
}

func img(v []float32, channels int) *tensors.Tensor {
	return tensors.FromFlatDataAndDimensions(v, tn, channels, th, tw)
}

// sample returns the batch index of flat position k of a [tn, ...] image.
func sample(k, perSample int) int { return k / perSample }

func newProcess(t *testing.T, cfg Config) *Process {
	t.Helper()
	if cfg.Steps == 0 {
		cfg.Steps, cfg.NoiseSchedule, cfg.Respacing = 1000, ScheduleLinear, "50"
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func assertNear(t *testing.T, what string, got []float32, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for k := range want {
		if d := math.Abs(float64(got[k]) - want[k]); !(d <= tol*math.Max(1, math.Abs(want[k]))) {
			t.Fatalf("%s[%d] = %v, want %v (|Δ| = %.3g)", what, k, got[k], want[k], d)
		}
	}
}

// TestPSampleAndReuse runs ONE compiled ancestral-step graph at several
// indices: no noise where i == 0 (per sample for an [N] index), the noise
// term elsewhere, and no second graph build.
func TestPSampleAndReuse(t *testing.T) {
	b := newTestBackend(t)
	p := newProcess(t, Config{MeanType: MeanEpsilon, VarType: VarLearnedRange, ClipDenoised: true})
	r := rand.New(rand.NewPCG(3, 4))
	per := tc * th * tw
	x, out, z := randn(r, tn*per, 1), randn(r, 2*tn*per, 0.5), randn(r, tn*per, 1)

	for _, scalar := range []bool{true, false} {
		name := map[bool]string{true: "scalar index", false: "vector index"}[scalar]
		t.Run(name, func(t *testing.T) {
			builds := 0
			exec, err := graph.NewExec(b, func(xn, i, mo, zn *graph.Node) []*graph.Node {
				builds++
				mv := p.PMeanVariance(xn, i, mo)
				return []*graph.Node{p.PSample(mv, i, zn), mv.Mean, mv.LogVariance}
			})
			if err != nil {
				t.Fatal(err)
			}
			var firstGraph *graph.Graph
			for _, idx := range [][]int32{{0, 0}, {30, 30}, {0, 17}, {49, 0}} {
				var it *tensors.Tensor
				if scalar {
					if idx[0] != idx[1] {
						continue
					}
					it = tensors.FromValue(idx[0])
				} else {
					it = tensors.FromFlatDataAndDimensions(append([]int32(nil), idx...), tn)
				}
				res, g, err := exec.ExecWithGraph(img(x, tc), it, img(out, 2*tc), img(z, tc))
				if err != nil {
					t.Fatal(err)
				}
				if firstGraph == nil {
					firstGraph = g
				} else if g != firstGraph {
					t.Fatalf("index %v ran a different graph", idx)
				}
				got := tensors.MustCopyFlatData[float32](res[0])
				mean := tensors.MustCopyFlatData[float32](res[1])
				logVar := tensors.MustCopyFlatData[float32](res[2])
				for k := range got {
					s := sample(k, per)
					if idx[s] == 0 {
						if got[k] != mean[k] {
							t.Fatalf("i=%v: sample %d got noise at i == 0: %v != mean %v", idx, s, got[k], mean[k])
						}
						continue
					}
					want := float64(mean[k]) + math.Exp(0.5*float64(logVar[k]))*float64(z[k])
					if math.Abs(float64(got[k])-want) > 1e-5 || got[k] == mean[k] {
						t.Fatalf("i=%v: x'[%d] = %v, want mean + σz = %v", idx, k, got[k], want)
					}
				}
			}
			if builds != 1 {
				t.Errorf("graph built %d times, want 1", builds)
			}
		})
	}
}

// hostPMeanVariance is p_mean_variance in float64 on the host, from the
// float32-cast coefficients, for one flat element k of sample index i.
func hostPMeanVariance(p *Process, cfg Config, i int, xt, m, v float64) (mean, logVar, x0, x0u float64) {
	s := p.Schedule()
	f := func(a []float64) float64 { return float64(float32(a[i])) }
	switch cfg.MeanType {
	case MeanEpsilon:
		x0u = f(s.SqrtRecipAlphasCumprod)*xt - f(s.SqrtRecipm1AlphasCumprod)*m
	case MeanStartX:
		x0u = m
	case MeanPreviousX:
		x0u = float64(float32(1/s.PosteriorMeanCoef1[i]))*m -
			float64(float32(s.PosteriorMeanCoef2[i]/s.PosteriorMeanCoef1[i]))*xt
	}
	x0 = x0u
	if cfg.ClipDenoised {
		x0 = math.Max(-1, math.Min(1, x0))
	}
	mean = f(s.PosteriorMeanCoef1)*x0 + f(s.PosteriorMeanCoef2)*xt
	if cfg.MeanType == MeanPreviousX {
		mean = m
	}
	switch cfg.VarType {
	case VarLearned:
		logVar = v
	case VarLearnedRange:
		fr := (v + 1) / 2
		logVar = fr*f(s.LogBetas) + (1-fr)*f(s.PosteriorLogVarianceClipped)
	case VarFixedSmall:
		logVar = f(s.PosteriorLogVarianceClipped)
	case VarFixedLarge:
		logVar = f(s.FixedLargeLogVariance)
	}
	return mean, logVar, x0, x0u
}

func TestPMeanVarianceTypes(t *testing.T) {
	b := newTestBackend(t)
	r := rand.New(rand.NewPCG(5, 6))
	per := tc * th * tw
	cases := []struct {
		mean    MeanType
		vt      VarType
		clip    bool
		learned bool // 2C output channels
	}{
		{MeanEpsilon, VarLearnedRange, true, true},
		{MeanEpsilon, VarLearned, false, true},
		{MeanEpsilon, VarFixedSmall, true, false},
		{MeanEpsilon, VarFixedLarge, false, false},
		{MeanEpsilon, VarFixedLarge, true, true}, // extra channels ignored, as in DPS
		{MeanStartX, VarFixedLarge, true, false},
		{MeanStartX, VarLearnedRange, false, true},
		{MeanPreviousX, VarFixedSmall, true, false},
	}
	for _, c := range cases {
		name := string(c.mean) + "/" + string(c.vt)
		if c.clip {
			name += "/clip"
		}
		if c.learned {
			name += "/2C"
		}
		t.Run(name, func(t *testing.T) {
			cfg := Config{Steps: 1000, NoiseSchedule: ScheduleLinear, Respacing: "50", MeanType: c.mean, VarType: c.vt, ClipDenoised: c.clip}
			p := newProcess(t, cfg)
			oc := tc
			if c.learned {
				oc = 2 * tc
			}
			x, out := randn(r, tn*per, 1), randn(r, tn*oc*th*tw, 0.8)
			exec, err := graph.NewExec(b, func(xn, i, mo *graph.Node) []*graph.Node {
				mv := p.PMeanVariance(xn, i, mo)
				return []*graph.Node{mv.Mean, mv.LogVariance, mv.Variance, mv.PredXStart, mv.PredXStartUnclipped, mv.Eps, mv.ModelEps}
			})
			if err != nil {
				t.Fatal(err)
			}
			idx := []int32{0, 23}
			res, err := exec.Exec(img(x, tc), tensors.FromFlatDataAndDimensions(idx, tn), img(out, oc))
			if err != nil {
				t.Fatal(err)
			}
			n := tn * per
			wantMean, wantLV, wantV, wantX0, wantX0u := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
			wantEps, wantModelEps := make([]float64, n), make([]float64, n)
			s := p.Schedule()
			for k := range n {
				smp, rest := k/per, k%per
				m := float64(out[smp*oc*th*tw+rest])
				v := 0.0
				if c.learned {
					v = float64(out[smp*oc*th*tw+per+rest])
				}
				i := int(idx[smp])
				wantMean[k], wantLV[k], wantX0[k], wantX0u[k] = hostPMeanVariance(p, cfg, i, float64(x[k]), m, v)
				wantV[k] = math.Exp(wantLV[k])
				if c.vt == VarFixedSmall { // β̃_i itself: 0 at i = 0, where the log is clipped
					wantV[k] = float64(float32(s.PosteriorVariance[i]))
				}
				sr, srm1 := float64(float32(s.SqrtRecipAlphasCumprod[i])), float64(float32(s.SqrtRecipm1AlphasCumprod[i]))
				wantEps[k] = (sr*float64(x[k]) - wantX0[k]) / srm1
				wantModelEps[k] = (sr*float64(x[k]) - wantX0u[k]) / srm1
				if c.mean == MeanEpsilon {
					wantModelEps[k] = m
				}
			}
			const tol = 2e-5
			assertNear(t, "Mean", tensors.MustCopyFlatData[float32](res[0]), wantMean, tol)
			assertNear(t, "LogVariance", tensors.MustCopyFlatData[float32](res[1]), wantLV, tol)
			assertNear(t, "Variance", tensors.MustCopyFlatData[float32](res[2]), wantV, tol)
			assertNear(t, "PredXStart", tensors.MustCopyFlatData[float32](res[3]), wantX0, tol)
			assertNear(t, "PredXStartUnclipped", tensors.MustCopyFlatData[float32](res[4]), wantX0u, tol)
			// ε divides by √(1/ᾱ−1), small at i = 0: compare relatively.
			assertNear(t, "Eps", tensors.MustCopyFlatData[float32](res[5]), wantEps, 1e-3)
			assertNear(t, "ModelEps", tensors.MustCopyFlatData[float32](res[6]), wantModelEps, 1e-3)
		})
	}
}

func TestQSampleRoundTrip(t *testing.T) {
	b := newTestBackend(t)
	p := newProcess(t, Config{MeanType: MeanEpsilon, VarType: VarFixedLarge})
	r := rand.New(rand.NewPCG(7, 8))
	per := tc * th * tw
	x0, eps := randn(r, tn*per, 0.5), randn(r, tn*per, 1)
	exec, err := graph.NewExec(b, func(x, i, e *graph.Node) []*graph.Node {
		xt := p.QSample(x, i, e)
		return []*graph.Node{xt, p.PredXStartFromEps(xt, i, e), p.EpsFromPredXStart(xt, i, x)}
	})
	if err != nil {
		t.Fatal(err)
	}
	s := p.Schedule()
	for _, idx := range []int32{5, 49} {
		res, err := exec.Exec(img(x0, tc), tensors.FromValue(idx), img(eps, tc))
		if err != nil {
			t.Fatal(err)
		}
		want := make([]float64, len(x0))
		for k := range want {
			want[k] = s.SqrtAlphasCumprod[idx]*float64(x0[k]) + s.SqrtOneMinusAlphasCumprod[idx]*float64(eps[k])
		}
		assertNear(t, "QSample", tensors.MustCopyFlatData[float32](res[0]), want, 1e-6)
		assertNear(t, "PredXStartFromEps", tensors.MustCopyFlatData[float32](res[1]), widen(x0), 1e-4)
		assertNear(t, "EpsFromPredXStart", tensors.MustCopyFlatData[float32](res[2]), widen(eps), 1e-4)
	}
}

func TestDDIMStep(t *testing.T) {
	b := newTestBackend(t)
	p := newProcess(t, Config{Sampler: SamplerDDIM, MeanType: MeanEpsilon, VarType: VarLearnedRange, ClipDenoised: true})
	r := rand.New(rand.NewPCG(9, 10))
	per := tc * th * tw
	x0, eps, z := randn(r, tn*per, 0.5), randn(r, tn*per, 1), randn(r, tn*per, 1)
	s := p.Schedule()
	for _, eta := range []float64{0, 0.5, 1} {
		builds := 0
		exec, err := graph.NewExec(b, func(x, e, i, zn *graph.Node) *graph.Node {
			builds++
			return p.DDIMStep(x, e, i, zn, eta)
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, idx := range [][]int32{{0, 0}, {10, 49}, {0, 3}} {
			res, err := exec.Exec(img(x0, tc), img(eps, tc), tensors.FromFlatDataAndDimensions(idx, tn), img(z, tc))
			if err != nil {
				t.Fatal(err)
			}
			want := make([]float64, len(x0))
			for k := range want {
				i := idx[sample(k, per)]
				ab, abp := s.AlphasCumprod[i], s.AlphasCumprodPrev[i]
				sigma := eta * math.Sqrt((1-abp)/(1-ab)) * math.Sqrt(1-ab/abp)
				if eta == 1 && math.Abs(sigma*sigma-s.PosteriorVariance[i]) > 1e-9 {
					t.Fatalf("η=1: σ² = %v, want β̃ = %v", sigma*sigma, s.PosteriorVariance[i])
				}
				want[k] = math.Sqrt(abp)*float64(x0[k]) + math.Sqrt(1-abp-sigma*sigma)*float64(eps[k])
				if i != 0 {
					want[k] += sigma * float64(z[k])
				}
			}
			assertNear(t, "DDIMStep", tensors.MustCopyFlatData[float32](res[0]), want, 1e-5)
		}
		if builds != 1 {
			t.Errorf("η=%v: graph built %d times, want 1", eta, builds)
		}
	}
}

// TestDDIMStepEtaAboveOne checks that DDIMStep refuses an η above 1, where
// its update takes the square root of a negative number: at i = 1 of the
// 50-step process, 1−ᾱ_0−σ² < 0 (in float64) for η = 1.05, and the step
// must be an error naming η instead of a NaN image; η = 1 still steps.
func TestDDIMStepEtaAboveOne(t *testing.T) {
	b := newTestBackend(t)
	p := newProcess(t, Config{Sampler: SamplerDDIM, MeanType: MeanEpsilon, VarType: VarFixedSmall})
	s := p.Schedule()
	ab, abp := s.AlphasCumprod[1], s.AlphasCumprodPrev[1]
	step := func(eta float64) ([]float32, error) {
		exec, err := graph.NewExec(b, func(x, i *graph.Node) *graph.Node { return p.DDIMStep(x, x, i, x, eta) })
		if err != nil {
			return nil, err
		}
		res, err := exec.Exec(tensors.FromShape(tensorsShape(tn, tc, th, tw)), int32(1))
		if err != nil {
			return nil, err
		}
		return tensors.MustCopyFlatData[float32](res[0]), nil
	}
	for _, eta := range []float64{1.05, math.Inf(1), math.NaN()} {
		if sigma := eta * math.Sqrt((1-abp)/(1-ab)) * math.Sqrt(1-ab/abp); eta == 1.05 && !(1-abp-sigma*sigma < 0) {
			t.Fatalf("η = %v at i = 1: 1−ᾱ_0−σ² = %v, want it negative", eta, 1-abp-sigma*sigma)
		}
		if _, err := step(eta); err == nil || !strings.Contains(err.Error(), "must lie in [0, 1]") {
			t.Errorf("η = %v: error %v, want one saying η must lie in [0, 1]", eta, err)
		}
	}
	got, err := step(1)
	if err != nil {
		t.Fatalf("η = 1: %v", err)
	}
	for k, v := range got {
		if v != 0 { // x̂0 = ε = z = 0
			t.Fatalf("η = 1: value %d is %v, want 0", k, v)
		}
	}
}

func TestLookups(t *testing.T) {
	b := newTestBackend(t)
	p := newProcess(t, Config{Steps: 1000, NoiseSchedule: ScheduleLinear, Respacing: "20", RescaleTimesteps: true,
		MeanType: MeanEpsilon, VarType: VarFixedSmall})
	exec, err := graph.NewExec(b, func(i *graph.Node) []*graph.Node {
		return []*graph.Node{p.Beta(i), p.AlphaBar(i), p.AlphaBarPrev(i), p.AlphaBarNext(i), p.ModelTimestep(i)}
	})
	if err != nil {
		t.Fatal(err)
	}
	s, tm := p.Schedule(), p.TimestepMap()
	for _, idx := range []int32{0, 7, 19} {
		res, err := exec.Exec(tensors.FromValue(idx))
		if err != nil {
			t.Fatal(err)
		}
		for k, want := range []float64{s.Betas[idx], s.AlphasCumprod[idx], s.AlphasCumprodPrev[idx],
			s.AlphasCumprodNext[idx], float64(tm[idx])} {
			if res[k].Shape().Rank() != 0 {
				t.Fatalf("output %d has shape %s, want a scalar", k, res[k].Shape())
			}
			if got := res[k].Value().(float32); got != float32(want) {
				t.Errorf("i=%d output %d = %v, want %v", idx, k, got, float32(want))
			}
		}
	}
}

// TestGraphMisuse checks that shape and dtype misuse come back from Exec as
// errors naming the problem: among them the index passed in another
// argument's place, or another argument in its place, which the methods'
// *graph.Node arguments let compile.
func TestGraphMisuse(t *testing.T) {
	b := newTestBackend(t)
	p := newProcess(t, Config{MeanType: MeanEpsilon, VarType: VarLearnedRange})
	x := tensors.FromShape(tensorsShape(tn, tc, th, tw))
	cases := []struct {
		name    string
		fn      func(xn, i, mo *graph.Node) *graph.Node
		idx     any
		outC    int
		wantErr string
	}{
		{"C output for learned variance", func(xn, i, mo *graph.Node) *graph.Node { return p.PMeanVariance(xn, i, mo).Mean },
			int32(3), tc, "needs a model output of 2C"},
		{"odd channel count", func(xn, i, mo *graph.Node) *graph.Node { return p.PMeanVariance(xn, i, mo).Mean },
			int32(3), tc + 1, "channels"},
		{"float index", func(xn, i, mo *graph.Node) *graph.Node { return p.QSample(xn, i, xn) },
			float32(3), tc, "diffusion: QSample: the respaced index i must be an integer scalar or [N] vector, got (Float32)"},
		{"matrix index", func(xn, i, mo *graph.Node) *graph.Node { return p.AlphaBar(i) },
			[][]int32{{1}}, tc, "diffusion: the respaced index i must be an integer scalar or [N] vector, got (Int32)[1 1]"},
		{"index batch mismatch", func(xn, i, mo *graph.Node) *graph.Node { return p.QSample(xn, i, xn) },
			[]int32{1, 2, 3}, tc, "does not match"},
		{"unknown array", func(xn, i, mo *graph.Node) *graph.Node { return p.Lookup("gamma", i) },
			int32(1), tc, "unknown coefficient array"},
		{"negative eta", func(xn, i, mo *graph.Node) *graph.Node { return p.DDIMStep(xn, xn, i, xn, -1) },
			int32(1), tc, "must lie in [0, 1]"},
		// Arguments passed in another's place, or of shapes that disagree.
		{"QSample, index first", func(xn, i, mo *graph.Node) *graph.Node { return p.QSample(i, xn, xn) },
			int32(1), tc, "QSample: x0 must be a float tensor [N,...], got (Int32)"},
		{"QSample, noise of another shape", func(xn, i, mo *graph.Node) *graph.Node { return p.QSample(xn, i, mo) },
			int32(1), tc + 1, "QSample: x0 (Float32)[2 3 4 4] and noise (Float32)[2 4 4 4] must have the same shape"},
		{"PredXStartFromEps, index last", func(xn, i, mo *graph.Node) *graph.Node { return p.PredXStartFromEps(xn, xn, i) },
			int32(1), tc, "PredXStartFromEps: eps must be a float tensor [N,...], got (Int32)"},
		{"EpsFromPredXStart, index last", func(xn, i, mo *graph.Node) *graph.Node { return p.EpsFromPredXStart(xn, xn, i) },
			[]int32{1, 1}, tc, "EpsFromPredXStart: predX0 must be a float tensor [N,...], got (Int32)[2]"},
		{"PosteriorMean, index second", func(xn, i, mo *graph.Node) *graph.Node { return p.PosteriorMean(xn, i, xn) },
			int32(1), tc, "PosteriorMean: xt must be a float tensor [N,...], got (Int32)"},
		{"PosteriorMean, shapes disagree", func(xn, i, mo *graph.Node) *graph.Node { return p.PosteriorMean(xn, mo, i) },
			int32(1), 2 * tc, "PosteriorMean: x0 (Float32)[2 3 4 4] and xt (Float32)[2 6 4 4] must have the same shape"},
		{"PosteriorMean, index batch mismatch", func(xn, i, mo *graph.Node) *graph.Node { return p.PosteriorMean(xn, xn, i) },
			[]int32{1, 2, 3}, tc, "PosteriorMean: the respaced index i (Int32)[3] does not match the batch 2 of x0"},
		{"PMeanVariance, index last", func(xn, i, mo *graph.Node) *graph.Node { return p.PMeanVariance(xn, mo, i).Mean },
			int32(1), 2 * tc, "PMeanVariance: the respaced index i must be an integer scalar or [N] vector"},
		{"PSample, noise of another shape", func(xn, i, mo *graph.Node) *graph.Node {
			return p.PSample(MeanVariance{Mean: xn, LogVariance: xn}, i, mo)
		}, int32(1), tc + 1, "PSample: mv.Mean (Float32)[2 3 4 4] and z (Float32)[2 4 4 4] must have the same shape"},
		{"DDIMStep, index second", func(xn, i, mo *graph.Node) *graph.Node { return p.DDIMStep(xn, i, xn, xn, 0) },
			int32(1), tc, "DDIMStep: eps must be a float tensor [N,...], got (Int32)"},
		{"DDIMStep, index last", func(xn, i, mo *graph.Node) *graph.Node { return p.DDIMStep(xn, xn, xn, i, 0) },
			int32(1), tc, "DDIMStep: z must be a float tensor [N,...], got (Int32)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			exec, err := graph.NewExec(b, c.fn)
			if err != nil {
				t.Fatal(err)
			}
			_, err = exec.Exec(x, tensors.FromAnyValue(c.idx), tensors.FromShape(tensorsShape(tn, c.outC, th, tw)))
			if err == nil {
				t.Fatal("want an error")
			}
			if !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("error %q does not mention %q", err, c.wantErr)
			}
		})
	}
}

func tensorsShape(dims ...int) shapes.Shape { return shapes.Make(dtypes.Float32, dims...) }

// TestWhereFirst checks that WhereFirst selects, per sample for an [N]
// index, first where i == 0 and other elsewhere, and that an Inf or NaN in
// the branch not taken does not leak into the result (0·Inf is NaN in a
// blend).
func TestWhereFirst(t *testing.T) {
	b := newTestBackend(t)
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	tests := []struct {
		name         string
		idx          any
		first, other []float32 // [2,1]
		want         []float32
	}{
		{"scalar i = 0, other infinite", int32(0), []float32{1, 2}, []float32{inf, nan}, []float32{1, 2}},
		{"scalar i = 3, first infinite", int32(3), []float32{nan, -inf}, []float32{3, 4}, []float32{3, 4}},
		{"per sample", []int32{0, 5}, []float32{1, inf}, []float32{nan, 4}, []float32{1, 4}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			exec, err := graph.NewExec(b, WhereFirst)
			if err != nil {
				t.Fatal(err)
			}
			out, err := exec.Exec(tensors.FromAnyValue(tc.idx), tensors.FromFlatDataAndDimensions(tc.first, 2, 1),
				tensors.FromFlatDataAndDimensions(tc.other, 2, 1))
			if err != nil {
				t.Fatal(err)
			}
			got := tensors.MustCopyFlatData[float32](out[0])
			for k := range tc.want {
				if got[k] != tc.want[k] {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			}
		})
	}
}
