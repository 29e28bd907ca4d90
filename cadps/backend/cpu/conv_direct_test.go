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
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// directCase is a directConv plus the padding after the input, from which
// the output size follows.
type directCase struct {
	name   string
	dc     directConv
	phEnd  int
	pwEnd  int
	oneDim bool
}

func (tc directCase) conv() directConv {
	dc := tc.dc
	size := func(l, k, s, d, lo, hi int) int { return (l+lo+hi-((k-1)*d+1))/s + 1 }
	dc.oh = size(dc.h, dc.kh, dc.sh, dc.dh, dc.ph, tc.phEnd)
	dc.ow = size(dc.w, dc.kw, dc.sw, dc.dw, dc.pw, tc.pwEnd)
	return dc
}

func directCases() []directCase {
	d := func(n, c, h, w, o, kh, kw int) directConv {
		return directConv{n: n, c: c, h: h, w: w, o: o, kh: kh, kw: kw, sh: 1, sw: 1, dh: 1, dw: 1}
	}
	with := func(dc directConv, f func(*directConv)) directConv { f(&dc); return dc }
	pad := func(ph, pw int) func(*directConv) { return func(dc *directConv) { dc.ph, dc.pw = ph, pw } }
	return []directCase{
		{name: "1x1-single", dc: d(1, 1, 1, 1, 1, 1, 1)},
		{name: "1x1-batched", dc: d(3, 5, 7, 9, 7, 1, 1)},
		{name: "3x3-pad", dc: with(d(2, 3, 7, 9, 5, 3, 3), pad(1, 1)), phEnd: 1, pwEnd: 1},
		{name: "stride2-asym", dc: with(d(3, 2, 9, 8, 7, 3, 3), func(dc *directConv) { dc.sh, dc.sw, dc.ph = 2, 2, 1 }), pwEnd: 1},
		{name: "stride-3x1", dc: with(d(2, 2, 10, 11, 3, 2, 3), func(dc *directConv) { dc.sh, dc.sw, dc.pw = 1, 3, 2 }), pwEnd: 2},
		{name: "dilated", dc: with(d(1, 2, 9, 9, 4, 3, 3), func(dc *directConv) { dc.dh, dc.dw, dc.ph, dc.pw = 2, 2, 2, 2 }), phEnd: 2, pwEnd: 2},
		{name: "negative-padding", dc: with(d(2, 2, 8, 9, 3, 3, 2), pad(-1, 2)), phEnd: 2, pwEnd: -2},
		{name: "padding-past-kernel", dc: with(d(1, 2, 6, 7, 3, 3, 3), pad(3, 2)), phEnd: 3, pwEnd: 4},
		{name: "1x7", dc: with(d(2, 5, 17, 17, 6, 1, 7), pad(0, 3)), pwEnd: 3},
		{name: "7x1", dc: with(d(2, 5, 17, 17, 6, 7, 1), pad(3, 0)), phEnd: 3},
		{name: "narrow-rows", dc: with(d(4, 3, 5, 3, 13, 3, 3), pad(1, 1)), phEnd: 1, pwEnd: 1},
		{name: "deep-wide-tall", dc: with(d(3, 40, 30, 30, 150, 3, 3), pad(1, 1)), phEnd: 1, pwEnd: 1},
		{name: "wide-dilated", dc: with(d(2, 3, 5, 40, 7, 3, 3), func(dc *directConv) { dc.dh, dc.dw, dc.ph, dc.pw = 1, 2, 1, 2 }), phEnd: 1, pwEnd: 2},
		{name: "rows-of-two-panels", dc: with(d(2, 3, 6, 32, 4, 3, 3), pad(1, 1)), phEnd: 1, pwEnd: 1},
		{name: "wide-1x1-as-row", dc: d(3, 4, 1, 70, 8, 1, 1)},
		// Maps smaller than the kernel (deep layers of a large UNet): more
		// kernel rows than im2col columns, serially in several row blocks,
		// split in row blocks that pack their own rows of the kernel.
		{name: "map-under-kernel", dc: with(d(1, 80, 2, 2, 200, 3, 3), pad(1, 1)), phEnd: 1, pwEnd: 1},
		{name: "1x1-map-3x3-kernel", dc: with(d(2, 100, 1, 1, 200, 3, 3), pad(1, 1)), phEnd: 1, pwEnd: 1},
		// A kernel large enough to be packed by several goroutines.
		{name: "kernel-packed-split", dc: with(d(1, 200, 13, 13, 150, 3, 3), pad(1, 1)), phEnd: 1, pwEnd: 1},
		{name: "1d", dc: directConv{n: 2, c: 3, h: 1, w: 11, o: 4, kh: 1, kw: 5, sh: 1, sw: 2, dh: 1, dw: 1, pw: 2}, pwEnd: 1, oneDim: true},
		{name: "no-images", dc: d(0, 3, 5, 5, 4, 3, 3)},
		{name: "no-outputs", dc: d(2, 3, 5, 5, 0, 3, 3)},
		{name: "no-channels", dc: d(2, 0, 5, 5, 4, 3, 3)},
	}
}

