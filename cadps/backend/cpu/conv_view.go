// Part of the toolkit's fork of GoMLX v0.26.0's pure-Go backend (Apache-2.0); see NOTICE.

package cpu

import (
	"slices"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/pkg/errors"
)

// stridedViewNode is the data of a strided view: a Slice node whose output
// element at index (i_0, …, i_r) is the input's flat element
// offset + Σ i_j·strides[j]. It gathers a convolution's im2col operand in
// one pass, where a slice per kernel tap and their concatenation copied it
// twice.
type stridedViewNode struct {
	offset  int
	strides []int
}

// stridedView builds the view of x with the given output dims and flat
// input strides (elements) per output axis.
func (b *Builder) stridedView(x backends.Op, offset int, dims, strides []int) (backends.Op, error) {
	inputs, err := b.checkOps("stridedView", x)
	if err != nil {
		return nil, err
	}
	in := inputs[0]
	if len(dims) != len(strides) {
		return nil, errors.Errorf("stridedView: %d dims and %d strides", len(dims), len(strides))
	}
	last := offset
	for j, d := range dims {
		if d <= 0 || strides[j] < 0 {
			return nil, errors.Errorf("stridedView: dims %v, strides %v", dims, strides)
		}
		last += (d - 1) * strides[j]
	}
	if offset < 0 || last >= in.shape.Size() {
		return nil, errors.Errorf("stridedView: offset %d, dims %v and strides %v reach past the %d elements of %s",
			offset, dims, strides, in.shape.Size(), in.shape)
	}
	node := b.newNode(backends.OpTypeSlice, shapes.Make(in.shape.DType, dims...), in)
	node.data = &stridedViewNode{offset: offset, strides: slices.Clone(strides)}
	return node, nil
}

// execStridedView copies the view into a new buffer, row by row of the
// last axis (a plain copy when that axis is contiguous).
func execStridedView(backend *Backend, node *Node, operand *Buffer, view *stridedViewNode) *Buffer {
	output := backend.getBufferForShape(node.shape)
	dims := node.shape.Dimensions
	switch dst := output.flat.(type) {
	case []float32:
		stridedCopy(dst, operand.flat.([]float32), dims, view)
	case []float64:
		stridedCopy(dst, operand.flat.([]float64), dims, view)
	default:
		size := node.shape.DType.Size()
		byteView := &stridedViewNode{offset: view.offset * size, strides: make([]int, len(dims)+1)}
		for j, s := range view.strides {
			byteView.strides[j] = s * size
		}
		byteView.strides[len(dims)] = 1
		stridedCopy(output.mutableBytes(), operand.mutableBytes(), append(slices.Clone(dims), size), byteView)
	}
	return output
}

func stridedCopy[T any](dst, src []T, dims []int, view *stridedViewNode) {
	if len(dst) == 0 {
		return
	}
	rank := len(dims)
	if rank == 0 {
		dst[0] = src[view.offset]
		return
	}
	inner, innerStride := dims[rank-1], view.strides[rank-1]
	idx := make([]int, rank)
	pos := view.offset
	for o := 0; o < len(dst); o += inner {
		row := dst[o : o+inner]
		if innerStride == 1 {
			copy(row, src[pos:pos+inner])
		} else {
			p := pos
			for i := range row {
				row[i] = src[p]
				p += innerStride
			}
		}
		for ax := rank - 2; ax >= 0; ax-- {
			idx[ax]++
			pos += view.strides[ax]
			if idx[ax] < dims[ax] {
				break
			}
			pos -= idx[ax] * view.strides[ax]
			idx[ax] = 0
		}
	}
}
