// Part of the toolkit's fork of GoMLX v0.26.0's pure-Go backend (Apache-2.0); see NOTICE.

package cpu

import (
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/pkg/errors"
)

func init() {
	setNodeExecutor(backends.OpTypeConvGeneral, priorityArch, execConvGeneralDirect)
}

// directConv is a float32 convolution with one channel group and one or two
// spatial axes, computed as the product of the kernel [O, C·KH·KW] and the
// implicit im2col matrix [C·KH·KW, N·OH·OW] of the unpadded input, whose
// panels the SGEMM packs straight from the input (convDirectRun): no padded
// copy, no im2col operand, no transposes. It is the data of a ConvGeneral
// node with input [N, C, (H,) W], kernel [O, C, (KH,) KW] and output
// [N, O, (OH,) OW]; a 1-D convolution has h = kh = oh = sh = dh = 1, ph = 0.
type directConv struct {
	n, c, h, w     int
	o, kh, kw      int
	oh, ow         int
	sh, sw, dh, dw int // strides and kernel dilations
	ph, pw         int // padding before the input (negative: cropped)
	// bias: a third input [1, O, 1, …] is added per output channel; relu:
	// max(·, 0) follows (see conv_direct_fuse.go).
	bias, relu bool
	// kernel says how the kernel input is read when it is not [O, C, KH, KW]
	// row-major: a strided view folded into the convolution (see convDirect).
	kernel *kernelRead
}

// kernelRead is a direct convolution's kernel read through strides:
// element (o, c, kh, kw) of the canonical kernel is element
// offset + o·so + c·sc + kh·skh + kw·skw of the kernel input.
type kernelRead struct {
	offset, so, sc, skh, skw int
}

// directConvFor returns the direct form of the correlation g (canonical
// layout, input dilation already removed, padding pads still to apply) and
// whether it applies: float32, one channel group, one or two spatial axes,
// no axis computed as a banded matrix, and no kernel larger than its output
// unless the unpadded input is smaller still. A kernel larger than its
// output but not than its input has a kernel gradient's shape (the kernel
// is the output's gradient, spanning the image), where im2col's slicing is
// cheaper; a map smaller than the kernel, as in the deepest levels of a
// UNet at small inputs, is not one, and the direct path spares it the
// reversed kernel's copy in an input gradient.
func directConvFor(g convGeom, pads [][2]int, unpadded []int) (directConv, bool) {
	s := len(g.out)
	if g.dtype != dtypes.Float32 || g.groups != 1 || s < 1 || s > 2 || g.banded() {
		return directConv{}, false
	}
	for i := range s {
		if g.kern[i] > g.out[i] && g.kern[i] <= unpadded[i] {
			return directConv{}, false
		}
	}
	dc := directConv{n: g.n, c: g.c, o: g.o, h: 1, kh: 1, oh: 1, sh: 1, dh: 1}
	last := s - 1
	dc.w, dc.kw, dc.ow, dc.sw, dc.dw, dc.pw = unpadded[last], g.kern[last], g.out[last], g.strides[last], g.dil[last], pads[last][0]
	if s == 2 {
		dc.h, dc.kh, dc.oh, dc.sh, dc.dh, dc.ph = unpadded[0], g.kern[0], g.out[0], g.strides[0], g.dil[0], pads[0][0]
	}
	if dc.kh == 1 && dc.kw == 1 && dc.sh == 1 && dc.sw == 1 && dc.oh == dc.h && dc.ow == dc.w && dc.ph == 0 && dc.pw == 0 {
		// A pointwise convolution reads each image as one row.
		dc.w, dc.ow, dc.h, dc.oh = dc.h*dc.w, dc.oh*dc.ow, 1, 1
	}
	return dc, true
}

