// Package nn holds graph building blocks the models share that GoMLX's own
// ops do not give in the form the samplers need.
package nn

import (
	"slices"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// GoMLX v0.26's gradient of DotGeneral (graph.dotGeneralVJP) multiplies the
// output cotangent, broadcast to [batch, lhsCross, rhsCross, contracting],
// by the other operand and reduces: it materialises batch·M·N·K elements for
// each operand's gradient (graph.Dot's VJP does the same with [M, K, N]).
// DotGeneral is the way around it: the same product, whose gradient is two
// DotGenerals.

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

// DotGeneral is graph.DotGeneral with a gradient computed by
// DotGeneral. GoMLX only lets an Identity carry a custom gradient, so both
// operands and a zero tensor shaped like the output are packed into one
// vector whose identity carries it; the zero part, added to the product
// (whose operands stop the gradient), brings in the output cotangent.
//
// The arguments are graph.DotGeneral's: lhsC and rhsC list the
// contracting axes of lhs and rhs (of equal sizes, in pairs), lhsB and
// rhsB their batch axes; both operands have one float dtype. The result
// has that dtype and the axes [batch axes (in lhsB's order)…, lhs's other
// axes…, rhs's other axes…], the other axes in increasing order. Misuse
// panics as graph.DotGeneral's does.
func DotGeneral(lhs *graph.Node, lhsC, lhsB []int, rhs *graph.Node, rhsC, rhsB []int) *graph.Node {
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

// DotGeneralConst is [DotGeneral] for a product whose right operand is a
// constant (a fixed matrix such as a measurement operator or a mixture's
// means): only the left operand receives a gradient, one DotGeneral, and
// none is computed for rhs (an rhs that is not constant gets GoMLX's own
// gradient, the costly one). Arguments and result are as for DotGeneral.
func DotGeneralConst(lhs *graph.Node, lhsC, lhsB []int, rhs *graph.Node, rhsC, rhsB []int) *graph.Node {
	y := graph.DotGeneral(graph.StopGradient(lhs), lhsC, lhsB, rhs, rhsC, rhsB)
	ys := y.Shape()
	nl := lhs.Shape().Size()
	zeros := graph.Zeros(lhs.Graph(), shapes.Make(ys.DType, ys.Size()))
	packed := graph.Concatenate([]*graph.Node{graph.Reshape(lhs, -1), zeros}, 0)
	packed = graph.IdentityWithCustomGradient(packed, func(_, v *graph.Node) *graph.Node {
		vy := graph.Reshape(graph.Slice(v, graph.AxisRange(nl)), ys.Dimensions...)
		gl := dotOperandGrad(vy, lhs, lhsC, lhsB, rhs, rhsC, rhsB, true)
		return graph.Concatenate([]*graph.Node{graph.Reshape(gl, -1), graph.ZerosLike(zeros)}, 0)
	})
	return graph.Add(y, graph.Reshape(graph.Slice(packed, graph.AxisRange(nl)), ys.Dimensions...))
}
