package train

import (
	"math"
	"slices"
	"testing"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/unet"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"
)

// paramState is one parameter's values and its AdamW moments, in float64.
type paramState struct{ w, m, v []float64 }

// optimizerState reads every parameter of tr and its moments; before the
// first step, when the optimizer has made none, the moments are zero.
func optimizerState(t *testing.T, tr *Trainer) map[string]paramState {
	t.Helper()
	read := func(scope, name string) []float64 {
		v := tr.ctx.GetVariableByScopeAndName(scope, name)
		if v == nil {
			return nil
		}
		value, err := v.Value()
		if err != nil {
			t.Fatal(err)
		}
		f := tensors.MustCopyFlatData[float32](value)
		out := make([]float64, len(f))
		for k, x := range f {
			out[k] = float64(x)
		}
		return out
	}
	states := map[string]paramState{}
	for _, p := range tr.model.Params() {
		scope, name := unet.KeyScope(p.Name)
		adam := "/" + optimizers.AdamDefaultScope + scope
		s := paramState{w: read(scope, name), m: read(adam, name+"_1st_moment"), v: read(adam, name+"_2nd_moment")}
		if s.m == nil {
			s.m, s.v = make([]float64, len(s.w)), make([]float64, len(s.w))
		}
		states[p.Name] = s
	}
	return states
}

// TestOptimizerStep checks every step against AdamW computed on the host
// from the moments the step left: the gradient the step applied, recovered
// from the first moment, has the global norm min(‖g‖, ClipNorm) with ‖g‖
// the reported GradNorm (before clipping); the second moment follows that
// gradient; and the weights move by lr_n·(m̂/(√v̂ + ε) + λ·w), with lr_n =
// lr·min(1, n/WarmupSteps) after step n, ε = 1e-8 and the decoupled decay
// λ. The betas are 0.9 and 0.999 rounded to float32, in which the step
// computes.
func TestOptimizerStep(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	beta1, beta2 := float64(float32(0.9)), float64(float32(0.999))
	cases := []struct {
		name        string
		clip, decay float64
		clipped     bool // every step's gradient norm exceeds clip
	}{
		{"no clipping", 0, 0, false},
		{"clipped with decay", 1, 0.1, true},
		{"clip above the norm", 1e6, 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := tinyConfig()
			cfg.WarmupSteps, cfg.ClipNorm, cfg.WeightDecay = 3, c.clip, c.decay
			tr, err := New(b, cfg, tinyData(5))
			if err != nil {
				t.Fatal(err)
			}
			prev := optimizerState(t, tr)
			for n := 1; n <= 4; n++ { // the warm-up's 3 steps and one after
				l, err := tr.Step()
				if err != nil {
					t.Fatal(err)
				}
				cur := optimizerState(t, tr)
				if c.clipped != (c.clip > 0 && l.GradNorm > c.clip) {
					t.Fatalf("step %d: gradient norm %.4g against clip norm %g: the case does not test what it says", n, l.GradNorm, c.clip)
				}
				lr := cfg.LearningRate * math.Min(1, float64(n)/float64(cfg.WarmupSteps))
				debias1, debias2 := 1-math.Pow(beta1, float64(n)), 1-math.Pow(beta2, float64(n))
				var gSq, vErrSq, vSq, worstW float64
				worstName := ""
				for name, s := range cur {
					p := prev[name]
					for k := range s.w {
						g := (s.m[k] - beta1*p.m[k]) / (1 - beta1)
						gSq += g * g
						wantV := beta2*p.v[k] + (1-beta2)*g*g
						vErrSq += (s.v[k] - wantV) * (s.v[k] - wantV)
						vSq += wantV * wantV
						mHat, vHat := s.m[k]/debias1, s.v[k]/debias2
						wantW := p.w[k] - lr*(mHat/(math.Sqrt(vHat)+1e-8)+c.decay*p.w[k])
						if e := math.Abs(s.w[k] - wantW); e > worstW {
							worstW, worstName = e, name
						}
					}
				}
				wantNorm := l.GradNorm
				if c.clip > 0 {
					wantNorm *= math.Min(1, c.clip/(l.GradNorm+1e-6))
				}
				if got := math.Sqrt(gSq); math.Abs(got-wantNorm) > 1e-3*wantNorm {
					t.Errorf("step %d: the applied gradient's norm is %.6g, want %.6g (reported norm %.6g, clip norm %g)", n, got, wantNorm, l.GradNorm, c.clip)
				}
				if rel := math.Sqrt(vErrSq / vSq); rel > 1e-4 {
					t.Errorf("step %d: the second moment is off β2·v + (1−β2)·g² by %.3g (relative L2)", n, rel)
				}
				if tol := 2e-7 + 1e-3*lr; worstW > tol {
					t.Errorf("step %d: weight %s is off the AdamW update (lr %.4g, decay %g) by %.3g, more than %.3g", n, worstName, lr, c.decay, worstW, tol)
				}
				prev = cur
			}
		})
	}
}

