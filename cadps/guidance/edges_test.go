package guidance_test

import (
	"math"
	"testing"

	"github.com/cadps/toolkit/cadps"
	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/diffusion"
	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/ops"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// timeNet predicts ε = (t + 1)/1000 at every pixel, so that CA-DPS's
// multiplier 1 + ε(x_t, t_i) − ε(x_t, t_prev) reads off t_i − t_prev.
func timeNet(_ *context.Context, x, t *graph.Node) *graph.Node {
	n := x.Shape().Dim(0)
	tt := graph.Reshape(graph.ConvertDType(t, x.DType()), n, 1, 1, 1)
	return graph.Add(graph.ZerosLike(x), graph.DivScalar(graph.AddScalar(tt, 1), 1000))
}

// TestCADPSPreviousTimestep checks the timestep of CA-DPS's second network
// call on a process of 1000 steps respaced to 4, whose timesteps are 0,
// 333, 666 and 999 (guided-diffusion's space_timesteps: a stride of
// 999/3): the previous respaced timestep, as the released code's
// timestep_map[i−1], not t_i − 1; and at i = 0 no second term, so the
// multiplier is 1 + ε(x_t, 0) = 1.001. Batched or not, the same.
func TestCADPSPreviousTimestep(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	p, err := diffusion.New(diffusion.Config{Steps: 1000, NoiseSchedule: "linear", Respacing: "4",
		MeanType: diffusion.MeanEpsilon, VarType: diffusion.VarFixedLarge, ClipDenoised: true})
	if err != nil {
		t.Fatal(err)
	}
	op, err := ops.NewInpainting([]float32{1, 0, 1, 1}, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{1.001, 1.333, 1.333, 1.333} // by index i
	shape := []int{1, 1, 2, 2}
	x := uniformTensor(1, shape, -1, 1)
	y := uniformTensor(2, shape, -1, 1)
	z := tensors.FromFlatDataAndDimensions(make([]float32, 4), shape...)
	for _, batched := range []bool{false, true} {
		s, err := cadps.NewSampler(cadps.Problem{Backend: b, Ctx: context.New(), Net: timeNet, Process: p,
			Op: op, Method: guidance.CADPS{Batched: batched}, Scale: 1, SigmaY: 0.05})
		if err != nil {
			t.Fatal(err)
		}
		for i, w := range want {
			info, err := s.Step(x, i, z, z, y)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range float64s(info.Extra["multiplier"]) {
				if math.Abs(v-w) > 1e-6 {
					t.Errorf("batched %v, index %d: multiplier[%d] = %v, want %v", batched, i, k, v, w)
				}
			}
		}
	}
}

// TestZeroScaleIsUnconditional checks that ζ = 0, constant or ramped,
// turns DPS and CA-DPS (batched or not) into unconditional sampling bit for
// bit: the guidance term is multiplied by 0 and nothing else changes.
func TestZeroScaleIsUnconditional(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	op, err := ops.NewSuperResolution(2, "")
	if err != nil {
		t.Fatal(err)
	}
	shape := []int{2, 3, 8, 8}
	yShape, err := op.OutputShape(shape)
	if err != nil {
		t.Fatal(err)
	}
	x, y := uniformTensor(1, shape, -1, 1), uniformTensor(2, yShape, -0.5, 0.5)
	run := func(m guidance.Method, ramp guidance.Ramp) []float64 {
		p, err := diffusion.New(diffusion.Config{Steps: 1000, NoiseSchedule: "linear", Respacing: "7",
			MeanType: diffusion.MeanEpsilon, VarType: diffusion.VarFixedLarge, ClipDenoised: true})
		if err != nil {
			t.Fatal(err)
		}
		s, err := cadps.NewSampler(cadps.Problem{Backend: b, Ctx: context.New(), Net: pixelNet, Process: p,
			Op: op, Method: m, Scale: 0, Ramp: ramp, SigmaY: 0.05})
		if err != nil {
			t.Fatal(err)
		}
		out, err := s.Run(x, shape, y, cadps.NewSeededNoise(3), nil)
		if err != nil {
			t.Fatal(err)
		}
		return float64s(out)
	}
	want := run(guidance.Unconditional{}, guidance.Ramp{})
	for _, m := range []guidance.Method{guidance.DPS{}, guidance.CADPS{}, guidance.CADPS{Batched: true}} {
		for _, ramp := range []guidance.Ramp{{}, {From: 0.1, Over: 0.5}} {
			got := run(m, ramp)
			for k := range want {
				if got[k] != want[k] {
					t.Errorf("%#v, ramp %v: value %d is %v, unconditional %v", m, ramp, k, got[k], want[k])
					break
				}
			}
		}
	}
}
