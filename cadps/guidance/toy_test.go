package guidance_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/cadps/toolkit/cadps"
	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/diffusion"
	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/internal/num"
	"github.com/cadps/toolkit/ops"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// pixelNet is an ε network that acts on every pixel alone, nonlinearly and
// depending on t, so that the images of a batch never mix.
func pixelNet(_ *context.Context, x, t *graph.Node) *graph.Node {
	n := x.Shape().Dim(0)
	tt := graph.Reshape(graph.ConvertDType(t, x.DType()), n, 1, 1, 1)
	return graph.Mul(graph.Tanh(x), graph.AddScalar(graph.MulScalar(tt, 0.0003), 0.3))
}

// toySampler returns a sampler of method m with operator op, pixelNet and
// its process, a linear 1000-step ε process respaced to steps.
func toySampler(t *testing.T, m guidance.Method, op ops.Operator, steps int, sigmaY float64) (*cadps.Sampler, *diffusion.Process) {
	t.Helper()
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	p, err := diffusion.New(diffusion.Config{Steps: 1000, NoiseSchedule: "linear", Respacing: fmt.Sprint(steps),
		MeanType: diffusion.MeanEpsilon, VarType: diffusion.VarFixedLarge, ClipDenoised: true})
	if err != nil {
		t.Fatal(err)
	}
	s, err := cadps.NewSampler(cadps.Problem{Backend: b, Ctx: context.New(), Net: pixelNet, Process: p,
		Op: op, Method: m, Scale: 1, SigmaY: sigmaY})
	if err != nil {
		t.Fatal(err)
	}
	return s, p
}

// uniformValues returns n values drawn uniformly from [lo, hi) with seed.
func uniformValues(seed uint64, n int, lo, hi float64) []float32 {
	r := rand.New(rand.NewPCG(seed, 7))
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(lo + (hi-lo)*r.Float64())
	}
	return v
}

// uniformTensor returns a tensor shaped dims of uniformValues.
func uniformTensor(seed uint64, dims []int, lo, hi float64) *tensors.Tensor {
	return tensors.FromFlatDataAndDimensions(uniformValues(seed, num.Prod(dims), lo, hi), dims...)
}

// zeroDraws returns zero draws for one step of m on images shaped x with
// measurements shaped y.
func zeroDraws(m guidance.Method, x, y []int) []*tensors.Tensor {
	var out []*tensors.Tensor
	for _, d := range guidance.DrawShapes(m, x, y) {
		out = append(out, tensors.FromFlatDataAndDimensions(make([]float32, num.Prod(d)), d...))
	}
	return out
}

// denseOperator returns the operator x ↦ a·vec(x) on images shaped in
// through its dense SVD, its measurement shaped out.
func denseOperator(t *testing.T, name string, a matrix, in, out []int) *ops.SVDOperator {
	t.Helper()
	d, err := ops.NewDenseSVD(a, in)
	if err != nil {
		t.Fatal(err)
	}
	op, err := ops.NewSVDOperator(name, d, in, out)
	if err != nil {
		t.Fatal(err)
	}
	return op
}

// float64s returns the tensor's values in float64.
func float64s(x *tensors.Tensor) []float64 {
	v := tensors.MustCopyFlatData[float32](x)
	out := make([]float64, len(v))
	for i, f := range v {
		out[i] = float64(f)
	}
	return out
}
