package guidance_test

import (
	"fmt"
	"log"
	"math"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/diffusion"
	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/cadps/prior/small"
	"github.com/cadps/toolkit/ops"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// The gradient of a loss with respect to the step size ζ: a graph of one's
// own builds the Step with ζ as a scalar node (ScaleNode), calls a method's
// Step on it and differentiates a loss of x_{t-1}, here ‖A(x_{t-1}) − y‖²,
// for one CA-DPS step of the shipped prior on ×2 super-resolution (x_t, y
// and the draws are smooth patterns, to keep the example short). The same
// compiled graph, run at ζ ± h, checks the gradient against a central
// difference, which is exact up to rounding: x_{t-1} is linear in ζ.
func ExampleStep_scaleNode() {
	b, err := backend.New()
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.New()
	model, err := small.Load(ctx)
	if err != nil {
		log.Fatal(err)
	}
	cfg := small.Diffusion()
	cfg.Respacing = "10" // unclipped x̂0: a clipped one has no gradient where it clips
	process, err := diffusion.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	shape := []int{1, 1, 32, 32}
	op, err := ops.Parse("super_resolution:factor=2", shape, 0)
	if err != nil {
		log.Fatal(err)
	}
	method, err := guidance.New("cadps", guidance.Options{})
	if err != nil {
		log.Fatal(err)
	}
	net := func(ctx *context.Context, x, t *graph.Node) *graph.Node { return model.Apply(ctx, x, t, nil) }

	// Inputs: x_t, y, the step's draws z and zy, and ζ; outputs: the loss and ∂loss/∂ζ.
	exec, err := context.NewExec(b, ctx, func(ctx *context.Context, xt, y, z, zy, zeta *graph.Node) (loss, grad *graph.Node) {
		s := &guidance.Step{Ctx: ctx, Net: net, Process: process, Op: op, Y: y, X: xt,
			I: graph.Const(xt.Graph(), int32(8)), ScaleNode: zeta, SigmaY: 0.05}
		s.SetDraws(method, []*graph.Node{z, zy}) // shaped as guidance.DrawShapes(method, …)
		next := method.Step(s).Next
		loss = graph.ReduceAllSum(graph.Square(graph.Sub(op.Apply(next), y)))
		return loss, graph.Gradient(loss, zeta)[0]
	})
	if err != nil {
		log.Fatal(err)
	}
	wave := func(n int, f func(k int) float64, dims ...int) *tensors.Tensor {
		v := make([]float32, n)
		for k := range v {
			v[k] = float32(f(k))
		}
		return tensors.FromFlatDataAndDimensions(v, dims...)
	}
	xt := wave(32*32, func(k int) float64 { return math.Sin(float64(k) / 7) }, shape...)
	z := wave(32*32, func(k int) float64 { return math.Cos(float64(k) / 3) }, shape...)
	y := wave(16*16, func(k int) float64 { return 0.5 * math.Sin(float64(k)/5) }, 1, 1, 16, 16)
	zy := wave(16*16, func(k int) float64 { return 0 }, 1, 1, 16, 16)
	at := func(zeta float32) (loss, grad float64) {
		out, err := exec.Exec(xt, y, z, zy, zeta)
		if err != nil {
			log.Fatal(err)
		}
		return float64(tensors.ToScalar[float32](out[0])), float64(tensors.ToScalar[float32](out[1]))
	}
	const zeta, h = 0.3, 0.05
	_, grad := at(zeta)
	up, _ := at(zeta + h)
	down, _ := at(zeta - h)
	fd := (up - down) / (2 * h)
	fmt.Printf("∂loss/∂ζ = %.1f; the central difference agrees to 0.1%%: %v\n", grad, math.Abs(grad-fd) < 1e-3*math.Abs(fd))
	// Output:
	// ∂loss/∂ζ = 14.7; the central difference agrees to 0.1%: true
}
