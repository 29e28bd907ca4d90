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
