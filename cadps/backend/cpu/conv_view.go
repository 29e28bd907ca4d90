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
// twice, and reads a reversed kernel in the order its convolution wants
// (negative strides), where a Reverse and a transpose copied it twice.
type stridedViewNode struct {
	offset  int
	strides []int
	// dims are the output's dimensions with neighbouring axes merged where
	// the input steps through them evenly too (as the copy walks them), and
	// strides their strides; axisStrides are the strides of every output
	// axis, for a direct convolution that reads its kernel through the view
	// (convDirect).
	dims, axisStrides []int
}

// stridedView builds the view of x with the given output dims and flat
// input strides (elements, negative to read an axis backwards) per output
// axis.
func (b *Builder) stridedView(x backends.Op, offset int, dims, strides []int) (backends.Op, error) {
	inputs, err := b.checkOps("stridedView", x)
	if err != nil {
		return nil, err
	}
	in := inputs[0]
	if len(dims) != len(strides) {
		return nil, errors.Errorf("stridedView: %d dims and %d strides", len(dims), len(strides))
	}
	first, last := offset, offset
	for j, d := range dims {
		if d <= 0 {
			return nil, errors.Errorf("stridedView: dims %v, strides %v", dims, strides)
		}
		if strides[j] < 0 {
			first += (d - 1) * strides[j]
		} else {
			last += (d - 1) * strides[j]
		}
	}
	if first < 0 || last >= in.shape.Size() {
		return nil, errors.Errorf("stridedView: offset %d, dims %v and strides %v reach past the %d elements of %s",
			offset, dims, strides, in.shape.Size(), in.shape)
	}
	node := b.newNode(backends.OpTypeSlice, shapes.Make(in.shape.DType, dims...), in)
	view := &stridedViewNode{offset: offset, axisStrides: slices.Clone(strides)}
	for j, d := range dims {
		if d == 1 {
			continue
		}
		if k := len(view.dims) - 1; k >= 0 && view.strides[k] == d*strides[j] {
			view.dims[k] *= d
			view.strides[k] = strides[j]
			continue
		}
		view.dims, view.strides = append(view.dims, d), append(view.strides, strides[j])
	}
	node.data = view
	return node, nil
}

// execStridedView copies the view into a new buffer, row by row of the
// last axis (a plain copy when that axis is contiguous).
func execStridedView(backend *Backend, node *Node, operand *Buffer, view *stridedViewNode) *Buffer {
	output := backend.getBufferForShape(node.shape)
	dims := view.dims
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

// stridedCopy copies the view into dst, which holds dims (the view's merged
// dims) row-major, a row of the last axis at a time.
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

// kernelView returns the convolution kernel w with its axes in the order
// perm, as permute does. When w is a Reverse (the gradient of a convolution
// with respect to its input convolves with the reversed kernel), it is read
// straight from the Reverse's input through one strided view instead: the
// reversed kernel is then neither written out nor transposed, a copy of
// every weight of the network fewer per gradient, and the Reverse, left
// without users, is not executed.
func (b *Builder) kernelView(w backends.Op, perm []int) (backends.Op, error) {
	rev, ok := w.(*Node)
	if !ok || rev.opType != backends.OpTypeReverse {
		return b.permute(w, perm)
	}
	remap, ok := rev.data.(*remapNode)
	if !ok {
		return nil, errors.Errorf("internal error: Reverse node data is %T", rev.data)
	}
	src := rev.inputs[0]
	inDims := src.shape.Dimensions
	inStrides := calculateStrides(inDims)
	offset := 0
	dims, strides := make([]int, len(perm)), make([]int, len(perm))
	for j, a := range perm {
		dims[j], strides[j] = inDims[a], inStrides[a]
		if inDims[a] > 1 && remap.sources[a][0] != 0 {
			offset += (inDims[a] - 1) * inStrides[a]
			strides[j] = -inStrides[a]
		}
	}
	return b.stridedView(src, offset, dims, strides)
}