// naiveDirect returns the convolution by its definition in float64 and,
// per output, the sum of the magnitudes of its terms (the scale of float32
// rounding errors).
func naiveDirect(dc directConv, x, w []float32) (y, mag []float64) {
	p := dc.oh * dc.ow
	y, mag = make([]float64, dc.n*dc.o*p), make([]float64, dc.n*dc.o*p)
	for n := range dc.n {
		for o := range dc.o {
			for q := range p {
				oy, ox := q/dc.ow, q%dc.ow
				var s, a float64
				for c := range dc.c {
					for ky := range dc.kh {
						for kx := range dc.kw {
							iy, ix := oy*dc.sh+ky*dc.dh-dc.ph, ox*dc.sw+kx*dc.dw-dc.pw
							if iy < 0 || iy >= dc.h || ix < 0 || ix >= dc.w {
								continue
							}
							v := float64(x[((n*dc.c+c)*dc.h+iy)*dc.w+ix]) * float64(w[((o*dc.c+c)*dc.kh+ky)*dc.kw+kx])
							s, a = s+v, a+math.Abs(v)
						}
					}
				}
				y[(n*dc.o+o)*p+q], mag[(n*dc.o+o)*p+q] = s, a
			}
		}
	}
	return y, mag
}

func randFloat32s(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

// checkFloat32 compares got with want within rel times the magnitude of
// the terms of each output (plus a tiny absolute slack).
func checkFloat32(t *testing.T, got []float32, want, mag []float64, rel float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d outputs, want %d", len(got), len(want))
	}
	for i, g := range got {
		if d := math.Abs(float64(g) - want[i]); !(d <= rel*mag[i]+1e-30) {
			t.Fatalf("output %d = %g, want %g (terms of magnitude %g)", i, g, want[i], mag[i])
		}
	}
}

// TestConvDirectRun checks the direct convolution on every kernel this CPU
// runs, serially and split, with and without bias and ReLU, with the
// kernel stored row-major and read through a reversing view, against the
// definition: every output must be written (the output starts as NaN).
func TestConvDirectRun(t *testing.T) {
	for _, tc := range directCases() {
		dc := tc.conv()
		r := rand.New(rand.NewPCG(11, uint64(len(tc.name))))
		x := randFloat32s(r, dc.n*dc.c*dc.h*dc.w)
		w := randFloat32s(r, dc.o*dc.c*dc.kh*dc.kw)
		bias := randFloat32s(r, dc.o)
		conv, mag := naiveDirect(dc, x, w)
		reversed, view := reversedKernel(dc, w)
		for _, kern := range testKernels() {
			for _, workers := range []int{1, 3} {
				for _, epi := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
					for _, viewed := range []bool{false, true} {
						fused := dc
						fused.bias, fused.relu = epi[0], epi[1]
						stored := w
						if viewed {
							fused.kernel, stored = view, reversed
						}
						want, wmag := withEpilogue(fused, conv, mag, bias)
						name := fmt.Sprintf("%s/%s/workers=%d/bias=%v/relu=%v/view=%v", tc.name, kern.name, workers, epi[0], epi[1], viewed)
						t.Run(name, func(t *testing.T) {
							out := make([]float32, len(want))
							for i := range out {
								out[i] = float32(math.NaN())
							}
							convDirectRun(kern, &fused, x, stored, bias, out, workers)
							checkFloat32(t, out, want, wmag, 1e-5)
						})
					}
				}
			}
		}
	}
}

