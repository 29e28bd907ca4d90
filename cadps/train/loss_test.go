package train

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/diffusion"
	"github.com/cadps/toolkit/cadps/prior/small"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// hostCDF is guided-diffusion's tanh approximation of Φ, in float64.
func hostCDF(x float64) float64 {
	return 0.5 * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x)))
}

// hostDecoderLogLik is discretizedGaussianLogLikelihood for one value.
func hostDecoderLogLik(x, mean, logScale float64) float64 {
	inv := math.Exp(-logScale)
	plus, minus := hostCDF(inv*(x-mean+1.0/255)), hostCDF(inv*(x-mean-1.0/255))
	switch {
	case x < -0.999:
		return math.Log(math.Max(plus, 1e-12))
	case x > 0.999:
		return math.Log(math.Max(1-minus, 1e-12))
	}
	return math.Log(math.Max(plus-minus, 1e-12))
}

// TestHybridLossAgainstHost compares every term of HybridLoss with a
// float64 host computation from the schedule arrays, at t = 0 (decoder NLL)
// and t > 0 (KL), for both learned variance types, and with a process that
// clips x̂0 for sampling (the bound uses the unclipped x̂0 regardless).
func TestHybridLossAgainstHost(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		vt   diffusion.VarType
		clip bool // a sampling process that clips x̂0: the bound must not
	}{{diffusion.VarLearnedRange, false}, {diffusion.VarLearned, false}, {diffusion.VarLearnedRange, true}} {
		vt := tc.vt
		t.Run(fmt.Sprintf("%s/clip=%v", vt, tc.clip), func(t *testing.T) {
			cfg := small.Diffusion()
			cfg.VarType, cfg.ClipDenoised = vt, tc.clip
			p, err := diffusion.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			const n, c, hw = 4, 1, 3
			per := c * hw * hw
			r := rand.New(rand.NewPCG(5, 6))
			x0 := make([]float32, n*per)
			noise := make([]float32, n*per)
			out := make([]float32, n*2*per)
			for k := range x0 {
				x0[k] = float32(r.IntN(256))/255*2 - 1
				noise[k] = float32(r.NormFloat64())
			}
			x0[0], x0[1] = -1, 1 // both edge bins
			for k := range out {
				out[k] = float32(r.NormFloat64() * 0.5)
			}
			idx := []int32{0, 1, 500, 999}
			exec, err := graph.NewExec(b, func(x0, i, noise, out *graph.Node) []*graph.Node {
				l := HybridLoss(p, x0, i, noise, out)
				return []*graph.Node{l.MSE, l.VB, l.Total}
			})
			if err != nil {
				t.Fatal(err)
			}
			res, err := exec.Exec(tensors.FromFlatDataAndDimensions(x0, n, c, hw, hw), tensors.FromValue(idx),
				tensors.FromFlatDataAndDimensions(noise, n, c, hw, hw), tensors.FromFlatDataAndDimensions(out, n, 2*c, hw, hw))
			if err != nil {
				t.Fatal(err)
			}
			mse, vb, total := tensors.MustCopyFlatData[float32](res[0]), tensors.MustCopyFlatData[float32](res[1]), tensors.MustCopyFlatData[float32](res[2])
			s := p.Schedule()
			arr := func(name string, i int) float64 {
				a, ok := s.Array(name)
				if !ok {
					t.Fatalf("no array %q", name)
				}
				return a[i]
			}
			for j, i32 := range idx {
				i := int(i32)
				var wantMSE, wantVB float64
				for k := range per {
					x := float64(x0[j*per+k])
					z := float64(noise[j*per+k])
					eps := float64(out[j*2*per+k])
					v := float64(out[j*2*per+per+k])
					xt := arr("sqrt_alphas_cumprod", i)*x + arr("sqrt_one_minus_alphas_cumprod", i)*z
					wantMSE += (z - eps) * (z - eps) / float64(per)
					predX0 := arr("sqrt_recip_alphas_cumprod", i)*xt - arr("sqrt_recipm1_alphas_cumprod", i)*eps
					c1, c2 := arr("posterior_mean_coef1", i), arr("posterior_mean_coef2", i)
					modelMean := c1*predX0 + c2*xt
					trueMean := c1*x + c2*xt
					trueLogVar := arr("posterior_log_variance_clipped", i)
					modelLogVar := v
					if vt == diffusion.VarLearnedRange {
						f := (v + 1) / 2
						modelLogVar = f*arr("log_betas", i) + (1-f)*trueLogVar
					}
					if i == 0 {
						wantVB += -hostDecoderLogLik(x, modelMean, modelLogVar/2) / math.Ln2 / float64(per)
					} else {
						kl := 0.5 * (-1 + modelLogVar - trueLogVar + math.Exp(trueLogVar-modelLogVar) +
							(trueMean-modelMean)*(trueMean-modelMean)*math.Exp(-modelLogVar))
						wantVB += kl / math.Ln2 / float64(per)
					}
				}
				near := func(what string, got float32, want float64) {
					if d := math.Abs(float64(got) - want); d > 1e-3*math.Max(1, math.Abs(want)) {
						t.Errorf("t=%d %s = %.6g, want %.6g", i, what, got, want)
					}
				}
				near("MSE", mse[j], wantMSE)
				near("VB", vb[j], wantVB)
				near("total", total[j], wantMSE+wantVB)
			}
		})
	}
}

