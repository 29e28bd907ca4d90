// Part of the toolkit's fork of GoMLX v0.26.0's pure-Go backend (Apache-2.0); see NOTICE.

package cpu

import (
	"slices"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
)

func init() {
	setNodeExecutor(backends.OpTypeReduceWindow, priorityArch, execReduceWindowFloat32)
}

// minParallelPool is the fewest input plus output elements each
// goroutine of a split pooling takes, so that a pooling splits in two from
// twice as many on.
const minParallelPool = 1 << 16

// pool2D is a float32 window reduction over the last two axes of planes
// independent [H, W] maps: out[oy, ox] reduces in[oy·sh − ph + ky,
// ox·sw − pw + kx] over the window positions inside the map, separably
// (along the width into a scratch map, then along the height).
type pool2D struct {
	op             backends.ReduceOpType
	planes         int
	h, w, oh, ow   int
	kh, kw, sh, sw int
	ph, pw         int
	identity       float32
	// spans are, per window column kx, the outputs [lo, hi) whose input
	// column o·sw − pw + kx is inside the row, the first being start.
	spans []poolSpan
}

type poolSpan struct{ lo, hi, start int }

// execReduceWindowFloat32 runs float32 max, min and sum reductions whose
// windows span only the last two axes (no dilations, no negative padding)
// as pool2D, split by planes across the cores, and bfloat16 sums in float32
// (each rounded once); everything else goes to upstream's executor.
func execReduceWindowFloat32(backend *Backend, node *Node, inputs []*Buffer, owned []bool) (*Buffer, error) {
	if node.shape.DType == dtypes.BFloat16 && node.data.(*reduceWindowNode).reductionType == backends.ReduceOpSum {
		return inFloat32(backend, node, inputs, []int{0}, execReduceWindowFloat32)
	}
	p, ok := newPool2D(inputs[0], node)
	if !ok {
		return execReduceWindow(backend, node, inputs, owned)
	}
	output := backend.getBufferForShape(node.shape)
	p.run(inputs[0].flat.([]float32), output.flat.([]float32), sgemmWorkers(backend.workers.MaxParallelism()))
	return output, nil
}

// newPool2D returns the pool2D of a ReduceWindow node, if it is one.
func newPool2D(operand *Buffer, node *Node) (pool2D, bool) {
	d := node.data.(*reduceWindowNode)
	in, out := operand.shape, node.shape
	rank := in.Rank()
	if in.DType != dtypes.Float32 || rank < 2 || len(d.windowDimensions) != rank {
		return pool2D{}, false
	}
	p := pool2D{op: d.reductionType, planes: 1}
	switch d.reductionType {
	case backends.ReduceOpMax:
		p.identity = dtypes.Float32.LowestValue().(float32)
	case backends.ReduceOpMin:
		p.identity = dtypes.Float32.HighestValue().(float32)
	case backends.ReduceOpSum:
	default:
		return pool2D{}, false
	}
	one := func(v []int) bool { return v == nil || !slices.ContainsFunc(v, func(x int) bool { return x != 1 }) }
	if !one(d.baseDilations) || !one(d.windowDilations) {
		return pool2D{}, false
	}
	strides := d.strides
	if strides == nil {
		strides = d.windowDimensions
	}
	pads := d.paddings
	if pads == nil {
		pads = make([][2]int, rank)
	}
	for a := range rank {
		if pads[a][0] < 0 || pads[a][1] < 0 || strides[a] < 1 {
			return pool2D{}, false
		}
		if a < rank-2 {
			if d.windowDimensions[a] != 1 || strides[a] != 1 || pads[a] != [2]int{} {
				return pool2D{}, false
			}
			p.planes *= in.Dimensions[a]
		}
	}
	p.h, p.w, p.oh, p.ow = in.Dimensions[rank-2], in.Dimensions[rank-1], out.Dimensions[rank-2], out.Dimensions[rank-1]
	p.kh, p.kw, p.sh, p.sw = d.windowDimensions[rank-2], d.windowDimensions[rank-1], strides[rank-2], strides[rank-1]
	p.ph, p.pw = pads[rank-2][0], pads[rank-1][0]
	for k := range p.kw {
		// o·sw − pw + k ∈ [0, w) for o ∈ [lo, hi).
		lo := max(0, (p.pw-k+p.sw-1)/p.sw) // ≤ 0 when pw ≤ k
		hi := min(p.ow, (p.w-1+p.pw-k)/p.sw+1)
		if p.w-1+p.pw-k >= 0 && lo < hi {
			p.spans = append(p.spans, poolSpan{lo, hi, lo*p.sw - p.pw + k})
		}
	}
	return p, true
}

// run pools in [planes, H, W] into out [planes, OH, OW] with at most
// workers goroutines.
func (p *pool2D) run(in, out []float32, workers int) {
	if p.planes == 0 || p.oh == 0 || p.ow == 0 {
		return
	}
	parts := min(workers, p.planes, max(1, p.planes*(p.h*p.w+p.oh*p.ow)/minParallelPool))
	splitRange(p.planes, parts, 1, func(first, last int) { p.planesRange(in, out, first, last) })
}

// planesRange pools planes [first, last).
func (p *pool2D) planesRange(in, out []float32, first, last int) {
	rows := make([]float32, p.h*p.ow) // the map reduced along the width
	for c := first; c < last; c++ {
		src := in[c*p.h*p.w : (c+1)*p.h*p.w]
		for y := range p.h {
			dst := rows[y*p.ow : (y+1)*p.ow]
			for i := range dst {
				dst[i] = p.identity
			}
			row := src[y*p.w : (y+1)*p.w]
			for _, sp := range p.spans {
				p.combine(dst[sp.lo:sp.hi], row[sp.start:], p.sw)
			}
		}
		dst := out[c*p.oh*p.ow : (c+1)*p.oh*p.ow]
		for oy := range p.oh {
			row := dst[oy*p.ow : (oy+1)*p.ow]
			for i := range row {
				row[i] = p.identity
			}
			for ky := range p.kh {
				if y := oy*p.sh - p.ph + ky; y >= 0 && y < p.h {
					p.combine(row, rows[y*p.ow:(y+1)*p.ow], 1)
				}
			}
		}
	}
}

// combine reduces src[i·stride] into dst[i] for every i < len(dst).
func (p *pool2D) combine(dst, src []float32, stride int) {
	if len(dst) == 0 {
		return
	}
	src = src[:(len(dst)-1)*stride+1]
	switch {
	case p.op == backends.ReduceOpMax && stride == 1:
		maxInto(dst, src)
	case p.op == backends.ReduceOpMax:
		for i := range dst {
			dst[i] = max(dst[i], src[i*stride])
		}
	case p.op == backends.ReduceOpSum && stride == 1:
		sumInto(dst, src)
	case p.op == backends.ReduceOpSum:
		for i := range dst {
			dst[i] += src[i*stride]
		}
	default:
		for i := range dst {
			dst[i] = min(dst[i], src[i*stride])
		}
	}
}

// maxIntoGeneric is maxInto in Go; len(src) = len(dst).
func maxIntoGeneric(dst, src []float32) {
	for i, v := range src {
		dst[i] = max(dst[i], v)
	}
}

// sumIntoGeneric is sumInto in Go; len(src) = len(dst).
func sumIntoGeneric(dst, src []float32) {
	for i, v := range src {
		dst[i] += v
	}
}