// reversedKernel stores the kernel w [O, C, KH, KW] as GoMLX's input
// gradients read theirs: [C, O, KH, KW] with both spatial axes reversed,
// and returns the view that reads w back from it.
func reversedKernel(dc directConv, w []float32) ([]float32, *kernelRead) {
	taps := dc.kh * dc.kw
	s := make([]float32, len(w))
	for o := range dc.o {
		for c := range dc.c {
			for t := range taps {
				s[(c*dc.o+o)*taps+taps-1-t] = w[(o*dc.c+c)*taps+t]
			}
		}
	}
	return s, &kernelRead{offset: taps - 1, so: taps, sc: dc.o * taps, skh: -dc.kw, skw: -1}
}

// withEpilogue applies dc's bias and ReLU to the exact convolution conv
// (with term magnitudes mag).
func withEpilogue(dc directConv, conv, mag []float64, bias []float32) (want, wmag []float64) {
	want, wmag = slices.Clone(conv), slices.Clone(mag)
	p := dc.oh * dc.ow
	for i := range want {
		o := i / p % max(dc.o, 1)
		if dc.bias {
			want[i] += float64(bias[o])
			wmag[i] += math.Abs(float64(bias[o]))
		}
		if dc.relu {
			want[i] = math.Max(want[i], 0)
		}
	}
	return want, wmag
}

// TestConvWorkItems checks that the blocks handed to the goroutines tile C
// exactly, with row blocks starting on whole micro-tiles.
func TestConvWorkItems(t *testing.T) {
	kern := &genericKernel
	for _, s := range [][4]int{{1, 1, 1, 1}, {7, 3, 5, 2}, {64, 1024, 288, 2}, {448, 64, 4032, 2}, {32, 355216, 27, 3}, {150, 17, 900, 4},
		{512, 4, 4608, 2}, {1024, 1, 9216, 3}} {
		m, n, k, workers := s[0], s[1], s[2], s[3]
		covered := make([]int, m*n)
		for _, it := range convWorkItems(kern, m, n, k, workers) {
			if it.i0%kern.mr != 0 || it.i0 >= it.i1 || it.j0 >= it.j1 {
				t.Fatalf("%v: block %+v", s, it)
			}
			if m > n && (it.j0 != 0 || it.j1 != n) {
				t.Fatalf("%v: block %+v splits columns of a kernel larger than the im2col matrix", s, it)
			}
			for i := it.i0; i < it.i1; i++ {
				for j := it.j0; j < it.j1; j++ {
					covered[i*n+j]++
				}
			}
		}
		if i := slices.IndexFunc(covered, func(c int) bool { return c != 1 }); i >= 0 {
			t.Fatalf("%v: element (%d, %d) is in %d blocks", s, i/n, i%n, covered[i])
		}
	}
}

// TestConvGeneralFloat32Direct runs the rewrite's cases in float32 through
// ConvGeneral and checks which ones take the direct path.
func TestConvGeneralFloat32Direct(t *testing.T) {
	direct := map[string]bool{
		"3x3": true, "3x3-stride2-asym": true, "1x1": true, "1x1-stride2": true, "kernel-dilation": true,
		"negative-padding": true, "large-padding": true, "even-kernel": true, "input-dilation": true,
		"input-dilation-with-stride": true, "input-dilation-3-kernel-dilation-2": true,
		"input-dilation-2-kernel-dilation-2": true, "input-dilation-negative-padding": true, "NHWC-HWIO": true, "odd-layouts": true, "mixed-layouts": true, "1d": true,
		"map-smaller-than-kernel": true,
	}
	for _, cc := range convCases() {
		t.Run(cc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(13, uint64(len(cc.name))))
			x, k := randSlice(r, prod(cc.xDims())), randSlice(r, prod(cc.kDims()))
			for i := range x {
				x[i] = float64(float32(x[i]))
			}
			for i := range k {
				k[i] = float64(float32(k[i]))
			}
			want, _, _ := cc.naive(x, k, nil)
			got, usedDirect := runBackendConv32(t, cc, x, k)
			assertClose(t, "forward", got, want, 1e-4)
			if usedDirect != direct[cc.name] {
				t.Errorf("direct path used: %v, want %v", usedDirect, direct[cc.name])
			}
		})
	}
}