// TestDecoderIsADistribution checks that the discretised Gaussian decoder's
// probabilities over the 256 levels sum to one and peak at the mean.
func TestDecoderIsADistribution(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	levels := make([]float32, 256)
	for k := range levels {
		levels[k] = float32(k)/255*2 - 1
	}
	cases := []struct{ mean, logScale float64 }{{0, math.Log(0.01)}, {0.3, math.Log(0.2)}, {-0.9, math.Log(0.05)}, {-0.999, math.Log(0.001)}, {0.5, math.Log(2)}}
	exec, err := graph.NewExec(b, func(x, mean, logScale *graph.Node) *graph.Node {
		return discretizedGaussianLogLikelihood(x, graph.BroadcastToShape(mean, x.Shape()), graph.BroadcastToShape(logScale, x.Shape()))
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		res, err := exec.Exec(levels, float32(c.mean), float32(c.logScale))
		if err != nil {
			t.Fatal(err)
		}
		ll := tensors.MustCopyFlatData[float32](res[0])
		sum, best := 0.0, 0
		for k, v := range ll {
			sum += math.Exp(float64(v))
			if v > ll[best] {
				best = k
			}
		}
		if math.Abs(sum-1) > 1e-3 {
			t.Errorf("mean %v scale %v: probabilities sum to %v", c.mean, math.Exp(c.logScale), sum)
		}
		if d := math.Abs(float64(levels[best]) - c.mean); d > 1.0/255+1e-6 && math.Exp(c.logScale) < 1 {
			t.Errorf("mean %v: most likely level %v", c.mean, levels[best])
		}
	}
}

// TestHybridLossGradients checks which half of the network's output each
// term trains: L_simple only the ε channels, the VB term only the variance
// channels (the mean is frozen in it, as guided-diffusion's frozen_out is),
// at t = 0 (decoder NLL) and t > 0 (KL).
func TestHybridLossGradients(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	p, err := diffusion.New(small.Diffusion())
	if err != nil {
		t.Fatal(err)
	}
	const n, c, hw = 3, 2, 2
	per := c * hw * hw
	r := rand.New(rand.NewPCG(7, 8))
	x0, noise, out := make([]float32, n*per), make([]float32, n*per), make([]float32, n*2*per)
	for k := range x0 {
		x0[k] = float32(r.IntN(256))/255*2 - 1
		noise[k] = float32(r.NormFloat64())
	}
	for k := range out {
		out[k] = float32(r.NormFloat64() * 0.5)
	}
	idx := []int32{0, 3, 700}
	terms := []struct {
		name     string
		term     func(Losses) *graph.Node
		epsMoves bool // the term's gradient reaches the ε channels
		varMoves bool // and the variance channels
	}{
		{"MSE", func(l Losses) *graph.Node { return l.MSE }, true, false},
		{"VB", func(l Losses) *graph.Node { return l.VB }, false, true},
	}
	for _, tc := range terms {
		exec, err := graph.NewExec(b, func(x0, i, noise, out *graph.Node) *graph.Node {
			return graph.Gradient(graph.ReduceAllSum(tc.term(HybridLoss(p, x0, i, noise, out))), out)[0]
		})
		if err != nil {
			t.Fatal(err)
		}
		res, err := exec.Exec(tensors.FromFlatDataAndDimensions(x0, n, c, hw, hw), tensors.FromValue(idx),
			tensors.FromFlatDataAndDimensions(noise, n, c, hw, hw), tensors.FromFlatDataAndDimensions(out, n, 2*c, hw, hw))
		if err != nil {
			t.Fatal(err)
		}
		g := tensors.MustCopyFlatData[float32](res[0])
		for j, i := range idx {
			var eps, v float64
			for k := range per {
				eps = math.Max(eps, math.Abs(float64(g[j*2*per+k])))
				v = math.Max(v, math.Abs(float64(g[j*2*per+per+k])))
			}
			if (eps > 0) != tc.epsMoves || (v > 0) != tc.varMoves {
				t.Errorf("t=%d: d%s/d(ε channels) max %.3g, d%s/d(variance channels) max %.3g; want nonzero: ε %v, variance %v",
					i, tc.name, eps, tc.name, v, tc.epsMoves, tc.varMoves)
			}
		}
	}
}
