// Part of the toolkit's fork of GoMLX v0.26.0's pure-Go backend (Apache-2.0); see NOTICE.

package cpu

import "github.com/gomlx/gomlx/pkg/core/dtypes"

// Float32 Slice and BroadcastInDim copy whole contiguous runs (copy, or a
// fill for a broadcast run) instead of moving one element per iterator
// step as upstream's generic loops do.

// minCopyRun is the shortest run worth a copy call; shorter ones stay on
// upstream's loops.
const minCopyRun = 4

func init() {
	sliceDTypeMap.Register(dtypes.Float32, priorityArch, execSliceFloat32)
	dispatchBroadcastInDim.Register(dtypes.Float32, priorityArch, execBroadcastInDimFloat32)
}

// execSliceFloat32 copies the slice in runs of the trailing axes that are
// contiguous in the operand: the last axis (of stride 1) and every axis
// before it whose inner neighbour is taken whole.
func execSliceFloat32(operand, output *Buffer, params *sliceNode) {
	opDims, outDims := operand.shape.Dimensions, output.shape.Dimensions
	rank := len(outDims)
	if rank == 0 || (params.strides[rank-1] != 1 && outDims[rank-1] != 1) {
		execSliceGeneric[float32](operand, output, params)
		return
	}
	split, run := rank-1, outDims[rank-1]
	for split > 0 && outDims[split] == opDims[split] && (params.strides[split-1] == 1 || outDims[split-1] == 1) {
		split--
		run *= outDims[split]
	}
	if run < minCopyRun {
		execSliceGeneric[float32](operand, output, params)
		return
	}
	strides := calculateStrides(opDims)
	pos := 0
	for axis, start := range params.starts {
		pos += strides[axis] * start
		strides[axis] *= params.strides[axis]
	}
	src, dst := operand.flat.([]float32), output.flat.([]float32)
	idx := make([]int, split)
	for out := 0; out+run <= len(dst); out += run {
		copy(dst[out:out+run], src[pos:pos+run])
		for axis := split - 1; axis >= 0; axis-- {
			idx[axis]++
			pos += strides[axis]
			if idx[axis] < outDims[axis] {
				break
			}
			pos -= strides[axis] * idx[axis]
			idx[axis] = 0
		}
	}
}

// execBroadcastInDimFloat32 fills each inner run of the broadcast
// iterator with one value (broadcast run) or copies it (kept run).
func execBroadcastInDimFloat32(params ...any) any {
	src, dst := params[0].([]float32), params[1].([]float32)
	it, _ := params[2].(*broadcastIterator)
	if it == nil {
		fillFloat32(dst, src[0])
		return nil
	}
	n := it.innerLen
	if n < minCopyRun && it.innerStep == 0 {
		if w := it.widenRepeats(); w > 0 {
			repeatRowsFloat32(dst, src, it, w, n)
			return nil
		}
	}
	if n < minCopyRun {
		return execBroadcastInDimGeneric[float32](params...)
	}
	for out := 0; out+n <= len(dst); out += n {
		if it.innerStep == 0 {
			fillFloat32(dst[out:out+n], src[it.rowBase])
		} else {
			copy(dst[out:out+n], src[it.rowBase:it.rowBase+n])
		}
		it.nextRow()
	}
	return nil
}

// widenRepeats merges the innermost outer axis into the inner run when
// that run repeats one operand value and the axis walks contiguous operand
// values, as in a nearest-neighbour upsampling ([…, h, 1, w, 1] onto
// […, h, 2, w, 2]): each inner run then covers w operand values, each
// repeated innerLen times. It returns w, or 0 (and changes nothing) where
// the axes do not have that layout.
func (bi *broadcastIterator) widenRepeats() int {
	last := len(bi.outerDims) - 1
	if bi.innerStep != 0 || last < 0 || bi.outerStrides[last] != 1 {
		return 0
	}
	w := bi.outerDims[last]
	bi.outerIdx, bi.outerDims, bi.outerStrides = bi.outerIdx[:last], bi.outerDims[:last], bi.outerStrides[:last]
	return w
}

// repeatRowsFloat32 fills dst one row at a time from an iterator widened by
// widenRepeats: w operand values from the row's base, each written n times.
func repeatRowsFloat32(dst, src []float32, it *broadcastIterator, w, n int) {
	row := w * n
	for out := 0; out+row <= len(dst); out += row {
		repeatFloat32(dst[out:out+row], src[it.rowBase:it.rowBase+w], n)
		it.nextRow()
	}
}

// repeatFloat32 writes each value of src n times in a row into dst, which
// holds len(src)*n values.
func repeatFloat32(dst, src []float32, n int) {
	if n == 2 {
		dst = dst[:2*len(src)]
		for i, v := range src {
			dst[2*i] = v
			dst[2*i+1] = v
		}
		return
	}
	for i, v := range src {
		run := dst[i*n : i*n+n]
		for j := range run {
			run[j] = v
		}
	}
}

// fillFloat32 sets every element of dst to v, doubling the filled prefix
// with copy.
func fillFloat32(dst []float32, v float32) {
	if len(dst) == 0 {
		return
	}
	dst[0] = v
	for filled := 1; filled < len(dst); filled *= 2 {
		copy(dst[filled:], dst[:filled])
	}
}
