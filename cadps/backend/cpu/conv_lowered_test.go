// Part of the toolkit's fork of GoMLX v0.26.0's pure-Go backend (Apache-2.0); see NOTICE.

package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// convCase is a convolution in canonical terms (input [N, C, L...], kernel
// [O, C/groups, K...]) plus the layouts it is presented in: xPerm[j] is the
// canonical axis stored at axis j of the actual input (likewise kPerm for the
// kernel and yPerm for the output); nil means canonical.
type convCase struct {
	name                string
	n, c, o, groups     int
	in, kern            []int
	strides, idil, kdil []int
	pads                [][2]int
	xPerm, kPerm, yPerm []int
	// grads says which gradients GoMLX's graph package gets right for this
	// case: gradAll, gradKernel (its input gradient is shifted by one for
	// even kernel sizes) or gradNone (it panics setting up the input
	// gradient when a padding exceeds (kernel−1)/2 or is negative, and
	// passes inconsistent axes when input and output layouts differ).
	grads int
}

const (
	gradAll = iota
	gradKernel
	gradNone
)

func (cc convCase) rank() int { return len(cc.in) + 2 }

func (cc convCase) perms() (xp, kp, yp []int) {
	id := make([]int, cc.rank())
	for i := range id {
		id[i] = i
	}
	pick := func(p []int) []int {
		if p == nil {
			return id
		}
		return p
	}
	return pick(cc.xPerm), pick(cc.kPerm), pick(cc.yPerm)
}

// axes returns the ConvolveAxesConfig for the case's layouts.
func (cc convCase) axes() backends.ConvolveAxesConfig {
	xp, kp, yp := cc.perms()
	var a backends.ConvolveAxesConfig
	a.InputBatch, a.InputChannels = slices.Index(xp, 0), slices.Index(xp, 1)
	a.KernelOutputChannels, a.KernelInputChannels = slices.Index(kp, 0), slices.Index(kp, 1)
	a.OutputBatch, a.OutputChannels = slices.Index(yp, 0), slices.Index(yp, 1)
	for i := range cc.in {
		a.InputSpatial = append(a.InputSpatial, slices.Index(xp, 2+i))
		a.KernelSpatial = append(a.KernelSpatial, slices.Index(kp, 2+i))
		a.OutputSpatial = append(a.OutputSpatial, slices.Index(yp, 2+i))
	}
	return a
}

func (cc convCase) xDims() []int { return append([]int{cc.n, cc.c}, cc.in...) }
func (cc convCase) kDims() []int { return append([]int{cc.o, cc.c / cc.groups}, cc.kern...) }

func (cc convCase) yDims() []int {
	dims := []int{cc.n, cc.o}
	for i := range cc.in {
		l := (cc.in[i]-1)*cc.idil[i] + 1 + cc.pads[i][0] + cc.pads[i][1]
		e := (cc.kern[i]-1)*cc.kdil[i] + 1
		dims = append(dims, (l-e)/cc.strides[i]+1)
	}
	return dims
}

// strides returns the row-major strides of dims.
func stridesOf(dims []int) []int {
	s := make([]int, len(dims))
	acc := 1
	for i := len(dims) - 1; i >= 0; i-- {
		s[i] = acc
		acc *= dims[i]
	}
	return s
}

// forEachIndex calls f with every multi-index of dims in row-major order.
func forEachIndex(dims []int, f func(idx []int)) {
	if prod(dims) == 0 {
		return
	}
	idx := make([]int, len(dims))
	for {
		f(idx)
		i := len(dims) - 1
		for ; i >= 0; i-- {
			if idx[i]++; idx[i] < dims[i] {
				break
			}
			idx[i] = 0
		}
		if i < 0 {
			return
		}
	}
}

// naiveTaps calls f(y, x, k) with the flat indices of every product
// x[x]·kernel[k] that contributes to output y, straight from the definition
// of a convolution with padding, input and kernel dilation and channel groups.
func (cc convCase) naiveTaps(f func(y, x, k int)) {
	xd, kd, yd := cc.xDims(), cc.kDims(), cc.yDims()
	xs, ks, ys := stridesOf(xd), stridesOf(kd), stridesOf(yd)
	cg, og := cc.c/cc.groups, cc.o/cc.groups
	n := len(cc.in)
	forEachIndex(yd, func(yi []int) {
		yFlat := 0
		for a, v := range yi {
			yFlat += v * ys[a]
		}
		g := yi[1] / og
		forEachIndex(kd[1:], func(ki []int) { // [c, k...]
			xFlat := yi[0]*xs[0] + (g*cg+ki[0])*xs[1]
			for i := range n {
				u := yi[2+i]*cc.strides[i] + ki[1+i]*cc.kdil[i] - cc.pads[i][0]
				if u < 0 || u%cc.idil[i] != 0 || u/cc.idil[i] >= cc.in[i] {
					return
				}
				xFlat += u / cc.idil[i] * xs[2+i]
			}
			kFlat := yi[1] * ks[0]
			for a, v := range ki {
				kFlat += v * ks[1+a]
			}
			f(yFlat, xFlat, kFlat)
		})
	})
}