// runBackendConv32 is runBackendConv in float32; it also reports whether a
// direct convolution was built.
func runBackendConv32(t *testing.T, cc convCase, x, k []float64) ([]float64, bool) {
	t.Helper()
	be, err := New("")
	if err != nil {
		t.Fatal(err)
	}
	xp, kp, yp := cc.perms()
	xa, xd := permuteFlat(x, cc.xDims(), xp)
	ka, kd := permuteFlat(k, cc.kDims(), kp)
	to32 := func(v []float64) []float32 {
		out := make([]float32, len(v))
		for i, f := range v {
			out[i] = float32(f)
		}
		return out
	}
	b := be.Builder(t.Name()).(*Builder)
	xo, err := b.Parameter("x", shapes.Make(dtypes.Float32, xd...), nil)
	if err != nil {
		t.Fatal(err)
	}
	ko, err := b.Parameter("k", shapes.Make(dtypes.Float32, kd...), nil)
	if err != nil {
		t.Fatal(err)
	}
	y, err := b.ConvGeneral(xo, ko, cc.axes(), cc.strides, cc.pads, cc.idil, cc.kdil, cc.groups, 1)
	if err != nil {
		t.Fatal(err)
	}
	usedDirect := slices.ContainsFunc(b.nodes, func(n *Node) bool { _, ok := n.data.(*directConv); return ok })
	ys, err := b.OpShape(y)
	if err != nil {
		t.Fatal(err)
	}
	exec, err := b.Compile([]backends.Op{y}, nil)
	if err != nil {
		t.Fatal(err)
	}
	xb, err := be.BufferFromFlatData(0, to32(xa), shapes.Make(dtypes.Float32, xd...))
	if err != nil {
		t.Fatal(err)
	}
	kb, err := be.BufferFromFlatData(0, to32(ka), shapes.Make(dtypes.Float32, kd...))
	if err != nil {
		t.Fatal(err)
	}
	outs, err := exec.Execute([]backends.Buffer{xb, kb}, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	got32 := make([]float32, ys.Size())
	if err := be.BufferToFlatData(outs[0], got32); err != nil {
		t.Fatal(err)
	}
	got := make([]float64, len(got32))
	for i, v := range got32 {
		got[i] = float64(v)
	}
	canon, _ := permuteFlat(got, ys.Dimensions, invPerm(yp))
	return canon, usedDirect
}

// TestConvDirectFusion builds conv → Add(bias [1,O,1,1]) → Max(0) through
// the builder, checks that they fuse into one direct convolution, and that
// the unfused convolution, still an output, keeps its own values.
func TestConvDirectFusion(t *testing.T) {
	be, err := New("")
	if err != nil {
		t.Fatal(err)
	}
	const n, c, h, w, o = 2, 3, 9, 10, 5
	b := be.Builder(t.Name()).(*Builder)
	param := func(name string, dims ...int) backends.Op {
		p, err := b.Parameter(name, shapes.Make(dtypes.Float32, dims...), nil)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	x, k, bias := param("x", n, c, h, w), param("k", o, c, 3, 3), param("bias", o)
	axes := backends.ConvolveAxesConfig{InputBatch: 0, InputChannels: 1, InputSpatial: []int{2, 3},
		KernelOutputChannels: 0, KernelInputChannels: 1, KernelSpatial: []int{2, 3},
		OutputBatch: 0, OutputChannels: 1, OutputSpatial: []int{2, 3}}
	must := func(op backends.Op, err error) backends.Op {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return op
	}
	conv := must(b.ConvGeneral(x, k, axes, nil, [][2]int{{1, 1}, {1, 1}}, nil, nil, 1, 1))
	zero := must(b.Constant([]float32{0}))
	y := must(b.Max(must(b.Add(must(b.Reshape(bias, 1, o, 1, 1)), conv)), zero))
	if dc, ok := y.(*Node).data.(*directConv); !ok || !dc.bias || !dc.relu {
		t.Fatalf("conv, bias and ReLU did not fuse: %T %+v", y.(*Node).data, y.(*Node).data)
	}
	exec, err := b.Compile([]backends.Op{conv, y}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(17, 18))
	xv, kv, bv := randFloat32s(r, n*c*h*w), randFloat32s(r, o*c*9), randFloat32s(r, o)
	var bufs []backends.Buffer
	for _, in := range []struct {
		v    []float32
		dims []int
	}{{xv, []int{n, c, h, w}}, {kv, []int{o, c, 3, 3}}, {bv, []int{o}}} {
		buf, err := be.BufferFromFlatData(0, in.v, shapes.Make(dtypes.Float32, in.dims...))
		if err != nil {
			t.Fatal(err)
		}
		bufs = append(bufs, buf)
	}
	outs, err := exec.Execute(bufs, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	dc := directConv{n: n, c: c, h: h, w: w, o: o, kh: 3, kw: 3, oh: h, ow: w, sh: 1, sw: 1, dh: 1, dw: 1, ph: 1, pw: 1}
	plain, mag := naiveDirect(dc, xv, kv)
	fused := dc
	fused.bias, fused.relu = true, true
	want, wmag := withEpilogue(fused, plain, mag, bv)
	for i, expect := range [][2][]float64{{plain, mag}, {want, wmag}} {
		got := make([]float32, len(expect[0]))
		if err := be.BufferToFlatData(outs[i], got); err != nil {
			t.Fatal(err)
		}
		checkFloat32(t, got, expect[0], expect[1], 1e-5)
	}
}

// TestConvDirectCropsDeadTaps checks that cropping the taps that read only
// padding keeps the convolution (against the definition on the whole
// kernel, stored row-major and through a reversing view) and crops what it
// should.
func TestConvDirectCropsDeadTaps(t *testing.T) {
	d := func(c, h, w, o, kh, kw, ph, pw int) directConv {
		return directConv{n: 2, c: c, h: h, w: w, o: o, kh: kh, kw: kw, sh: 1, sw: 1, dh: 1, dw: 1, ph: ph, pw: pw}
	}
	cases := []struct {
		tc             directCase
		wantKH, wantKW int
	}{
		{directCase{name: "1x1-map-3x3", dc: d(7, 1, 1, 9, 3, 3, 1, 1), phEnd: 1, pwEnd: 1}, 1, 1},
		{directCase{name: "2x1-map-5x5", dc: d(3, 2, 1, 4, 5, 5, 2, 2), phEnd: 2, pwEnd: 2}, 3, 1},
		{directCase{name: "padding-past-kernel", dc: d(2, 3, 2, 3, 3, 3, 3, 2), phEnd: 3, pwEnd: 2}, 3, 3},
		{directCase{name: "one-side", dc: d(2, 1, 4, 3, 3, 3, 2, 1), phEnd: 0, pwEnd: 1}, 1, 3},
		{directCase{name: "dilated", dc: withConv(d(2, 2, 2, 3, 3, 3, 2, 2), func(dc *directConv) { dc.dh, dc.dw = 2, 2 }), phEnd: 2, pwEnd: 2}, 1, 1},
		{directCase{name: "strided", dc: withConv(d(2, 1, 5, 3, 3, 3, 1, 1), func(dc *directConv) { dc.sh, dc.sw = 2, 2 }), phEnd: 1, pwEnd: 1}, 1, 3},
		{directCase{name: "all-live", dc: d(2, 4, 4, 3, 3, 3, 1, 1), phEnd: 1, pwEnd: 1}, 3, 3},
	}
	for _, c := range cases {
		dc := c.tc.conv()
		r := rand.New(rand.NewPCG(19, uint64(len(c.tc.name))))
		x := randFloat32s(r, dc.n*dc.c*dc.h*dc.w)
		w := randFloat32s(r, dc.o*dc.c*dc.kh*dc.kw)
		want, mag := naiveDirect(dc, x, w)
		reversed, view := reversedKernel(dc, w)
		for _, viewed := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/view=%v", c.tc.name, viewed), func(t *testing.T) {
				cropped, stored := dc, w
				if viewed {
					cropped.kernel, stored = view, reversed
				}
				cropped.cropDeadTaps()
				if cropped.kh != c.wantKH || cropped.kw != c.wantKW {
					t.Errorf("cropped to %d×%d taps, want %d×%d", cropped.kh, cropped.kw, c.wantKH, c.wantKW)
				}
				out := make([]float32, len(want))
				convDirectRun(sgemmKernel(), &cropped, x, stored, nil, out, 2)
				checkFloat32(t, out, want, mag, 1e-5)
			})
		}
	}
}

