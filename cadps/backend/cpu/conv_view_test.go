// Part of the toolkit's fork of GoMLX v0.26.0's pure-Go backend (Apache-2.0); see NOTICE.

package cpu

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// TestConvReversedKernelView checks that a convolution whose kernel is a
// Reverse (as GoMLX builds the gradient with respect to the input) reads
// the kernel through one strided view: the result is the convolution with
// the reversed kernel, and the Reverse itself is left out of the
// executable. In float32 the direct convolution reads the Reverse's input
// itself as it packs the kernel, so the view is left out too.
func TestConvReversedKernelView(t *testing.T) {
	hwio := []int{2, 3, 1, 0}
	cases := []struct {
		cc   convCase
		axes []int // of the kernel as stored, reversed
	}{
		{convCase{name: "OIHW-spatial", n: 2, c: 5, o: 4, in: []int{6, 7}, kern: []int{3, 3}, pads: [][2]int{{1, 1}, {1, 1}}}, []int{2, 3}},
		{convCase{name: "HWIO-spatial", n: 1, c: 3, o: 6, in: []int{5, 5}, kern: []int{3, 2}, pads: [][2]int{{1, 1}, {0, 1}}, kPerm: hwio}, []int{0, 1}},
		{convCase{name: "one-spatial-and-channels", n: 1, c: 4, o: 3, in: []int{6, 6}, kern: []int{3, 3}, strides: []int{2, 1}, pads: [][2]int{{1, 1}, {1, 1}}}, []int{0, 1, 3}},
		{convCase{name: "unit-axes", n: 1, c: 1, o: 2, in: []int{5, 4}, kern: []int{1, 3}, pads: [][2]int{{0, 0}, {1, 1}}}, []int{1, 2, 3}},
		{convCase{name: "pointwise", n: 2, c: 7, o: 9, in: []int{3, 4}, kern: []int{1, 1}}, []int{0, 1}},
		{convCase{name: "1d", n: 2, c: 3, o: 8, in: []int{11}, kern: []int{5}, strides: []int{2}, pads: [][2]int{{2, 1}}}, []int{0, 2}},
		{convCase{name: "many-rows", n: 1, c: 40, o: 13, in: []int{5, 5}, kern: []int{3, 3}, pads: [][2]int{{1, 1}, {1, 1}}}, []int{0, 2, 3}},
		// A map smaller than the kernel: the input gradient at the deepest
		// level of a large UNet at a small input.
		{convCase{name: "map-smaller-than-kernel", n: 1, c: 9, o: 7, in: []int{2, 1}, kern: []int{3, 3}, pads: [][2]int{{1, 1}, {1, 1}}}, []int{0, 1, 2, 3}},
	}
	for _, tc := range cases {
		cc := fill(&tc.cc)
		for _, dtype := range []dtypes.DType{dtypes.Float64, dtypes.Float32} {
			t.Run(cc.name+"/"+dtype.String(), func(t *testing.T) {
				r := rand.New(rand.NewPCG(11, uint64(len(cc.name))))
				x, k := randSlice(r, prod(cc.xDims())), randSlice(r, prod(cc.kDims()))
				xp, kp, _ := cc.perms()
				xa, xd := permuteFlat(x, cc.xDims(), xp)
				ka, kd := permuteFlat(k, cc.kDims(), kp)

				// The kernel the convolution sees, reversed on the host and
				// brought back to the canonical layout.
				rev := make([]float64, len(ka))
				ks := stridesOf(kd)
				i := 0
				forEachIndex(kd, func(idx []int) {
					src := 0
					for a, v := range idx {
						if slices.Contains(tc.axes, a) {
							v = kd[a] - 1 - v
						}
						src += v * ks[a]
					}
					rev[i] = ka[src]
					i++
				})
				revCanon, _ := permuteFlat(rev, kd, invPerm(kp))
				want := runBackendConv(t, cc, x, revCanon, convWorkspace)

				var ro backends.Op
				g := compileTwoInputs(t, dtype, xd, kd, func(b *Builder, x, k backends.Op) (backends.Op, error) {
					var err error
					if ro, err = b.Reverse(k, tc.axes...); err != nil {
						return nil, err
					}
					return b.ConvGeneral(x, ro, cc.axes(), cc.strides, cc.pads, cc.idil, cc.kdil, cc.groups, 1)
				})
				e := g.exec
				if n := e.numUses[ro.(*Node).builderIdx]; n != 0 {
					t.Errorf("the Reverse is used %d times, want 0 (read through a view)", n)
				}
				tol := 0.0
				if dtype == dtypes.Float32 {
					tol = 1e-5
					for _, node := range g.b.nodes[:e.numNodesToProcess] {
						if _, isView := node.data.(*stridedViewNode); isView && e.numUses[node.builderIdx] > 0 {
							t.Errorf("a strided view of %s is executed; the direct convolution should read the kernel itself", node.inputs[0].shape)
						}
					}
				}
				assertClose(t, "conv with reversed kernel", g.run(t, xa, ka), want, tol)
			})
		}
	}
}

// TestStridedViewNegativeStrides reads a [2, 3, 4] input backwards along
// its last two axes and transposed, checking every element and that the
// view refuses strides that leave the input.
func TestStridedViewNegativeStrides(t *testing.T) {
	be, err := New("")
	if err != nil {
		t.Fatal(err)
	}
	b := be.Builder(t.Name()).(*Builder)
	in := shapes.Make(dtypes.Float32, 2, 3, 4)
	xo, err := b.Parameter("x", in, nil)
	if err != nil {
		t.Fatal(err)
	}
	// out[j, i, k] = x[i, 2−j, 3−k]: dims [3, 2, 4], strides [−4, 12, −1].
	v, err := b.stridedView(xo, 2*4+3, []int{3, 2, 4}, []int{-4, 12, -1})
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct {
		offset        int
		dims, strides []int
	}{
		{0, []int{3, 2, 4}, []int{-4, 12, -1}}, // starts at 0 and steps below it
		{11, []int{3, 2, 4}, []int{-4, 12, 1}}, // ends past the 24 elements
	} {
		if _, err := b.stridedView(xo, bad.offset, bad.dims, bad.strides); err == nil {
			t.Errorf("stridedView(offset %d, dims %v, strides %v) accepted", bad.offset, bad.dims, bad.strides)
		}
	}
	exec, err := b.Compile([]backends.Op{v}, nil)
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, in.Size())
	for i := range x {
		x[i] = float32(i)
	}
	xb, err := be.BufferFromFlatData(0, x, in)
	if err != nil {
		t.Fatal(err)
	}
	outs, err := exec.Execute([]backends.Buffer{xb}, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]float32, in.Size())
	if err := be.BufferToFlatData(outs[0], got); err != nil {
		t.Fatal(err)
	}
	n := 0
	for j := range 3 {
		for i := range 2 {
			for k := range 4 {
				if want := x[i*12+(2-j)*4+(3-k)]; got[n] != want {
					t.Errorf("out[%d, %d, %d] = %v, want %v", j, i, k, got[n], want)
				}
				n++
			}
		}
	}
}