// naive returns the forward output and, for output cotangent v, the gradients
// with respect to the input and the kernel, all in canonical layout.
func (cc convCase) naive(x, k, v []float64) (y, gx, gk []float64) {
	y = make([]float64, prod(cc.yDims()))
	gx, gk = make([]float64, len(x)), make([]float64, len(k))
	cc.naiveTaps(func(yi, xi, ki int) {
		y[yi] += x[xi] * k[ki]
		if v != nil {
			gx[xi] += v[yi] * k[ki]
			gk[ki] += v[yi] * x[xi]
		}
	})
	return y, gx, gk
}

// permuteFlat returns data (with dims) transposed so that axis j of the
// result is axis perm[j] of data, and the new dims.
func permuteFlat(data []float64, dims, perm []int) ([]float64, []int) {
	nd := make([]int, len(dims))
	for j, a := range perm {
		nd[j] = dims[a]
	}
	ns := stridesOf(nd)
	out := make([]float64, len(data))
	i := 0
	forEachIndex(dims, func(idx []int) {
		o := 0
		for j, a := range perm {
			o += idx[a] * ns[j]
		}
		out[o] = data[i]
		i++
	})
	return out, nd
}

func invPerm(p []int) []int {
	inv := make([]int, len(p))
	for j, a := range p {
		inv[a] = j
	}
	return inv
}

func fill(cc *convCase) convCase {
	n := len(cc.in)
	def := func(v []int) []int {
		if v == nil {
			return slices.Repeat([]int{1}, n)
		}
		return v
	}
	cc.strides, cc.idil, cc.kdil = def(cc.strides), def(cc.idil), def(cc.kdil)
	if cc.pads == nil {
		cc.pads = make([][2]int, n)
	}
	if cc.groups == 0 {
		cc.groups = 1
	}
	return *cc
}

