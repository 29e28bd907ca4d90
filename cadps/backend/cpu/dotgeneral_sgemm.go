// Part of the toolkit's fork of GoMLX v0.26.0's pure-Go backend (Apache-2.0); see NOTICE.

package cpu

import "slices"

// operandLayout tells how a DotGeneral operand's memory maps onto its
// normalised form [batch, cross, contract]: the batch axes lead, and the
// cross and contracting axes each form one contiguous block, in either
// order. Axes of size 1 are ignored, since they can sit anywhere.
type operandLayout struct {
	ok            bool
	contractFirst bool // [batch, contract, cross] in memory
}

// layoutOf checks the axes of an operand of dims against that form.
func layoutOf(dims, contract, batch []int) operandLayout {
	kind := make([]byte, len(dims)) // 'x' cross (default), 'c' contract, 'b' batch
	for a := range kind {
		kind[a] = 'x'
	}
	for _, a := range contract {
		kind[a] = 'c'
	}
	for _, a := range batch {
		kind[a] = 'b'
	}
	keep := func(list []int) []int {
		return slices.DeleteFunc(slices.Clone(list), func(a int) bool { return dims[a] == 1 })
	}
	var cross []int
	for a, k := range kind {
		if k == 'x' && dims[a] != 1 {
			cross = append(cross, a)
		}
	}
	bs, cs := keep(batch), keep(contract)
	var memory []int
	for a := range dims {
		if dims[a] != 1 {
			memory = append(memory, a)
		}
	}
	if slices.Equal(memory, slices.Concat(bs, cross, cs)) {
		return operandLayout{ok: true}
	}
	if slices.Equal(memory, slices.Concat(bs, cs, cross)) {
		return operandLayout{ok: true, contractFirst: true}
	}
	return operandLayout{}
}

// execDotGeneralSGEMM computes a float32 DotGeneral with the packed SGEMM:
// output [batch, lhsCross, rhsCross] = Σ_contract lhs · rhs. Operands whose
// memory is not already a (possibly transposed) matrix per batch element are
// first transposed to [batch, cross, contract].
func execDotGeneralSGEMM(backend *Backend, lhs, rhs *Buffer, params *dotGeneralNodeData, output *Buffer) {
	bsz, m, n, k := params.batchSize, params.lhsCrossSize, params.rhsCrossSize, params.contractingSize
	lhsFlat, lhsLayout := sgemmOperand(lhs, params.lhsContractingAxes, params.lhsBatchAxes)
	rhsFlat, rhsLayout := sgemmOperand(rhs, params.rhsContractingAxes, params.rhsBatchAxes)
	// A = lhs as m×k, B = rhs as k×n.
	a := matView{data: lhsFlat, rs: k, cs: 1}
	if lhsLayout.contractFirst {
		a.rs, a.cs = 1, m
	}
	b := matView{data: rhsFlat, rs: 1, cs: k}
	if rhsLayout.contractFirst {
		b.rs, b.cs = n, 1
	}
	out := output.flat.([]float32)
	kern := sgemmKernel()
	workers := sgemmWorkers(backend.workers.MaxParallelism())
	for i := range bsz {
		ai, bi := a, b
		ai.off, bi.off = i*m*k, i*k*n
		sgemm(kern, m, n, k, ai, bi, out[i*m*n:(i+1)*m*n], workers)
	}
}

// sgemmOperand returns the operand's values in a layout sgemm reads
// directly, transposing them to [batch, cross, contract] when needed.
func sgemmOperand(x *Buffer, contract, batch []int) ([]float32, operandLayout) {
	flat := x.flat.([]float32)
	dims := x.shape.Dimensions
	if l := layoutOf(dims, contract, batch); l.ok {
		return flat, l
	}
	var perm []int
	perm = append(perm, batch...)
	for a := range dims {
		if !slices.Contains(batch, a) && !slices.Contains(contract, a) {
			perm = append(perm, a)
		}
	}
	perm = append(perm, contract...)
	return transposeF32(flat, dims, perm), operandLayout{ok: true}
}

// transposeF32 returns the values of src (row-major dims) permuted so that
// output axis j is input axis perm[j].
func transposeF32(src []float32, dims, perm []int) []float32 {
	dst := make([]float32, len(src))
	if len(src) == 0 {
		return dst
	}
	rank := len(dims)
	inStrides := calculateStrides(dims)
	outDims := make([]int, rank)
	strides := make([]int, rank) // input stride of each output axis
	for j, a := range perm {
		outDims[j], strides[j] = dims[a], inStrides[a]
	}
	last := rank - 1
	inner, innerStride := outDims[last], strides[last]
	idx := make([]int, rank)
	pos := 0
	for o := 0; o < len(dst); o += inner {
		row := dst[o : o+inner]
		p := pos
		for i := range row {
			row[i] = src[p]
			p += innerStride
		}
		for ax := last - 1; ax >= 0; ax-- {
			idx[ax]++
			pos += strides[ax]
			if idx[ax] < outDims[ax] {
				break
			}
			pos -= idx[ax] * strides[ax]
			idx[ax] = 0
		}
	}
	return dst
}
