// Part of the toolkit's fork of GoMLX v0.26.0's pure-Go backend (Apache-2.0); see NOTICE.

package cpu

import "github.com/gomlx/gomlx/pkg/core/dtypes"

// Float32 ReduceSum and ReduceMax walk the operand one inner run at a time
// (see reduceOutputIterator): a run of reduced axes is summed (or maxed)
// into one output element with several independent accumulators, a run of
// kept axes is added (or maxed) element-wise into a run of the output. This
// replaces upstream's per-element iterator step, which dominated GroupNorm's
// statistics.

func init() {
	reduceSumDTypeMap.Register(dtypes.Float32, priorityArch, execReduceSumFloat32)
	reduceMaxDTypeMap.Register(dtypes.Float32, priorityArch, execReduceMaxFloat32)
}

// addRunFloat32 is dst[i] += src[i], on the vector kernel where there is one.
func addRunFloat32(k *arithKernels, dst, src []float32) { k.vv(dst, dst, src) }

func execReduceSumFloat32(operand, output *Buffer, it *reduceOutputIterator, _ dtypes.DType) {
	out := output.flat.([]float32)
	clear(out)
	src := operand.flat.([]float32)
	n := it.innerLen
	if n == 0 {
		return
	}
	if n < shortSumRun && it.innerStep == 0 {
		if w := it.widenRuns(); w > 0 {
			for pos := 0; pos+w*n <= len(src); pos += w * n {
				addRunSumsFloat32(out[it.rowBase:it.rowBase+w], src[pos:pos+w*n], n)
				it.nextRow()
			}
			return
		}
	}
	add := arithKernelsFor(arithAdd)
	for pos := 0; pos+n <= len(src); pos += n {
		run := src[pos : pos+n]
		if it.innerStep == 0 {
			out[it.rowBase] += sumFloat32(run)
		} else {
			addRunFloat32(add, out[it.rowBase:it.rowBase+n], run)
		}
		it.nextRow()
	}
}

// shortSumRun bounds the reduced runs that execReduceSumFloat32 sums a row
// at a time with addRunSumsFloat32: runs shorter than sumFloat32's block of
// eight, which both add left to right.
const shortSumRun = 8

// widenRuns merges the innermost outer axis into the inner run when that
// run is reduced and the axis is kept, as in the gradient of a
// nearest-neighbour upsampling ([…, h, 2, w, 2] summed over its axes of 2):
// each inner run then covers w consecutive outputs, each the sum of
// innerLen consecutive operand values. It returns w, or 0 (and changes
// nothing) where the axes do not have that layout.
func (it *reduceOutputIterator) widenRuns() int {
	last := len(it.dimensions) - 1
	if it.innerStep != 0 || last < 0 || it.perAxisStride[last] != 1 {
		return 0
	}
	w := it.dimensions[last]
	it.perAxisIdx, it.dimensions, it.perAxisStride = it.perAxisIdx[:last], it.dimensions[:last], it.perAxisStride[:last]
	return w
}

// addRunSumsFloat32 adds to each dst[i] the sum of src[i*n:(i+1)*n],
// accumulated left to right. For n < shortSumRun that is sumFloat32's order, so a
// dst that starts at +0 ends bit for bit as if sumFloat32 of each run had
// been added to it.
func addRunSumsFloat32(dst, src []float32, n int) {
	if n == 2 {
		src = src[:2*len(dst)]
		for i := range dst {
			dst[i] += src[2*i] + src[2*i+1]
		}
		return
	}
	for i := range dst {
		run := src[i*n : i*n+n]
		s := run[0]
		for _, v := range run[1:] {
			s += v
		}
		dst[i] += s
	}
}

func execReduceMaxFloat32(operand, output *Buffer, it *reduceOutputIterator, dtype dtypes.DType) {
	out := output.flat.([]float32)
	lowest := dtype.LowestValue().(float32)
	for i := range out {
		out[i] = lowest
	}
	src := operand.flat.([]float32)
	n := it.innerLen
	if n == 0 {
		return
	}
	for pos := 0; pos+n <= len(src); pos += n {
		run := src[pos : pos+n]
		if it.innerStep == 0 {
			out[it.rowBase] = max(out[it.rowBase], maxFloat32(run, lowest))
		} else {
			dst := out[it.rowBase : it.rowBase+n]
			for i, v := range run {
				dst[i] = max(dst[i], v)
			}
		}
		it.nextRow()
	}
}

// sumFloat32 returns the sum of x, accumulated in eight interleaved
// partial sums (which the CPU adds in parallel) and then pairwise.
func sumFloat32(x []float32) float32 {
	var s0, s1, s2, s3, s4, s5, s6, s7 float32
	i := 0
	for ; i+8 <= len(x); i += 8 {
		v := x[i : i+8 : i+8]
		s0 += v[0]
		s1 += v[1]
		s2 += v[2]
		s3 += v[3]
		s4 += v[4]
		s5 += v[5]
		s6 += v[6]
		s7 += v[7]
	}
	for ; i < len(x); i++ {
		s0 += x[i]
	}
	return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
}

// maxFloat32 returns the largest of init and the values of x (NaN if any
// is NaN, as the builtin max), in four interleaved partial maxima.
func maxFloat32(x []float32, init float32) float32 {
	m0, m1, m2, m3 := init, init, init, init
	i := 0
	for ; i+4 <= len(x); i += 4 {
		v := x[i : i+4 : i+4]
		m0 = max(m0, v[0])
		m1 = max(m1, v[1])
		m2 = max(m2, v[2])
		m3 = max(m3, v[3])
	}
	for ; i < len(x); i++ {
		m0 = max(m0, x[i])
	}
	return max(max(m0, m1), max(m2, m3))
}
