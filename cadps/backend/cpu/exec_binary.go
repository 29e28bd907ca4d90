// Derived from GoMLX v0.26.0 backends/simplego (github.com/gomlx/gomlx), Apache-2.0;
// modified by the cadps toolkit, see NOTICE and FORK.md.

package cpu

import (
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// This file implements binary operations.
// One optimization supported is specially handling the cases where one of the operands is a scalar (or of size 1),
// in which case it becomes almost a unary operation with a constant value.

// binaryOperandsAndOutput is a convenience function to get the inputs and output -- which may be the reuse of the input.
func binaryOperandsAndOutput(backend *Backend, inputs []*Buffer, inputsOwned []bool, outputShape shapes.Shape) (
	lhs, rhs, output *Buffer, lhsIsScalarOr1, rhsIsScalarOr1 bool) {
	lhs, rhs = inputs[0], inputs[1]
	lhsIsScalarOr1, rhsIsScalarOr1 = lhs.shape.Size() == 1, rhs.shape.Size() == 1
	switch {
	case inputsOwned[1] && rhs.shape.Equal(outputShape):
		output = rhs
		inputs[1] = nil
	case inputsOwned[0] && lhs.shape.Equal(outputShape):
		output = lhs
		inputs[0] = nil
	default:
		output = backend.getBufferForShape(outputShape)
	}
	return
}

// broadcastIterator allows one to iterate over the flat indices of tensor that is being broadcast
// (some dimensions will grow)
//
// It is used by implicit broadcasting in binaryOps as well as by the the BroadcastInDim.
//
// cadps: the trailing axes on which the operand is uniformly broadcast (or
// uniformly not) form an inner run walked with a constant step (0 or 1), so
// that Next is a few instructions and inlined; the outer axes advance once
// per run.
type broadcastIterator struct {
	flatIdx            int
	innerPos, innerLen int
	innerStep          int
	rowBase            int
	outerIdx           []int // per outer axis
	outerDims          []int // target dims of the outer axes
	outerStrides       []int // operand strides of the outer axes (0 where broadcast)
}

// newBroadcastIterator returns an iterator that allows one to iterate over the flat indices of a tensor that is being broadcast,
// where some dimensions will grow.
//
// Pre-requisite: fromShape.Rank() == toShape.Rank().
//
// It is used by implicit broadcasting in binaryOps as well as by the the execBroadcastInDim.
func newBroadcastIterator(fromShape, toShape shapes.Shape) *broadcastIterator {
	rank := fromShape.Rank() // == toShape.Rank()
	if rank != toShape.Rank() {
		panicf("broadcastIterator: rank mismatch fromShape=%s, toShape=%s", fromShape, toShape)
	}
	strides := make([]int, rank)
	stride := 1
	for axis := rank - 1; axis >= 0; axis-- {
		if fromShape.Dimensions[axis] == toShape.Dimensions[axis] {
			strides[axis] = stride
		}
		stride *= fromShape.Dimensions[axis]
	}
	// The inner run: trailing axes with the same status (axes of target
	// size 1 fit either).
	bi := &broadcastIterator{innerLen: 1, innerStep: -1}
	split := rank
	for ; split > 0; split-- {
		axis := split - 1
		dim := toShape.Dimensions[axis]
		if dim == 1 {
			continue
		}
		step := 0
		if strides[axis] != 0 {
			step = 1
		}
		if bi.innerStep >= 0 && step != bi.innerStep {
			break
		}
		bi.innerStep = step
		bi.innerLen *= dim
	}
	bi.innerStep = max(bi.innerStep, 0)
	bi.outerIdx = make([]int, split)
	bi.outerDims = toShape.Dimensions[:split]
	bi.outerStrides = strides[:split]
	return bi
}

// Next returns the operand's flat index for the next output element.
func (bi *broadcastIterator) Next() (flatIdx int) {
	flatIdx = bi.flatIdx
	bi.innerPos++
	if bi.innerPos < bi.innerLen {
		bi.flatIdx += bi.innerStep
		return
	}
	bi.nextRow()
	return
}

// nextRow moves to the start of the next inner run. It is kept out of line
// so that Next stays small enough to inline.
//
//go:noinline
func (bi *broadcastIterator) nextRow() {
	bi.innerPos = 0
	for axis := len(bi.outerIdx) - 1; axis >= 0; axis-- {
		bi.outerIdx[axis]++
		bi.rowBase += bi.outerStrides[axis]
		if bi.outerIdx[axis] < bi.outerDims[axis] {
			break
		}
		bi.rowBase -= bi.outerIdx[axis] * bi.outerStrides[axis]
		bi.outerIdx[axis] = 0
	}
	bi.flatIdx = bi.rowBase
}

// execScalarPowIntGeneric is a O(num of bits) for Pow(base, exp) implementation for integers.
func execScalarPowIntGeneric[T PODIntegerConstraints](base, exp T) T {
	result := T(1)
	for exp > 0 {
		if exp%2 == 1 {
			result *= base
		}
		base *= base
		exp >>= 1 // exp /= 2
	}
	return result
}
