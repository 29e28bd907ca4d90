package train

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/diffusion"
	"github.com/cadps/toolkit/cadps/prior/small"
	"github.com/cadps/toolkit/cadps/unet"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// TestNoiseLevelErrors measures a freshly initialised network, whose
// zeroed output layer predicts ε̂ = 0. Its ε-MSE is then the mean of ε²
// (≈ 1), and its x̂0 = clip(x_t/√ᾱ): almost exact at t = 0 and almost
// always ±1 at t = 999.
func TestNoiseLevelErrors(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	data := tinyData(5)
	tr, err := New(b, tinyConfig(), data) // the initial weights, before any step
	if err != nil {
		t.Fatal(err)
	}
	ctx, m, p := tr.ctx, tr.model, tr.process
	rows, err := NoiseLevelErrors(b, ctx, m, p, data, []int{0, 999}, 7, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].T != 0 || rows[1].T != 999 {
		t.Fatalf("rows %+v", rows)
	}
	mean, variance := 0.0, 0.0
	for _, v := range data.Pix {
		mean += float64(v)
	}
	mean /= float64(len(data.Pix))
	for j := range 64 {
		mu := 0.0
		for i := range 5 {
			mu += float64(data.Pix[i*64+j]) / 5
		}
		for i := range 5 {
			d := float64(data.Pix[i*64+j]) - mu
			variance += d * d / 5 / 64
		}
	}
	for _, r := range rows {
		if math.Abs(r.DataMean-mean) > 1e-9 || math.Abs(r.BaselineMSE-variance) > 1e-9 {
			t.Errorf("t=%d: data mean %g, baseline %g; want %g, %g", r.T, r.DataMean, r.BaselineMSE, mean, variance)
		}
		if math.Abs(r.EpsMSE-1) > 0.2 {
			t.Errorf("t=%d: ε-MSE %g of a zero prediction, want ≈ 1", r.T, r.EpsMSE)
		}
	}
	if r := rows[0]; !(r.X0MSE > 0 && r.X0MSE < 2e-4) {
		t.Errorf("t=0: x̂0-MSE %g, want in (0, 2e-4)", r.X0MSE)
	}
	if r := rows[1]; r.X0MSE < 0.5 {
		t.Errorf("t=999: x̂0-MSE %g of a clipped x_t/√ᾱ, want > 0.5", r.X0MSE)
	}
	if math.Abs(rows[0].AlphaBar-p.Schedule().AlphasCumprod[0]) > 0 {
		t.Errorf("ᾱ of t=0 is %g", rows[0].AlphaBar)
	}

	for _, c := range []struct {
		name  string
		ts    []int
		data  *Dataset
		batch int
		want  string
	}{
		{"t too large", []int{1000}, data, 2, "outside"},
		{"negative t", []int{-1}, data, 2, "outside"},
		{"no images", []int{0}, &Dataset{}, 2, "no images"},
		{"batch", []int{0}, data, 0, "batch"},
		{"size", []int{0}, &Dataset{N: 1, C: 1, H: 4, W: 4, Pix: make([]float32, 16)}, 1, "model wants"},
	} {
		if _, err := NoiseLevelErrors(b, ctx, m, p, c.data, c.ts, 0, c.batch); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}

	// A NaN weight is reported, not averaged into the table.
	p0 := m.Params()[0]
	scope, name := unet.KeyScope(p0.Name)
	n := 1
	for _, d := range p0.Shape {
		n *= d
	}
	nan := make([]float32, n)
	for k := range nan {
		nan[k] = float32(math.NaN())
	}
	if err := unet.SetVariable(ctx, scope, name, tensors.FromFlatDataAndDimensions(nan, p0.Shape...), true); err != nil {
		t.Fatal(err)
	}
	if _, err := NoiseLevelErrors(b, ctx, m, p, data, []int{500}, 0, 2); err == nil || !strings.Contains(err.Error(), "timestep 500: the network's output is not finite") {
		t.Errorf("NaN weights: error %v", err)
	}
}

// TestNoiseLevelErrorsMeanTypes reads the output of a freshly initialised
// network, exactly 0, as the process's mean type says, against float64
// sums derived here from the same draws: ε̂ = 0 for epsilon; x̂0 = 0 for
// start_x; x̂0 = −(c2/c1)·x_t for previous_x (the posterior mean inverted
// at a zero mean), each with ε̂ = (√(1/ᾱ)·x_t − x̂0)/√(1/ᾱ−1).
func TestNoiseLevelErrorsMeanTypes(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	data := tinyData(3)
	tr, err := New(b, tinyConfig(), data)
	if err != nil {
		t.Fatal(err)
	}
	const seed = 11
	ts := []int{0, 400, 999}
	for _, mt := range []diffusion.MeanType{diffusion.MeanEpsilon, diffusion.MeanStartX, diffusion.MeanPreviousX} {
		t.Run(string(mt), func(t *testing.T) {
			cfg := small.Diffusion()
			cfg.MeanType = mt
			p, err := diffusion.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			rows, err := NoiseLevelErrors(b, tr.ctx, tr.model, p, data, ts, seed, data.N)
			if err != nil {
				t.Fatal(err)
			}
			s := p.Schedule()
			for k, ti := range ts {
				r := rand.New(rand.NewPCG(seed, uint64(ti)))
				ab := s.AlphasCumprod[ti]
				var epsSum, x0Sum, x0Mean float64
				for _, v := range data.Pix { // one batch: the draws in pixel order
					x0, eps := float64(v), float64(float32(r.NormFloat64()))
					xt := math.Sqrt(ab)*x0 + math.Sqrt(1-ab)*eps
					var x0h, epsh float64
					switch mt {
					case diffusion.MeanEpsilon:
						x0h = math.Sqrt(1/ab) * xt
					case diffusion.MeanStartX:
						x0h = 0
					case diffusion.MeanPreviousX:
						x0h = -s.PosteriorMeanCoef2[ti] / s.PosteriorMeanCoef1[ti] * xt
					}
					if mt != diffusion.MeanEpsilon {
						epsh = (math.Sqrt(1/ab)*xt - x0h) / math.Sqrt(1/ab-1)
					}
					x0h = max(-1, min(1, x0h))
					epsSum += (epsh - eps) * (epsh - eps)
					x0Sum += (x0h - x0) * (x0h - x0)
					x0Mean += x0h
				}
				n := float64(len(data.Pix))
				got := rows[k]
				for _, c := range []struct {
					name      string
					got, want float64
				}{
					{"ε-MSE", got.EpsMSE, epsSum / n},
					{"x̂0-MSE", got.X0MSE, x0Sum / n},
					{"x̂0 mean", got.X0Mean, x0Mean / n},
				} {
					if math.Abs(c.got-c.want) > 1e-4*max(1, math.Abs(c.want)) {
						t.Errorf("t=%d: %s = %.7g, want %.7g", ti, c.name, c.got, c.want)
					}
				}
			}
		})
	}
}