// convDirect adds the ConvGeneral node computing dc on x and kernel w
// (canonical layouts); outDims are the canonical output dimensions. A
// kernel that is a strided view (a reversed kernel, see kernelView) is read
// through the view's strides as the kernel is packed, so the view itself is
// never written out.
func (b *Builder) convDirect(x, w backends.Op, dc directConv, outDims []int) (backends.Op, error) {
	inputs, err := b.checkOps("ConvGeneral", x, w)
	if err != nil {
		return nil, err
	}
	if view, ok := inputs[1].data.(*stridedViewNode); ok && inputs[1].opType == backends.OpTypeSlice {
		s := view.axisStrides
		kr := &kernelRead{offset: view.offset, so: s[0], sc: s[1], skw: s[len(s)-1]}
		if len(s) == 4 {
			kr.skh = s[2]
		}
		dc.kernel = kr
		inputs[1] = inputs[1].inputs[0]
	}
	dc.cropDeadTaps()
	node := b.newNode(backends.OpTypeConvGeneral, shapes.Make(dtypes.Float32, outDims...), inputs...)
	node.data = &dc
	return node, nil
}

// cropDeadTaps drops the kernel rows and columns that read only padding
// for every output position, as on a 1×1 map under a 3×3 kernel (the
// deepest level of a large UNet at a small input), where they would be 8
// of 9 taps: the kernel becomes a view of its live taps, and the padding
// shifts with them, so that neither the kernel's dead taps nor the zero
// rows of the im2col matrix are packed or multiplied.
func (dc *directConv) cropDeadTaps() {
	y0, y1 := liveTaps(dc.kh, dc.oh, dc.h, dc.sh, dc.dh, dc.ph)
	x0, x1 := liveTaps(dc.kw, dc.ow, dc.w, dc.sw, dc.dw, dc.pw)
	if y1-y0 == dc.kh && x1-x0 == dc.kw || y0 >= y1 || x0 >= x1 {
		return
	}
	if dc.kernel == nil {
		dc.kernel = &kernelRead{so: dc.c * dc.kh * dc.kw, sc: dc.kh * dc.kw, skh: dc.kw, skw: 1}
	}
	kr := *dc.kernel
	kr.offset += y0*kr.skh + x0*kr.skw
	dc.kernel = &kr
	dc.kh, dc.ph = y1-y0, dc.ph-y0*dc.dh
	dc.kw, dc.pw = x1-x0, dc.pw-x0*dc.dw
}

// liveTaps returns the range [lo, hi) of the taps of a kernel axis of k
// taps (stride s, dilation d, padding p before an input of n) that read
// inside the input for at least one of the out output positions; lo ≥ hi
// where none does.
func liveTaps(k, out, n, s, d, p int) (lo, hi int) {
	live := func(t int) bool {
		for o := range out {
			if i := o*s + t*d - p; i >= 0 && i < n {
				return true
			}
		}
		return false
	}
	lo, hi = 0, k
	for lo < k && !live(lo) {
		lo++
	}
	for hi > lo && !live(hi-1) {
		hi--
	}
	return lo, hi
}

// execConvGeneralDirect runs ConvGeneral nodes built by convDirect and
// hands the others to upstream's executor.
func execConvGeneralDirect(backend *Backend, node *Node, inputs []*Buffer, owned []bool) (*Buffer, error) {
	if g, ok := node.data.(*nonFiniteGuard); ok {
		return execNonFiniteGuard(backend, g, inputs, owned)
	}
	dc, ok := node.data.(*directConv)
	if !ok {
		return execConvGeneral(backend, node, inputs, owned)
	}
	x, okX := inputs[0].flat.([]float32)
	w, okW := inputs[1].flat.([]float32)
	if !okX || !okW {
		return nil, errors.Errorf("ConvGeneral: direct convolution of %s and %s, want float32", inputs[0].shape, inputs[1].shape)
	}
	var bias []float32
	if dc.bias {
		if bias, okX = inputs[2].flat.([]float32); !okX || len(bias) != dc.o {
			return nil, errors.Errorf("ConvGeneral: bias %s for %d output channels", inputs[2].shape, dc.o)
		}
	}
	output := backend.getBufferForShape(node.shape)
	if output == nil {
		return nil, errors.Errorf("failed allocating (out-of-memory?) output buffer shaped %s", node.shape)
	}
	convDirectRun(sgemmKernel(), dc, x, w, bias, output.flat.([]float32), sgemmWorkers(backend.workers.MaxParallelism()))
	return output, nil
}
