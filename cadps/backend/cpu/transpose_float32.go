// Part of the toolkit's fork of GoMLX v0.26.0's pure-Go backend (Apache-2.0); see NOTICE.

package cpu

import (
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
)

// Float32 transposes walk the output in order, one row of its last
// (merged) axis at a time: a copy where that axis is contiguous in the
// operand, a strided gather otherwise. Upstream's iterator advances a
// per-axis odometer for every element.

func init() {
	setNodeExecutor(backends.OpTypeTranspose, priorityArch, execTransposeRuns)
}

// execTransposeRuns runs float32 transposes whose rows have at least
// minCopyRun elements, and leaves the rest to upstream's execTranspose.
func execTransposeRuns(backend *Backend, node *Node, inputs []*Buffer, inputsOwned []bool) (*Buffer, error) {
	operand := inputs[0]
	if node.shape.DType != dtypes.Float32 {
		return execTranspose(backend, node, inputs, inputsOwned)
	}
	dims, strides := transposedAxes(operand.shape.Dimensions, node.data.([]int))
	last := len(dims) - 1
	if last < 0 || dims[last] < minCopyRun {
		return execTranspose(backend, node, inputs, inputsOwned)
	}
	output := backend.getBuffer(node.shape.DType, node.shape.Size())
	output.shape = node.shape
	src, dst := operand.flat.([]float32), output.flat.([]float32)
	n, step := dims[last], strides[last]
	idx := make([]int, last)
	pos := 0
	for out := 0; out+n <= len(dst); out += n {
		row := dst[out : out+n]
		if step == 1 {
			copy(row, src[pos:pos+n])
		} else {
			for i, p := 0, pos; i < len(row); i, p = i+1, p+step {
				row[i] = src[p]
			}
		}
		for axis := last - 1; axis >= 0; axis-- {
			idx[axis]++
			pos += strides[axis]
			if idx[axis] < dims[axis] {
				break
			}
			pos -= strides[axis] * idx[axis]
			idx[axis] = 0
		}
	}
	return output, nil
}

// transposedAxes returns the output's dimensions and, for each, the
// operand's flat stride along it, for the permutation perm of an operand
// of dimensions opDims; axes of size 1 are dropped and output axes that
// are adjacent in the operand merged.
func transposedAxes(opDims, perm []int) (dims, strides []int) {
	opStrides := calculateStrides(opDims)
	for _, axis := range perm {
		d, s := opDims[axis], opStrides[axis]
		if d == 1 {
			continue
		}
		if k := len(dims) - 1; k >= 0 && strides[k] == s*d {
			dims[k] *= d
			strides[k] = s
			continue
		}
		dims = append(dims, d)
		strides = append(strides, s)
	}
	return dims, strides
}
