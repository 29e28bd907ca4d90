// Part of the toolkit's fork of GoMLX v0.26.0's pure-Go backend (Apache-2.0); see NOTICE.

//go:build amd64 && !purego

package cpu

import "golang.org/x/sys/cpu"

// kernel6x16AVX2, kernel6x16RowsAVX2, kernel6x32AVX512 and
// kernel6x32RowsAVX512 are in sgemm_amd64.s; see microKernel for what they
// compute.
//
//go:noescape
func kernel6x16AVX2(kc int, a, b, c *float32, ldc int, acc bool)

//go:noescape
func kernel6x16RowsAVX2(kc int, a, x *float32, offs *int, c *float32, ldc int, acc bool)

//go:noescape
func kernel6x32AVX512(kc int, a, b, c *float32, ldc int, acc bool)

//go:noescape
func kernel6x32RowsAVX512(kc int, a, x *float32, offs *int, c *float32, ldc int, acc bool)

// Reading panels in place pays on small maps, where packing them costs
// most next to their product (the small prior's sampling step). On the
// FFHQ-256 UNet at 256×256 (padded copies of up to 8.5 million values,
// 34 MB each) the avx2 kernel gained nothing measurable from it, while the
// avx512 kernel's forward pass took 15 % less time and its forward pass
// and input gradient 9 % less, for 100–240 MiB more peak memory
// (docs/cpu-speed.md): hence their maxPadded.
var (
	avx2Kernel = microKernel{name: "avx2", mr: 6, nr: 16, maxPadded: 1 << 20, fn: func(kc int, a, b, c []float32, ldc int, acc bool) {
		_, _, _ = a[kc*6-1], b[kc*16-1], c[5*ldc+15]
		kernel6x16AVX2(kc, &a[0], &b[0], &c[0], ldc, acc)
	}, rows: func(kc int, a, x []float32, offs []int, maxOff int, c []float32, ldc int, acc bool) {
		_, _, _, _ = a[kc*6-1], x[maxOff+15], offs[kc-1], c[5*ldc+15]
		kernel6x16RowsAVX2(kc, &a[0], &x[0], &offs[0], &c[0], ldc, acc)
	}}
	avx512Kernel = microKernel{name: "avx512", mr: 6, nr: 32, maxPadded: 1 << 24, fn: func(kc int, a, b, c []float32, ldc int, acc bool) {
		_, _, _ = a[kc*6-1], b[kc*32-1], c[5*ldc+31]
		kernel6x32AVX512(kc, &a[0], &b[0], &c[0], ldc, acc)
	}, rows: func(kc int, a, x []float32, offs []int, maxOff int, c []float32, ldc int, acc bool) {
		_, _, _, _ = a[kc*6-1], x[maxOff+31], offs[kc-1], c[5*ldc+31]
		kernel6x32RowsAVX512(kc, &a[0], &x[0], &offs[0], &c[0], ldc, acc)
	}}
)

// vectorKernels returns the micro-kernels this CPU can run, fastest first.
func vectorKernels() []*microKernel {
	var ks []*microKernel
	if cpu.X86.HasAVX512F {
		ks = append(ks, &avx512Kernel)
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		ks = append(ks, &avx2Kernel)
	}
	return ks
}
