package guidance_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/diffusion"
	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/ops"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// TestScaleNodeGradient checks that a step built with ζ as a graph node
// (Step.ScaleNode) gives the step of Scale = ζ, and that the gradient of a
// loss of x_{t-1} with respect to that node is the loss's finite
// difference in ζ (exact up to rounding: these steps are linear in ζ).
func TestScaleNodeGradient(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	const steps, index, zeta, h = 10, 8, 0.7, 0.1
	p, err := diffusion.New(diffusion.Config{Steps: 1000, NoiseSchedule: "linear", Respacing: fmt.Sprint(steps),
		MeanType: diffusion.MeanEpsilon, VarType: diffusion.VarFixedLarge}) // unclipped: a clipped x̂0 has no gradient
	if err != nil {
		t.Fatal(err)
	}
	xDims := []int{2, 1, 4, 4}
	mask := make([]float32, 16)
	for k := range mask {
		mask[k] = float32(k % 3 % 2)
	}
	op, err := ops.NewInpainting(mask, 4, 4)
	if err != nil {
		t.Fatal(err)
	}
	x, y := uniformTensor(1, xDims, -1, 1), uniformTensor(2, xDims, -1, 1)
	z, zy, w := uniformTensor(3, xDims, -1, 1), uniformTensor(4, xDims, -1, 1), uniformTensor(5, xDims, -1, 1)
	i := tensors.FromScalar(int32(index))
	for _, c := range []struct {
		method string
		ramp   guidance.Ramp
	}{
		{"dps", guidance.Ramp{}},
		{"dps", guidance.Ramp{From: 0.1, Over: 0.5}},
		{"cadps", guidance.Ramp{}},
		{"cadps", guidance.Ramp{From: 0.1, Over: 0.5}},
		{"pigdm", guidance.Ramp{}},
	} {
		t.Run(fmt.Sprintf("%s/ramp=%s", c.method, c.ramp), func(t *testing.T) {
			m, err := guidance.New(c.method, guidance.Options{})
			if err != nil {
				t.Fatal(err)
			}
			// stepLoss builds the step, with ζ the node when scale is nil,
			// and returns Σ x_{t-1}⊙w, x_{t-1} and, for the node, ∂loss/∂ζ.
			stepLoss := func(scale *float64) func(ctx *context.Context, in []*graph.Node) []*graph.Node {
				return func(ctx *context.Context, in []*graph.Node) []*graph.Node {
					s := &guidance.Step{Ctx: ctx, Net: pixelNet, Process: p, Op: op, X: in[0], I: in[1], Y: in[2],
						Z: in[3], ZY: in[4], Draws: []*graph.Node{in[3], in[4]}, Ramp: c.ramp, SigmaY: 0.05}
					if scale != nil {
						s.Scale = *scale
					} else {
						s.ScaleNode = in[6]
					}
					next := m.Step(s).Next
					loss := graph.ReduceAllSum(graph.Mul(next, in[5]))
					if scale != nil {
						return []*graph.Node{loss, next}
					}
					return []*graph.Node{loss, next, graph.Gradient(loss, in[6])[0]}
				}
			}
			run := func(scale *float64) []*tensors.Tensor {
				t.Helper()
				exec, err := context.NewExec(b, context.New(), stepLoss(scale))
				if err != nil {
					t.Fatal(err)
				}
				args := []any{x, i, y, z, zy, w}
				if scale == nil {
					args = append(args, tensors.FromScalar(float32(zeta)))
				}
				out, err := exec.Exec(args...)
				if err != nil {
					t.Fatal(err)
				}
				return out
			}
			node := run(nil)
			at, up, down := zeta, zeta+h, zeta-h
			host := run(&at)
			got := tensors.MustCopyFlatData[float32](node[1])
			for k, v := range tensors.MustCopyFlatData[float32](host[1]) {
				if math.Abs(float64(got[k]-v)) > 1e-5 {
					t.Fatalf("x_{t-1}[%d] = %g with ζ as a node, %g with Scale = ζ", k, got[k], v)
				}
			}
			lu, ld := tensors.ToScalar[float32](run(&up)[0]), tensors.ToScalar[float32](run(&down)[0])
			fd := float64(lu-ld) / (2 * h)
			grad := float64(tensors.ToScalar[float32](node[2]))
			if math.Abs(grad-fd) > 1e-3*math.Max(1, math.Abs(fd)) || grad == 0 {
				t.Errorf("∂loss/∂ζ = %g, finite difference %g", grad, fd)
			}
		})
	}
}