// convCases covers the shapes the samplers produce and the corner cases of
// the rewrite: layouts, strides, positive and negative padding, input and
// kernel dilation, channel groups, kernels larger than the output, banded
// (long) axes and 1-D/3-D.
func convCases() []convCase {
	nhwc := []int{0, 2, 3, 1}
	hwio := []int{2, 3, 1, 0}
	cases := []convCase{
		{name: "3x3", n: 2, c: 4, o: 5, in: []int{8, 7}, kern: []int{3, 3}, pads: [][2]int{{1, 1}, {1, 1}}},
		{name: "3x3-stride2-asym", n: 1, c: 3, o: 4, in: []int{9, 8}, kern: []int{3, 3}, strides: []int{2, 2}, pads: [][2]int{{1, 0}, {0, 1}}},
		{name: "1x1", n: 1, c: 6, o: 3, in: []int{5, 5}, kern: []int{1, 1}},
		{name: "1x1-stride2", n: 2, c: 3, o: 2, in: []int{6, 5}, kern: []int{1, 1}, strides: []int{2, 2}},
		{name: "kernel-dilation", n: 1, c: 2, o: 2, in: []int{9, 9}, kern: []int{3, 3}, kdil: []int{2, 2}, pads: [][2]int{{2, 2}, {2, 2}}},
		{name: "negative-padding", n: 1, c: 2, o: 3, in: []int{8, 9}, kern: []int{3, 2}, pads: [][2]int{{-1, 2}, {2, -2}}, grads: gradNone},
		{name: "large-padding", n: 1, c: 2, o: 3, in: []int{6, 7}, kern: []int{3, 3}, pads: [][2]int{{3, 3}, {2, 4}}, grads: gradNone},
		{name: "even-kernel", n: 2, c: 2, o: 3, in: []int{7, 6}, kern: []int{2, 4}, pads: [][2]int{{0, 1}, {2, 1}}, grads: gradKernel},
		{name: "depthwise", n: 1, c: 3, o: 3, groups: 3, in: []int{9, 9}, kern: []int{5, 5}, pads: [][2]int{{2, 2}, {2, 2}}},
		{name: "groups-3-per-group", n: 2, c: 6, o: 4, groups: 2, in: []int{6, 7}, kern: []int{3, 3}, pads: [][2]int{{1, 1}, {1, 1}}},
		{name: "depthwise-multiplier", n: 1, c: 2, o: 6, groups: 2, in: []int{7, 6}, kern: []int{3, 3}, strides: []int{2, 1}, pads: [][2]int{{1, 1}, {1, 1}}},
		{name: "input-dilation", n: 1, c: 3, o: 2, in: []int{5, 6}, kern: []int{3, 3}, idil: []int{2, 2}, pads: [][2]int{{2, 1}, {1, 2}}},
		{name: "input-dilation-3-kernel-dilation-2", n: 1, c: 2, o: 2, in: []int{5, 4}, kern: []int{3, 2}, idil: []int{3, 3}, kdil: []int{2, 2}, pads: [][2]int{{3, 2}, {2, 4}}},
		{name: "input-dilation-2-kernel-dilation-2", n: 1, c: 2, o: 2, in: []int{5, 4}, kern: []int{3, 3}, idil: []int{2, 2}, kdil: []int{2, 2}, pads: [][2]int{{3, 2}, {4, 4}}},
		{name: "input-dilation-negative-padding", n: 1, c: 2, o: 3, in: []int{6, 6}, kern: []int{3, 3}, idil: []int{2, 2}, pads: [][2]int{{-1, 1}, {2, -3}}},
		{name: "input-dilation-with-stride", n: 1, c: 2, o: 2, in: []int{5, 5}, kern: []int{3, 3}, idil: []int{2, 2}, strides: []int{2, 3}, pads: [][2]int{{1, 1}, {1, 1}}},
		{name: "kernel-larger-than-output", n: 3, c: 2, o: 2, in: []int{12, 11}, kern: []int{9, 9}, pads: [][2]int{{1, 1}, {1, 1}}},
		// The deepest level of a large UNet at a small input: a 2×1 map
		// under a 3×3 kernel.
		{name: "map-smaller-than-kernel", n: 1, c: 3, o: 4, in: []int{2, 1}, kern: []int{3, 3}, pads: [][2]int{{1, 1}, {1, 1}}},
		{name: "kernel-grad-shape-dilated", n: 2, c: 2, o: 3, in: []int{13, 12}, kern: []int{7, 5}, kdil: []int{2, 2}, pads: [][2]int{{1, 1}, {1, 1}}},
		{name: "big-depthwise-small-image", n: 1, c: 3, o: 3, groups: 3, in: []int{24, 22}, kern: []int{21, 19}, pads: [][2]int{{10, 10}, {9, 9}}},
		{name: "banded-kernel-larger", n: 1, c: 2, o: 2, in: []int{30, 40}, kern: []int{5, 23}, pads: [][2]int{{2, 2}, {1, 1}}},
		{name: "banded-stride2", n: 1, c: 2, o: 3, in: []int{6, 80}, kern: []int{3, 17}, strides: []int{1, 2}, pads: [][2]int{{1, 1}, {0, 0}}},
		{name: "banded-dilated", n: 1, c: 1, o: 2, in: []int{4, 70}, kern: []int{3, 17}, kdil: []int{1, 2}, pads: [][2]int{{1, 1}, {3, 4}}},
		{name: "NHWC-HWIO", n: 2, c: 3, o: 4, in: []int{7, 6}, kern: []int{3, 3}, pads: [][2]int{{1, 1}, {1, 1}}, xPerm: nhwc, kPerm: hwio, yPerm: nhwc},
		{name: "odd-layouts", n: 2, c: 3, o: 2, in: []int{5, 6}, kern: []int{3, 3}, strides: []int{1, 2}, pads: [][2]int{{1, 0}, {1, 1}},
			xPerm: []int{2, 1, 3, 0}, kPerm: []int{3, 0, 2, 1}, yPerm: []int{2, 1, 3, 0}},
		// GoMLX builds the input gradient with the forward axes, wrong when
		// the output layout differs from the input's.
		{name: "mixed-layouts", n: 2, c: 3, o: 2, in: []int{5, 6}, kern: []int{3, 3}, strides: []int{1, 2}, pads: [][2]int{{1, 0}, {1, 1}},
			xPerm: []int{2, 1, 3, 0}, kPerm: []int{3, 0, 2, 1}, yPerm: []int{3, 2, 0, 1}, grads: gradNone},
		{name: "1d", n: 2, c: 3, o: 2, in: []int{11}, kern: []int{5}, strides: []int{2}, pads: [][2]int{{2, 1}}},
		{name: "3d", n: 1, c: 2, o: 3, in: []int{4, 5, 6}, kern: []int{3, 3, 3}, pads: [][2]int{{0, 1}, {1, 1}, {1, 0}}},
	}
	for i := range cases {
		cases[i] = fill(&cases[i])
	}
	return cases
}

