// Part of the toolkit's fork of GoMLX v0.26.0's pure-Go backend (Apache-2.0); see NOTICE.

package cpu

import (
	"math"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
)

// A direct convolution absorbs what follows it as it is built: adding a
// per-output-channel bias (Add with an operand of shape [1, O, 1, …]), then
// a ReLU (Max with the constant +0). The fused node computes the same values
// in the SGEMM's tiles while they are in cache, instead of two passes over
// the output. The nodes it replaces stay in the graph and run only where
// something else uses them.

// fuseConvBias returns a direct convolution with bias for Add(lhs, rhs),
// if one operand is a direct convolution without bias or ReLU and the
// other a bias for it.
func (b *Builder) fuseConvBias(lhsOp, rhsOp backends.Op) (backends.Op, bool) {
	lhs, okL := lhsOp.(*Node)
	rhs, okR := rhsOp.(*Node)
	if !okL || !okR || lhs.builder != b || rhs.builder != b {
		return nil, false
	}
	for _, pair := range [2][2]*Node{{lhs, rhs}, {rhs, lhs}} {
		conv, bias := pair[0], pair[1]
		dc, ok := conv.data.(*directConv)
		if !ok || dc.bias || dc.relu || !isChannelVector(bias, conv) {
			continue
		}
		fused := *dc
		fused.bias = true
		node := b.newNode(backends.OpTypeConvGeneral, conv.shape, conv.inputs[0], conv.inputs[1], bias)
		node.data = &fused
		return node, true
	}
	return nil, false
}

// fuseConvReLU returns a direct convolution with ReLU for Max(lhs, rhs), if
// one operand is a direct convolution without ReLU and the other the
// constant +0.
func (b *Builder) fuseConvReLU(lhsOp, rhsOp backends.Op) (backends.Op, bool) {
	lhs, okL := lhsOp.(*Node)
	rhs, okR := rhsOp.(*Node)
	if !okL || !okR || lhs.builder != b || rhs.builder != b {
		return nil, false
	}
	for _, pair := range [2][2]*Node{{lhs, rhs}, {rhs, lhs}} {
		conv, zero := pair[0], pair[1]
		dc, ok := conv.data.(*directConv)
		if !ok || dc.relu || !isZeroScalar(zero) {
			continue
		}
		fused := *dc
		fused.relu = true
		node := b.newNode(backends.OpTypeConvGeneral, conv.shape, conv.inputs...)
		node.data = &fused
		return node, true
	}
	return nil, false
}

// isChannelVector reports whether bias has the shape [1, O, 1, …] of one
// value per output channel of conv.
func isChannelVector(bias, conv *Node) bool {
	s, c := bias.shape, conv.shape
	if s.DType != dtypes.Float32 || s.Rank() != c.Rank() || s.Dimensions[1] != c.Dimensions[1] {
		return false
	}
	for a, d := range s.Dimensions {
		if a != 1 && d != 1 {
			return false
		}
	}
	return true
}

// isZeroScalar reports whether n is a float32 constant holding one +0: Max
// with −0 gives −0 for negative values, which the ReLU does not.
func isZeroScalar(n *Node) bool {
	if n.opType != backends.OpTypeConstant || n.shape.DType != dtypes.Float32 || n.shape.Size() != 1 {
		return false
	}
	buf, ok := n.data.(*Buffer)
	if !ok {
		return false
	}
	v, ok := buf.flat.([]float32)
	return ok && len(v) == 1 && math.Float32bits(v[0]) == 0
}
