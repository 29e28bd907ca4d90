// Part of the toolkit's fork of GoMLX v0.26.0's pure-Go backend (Apache-2.0); see NOTICE.

package cpu

import (
	"fmt"
	"slices"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// thinDotMax is the largest number of rows (or columns) of a product that
// the pure-Go backend's blocked kernel is not given. That kernel pads every
// axis to blocks of 32, so a matrix–vector product [M,K]×[K,1] costs as much
// as [M,K]×[K,32]. Such products are common outside the UNet's big layers:
// a measurement matrix with one row, the time-embedding layers at batch 1.
// Measured here at [1000,800]×[800,n] (BenchmarkThinDot): the broadcast
// path takes 0.45–0.6× the blocked kernel's time for n = 1 but 1–1.5× for
// n = 2, and it does not help outer products ([M,1]×[1,N]) either: the
// pure-Go element-wise ops are slow. Hence 1.
const thinDotMax = 1

// DotGeneral implements backends.Builder. float64 products with at least
// one and at most thinDotMax rows or columns per batch element become one broadcast
// multiply and a sum over the contracted axes (materialising at most
// thinDotMax times the larger operand); all others go to the inner backend.
func (b *Builder) DotGeneral(lhs backends.Op, lhsC, lhsB []int, rhs backends.Op, rhsC, rhsB []int) (backends.Op, error) {
	ls, err := b.OpShape(lhs)
	if err != nil {
		return nil, err
	}
	rs, err := b.OpShape(rhs)
	if err != nil {
		return nil, err
	}
	// float32 products all go to the packed SGEMM, which pads thin products
	// to its tile (at most 16 or 32 columns) rather than to 32×32 blocks.
	// Half-precision products stay with the blocked kernel, which sums the
	// exact products in float32: the broadcast path would round each
	// product to half precision before the sum.
	if ls.DType != dtypes.Float64 || ls.DType != rs.DType || len(lhsC) != len(rhsC) || len(lhsB) != len(rhsB) {
		return b.dotGeneralBlocked(lhs, lhsC, lhsB, rhs, rhsC, rhsB)
	}
	ln, err := normaliseOperand(ls, lhsC, lhsB)
	if err != nil {
		return b.dotGeneralBlocked(lhs, lhsC, lhsB, rhs, rhsC, rhsB)
	}
	rn, err := normaliseOperand(rs, rhsC, rhsB)
	if err != nil || !slices.Equal(ln.batchDims, rn.batchDims) || !slices.Equal(ln.contractDims, rn.contractDims) {
		// Mismatched axes: the inner backend reports the error.
		return b.dotGeneralBlocked(lhs, lhsC, lhsB, rhs, rhsC, rhsB)
	}
	if c := min(ln.cross, rn.cross); c > thinDotMax || c < 1 || ln.contract == 1 {
		return b.dotGeneralBlocked(lhs, lhsC, lhsB, rhs, rhsC, rhsB)
	}
	out, err := b.thinDot(lhs, ln, rhs, rn)
	if err != nil {
		return nil, fmt.Errorf("DotGeneral of %s and %s: %w", ls, rs, err)
	}
	return out, nil
}

// normalised describes an operand of DotGeneral brought to [batch, cross,
// contract] order: perm is the transposition, outDims the operand's cross
// dimensions in order (as they appear in the output).
type normalised struct {
	perm                             []int
	batch, cross, contract           int
	batchDims, outDims, contractDims []int
}

// normaliseOperand returns the [batch, cross, contract] view of an operand
// with the given contracting and batch axes (taken in the order given, which
// pairs them with the other operand's).
func normaliseOperand(s shapes.Shape, contract, batch []int) (normalised, error) {
	n := normalised{batch: 1, cross: 1, contract: 1}
	seen := make([]bool, s.Rank())
	for _, a := range slices.Concat(batch, contract) {
		if a < 0 || a >= s.Rank() || seen[a] {
			return n, fmt.Errorf("bad axis %d for rank %d", a, s.Rank())
		}
		seen[a] = true
	}
	for _, a := range batch {
		n.perm = append(n.perm, a)
		n.batch *= s.Dimensions[a]
		n.batchDims = append(n.batchDims, s.Dimensions[a])
	}
	for a := range s.Rank() {
		if !seen[a] {
			n.perm = append(n.perm, a)
			n.cross *= s.Dimensions[a]
			n.outDims = append(n.outDims, s.Dimensions[a])
		}
	}
	for _, a := range contract {
		n.perm = append(n.perm, a)
		n.contract *= s.Dimensions[a]
		n.contractDims = append(n.contractDims, s.Dimensions[a])
	}
	return n, nil
}

// thinDot computes the product as Σ_k lhs[b,m,k]·rhs[b,n,k] by broadcasting
// both operands to [batch, M, N, K].
func (b *Builder) thinDot(lhs backends.Op, ln normalised, rhs backends.Op, rn normalised) (backends.Op, error) {
	bsz, m, n, k := ln.batch, ln.cross, rn.cross, ln.contract
	prep := func(x backends.Op, nz normalised, dims []int) (backends.Op, error) {
		var err error
		if !slices.Equal(nz.perm, identity(len(nz.perm))) {
			if x, err = b.Transpose(x, nz.perm...); err != nil {
				return nil, err
			}
		}
		return b.Reshape(x, dims...)
	}
	l, err := prep(lhs, ln, []int{bsz, m, 1, k})
	if err != nil {
		return nil, err
	}
	r, err := prep(rhs, rn, []int{bsz, 1, n, k})
	if err != nil {
		return nil, err
	}
	ls, err := b.OpShape(l)
	if err != nil {
		return nil, err
	}
	full := shapes.Make(ls.DType, bsz, m, n, k)
	if n > 1 {
		if l, err = b.BroadcastInDim(l, full, []int{0, 1, 2, 3}); err != nil {
			return nil, err
		}
	}
	if m > 1 {
		if r, err = b.BroadcastInDim(r, full, []int{0, 1, 2, 3}); err != nil {
			return nil, err
		}
	}
	p, err := b.Mul(l, r)
	if err != nil {
		return nil, err
	}
	if k > 1 {
		if p, err = b.ReduceSum(p, 3); err != nil {
			return nil, err
		}
	}
	return b.Reshape(p, slices.Concat(ln.batchDims, ln.outDims, rn.outDims)...)
}

// identity returns the permutation 0, 1, …, n−1.
func identity(n int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	return p
}