// runBackendConv runs cc through the wrapper's convGeneral at the backend
// level (forward only, any input dilation) with the given workspace budget,
// and returns the output in canonical layout.
func runBackendConv(t *testing.T, cc convCase, x, k []float64, budget int) []float64 {
	t.Helper()
	xp, kp, yp := cc.perms()
	xa, xd := permuteFlat(x, cc.xDims(), xp)
	ka, kd := permuteFlat(k, cc.kDims(), kp)
	g := compileTwoInputs(t, dtypes.Float64, xd, kd, func(b *Builder, x, k backends.Op) (backends.Op, error) {
		return b.convGeneral(x, k, cc.axes(), cc.strides, cc.pads, cc.idil, cc.kdil, cc.groups, 1, budget)
	})
	got, ys := g.run(t, xa, ka), g.outShape
	canon, _ := permuteFlat(got, ys.Dimensions, invPerm(yp))
	wantDims := cc.yDims()
	for j, a := range yp {
		if ys.Dimensions[j] != wantDims[a] {
			t.Fatalf("output shape %s, want canonical dims %v in layout %v", ys, wantDims, yp)
		}
	}
	return canon
}

func TestConvGeneralForward(t *testing.T) {
	for _, cc := range convCases() {
		for _, budget := range []int{convWorkspace, 300, 40} {
			t.Run(fmt.Sprintf("%s/budget=%d", cc.name, budget), func(t *testing.T) {
				r := rand.New(rand.NewPCG(3, uint64(len(cc.name))))
				x := randSlice(r, prod(cc.xDims()))
				k := randSlice(r, prod(cc.kDims()))
				want, _, _ := cc.naive(x, k, nil)
				got := runBackendConv(t, cc, x, k, budget)
				assertClose(t, "forward", got, want, 1e-10)
			})
		}
	}
}

// TestConvGeneralGradients checks forward and both gradients (through
// graph.Gradient, so through the convolutions GoMLX builds for them: input
// dilation, reversed kernels, image-sized kernels) against the definition.
func TestConvGeneralGradients(t *testing.T) {
	b := newTestBackend(t)
	for _, cc := range convCases() {
		if cc.grads == gradNone || slices.ContainsFunc(cc.idil, func(d int) bool { return d > 1 }) {
			continue // GoMLX defines no gradient for input-dilated convolutions.
		}
		t.Run(cc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(5, uint64(len(cc.name))))
			x := randSlice(r, prod(cc.xDims()))
			k := randSlice(r, prod(cc.kDims()))
			v := randSlice(r, prod(cc.yDims()))
			want, wantGX, wantGK := cc.naive(x, k, v)
			xp, kp, yp := cc.perms()
			xa, xd := permuteFlat(x, cc.xDims(), xp)
			ka, kd := permuteFlat(k, cc.kDims(), kp)
			va, vd := permuteFlat(v, cc.yDims(), yp)
			exec := graph.MustNewExec(b, func(xn, kn, vn *graph.Node) []*graph.Node {
				y := graph.ConvGeneral(xn, kn, cc.axes(), cc.strides, cc.pads, nil, cc.kdil, cc.groups, 1)
				g := graph.Gradient(graph.ReduceAllSum(graph.Mul(y, vn)), xn, kn)
				return []*graph.Node{y, g[0], g[1]}
			})
			outs, err := exec.Exec(tensors.FromFlatDataAndDimensions(xa, xd...),
				tensors.FromFlatDataAndDimensions(ka, kd...), tensors.FromFlatDataAndDimensions(va, vd...))
			if err != nil {
				t.Fatal(err)
			}
			canon := func(i int, perm []int) []float64 {
				c, _ := permuteFlat(tensors.MustCopyFlatData[float64](outs[i]), outs[i].Shape().Dimensions, invPerm(perm))
				return c
			}
			assertClose(t, "forward", canon(0, yp), want, 1e-10)
			if cc.grads == gradAll {
				assertClose(t, "d/dx", canon(1, xp), wantGX, 1e-10)
			}
			assertClose(t, "d/dk", canon(2, kp), wantGK, 1e-10)
		})
	}
}