func withConv(dc directConv, f func(*directConv)) directConv { f(&dc); return dc }

// TestConvDirectReLUFusesPositiveZero checks that Max of a direct
// convolution and a constant fuses into its ReLU only for the constant +0:
// Max with −0 gives −0 where the convolution is negative, as upstream's Max
// (Go's max) does, and a fused ReLU would give +0.
func TestConvDirectReLUFusesPositiveZero(t *testing.T) {
	for _, c := range []struct {
		name  string
		floor float32
		fuses bool
	}{
		{"+0", 0, true},
		{"-0", float32(math.Copysign(0, -1)), false},
		{"0.5", 0.5, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			be, err := New("")
			if err != nil {
				t.Fatal(err)
			}
			b := be.Builder(t.Name()).(*Builder)
			must := func(op backends.Op, err error) backends.Op {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
				return op
			}
			x := must(b.Parameter("x", shapes.Make(dtypes.Float32, 1, 2, 8, 8), nil))
			k := must(b.Parameter("k", shapes.Make(dtypes.Float32, 3, 2, 3, 3), nil))
			axes := backends.ConvolveAxesConfig{InputBatch: 0, InputChannels: 1, InputSpatial: []int{2, 3},
				KernelOutputChannels: 0, KernelInputChannels: 1, KernelSpatial: []int{2, 3},
				OutputBatch: 0, OutputChannels: 1, OutputSpatial: []int{2, 3}}
			conv := must(b.ConvGeneral(x, k, axes, nil, [][2]int{{0, 0}, {0, 0}}, nil, nil, 1, 1))
			if _, ok := conv.(*Node).data.(*directConv); !ok {
				t.Fatalf("not a direct convolution: %T", conv.(*Node).data)
			}
			y := must(b.Max(conv, must(b.Constant([]float32{c.floor}))))
			dc, ok := y.(*Node).data.(*directConv)
			if fused := ok && dc.relu; fused != c.fuses {
				t.Fatalf("Max(conv, %g) fused into the convolution: %v, want %v", c.floor, fused, c.fuses)
			}
			exec, err := b.Compile([]backends.Op{y}, nil)
			if err != nil {
				t.Fatal(err)
			}
			ones, negOnes := make([]float32, 128), make([]float32, 54)
			for i := range ones {
				ones[i] = 1
			}
			for i := range negOnes {
				negOnes[i] = -1
			}
			var bufs []backends.Buffer
			for _, in := range []struct {
				v    []float32
				dims []int
			}{{ones, []int{1, 2, 8, 8}}, {negOnes, []int{3, 2, 3, 3}}} {
				buf, err := be.BufferFromFlatData(0, in.v, shapes.Make(dtypes.Float32, in.dims...))
				if err != nil {
					t.Fatal(err)
				}
				bufs = append(bufs, buf)
			}
			outs, err := exec.Execute(bufs, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			got := make([]float32, 3*6*6)
			if err := be.BufferToFlatData(outs[0], got); err != nil {
				t.Fatal(err)
			}
			// Every output of the convolution is −18.
			want := max(float32(-18), c.floor)
			for i, v := range got {
				if math.Float32bits(v) != math.Float32bits(want) {
					t.Fatalf("output %d = %g (bits %#x), want %g (bits %#x)", i, v, math.Float32bits(v), want, math.Float32bits(want))
				}
			}
		})
	}
}
