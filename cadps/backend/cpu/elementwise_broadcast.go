// Part of the toolkit's fork of GoMLX v0.26.0's pure-Go backend (Apache-2.0); see NOTICE.

package cpu

import "github.com/gomlx/gomlx/pkg/core/shapes"

// minBroadcastRun is the shortest inner run worth a kernel call; shorter
// ones stay on upstream's per-element iterator.
const minBroadcastRun = 8

// broadcastPlan splits a float32 binary op with implicit broadcasting
// (operands of the output's rank, each axis the output's size or 1) into
// an inner run of trailing axes on which each operand is either full or
// broadcast, and outer axes walked with per-operand strides (0 where the
// operand is broadcast). For x[n,c,h,w] + bias[1,c,1,1] the run is h·w
// with the bias a scalar in it.
type broadcastPlan struct {
	runLen                 int
	lhsInRun, rhsInRun     bool  // the operand varies along the run
	outerDims              []int // output sizes of the outer axes
	lhsStrides, rhsStrides []int // flat strides of the outer axes, 0 where broadcast
}

// newBroadcastPlan returns the plan of lhs op rhs → out, or false where the
// shapes do not fit it (ranks differ, both operands broadcast along the
// run, or a run shorter than minBroadcastRun).
func newBroadcastPlan(lhs, rhs, out shapes.Shape) (broadcastPlan, bool) {
	rank := out.Rank()
	if lhs.Rank() != rank || rhs.Rank() != rank {
		return broadcastPlan{}, false
	}
	lhsStrides, lhsOK := broadcastStrides(lhs.Dimensions, out.Dimensions)
	rhsStrides, rhsOK := broadcastStrides(rhs.Dimensions, out.Dimensions)
	if !lhsOK || !rhsOK {
		return broadcastPlan{}, false
	}
	p := broadcastPlan{runLen: 1}
	status := -1 // bit 0: lhs varies, bit 1: rhs varies
	split := rank
	for ; split > 0; split-- {
		axis := split - 1
		if out.Dimensions[axis] == 1 {
			continue
		}
		s := 0
		if lhsStrides[axis] != 0 {
			s |= 1
		}
		if rhsStrides[axis] != 0 {
			s |= 2
		}
		if status >= 0 && s != status {
			break
		}
		status = s
		p.runLen *= out.Dimensions[axis]
	}
	p.lhsInRun, p.rhsInRun = status&1 != 0, status&2 != 0
	if p.runLen < minBroadcastRun || !(p.lhsInRun || p.rhsInRun) {
		return broadcastPlan{}, false
	}
	p.outerDims = out.Dimensions[:split]
	p.lhsStrides, p.rhsStrides = lhsStrides[:split], rhsStrides[:split]
	return p, true
}

// broadcastStrides returns the flat strides of an operand of dimensions
// from broadcast to dimensions to (0 on broadcast axes), or false where
// an axis is neither the output's size nor 1.
func broadcastStrides(from, to []int) ([]int, bool) {
	strides := make([]int, len(to))
	stride := 1
	for axis := len(to) - 1; axis >= 0; axis-- {
		switch from[axis] {
		case to[axis]:
			if to[axis] != 1 {
				strides[axis] = stride
			}
		case 1:
		default:
			return nil, false
		}
		stride *= from[axis]
	}
	return strides, true
}

// run computes dst = a op b over the plan with the kernels k.
func (p *broadcastPlan) run(k *arithKernels, dst, a, b []float32) {
	idx := make([]int, len(p.outerDims))
	aPos, bPos := 0, 0
	n := p.runLen
	for outPos := 0; outPos+n <= len(dst); outPos += n {
		d := dst[outPos : outPos+n]
		switch {
		case p.lhsInRun && p.rhsInRun:
			k.vv(d, a[aPos:aPos+n], b[bPos:bPos+n])
		case p.lhsInRun:
			k.vs(d, a[aPos:aPos+n], b[bPos])
		default:
			k.sv(d, b[bPos:bPos+n], a[aPos])
		}
		for axis := len(idx) - 1; axis >= 0; axis-- {
			idx[axis]++
			aPos += p.lhsStrides[axis]
			bPos += p.rhsStrides[axis]
			if idx[axis] < p.outerDims[axis] {
				break
			}
			aPos -= p.lhsStrides[axis] * idx[axis]
			bPos -= p.rhsStrides[axis] * idx[axis]
			idx[axis] = 0
		}
	}
}
