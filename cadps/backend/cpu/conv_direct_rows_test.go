// Part of the toolkit's fork of GoMLX v0.26.0's pure-Go backend (Apache-2.0); see NOTICE.

package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestConvDirectRowsInPlace checks, on every kernel of this CPU with a
// rows form, that reading panels in place from the padded input gives the
// packed path's result bit for bit (the same products summed in the same
// order) and the definition's, on maps as wide as a panel or one column
// wider, several panels per row, narrower maps whose panels span rows
// (and images, which are packed), with padding on
// either side, none, cropping, past the kernel, dilations, vertical
// strides, several images, more kernel rows than one cache block, output
// channels that are not a multiple of the tile, the kernel read through a
// reversing view, the bias and ReLU applied, and an input large enough
// to be padded by several goroutines.
func TestConvDirectRowsInPlace(t *testing.T) {
	for _, kern := range testKernels() {
		if kern.rows == nil {
			continue
		}
		packed := *kern
		packed.rows = nil
		for _, tc := range rowsInPlaceCases(kern.nr) {
			dc := tc.conv()
			if !readsRowsInPlace(kern, &dc) {
				t.Fatalf("%s: %s would not read its row panels in place", tc.name, kern.name)
			}
			r := rand.New(rand.NewPCG(23, uint64(len(tc.name))))
			x := randFloat32s(r, dc.n*dc.c*dc.h*dc.w)
			w := randFloat32s(r, dc.o*dc.c*dc.kh*dc.kw)
			bias := randFloat32s(r, dc.o)
			conv, mag := naiveDirect(dc, x, w)
			reversed, view := reversedKernel(dc, w)
			for _, workers := range []int{1, 3} {
				for _, viewed := range []bool{false, true} {
					fused := dc
					fused.bias, fused.relu = true, true
					stored := w
					if viewed {
						fused.kernel, stored = view, reversed
					}
					want, wmag := withEpilogue(fused, conv, mag, bias)
					t.Run(fmt.Sprintf("%s/%s/workers=%d/view=%v", kern.name, tc.name, workers, viewed), func(t *testing.T) {
						got, ref := nanFloat32s(len(want)), nanFloat32s(len(want))
						// A padded input left from an earlier run would
						// hide maps the copy skips.
						poisoned := nanFloat32s(4 * len(x) * 9)
						paddedPool.Put(&poisoned)
						convDirectRun(kern, &fused, x, stored, bias, got, workers)
						convDirectRun(&packed, &fused, x, stored, bias, ref, workers)
						for i := range got {
							if math.Float32bits(got[i]) != math.Float32bits(ref[i]) {
								t.Fatalf("output %d = %g in place, %g packed", i, got[i], ref[i])
							}
						}
						checkFloat32(t, got, want, wmag, 1e-5)
					})
				}
			}
		}
	}
}

