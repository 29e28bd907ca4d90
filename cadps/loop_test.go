package cadps

import (
	"math"
	"testing"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/diffusion"
	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// gaussianEps returns the exact noise prediction of images whose pixels
// are independent N(0, s2): ε(x_t) = √(1−ᾱ_t)·x_t/(ᾱ_t·s2 + 1 − ᾱ_t), with
// ᾱ_t read from the original process's alphasCumprod at the timestep the
// network receives divided by scale (1000/T when the process rescales its
// timesteps, else 1), so that a wrong timestep gives a wrong ε.
func gaussianEps(alphasCumprod []float64, scale, s2 float64) guidance.Network {
	table := make([]float32, len(alphasCumprod))
	for k, a := range alphasCumprod {
		table[k] = float32(a)
	}
	return func(_ *context.Context, x, t *graph.Node) *graph.Node {
		n := t.Shape().Dim(0)
		ti := graph.ConvertDType(graph.Round(graph.DivScalar(t, scale)), dtypes.Int32)
		ab := graph.Gather(graph.Const(x.Graph(), table), graph.Reshape(ti, n, 1))
		ab = graph.Reshape(ab, n, 1, 1, 1)
		return graph.Mul(graph.Div(graph.Sqrt(graph.OneMinus(ab)), graph.AddScalar(graph.MulScalar(ab, s2-1), 1)), x)
	}
}

// TestRunGaussianClosedForm runs unconditional sampling of a Gaussian prior
// through its exact ε network, over processes at the edges of the
// schedules and respacings (a 2-step respacing, section lists, DDIM's
// striding, a 4000-step cosine schedule with rescaled timesteps), with
// ancestral and DDIM (η = 0, 0.7, 1) updates, a batch of 2 and both noise
// paths, and compares x_0 with the same recursion in float64:
//
//	x̂0 = (x − √(1−ᾱ)·ε)/√ᾱ
//	DDPM: x' = c1·x̂0 + c2·x + √var·z
//	DDIM: x' = √ᾱ'·x̂0 + √(1−ᾱ'−σ²)·ε + σ·z,  σ = η·√((1−ᾱ')/(1−ᾱ))·√(1−ᾱ/ᾱ')
//
// (no z at index 0). The callback must see steps 1…N at indices N−1…0.
func TestRunGaussianClosedForm(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	const s2 = 0.25
	shape := []int{2, 1, 2, 3}
	n := 12
	for _, tc := range []struct {
		name          string
		schedule      string
		steps         int
		respacing     string
		rescale, ddim bool
		eta           float64
		varType       diffusion.VarType
	}{
		{"ddpm, 2 steps", "linear", 1000, "2", false, false, 0, diffusion.VarFixedSmall},
		{"ddim η=1, 2 steps", "linear", 1000, "2", false, true, 1, diffusion.VarFixedSmall},
		{"ddpm, sections", "linear", 1000, "10,3", false, false, 0, diffusion.VarFixedSmall},
		{"ddim η=0, ddim striding", "linear", 1000, "ddim4", false, true, 0, diffusion.VarFixedSmall},
		{"ddpm, cosine 4000 rescaled", "cosine", 4000, "7", true, false, 0, diffusion.VarFixedLarge},
		{"ddim η=0.7, cosine 4000 rescaled", "cosine", 4000, "ddim8", true, true, 0.7, diffusion.VarFixedLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			proc, err := diffusion.New(diffusion.Config{Steps: tc.steps, NoiseSchedule: tc.schedule, Respacing: tc.respacing,
				MeanType: diffusion.MeanEpsilon, VarType: tc.varType, RescaleTimesteps: tc.rescale})
			if err != nil {
				t.Fatal(err)
			}
			betas, err := diffusion.BetaSchedule(tc.schedule, tc.steps)
			if err != nil {
				t.Fatal(err)
			}
			base, err := diffusion.NewSchedule(betas)
			if err != nil {
				t.Fatal(err)
			}
			scale := 1.0
			if tc.rescale {
				scale = 1000 / float64(tc.steps)
			}
			s, err := NewSampler(Problem{Backend: b, Ctx: context.New(), Net: gaussianEps(base.AlphasCumprod, scale, s2),
				Process: proc, Method: guidance.Unconditional{}, DDIM: tc.ddim, Eta: tc.eta})
			if err != nil {
				t.Fatal(err)
			}
			steps := proc.NumSteps()
			for _, noise := range []struct {
				name   string
				source NoiseSource
				draws  func() (xT []float32, z [][]float32) // z[k]: the draw of step k+1
			}{
				{"host noise", NewSeededNoise(5), func() ([]float32, [][]float32) {
					ref := NewSeededNoise(5)
					xT, _ := ref.Normal(NoiseInit, -1, n)
					z := make([][]float32, steps)
					for k := range z {
						z[k], _ = ref.Normal(NoiseSample, steps-1-k, n)
						_, _ = ref.Normal(NoiseMeasurement, steps-1-k, 1)
					}
					return xT, z
				}},
				{"graph noise", NewGraphNoise(5), func() ([]float32, [][]float32) {
					g := NewGraphNoise(5)
					xT, _ := g.Normal(NoiseInit, -1, n)
					z, err := g.Normals(b, steps, shape...)
					if err != nil {
						t.Fatal(err)
					}
					return xT, z
				}},
			} {
				var seen []int
				got, err := s.Run(nil, shape, nil, noise.source, func(info StepInfo) error {
					if info.Step != len(seen)+1 || info.Index != steps-info.Step || info.Steps != steps {
						t.Errorf("%s: callback %d saw step %d/%d at index %d, want step %d/%d at index %d",
							noise.name, len(seen)+1, info.Step, info.Steps, info.Index, len(seen)+1, steps, steps-1-len(seen))
					}
					seen = append(seen, info.Index)
					return nil
				})
				if err != nil {
					t.Fatalf("%s: %v", noise.name, err)
				}
				if len(seen) != steps {
					t.Errorf("%s: %d callbacks, want %d", noise.name, len(seen), steps)
				}
				xT, z := noise.draws()
				want := gaussianRecursion(proc.Schedule(), xT, z, s2, tc.ddim, tc.eta, tc.varType)
				for k, v := range tensors.MustCopyFlatData[float32](got) {
					if d := math.Abs(float64(v) - want[k]); !(d <= 1e-4*math.Max(1, math.Abs(want[k]))) {
						t.Fatalf("%s: x_0[%d] = %v, want %v (|Δ| = %.3g)", noise.name, k, v, want[k], d)
					}
				}
			}
		})
	}
}

