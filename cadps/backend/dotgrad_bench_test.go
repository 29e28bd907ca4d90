package backend

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// GoMLX v0.26's gradient of DotGeneral (graph.dotGeneralVJP) multiplies the
// output cotangent, broadcast to [batch, lhsCross, rhsCross, contracting],
// by the other operand and reduces: it materialises batch·M·N·K elements for
// each operand's gradient (graph.Dot's VJP does the same with [M, K, N]).
// dotGeneralLeanGrad is a prototype of the way around it, for the model
// code: the same product, whose gradient is two DotGenerals.

// crossAxes returns the axes of a rank-r operand that are neither
// contracting nor batch, in increasing order.
func crossAxes(r int, contracting, batch []int) []int {
	var out []int
	for a := range r {
		if !slices.Contains(contracting, a) && !slices.Contains(batch, a) {
			out = append(out, a)
		}
	}
	return out
}

// dotOperandGrad returns the gradient with respect to "this" operand of
// DotGeneral(this, thisC, thisB, other, otherC, otherB) (or of the swapped
// product when thisFirst is false) for output cotangent v, as one
// DotGeneral plus a transpose.
func dotOperandGrad(v, this *graph.Node, thisC, thisB []int, other *graph.Node, otherC, otherB []int, thisFirst bool) *graph.Node {
	nb := len(thisB)
	thisCross := crossAxes(this.Rank(), thisC, thisB)
	otherCross := crossAxes(other.Rank(), otherC, otherB)
	// v axes: [batch, lhsCross, rhsCross].
	vBatch := make([]int, nb)
	for i := range vBatch {
		vBatch[i] = i
	}
	vOther := make([]int, len(otherCross))
	for i := range vOther {
		vOther[i] = nb + i
		if thisFirst {
			vOther[i] += len(thisCross)
		}
	}
	vThis := make([]int, len(thisCross))
	for i := range vThis {
		vThis[i] = nb + i
		if !thisFirst {
			vThis[i] += len(otherCross)
		}
	}
	// g axes: [batch, v's remaining (this cross, in v order), other's remaining (other contracting, sorted)].
	g := graph.DotGeneral(v, vOther, vBatch, other, otherCross, otherB)
	sortedOtherC := slices.Sorted(slices.Values(otherC))
	perm := make([]int, this.Rank())
	for i, a := range thisB {
		perm[a] = i
	}
	for j, a := range thisCross {
		perm[a] = nb + j
	}
	for i, a := range thisC {
		perm[a] = nb + len(thisCross) + slices.Index(sortedOtherC, otherC[i])
	}
	return graph.TransposeAllAxes(g, perm...)
}

// dotGeneralLeanGrad is graph.DotGeneral with a gradient computed by
// DotGeneral. GoMLX only lets an Identity carry a custom gradient, so both
// operands and a zero tensor shaped like the output are packed into one
// vector whose identity carries it; the zero part, added to the product
// (whose operands stop the gradient), brings in the output cotangent.
func dotGeneralLeanGrad(lhs *graph.Node, lhsC, lhsB []int, rhs *graph.Node, rhsC, rhsB []int) *graph.Node {
	y := graph.DotGeneral(graph.StopGradient(lhs), lhsC, lhsB, graph.StopGradient(rhs), rhsC, rhsB)
	ys := y.Shape()
	nl, nr := lhs.Shape().Size(), rhs.Shape().Size()
	zeros := graph.Zeros(lhs.Graph(), shapes.Make(ys.DType, ys.Size()))
	packed := graph.Concatenate([]*graph.Node{graph.Reshape(lhs, -1), graph.Reshape(rhs, -1), zeros}, 0)
	packed = graph.IdentityWithCustomGradient(packed, func(_, v *graph.Node) *graph.Node {
		vy := graph.Reshape(graph.Slice(v, graph.AxisRange(nl+nr)), ys.Dimensions...)
		gl := dotOperandGrad(vy, lhs, lhsC, lhsB, rhs, rhsC, rhsB, true)
		gr := dotOperandGrad(vy, rhs, rhsC, rhsB, lhs, lhsC, lhsB, false)
		return graph.Concatenate([]*graph.Node{graph.Reshape(gl, -1), graph.Reshape(gr, -1), graph.ZerosLike(zeros)}, 0)
	})
	return graph.Add(y, graph.Reshape(graph.Slice(packed, graph.AxisRange(nl+nr)), ys.Dimensions...))
}

// dotCase is a DotGeneral of the UNet: a linear layer or one of attention's
// batched products.
type dotCase struct {
	name               string
	lhs, rhs           []int
	lhsC, lhsB         []int
	rhsC, rhsB         []int
	flopsM, flopsN, mk int // M·N·K·batch = flopsM·flopsN·mk
}

func dotCases(n, bh, t int) []dotCase {
	return []dotCase{
		{name: fmt.Sprintf("linear-%dx512x512", n), lhs: []int{n, 512}, rhs: []int{512, 512},
			lhsC: []int{1}, rhsC: []int{0}, flopsM: n, flopsN: 512, mk: 512},
		{name: fmt.Sprintf("attn-qk-%dx%dx%dx64", bh, t, t), lhs: []int{bh, t, 64}, rhs: []int{bh, t, 64},
			lhsC: []int{2}, lhsB: []int{0}, rhsC: []int{2}, rhsB: []int{0}, flopsM: bh * t, flopsN: t, mk: 64},
		{name: fmt.Sprintf("attn-av-%dx%dx%dx64", bh, t, t), lhs: []int{bh, t, t}, rhs: []int{bh, t, 64},
			lhsC: []int{2}, lhsB: []int{0}, rhsC: []int{1}, rhsB: []int{0}, flopsM: bh * t, flopsN: 64, mk: t},
	}
}