// rowsInPlaceCases returns TestConvDirectRowsInPlace's convolutions for
// panels nr wide: their widths follow nr, so that each case is, for
// every kernel, what its name says.
func rowsInPlaceCases(nr int) []directCase {
	d := func(n, c, h, w, o, kh, kw, ph, pw int) directConv {
		return directConv{n: n, c: c, h: h, w: w, o: o, kh: kh, kw: kw, sh: 1, sw: 1, dh: 1, dw: 1, ph: ph, pw: pw}
	}
	// side² outputs are one panel and part of the next, so that panels
	// span images.
	side := 1
	for side*side <= nr {
		side++
	}
	return []directCase{
		{name: "panel-wide", dc: d(1, 3, 5, nr, 7, 3, 3, 1, 1), phEnd: 1, pwEnd: 1},
		{name: "panel-plus-one", dc: d(2, 2, 4, nr+1, 5, 3, 3, 1, 1), phEnd: 1, pwEnd: 1},
		{name: "small-prior-32", dc: d(1, 32, 32, 32, 32, 3, 3, 1, 1), phEnd: 1, pwEnd: 1},
		{name: "deep-k-odd-o", dc: d(2, 37, 6, 2*nr+1, 13, 3, 3, 1, 1), phEnd: 1, pwEnd: 1},
		{name: "no-padding", dc: d(1, 4, 6, nr+24, 6, 3, 3, 0, 0)},
		{name: "left-only", dc: d(1, 4, 6, nr+24, 6, 3, 5, 2, 4), phEnd: 0, pwEnd: 0},
		{name: "cropped", dc: d(2, 3, 8, nr+20, 4, 3, 3, -1, -2), phEnd: -1, pwEnd: -2},
		{name: "padding-past-kernel", dc: d(1, 2, 3, nr+4, 3, 3, 3, 4, 5), phEnd: 4, pwEnd: 5},
		{name: "dilated", dc: withConv(d(1, 3, 9, nr+19, 5, 3, 3, 2, 2), func(dc *directConv) { dc.dh, dc.dw = 2, 2 }), phEnd: 2, pwEnd: 2},
		{name: "row-stride", dc: withConv(d(2, 3, 11, nr+18, 6, 3, 3, 1, 1), func(dc *directConv) { dc.sh = 2 }), phEnd: 1, pwEnd: 1},
		{name: "1x7", dc: d(2, 5, 3, nr+3, 6, 1, 7, 0, 3), pwEnd: 3},
		{name: "padded-by-several", dc: d(2, 64, 34, max(34, nr+2), 7, 3, 3, 1, 1), phEnd: 1, pwEnd: 1},
		// Output rows narrower than a panel, read in place from shifted
		// copies: panels within one image span output rows.
		{name: "small-prior-8", dc: d(1, 64, 8, 8, 64, 3, 3, 1, 1), phEnd: 1, pwEnd: 1},
		{name: "narrow-images", dc: d(3, 5, side, side, 7, 3, 3, 1, 1), phEnd: 1, pwEnd: 1},
		{name: "narrow-one-panel", dc: d(2, 3, 4, nr/4, 5, 3, 3, 1, 1), phEnd: 1, pwEnd: 1},
		{name: "narrow-wide-kernel", dc: d(2, 3, 9, 6, 4, 3, 5, 1, 3), phEnd: 2, pwEnd: 1},
		{name: "narrow-dilated", dc: withConv(d(1, 3, 9, 9, 4, 3, 3, 2, 2), func(dc *directConv) { dc.dh, dc.dw = 2, 2 }), phEnd: 2, pwEnd: 2},
		{name: "narrow-cropped", dc: d(2, 3, 8, 10, 4, 3, 3, -1, -1), phEnd: 1, pwEnd: 0},
		{name: "1d", dc: directConv{n: 2, c: 3, h: 1, w: 48, o: 4, kh: 1, kw: 5, sh: 1, sw: 1, dh: 1, dw: 1, pw: 2}, pwEnd: 2},
	}
}

func nanFloat32s(n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(math.NaN())
	}
	return v
}

// TestReadsRowsInPlaceBound checks that only inputs whose padded copy
// holds at most the kernel's maxPadded values are read in place: the
// first level of the small prior is, on every kernel with a rows form;
// that of the FFHQ-256 UNet at 256×256 (128 channels) only on avx512's.
func TestReadsRowsInPlaceBound(t *testing.T) {
	conv := func(c, size int) directConv {
		return directConv{n: 1, c: c, h: size, w: size, o: c, kh: 3, kw: 3, sh: 1, sw: 1, dh: 1, dw: 1, ph: 1, pw: 1, oh: size, ow: size}
	}
	for _, kern := range testKernels() {
		if kern.rows == nil {
			continue
		}
		for _, tc := range []struct {
			dc   directConv
			want map[string]bool // by kernel name
		}{
			{conv(32, 32), map[string]bool{"avx2": true, "avx512": true}},
			{conv(128, 64), map[string]bool{"avx2": true, "avx512": true}},    // 128·66² values
			{conv(256, 64), map[string]bool{"avx2": false, "avx512": true}},   // 256·66²
			{conv(128, 256), map[string]bool{"avx2": false, "avx512": true}},  // 128·258²
			{conv(256, 256), map[string]bool{"avx2": false, "avx512": false}}, // 256·258²
		} {
			want, ok := tc.want[kern.name]
			if !ok {
				t.Fatalf("no expectation for kernel %s", kern.name)
			}
			if got := readsRowsInPlace(kern, &tc.dc); got != want {
				t.Errorf("%s: %d channels of %d²: in place %v, want %v", kern.name, tc.dc.c, tc.dc.h, got, want)
			}
		}
	}
}
