// Part of the toolkit's fork of GoMLX v0.26.0's pure-Go backend (Apache-2.0); see NOTICE.

package cpu

import (
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
)

// arithOp is one of the four float32 operations with vector kernels.
type arithOp int

const (
	arithAdd arithOp = iota
	arithSub
	arithMul
	arithDiv
)

// arithKernels are the vector forms of one operation: both operands full
// (vv), the right one a scalar (vs), the left one a scalar (sv).
type arithKernels struct {
	vv     func(dst, a, b []float32)
	vs, sv func(dst, a []float32, s float32)
}

func init() {
	for _, r := range []struct {
		opType   backends.OpType
		op       arithOp
		upstream nodeExecutor
	}{
		{backends.OpTypeAdd, arithAdd, execAdd},
		{backends.OpTypeSub, arithSub, execSub},
		{backends.OpTypeMul, arithMul, execMul},
		{backends.OpTypeDiv, arithDiv, execDiv},
	} {
		setNodeExecutor(r.opType, priorityArch, vectorArith(arithKernelsFor(r.op), r.upstream))
	}
}

// vectorArith returns an executor that runs float32 operations whose
// operands have the output's shape, are scalars, or are broadcast along
// runs of at least minBroadcastRun elements (see broadcastPlan) on the
// kernels k, and everything else (other dtypes, short runs) on upstream.
func vectorArith(k *arithKernels, upstream nodeExecutor) nodeExecutor {
	return func(backend *Backend, node *Node, inputs []*Buffer, inputsOwned []bool) (*Buffer, error) {
		lhs, rhs := inputs[0], inputs[1]
		if node.shape.DType != dtypes.Float32 || lhs.shape.DType != dtypes.Float32 {
			return upstream(backend, node, inputs, inputsOwned)
		}
		lhsFull, rhsFull := lhs.shape.Equal(node.shape), rhs.shape.Equal(node.shape)
		lhsScalar, rhsScalar := lhs.shape.Size() == 1, rhs.shape.Size() == 1
		a, b := lhs.flat.([]float32), rhs.flat.([]float32)
		if !(lhsFull && (rhsFull || rhsScalar)) && !(rhsFull && lhsScalar) {
			plan, ok := newBroadcastPlan(lhs.shape, rhs.shape, node.shape)
			if !ok {
				return upstream(backend, node, inputs, inputsOwned)
			}
			_, _, output, _, _ := binaryOperandsAndOutput(backend, inputs, inputsOwned, node.shape)
			plan.run(k, output.flat.([]float32), a, b)
			return output, nil
		}
		_, _, output, _, _ := binaryOperandsAndOutput(backend, inputs, inputsOwned, node.shape)
		k.runSplit(output.flat.([]float32), a, b, lhsFull, rhsFull, elementWorkers(backend))
		return output, nil
	}
}