// TestConvGeneralFloat32 runs the UNet's main shapes in float32 against the
// float64 definition (summation order differences only).
func TestConvGeneralFloat32(t *testing.T) {
	b := newTestBackend(t)
	cases := []convCase{
		{name: "3x3-32ch", n: 1, c: 32, o: 16, in: []int{16, 16}, kern: []int{3, 3}, pads: [][2]int{{1, 1}, {1, 1}}},
		{name: "blur-31", n: 1, c: 3, o: 3, groups: 3, in: []int{40, 40}, kern: []int{31, 31}, pads: [][2]int{{15, 15}, {15, 15}}},
	}
	for _, cc := range cases {
		cc = fill(&cc)
		t.Run(cc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(7, 8))
			x, k := randSlice(r, prod(cc.xDims())), randSlice(r, prod(cc.kDims()))
			want, _, _ := cc.naive(x, k, nil)
			x32, k32 := make([]float32, len(x)), make([]float32, len(k))
			for i := range x {
				x32[i] = float32(x[i])
			}
			for i := range k {
				k32[i] = float32(k[i])
			}
			y := graph.MustExecOnce(b, func(xn, kn *graph.Node) *graph.Node {
				return graph.ConvGeneral(xn, kn, cc.axes(), cc.strides, cc.pads, nil, nil, cc.groups, 1)
			}, tensors.FromFlatDataAndDimensions(x32, cc.xDims()...), tensors.FromFlatDataAndDimensions(k32, cc.kDims()...))
			got32 := tensors.MustCopyFlatData[float32](y)
			got := make([]float64, len(got32))
			for i, v := range got32 {
				got[i] = float64(v)
			}
			assertClose(t, "forward", got, want, 1e-4)
		})
	}
}

// TestConvBandedNonFinite checks that a NaN or an infinity in the input of
// a convolution computed with banded matrices (a long last kernel axis)
// reaches only the outputs whose taps read it, as upstream's loop gives:
// the band's zeros outside the kernel must not turn it into NaN elsewhere.
// Float32 and float64, 1-D and 2-D, strides and dilations, the input
// gradient too.
func TestConvBandedNonFinite(t *testing.T) {
	d := newDiffer(t)
	r := rand.New(rand.NewPCG(19, 20))
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	for _, c := range []struct {
		in, kern, strides, kdil []int
		pads                    [][2]int
		special                 float32
		at                      int // flat index of the special value in the input
	}{
		{in: []int{60}, kern: []int{17}, pads: [][2]int{{8, 8}}, special: inf, at: 0},
		{in: []int{60}, kern: []int{17}, pads: [][2]int{{8, 8}}, special: nan, at: 30},
		{in: []int{70}, kern: []int{16}, strides: []int{2}, pads: [][2]int{{0, 3}}, special: -inf, at: 41},
		{in: []int{80}, kern: []int{16}, kdil: []int{2}, pads: [][2]int{{15, 15}}, special: inf, at: 79},
		{in: []int{5, 40}, kern: []int{3, 20}, pads: [][2]int{{1, 1}, {10, 9}}, special: nan, at: 2*40 + 17},
		{in: []int{33, 33}, kern: []int{17, 17}, pads: [][2]int{{8, 8}, {8, 8}}, special: inf, at: 16*33 + 16},
	} {
		for _, dtype := range []dtypes.DType{dtypes.Float32, dtypes.Float64} {
			cc := canonicalConv(1, 2, 3, c.in, c.kern, c.strides, c.kdil, nil, c.pads)
			xv := randValues(r, prod(cc.xDims))
			xv[c.at] = c.special
			x, k := tensorOf(dtype, xv, cc.xDims...), randUniform(r, dtype, cc.kDims...)
			name := fmt.Sprintf("%s %s special %g at %d", dtype, cc, c.special, c.at)
			d.check(t, name, cc.tol(), func(in []*graph.Node) []*graph.Node {
				return []*graph.Node{cc.conv(in[0], in[1])}
			}, x, k)
			if c.strides == nil && c.kdil == nil {
				// The input gradient convolves the output's gradient, v,
				// with the reversed kernel: a special value in v.
				yDims := []int{1, 3}
				for i, l := range c.in {
					yDims = append(yDims, l+c.pads[i][0]+c.pads[i][1]-c.kern[i]+1)
				}
				vv := randValues(r, prod(yDims))
				vv[c.at%len(vv)] = c.special
				d.check(t, "input gradient "+name, cc.tol(), func(in []*graph.Node) []*graph.Node {
					y := cc.conv(in[0], in[1])
					return graph.Gradient(graph.ReduceAllSum(graph.Mul(y, in[2])), in[0])
				}, randUniform(r, dtype, cc.xDims...), k, tensorOf(dtype, vv, yDims...))
			}
		}
	}
}