// gaussianRecursion runs TestRunGaussianClosedForm's recursion in float64
// from x_T with the draws z (z[k] for step k+1, index N−1−k).
func gaussianRecursion(sch *diffusion.Schedule, xT []float32, z [][]float32, s2 float64, ddim bool, eta float64, varType diffusion.VarType) []float64 {
	x := make([]float64, len(xT))
	for k, v := range xT {
		x[k] = float64(v)
	}
	steps := len(sch.Betas)
	for k := range steps {
		i := steps - 1 - k
		ab, abPrev := sch.AlphasCumprod[i], sch.AlphasCumprodPrev[i]
		variance := sch.PosteriorVariance[i]
		if varType == diffusion.VarFixedLarge {
			variance = sch.FixedLargeVariance[i]
		}
		sigma := eta * math.Sqrt((1-abPrev)/(1-ab)) * math.Sqrt(1-ab/abPrev)
		for j, xt := range x {
			eps := math.Sqrt(1-ab) * xt / (ab*s2 + 1 - ab)
			x0 := (xt - math.Sqrt(1-ab)*eps) / math.Sqrt(ab)
			var noise, std float64
			if i > 0 {
				noise = float64(z[k][j])
			}
			if ddim {
				x[j], std = math.Sqrt(abPrev)*x0+math.Sqrt(1-abPrev-sigma*sigma)*eps, sigma
			} else {
				x[j], std = sch.PosteriorMeanCoef1[i]*x0+sch.PosteriorMeanCoef2[i]*xt, math.Sqrt(variance)
			}
			x[j] += std * noise
		}
	}
	return x
}
