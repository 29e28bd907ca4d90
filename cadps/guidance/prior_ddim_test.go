package guidance

import (
	"fmt"
	"math"
	"testing"

	"github.com/cadps/toolkit/cadps/diffusion"
	"github.com/cadps/toolkit/ops"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// TestPriorDDIMClampedEps checks the DDIM update of the DPS-type methods on
// a process that clamps x̂0 against a float64 evaluation of the reference's
// ddim_sample: the ε of the update is the one the clamped x̂0 implies,
// (√(1/ᾱ)·x_t − x̂0)/√(1/ᾱ−1), not the network's own, and no noise is added
// at i = 0. ζ = 0 leaves the prior step alone. The network predicts
// ε = 3·x_t, which makes x̂0 leave [−1, 1] on most pixels; where it does not,
// the two ε agree, so the fixtures (all DDPM) and the unclamped Gaussian
// tests cannot tell them apart.
func TestPriorDDIMClampedEps(t *testing.T) {
	const epsGain = 3
	p := testProcess(t, diffusion.Config{Sampler: diffusion.SamplerDDIM, Steps: 1000, NoiseSchedule: diffusion.ScheduleLinear,
		Respacing: "10", ClipDenoised: true})
	sched := p.Schedule()
	shape := []int{2, 1, 3, 3}
	n := shape[0] * shape[1] * shape[2] * shape[3]
	x, z := make([]float32, n), make([]float32, n)
	for k := range x {
		x[k] = float32(math.Sin(float64(3*k+1))) * 1.5
		z[k] = float32(math.Cos(float64(5*k + 2)))
	}
	net := func(_ *context.Context, x, _ *graph.Node) *graph.Node {
		eps := graph.MulScalar(x, epsGain)
		return graph.Concatenate([]*graph.Node{eps, graph.ZerosLike(x)}, 1) // learned_range: v = 0
	}
	identity, err := ops.NewFunc("identity", func(in []int) ([]int, error) { return in, nil },
		func(x *graph.Node) *graph.Node { return x })
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []Method{DPS{}, CADPS{}} {
		for _, i := range []int{p.NumSteps() - 1, 4, 0} {
			for _, eta := range []float64{0, 0.5, 1} {
				t.Run(fmt.Sprintf("%s/i=%d/eta=%g", m.Name(), i, eta), func(t *testing.T) {
					got := run1(t, func(g *graph.Graph) *graph.Node {
						xn := graph.Reshape(graph.Const(g, x), shape...)
						zn := graph.Reshape(graph.Const(g, z), shape...)
						s := &Step{Net: net, Process: p, Op: identity, Y: graph.ZerosLike(xn), X: xn,
							I: graph.Const(g, int32(i)), DDIM: true, Eta: eta}
						s.SetDraws(m, []*graph.Node{zn, graph.ZerosLike(xn)})
						return m.Step(s).Next
					})
					ab, abPrev := sched.AlphasCumprod[i], sched.AlphasCumprodPrev[i]
					sigma := eta * math.Sqrt((1-abPrev)/(1-ab)) * math.Sqrt(1-ab/abPrev)
					clamped := 0
					var worst float64
					for k := range x {
						xt := float64(x[k])
						x0 := math.Sqrt(1/ab)*xt - math.Sqrt(1/ab-1)*epsGain*xt
						if math.Abs(x0) > 1 {
							clamped++
						}
						x0 = max(-1, min(1, x0))
						eps := (math.Sqrt(1/ab)*xt - x0) / math.Sqrt(1/ab-1)
						want := math.Sqrt(abPrev)*x0 + math.Sqrt(1-abPrev-sigma*sigma)*eps
						if i != 0 {
							want += sigma * float64(z[k])
						}
						worst = max(worst, math.Abs(float64(got[k])-want)/max(1, math.Abs(want)))
					}
					if clamped == 0 {
						t.Fatalf("no x̂0 is clamped at index %d: the case does not test the clamp", i)
					}
					if worst > 1e-5 {
						t.Errorf("x_{t-1} deviates from the reference's DDIM step by %.3g (relative to max(1, |x|)); %d of %d x̂0 values clamped",
							worst, clamped, len(x))
					}
				})
			}
		}
	}
}