// TestBatchDraws checks the draws of Trainer.batch over several epochs: the
// images of each epoch are every image once, in an order drawn anew each
// epoch (batches run across epoch boundaries); the timesteps are uniform
// on [0, T), both ends included; the noise is standard normal.
func TestBatchDraws(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	data := tinyData(7)
	cfg := tinyConfig()
	cfg.BatchSize = 3 // 7 images: batches straddle the epochs
	tr, err := New(b, cfg, data)
	if err != nil {
		t.Fatal(err)
	}
	per := data.C * data.H * data.W
	imageIndex := func(x []float32) int {
		for j := range data.N {
			if slices.Equal(x, data.Pix[j*per:(j+1)*per]) {
				return j
			}
		}
		return -1
	}
	const epochs = 4
	steps := int64(8000) // enough timesteps for the uniformity checks
	var order []int
	counts := make([]int, 10)
	minT, maxT := math.MaxInt, -1
	var noiseSum, noiseSq float64
	noiseN := 0
	T := tr.process.NumSteps()
	for s := range steps {
		x0, ti, noise := tr.batch(s)
		if len(order) < epochs*data.N {
			xs := tensors.MustCopyFlatData[float32](x0)
			for j := range cfg.BatchSize {
				order = append(order, imageIndex(xs[j*per:(j+1)*per]))
			}
		}
		for _, v := range tensors.MustCopyFlatData[int32](ti) {
			if v < 0 || int(v) >= T {
				t.Fatalf("step %d: timestep %d outside [0, %d)", s+1, v, T)
			}
			counts[int(v)*len(counts)/T]++
			minT, maxT = min(minT, int(v)), max(maxT, int(v))
		}
		for _, z := range tensors.MustCopyFlatData[float32](noise) {
			noiseSum += float64(z)
			noiseSq += float64(z) * float64(z)
			noiseN++
		}
	}
	var first []int
	for e := range epochs {
		epoch := order[e*data.N : (e+1)*data.N]
		if sorted := slices.Sorted(slices.Values(epoch)); !slices.Equal(sorted, []int{0, 1, 2, 3, 4, 5, 6}) {
			t.Errorf("epoch %d draws images %v, want each of the %d once", e, epoch, data.N)
		}
		if e == 0 {
			first = epoch
		} else if slices.Equal(epoch, first) {
			t.Errorf("epoch %d repeats epoch 0's order %v", e, epoch)
		}
	}
	if minT != 0 || maxT != T-1 {
		t.Errorf("timesteps span [%d, %d], want [0, %d]", minT, maxT, T-1)
	}
	draws := float64(steps) * float64(cfg.BatchSize)
	chi2 := 0.0
	for _, n := range counts {
		want := draws / float64(len(counts))
		chi2 += (float64(n) - want) * (float64(n) - want) / want
	}
	if chi2 > 27.9 { // χ² with 9 degrees of freedom: P(> 27.9) = 0.001
		t.Errorf("timestep counts per tenth of [0, %d) %v: χ² = %.1f, not uniform", T, counts, chi2)
	}
	mean := noiseSum / float64(noiseN)
	variance := noiseSq/float64(noiseN) - mean*mean
	if se := 1 / math.Sqrt(float64(noiseN)); math.Abs(mean) > 5*se || math.Abs(variance-1) > 5*math.Sqrt2*se {
		t.Errorf("noise mean %.4g and variance %.4g over %d draws, want 0 and 1", mean, variance, noiseN)
	}
}
