// Part of the toolkit's fork of GoMLX v0.26.0's pure-Go backend (Apache-2.0); see NOTICE.

package cpu

import (
	"math/rand/v2"
	"runtime"
	"testing"
	"time"
)

// BenchmarkConvDirect times direct convolutions of the FID Inception's
// shapes (16 images) and of the small prior's ("small-", one image: 3×3,
// 32×32 to 8×8 maps) and, as "/sgemm", the SGEMM of the same size on a
// stored B (im2col already materialised): the difference is the cost of
// packing B from the input, or of reading it in place.
func BenchmarkConvDirect(b *testing.B) {
	pad := func(dc directConv, ph, pw int) directConv { dc.ph, dc.pw = ph, pw; return dc }
	d := func(n, c, h, w, o, kh, kw int) directConv {
		return directConv{n: n, c: c, h: h, w: w, o: o, kh: kh, kw: kw, sh: 1, sw: 1, dh: 1, dw: 1}
	}
	cases := []directCase{
		{name: "3x3-c32-147", dc: pad(d(16, 32, 147, 147, 64, 3, 3), 1, 1), phEnd: 1, pwEnd: 1},
		{name: "3x3-c64-35", dc: pad(d(16, 64, 35, 35, 96, 3, 3), 1, 1), phEnd: 1, pwEnd: 1},
		{name: "1x1-c768-17", dc: d(16, 768, 289, 1, 192, 1, 1)},
		{name: "1x7-c160-17", dc: pad(d(16, 160, 17, 17, 160, 1, 7), 0, 3), pwEnd: 3},
		{name: "7x1-c160-17", dc: pad(d(16, 160, 17, 17, 160, 7, 1), 3, 0), phEnd: 3},
		{name: "3x3-c448-8", dc: pad(d(16, 448, 8, 8, 384, 3, 3), 1, 1), phEnd: 1, pwEnd: 1},
		{name: "small-3x3-c32-32", dc: pad(d(1, 32, 32, 32, 32, 3, 3), 1, 1), phEnd: 1, pwEnd: 1},
		{name: "small-3x3-c64-32", dc: pad(d(1, 64, 32, 32, 32, 3, 3), 1, 1), phEnd: 1, pwEnd: 1},
		{name: "small-3x3-c32-16", dc: pad(d(1, 32, 16, 16, 32, 3, 3), 1, 1), phEnd: 1, pwEnd: 1},
		{name: "small-3x3-c64-8", dc: pad(d(1, 64, 8, 8, 64, 3, 3), 1, 1), phEnd: 1, pwEnd: 1},
	}
	kern := sgemmKernel()
	workers := runtime.GOMAXPROCS(0)
	for _, tc := range cases {
		dc := tc.conv()
		m, k, n := dc.o, dc.c*dc.kh*dc.kw, dc.n*dc.oh*dc.ow
		flops := 2 * float64(m) * float64(k) * float64(n)
		r := rand.New(rand.NewPCG(1, 2))
		x, w := randFloat32s(r, dc.n*dc.c*dc.h*dc.w), randFloat32s(r, m*k)
		out := make([]float32, m*n)
		b.Run(tc.name, func(b *testing.B) {
			start := time.Now()
			for b.Loop() {
				convDirectRun(kern, &dc, x, w, nil, out, workers)
			}
			b.ReportMetric(flops*float64(b.N)/time.Since(start).Seconds()/1e9, "GFLOP/s")
		})
		b.Run(tc.name+"/sgemm", func(b *testing.B) {
			bm := randFloat32s(r, k*n)
			start := time.Now()
			for b.Loop() {
				sgemm(kern, m, n, k, matView{data: w, rs: k, cs: 1}, matView{data: bm, rs: n, cs: 1}, out, workers)
			}
			b.ReportMetric(flops*float64(b.N)/time.Since(start).Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkConvDirectDeep times direct convolutions of the deepest levels
// of the FFHQ-256 UNet at 32×32 and 64×64 inputs (one image, 3×3, maps of
// 1×1 to 4×4), with the kernel stored row-major (the forward) and read
// through the reversing view of an input gradient ("/view"): products
// this thin are bound by packing the kernel.
func BenchmarkConvDirectDeep(b *testing.B) {
	d := func(c, hw, o int) directConv {
		return directConv{n: 1, c: c, h: hw, w: hw, o: o, kh: 3, kw: 3, oh: hw, ow: hw, sh: 1, sw: 1, dh: 1, dw: 1, ph: 1, pw: 1}
	}
	cases := []struct {
		name string
		dc   directConv
	}{
		{"c512-1x1", d(512, 1, 512)},
		{"c1024-2x2", d(1024, 2, 512)},
		{"c512-4x4", d(512, 4, 512)},
	}
	kern := sgemmKernel()
	workers := runtime.GOMAXPROCS(0)
	for _, tc := range cases {
		dc := tc.dc
		r := rand.New(rand.NewPCG(1, 2))
		x, w := randFloat32s(r, dc.c*dc.h*dc.w), randFloat32s(r, dc.o*dc.c*9)
		out := make([]float32, dc.o*dc.oh*dc.ow)
		reversed, view := reversedKernel(dc, w)
		viewed := dc
		viewed.kernel = view
		for _, v := range []struct {
			name string
			dc   *directConv
			w    []float32
		}{{tc.name, &dc, w}, {tc.name + "/view", &viewed, reversed}} {
			b.Run(v.name, func(b *testing.B) {
				for b.Loop() {
					convDirectRun(kern, v.dc, x, v.w, nil, out, workers)
				}
				b.ReportMetric(float64(len(w))*4*float64(b.N)/b.Elapsed().Seconds()/1e9, "kernel-GB/s")
			})
		}
	}
}