// dotGradGraph returns the graph of the two gradients of <DotGeneral, v>.
func dotGradGraph(dc dotCase, lean bool) func(a, b, v *graph.Node) []*graph.Node {
	return func(a, b, v *graph.Node) []*graph.Node {
		var y *graph.Node
		if lean {
			y = dotGeneralLeanGrad(a, dc.lhsC, dc.lhsB, b, dc.rhsC, dc.rhsB)
		} else {
			y = graph.DotGeneral(a, dc.lhsC, dc.lhsB, b, dc.rhsC, dc.rhsB)
		}
		return graph.Gradient(graph.ReduceAllSum(graph.Mul(y, v)), a, b)
	}
}

func dotInputs(dc dotCase, r *rand.Rand, outDims []int) []*tensors.Tensor {
	return []*tensors.Tensor{randTensor(r, dc.lhs...), randTensor(r, dc.rhs...), randTensor(r, outDims...)}
}

func dotOutDims(dc dotCase) []int {
	var dims []int
	for _, a := range dc.lhsB {
		dims = append(dims, dc.lhs[a])
	}
	for _, a := range crossAxes(len(dc.lhs), dc.lhsC, dc.lhsB) {
		dims = append(dims, dc.lhs[a])
	}
	for _, a := range crossAxes(len(dc.rhs), dc.rhsC, dc.rhsB) {
		dims = append(dims, dc.rhs[a])
	}
	return dims
}

// TestDotGeneralLeanGrad checks the prototype's gradients against GoMLX's on
// small shapes, including transposed contracting axes and several batch and
// contracting axes.
func TestDotGeneralLeanGrad(t *testing.T) {
	be := newTestBackend(t)
	cases := append(dotCases(6, 2, 5),
		dotCase{name: "transposed", lhs: []int{4, 3}, rhs: []int{5, 4}, lhsC: []int{0}, rhsC: []int{1}},
		dotCase{name: "multi-axes", lhs: []int{2, 3, 4, 5}, rhs: []int{5, 2, 4, 6},
			lhsC: []int{3, 2}, lhsB: []int{0}, rhsC: []int{0, 2}, rhsB: []int{1}})
	for _, dc := range cases {
		t.Run(dc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(9, 9))
			in := dotInputs(dc, r, dotOutDims(dc))
			want := graph.MustNewExec(be, dotGradGraph(dc, false)).MustExec(in[0], in[1], in[2])
			got := graph.MustNewExec(be, dotGradGraph(dc, true)).MustExec(in[0], in[1], in[2])
			for i := range want {
				if !got[i].Shape().Equal(want[i].Shape()) {
					t.Fatalf("gradient %d: shape %s, want %s", i, got[i].Shape(), want[i].Shape())
				}
				g, w := tensors.MustCopyFlatData[float32](got[i]), tensors.MustCopyFlatData[float32](want[i])
				g64, w64 := make([]float64, len(g)), make([]float64, len(w))
				for j := range g {
					g64[j], w64[j] = float64(g[j]), float64(w[j])
				}
				assertClose(t, fmt.Sprintf("gradient %d", i), g64, w64, 1e-4)
			}
		})
	}
}

// BenchmarkDotGrad times both gradients of the UNet's products with GoMLX's
// gradient ("gomlx") and with dotGeneralLeanGrad ("lean"), and reports the
// peak RSS growth. The shapes are scaled down (N=1024 tokens, T=1024) so
// that GoMLX's gradient fits in memory: it allocates N·512·512 and
// batch·T·T·64 elements per operand.
func BenchmarkDotGrad(b *testing.B) {
	be := newTestBackend(b)
	for _, dc := range dotCases(1024, 4, 1024) {
		for _, lean := range []bool{false, true} {
			name := dc.name + "/gomlx"
			if lean {
				name = dc.name + "/lean"
			}
			b.Run(name, func(b *testing.B) {
				r := rand.New(rand.NewPCG(1, 1))
				in := dotInputs(dc, r, dotOutDims(dc))
				exec := graph.MustNewExec(be, dotGradGraph(dc, lean))
				before, err := vmHWM(true)
				if err != nil {
					b.Skip(err)
				}
				for _, o := range exec.MustExec(in[0], in[1], in[2]) {
					o.FinalizeAll()
				}
				b.ResetTimer()
				start := time.Now()
				for range b.N {
					for _, o := range exec.MustExec(in[0], in[1], in[2]) {
						o.FinalizeAll()
					}
				}
				elapsed := time.Since(start)
				peak, err := vmHWM(false)
				if err != nil {
					b.Fatal(err)
				}
				// Two gradient products, 2 FLOPs per multiply-add each.
				flops := 4 * float64(dc.flopsM) * float64(dc.flopsN) * float64(dc.mk)
				b.ReportMetric(flops*float64(b.N)/elapsed.Seconds()/1e9, "GFLOP/s")
				b.ReportMetric(peak-before, "delta-MiB")
			})
		}
	}
}
