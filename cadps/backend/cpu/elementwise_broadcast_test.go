// Part of the toolkit's fork of GoMLX v0.26.0's pure-Go backend (Apache-2.0); see NOTICE.

package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// randTensor returns a float32 tensor of the given dimensions with values
// in [-2, 2), away from 0 so that divisions stay finite.
func randTensor(r *rand.Rand, dims ...int) *tensors.Tensor {
	size := 1
	for _, d := range dims {
		size *= d
	}
	flat := make([]float32, size)
	for i := range flat {
		v := r.Float32()*4 - 2
		if math.Abs(float64(v)) < 0.1 {
			v = 0.5
		}
		flat[i] = v
	}
	return tensors.FromFlatDataAndDimensions(flat, dims...)
}

// broadcastReference computes f(x, y) element by element with implicit
// broadcasting of x (dimensions xd) and y (yd) to out.
func broadcastReference(x, y []float32, xd, yd, out []int, f func(x, y float32) float32) []float32 {
	size := 1
	for _, d := range out {
		size *= d
	}
	res := make([]float32, size)
	idx := make([]int, len(out))
	for i := range res {
		xi, yi := 0, 0
		for a := range out {
			xi = xi*xd[a] + min(idx[a], xd[a]-1)
			yi = yi*yd[a] + min(idx[a], yd[a]-1)
		}
		res[i] = f(x[xi], y[yi])
		for a := len(out) - 1; a >= 0; a-- {
			idx[a]++
			if idx[a] < out[a] {
				break
			}
			idx[a] = 0
		}
	}
	return res
}

// TestBroadcastArith checks float32 add, sub, mul and div with implicit
// broadcasting (bias-like, GroupNorm-like, both operands broadcast, runs
// shorter than the plan takes, odd sizes, empty) against Go's float32
// arithmetic element by element, which they must match exactly.
func TestBroadcastArith(t *testing.T) {
	be := newTestBackend(t)
	r := rand.New(rand.NewPCG(1, 2))
	cases := []struct{ lhs, rhs []int }{
		{[]int{2, 3, 5, 7}, []int{1, 3, 1, 1}},   // bias over an odd run of 35
		{[]int{1, 3, 1, 1}, []int{2, 3, 5, 7}},   // the bias on the left
		{[]int{2, 4, 33}, []int{2, 4, 1}},        // GroupNorm statistics
		{[]int{3, 17}, []int{1, 17}},             // a row broadcast down the rows
		{[]int{1, 17}, []int{3, 17}},             // and on the left
		{[]int{3, 1, 9}, []int{1, 5, 9}},         // both broadcast, each on another axis
		{[]int{4, 1}, []int{1, 9}},               // an outer product: both broadcast
		{[]int{2, 3, 2, 2}, []int{1, 3, 1, 1}},   // a run of 4: upstream's path
		{[]int{5, 1, 8}, []int{5, 3, 8}},         // a middle axis of size 1
		{[]int{2, 0, 9}, []int{2, 0, 9}},         // empty
		{[]int{1, 1, 1, 40}, []int{1, 1, 1, 40}}, // same shape
		{[]int{6, 1, 1, 13}, []int{1, 1, 1, 1}},  // a scalar-shaped operand
	}
	ops := []struct {
		name string
		f    func(x, y *graph.Node) *graph.Node
		ref  func(x, y float32) float32
	}{
		{"add", graph.Add, func(x, y float32) float32 { return x + y }},
		{"sub", graph.Sub, func(x, y float32) float32 { return x - y }},
		{"mul", graph.Mul, func(x, y float32) float32 { return x * y }},
		{"div", graph.Div, func(x, y float32) float32 { return x / y }},
	}
	for _, c := range cases {
		for _, op := range ops {
			t.Run(fmt.Sprintf("%s/%v/%v", op.name, c.lhs, c.rhs), func(t *testing.T) {
				x, y := randTensor(r, c.lhs...), randTensor(r, c.rhs...)
				xs, ys := tensors.MustCopyFlatData[float32](x), tensors.MustCopyFlatData[float32](y)
				got := graph.MustExecOnce(be, op.f, x, y)
				outDims := make([]int, len(c.lhs))
				for i := range outDims {
					outDims[i] = max(c.lhs[i], c.rhs[i])
					if c.lhs[i] == 0 || c.rhs[i] == 0 {
						outDims[i] = 0
					}
				}
				if !slices.Equal(got.Shape().Dimensions, outDims) {
					t.Fatalf("shape %s, want %v", got.Shape(), outDims)
				}
				w := broadcastReference(xs, ys, c.lhs, c.rhs, outDims, op.ref)
				g := tensors.MustCopyFlatData[float32](got)
				for i := range w {
					if g[i] != w[i] {
						t.Fatalf("element %d = %g, want %g", i, g[i], w[i])
					}
				}
			})
		}
	}
}

