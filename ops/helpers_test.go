package ops

import (
	"math/rand/v2"
	"testing"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

func newBackend(tb testing.TB) backends.Backend {
	tb.Helper()
	b, err := backend.NewWithConfig("")
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// evaluated holds A(x), the autodiff VJP d<A(x),v>/dx and, for linear
// operators, the explicit adjoint Aᵀv.
type evaluated struct {
	y, vjp, adjoint []float32
	yDims           []int
}

// evaluate runs op on x (dims xDims) and, when v is not nil, its VJP and
// adjoint against v.
func evaluate(tb testing.TB, b backends.Backend, op Operator, x []float32, xDims []int, v []float32) evaluated {
	tb.Helper()
	yDims, err := op.OutputShape(xDims)
	if err != nil {
		tb.Fatalf("OutputShape(%v): %v", xDims, err)
	}
	xt := tensors.FromFlatDataAndDimensions(x, xDims...)
	if v == nil {
		exec := graph.MustNewExec(b, func(x *graph.Node) *graph.Node { return op.Apply(x) })
		out, err := exec.Exec(xt)
		if err != nil {
			tb.Fatalf("%s: %v", op.Name(), err)
		}
		return evaluated{y: tensors.MustCopyFlatData[float32](out[0]), yDims: yDims}
	}
	vt := tensors.FromFlatDataAndDimensions(v, yDims...)
	lin, isLinear := op.(Linear)
	exec := graph.MustNewExec(b, func(x, v *graph.Node) []*graph.Node {
		y := op.Apply(x)
		loss := graph.ReduceAllSum(graph.Mul(y, v))
		outs := []*graph.Node{y, graph.Gradient(loss, x)[0]}
		if isLinear {
			outs = append(outs, lin.Adjoint(v))
		}
		return outs
	})
	out, err := exec.Exec(xt, vt)
	if err != nil {
		tb.Fatalf("%s: %v", op.Name(), err)
	}
	e := evaluated{
		y:     tensors.MustCopyFlatData[float32](out[0]),
		vjp:   tensors.MustCopyFlatData[float32](out[1]),
		yDims: yDims,
	}
	if isLinear {
		e.adjoint = tensors.MustCopyFlatData[float32](out[2])
	}
	return e
}

// randomVector returns n standard normal values from seed.
func randomVector(seed uint64, n int) []float32 {
	r := rand.New(rand.NewPCG(seed, 1))
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

// dot returns Σ a·b in float64.
func dot(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}