// TestReduceFloat32 checks float32 ReduceSum and ReduceMax over leading,
// trailing, middle and all axes of odd shapes against a float64 sum and an
// exact maximum computed here.
func TestReduceFloat32(t *testing.T) {
	be := newTestBackend(t)
	r := rand.New(rand.NewPCG(3, 4))
	cases := []struct {
		dims, axes []int
	}{
		{[]int{2, 3, 37}, []int{2}},
		{[]int{2, 3, 37}, []int{0}},
		{[]int{2, 3, 37}, []int{1}},
		{[]int{2, 3, 37}, []int{0, 2}},
		{[]int{2, 3, 37}, []int{0, 1, 2}},
		{[]int{5, 1, 9, 3}, []int{2, 3}},
		{[]int{1, 1, 1}, []int{1}},
		{[]int{7}, []int{0}},
		{[]int{3, 0, 4}, []int{2}},
		{[]int{3, 0, 4}, []int{1}},
		// The gradient of a nearest-neighbour upsampling, and other short
		// reduced runs under a kept axis.
		{[]int{2, 3, 2, 5, 2}, []int{2, 4}},
		{[]int{3, 3, 7, 3}, []int{1, 3}},
		{[]int{9, 7}, []int{1}},
		{[]int{4, 5, 1}, []int{1, 2}},
		{[]int{2, 13, 2}, []int{0, 2}},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%v/%v", c.dims, c.axes), func(t *testing.T) {
			x := randTensor(r, c.dims...)
			flat := tensors.MustCopyFlatData[float32](x)
			sum := graph.MustExecOnce(be, func(x *graph.Node) *graph.Node { return graph.ReduceSum(x, c.axes...) }, x)
			mx := graph.MustExecOnce(be, func(x *graph.Node) *graph.Node { return graph.ReduceMax(x, c.axes...) }, x)
			wantSum, wantMax := reduceReference(flat, c.dims, c.axes)
			gs, gm := tensors.MustCopyFlatData[float32](sum), tensors.MustCopyFlatData[float32](mx)
			if len(gs) != len(wantSum) || len(gm) != len(wantMax) {
				t.Fatalf("%d sums and %d maxima, want %d", len(gs), len(gm), len(wantSum))
			}
			for i := range wantSum {
				if math.Abs(float64(gs[i])-wantSum[i]) > 1e-5*(1+math.Abs(wantSum[i]))*float64(len(flat)+1) {
					t.Fatalf("sum %d = %g, want %g", i, gs[i], wantSum[i])
				}
				if gm[i] != wantMax[i] {
					t.Fatalf("max %d = %g, want %g", i, gm[i], wantMax[i])
				}
			}
		})
	}
}

// reduceReference sums (in float64) and maximises x of dimensions dims
// over axes, element by element; the result is in row-major order of the
// kept axes.
func reduceReference(x []float32, dims, axes []int) ([]float64, []float32) {
	reduced := make([]bool, len(dims))
	for _, a := range axes {
		reduced[a] = true
	}
	outSize := 1
	for a, d := range dims {
		if !reduced[a] {
			outSize *= d
		}
	}
	sum := make([]float64, outSize)
	mx := make([]float32, outSize)
	for i := range mx {
		mx[i] = float32(math.Inf(-1))
	}
	idx := make([]int, len(dims))
	for _, v := range x {
		o := 0
		for a, d := range dims {
			if !reduced[a] {
				o = o*d + idx[a]
			}
		}
		sum[o] += float64(v)
		mx[o] = max(mx[o], v)
		for a := len(dims) - 1; a >= 0; a-- {
			idx[a]++
			if idx[a] < dims[a] {
				break
			}
			idx[a] = 0
		}
	}
	return sum, mx
}
