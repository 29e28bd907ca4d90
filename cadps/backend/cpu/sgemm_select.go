// Part of the toolkit's fork of GoMLX v0.26.0's pure-Go backend (Apache-2.0); see NOTICE.

package cpu

import "sync"

// sgemmKernel returns the fastest micro-kernel this CPU runs, chosen once:
// the first vector kernel that passes selfCheck, else the portable one.
var sgemmKernel = sync.OnceValue(func() *microKernel {
	for _, k := range vectorKernels() {
		if selfCheck(k) {
			return k
		}
	}
	return &genericKernel
})

// SGEMMKernel names the float32 matrix-product kernel this CPU uses:
// "avx512", "avx2" or "generic" (portable Go: other CPUs, or binaries
// built with -tags purego).
func SGEMMKernel() string { return sgemmKernel().name }

// selfCheck runs kern on one small-integer tile, overwriting and then
// accumulating, and compares with the exact result, so that a kernel the
// CPU claims to support but computes wrongly (a faulty emulator or
// hypervisor) is never used.
func selfCheck(kern *microKernel) bool {
	const kc, pad = 5, 3
	mr, nr, ldc := kern.mr, kern.nr, kern.nr+pad
	a, b := make([]float32, kc*mr), make([]float32, kc*nr)
	for i := range a {
		a[i] = float32(i%7 - 3)
	}
	for i := range b {
		b[i] = float32(i%5 - 2)
	}
	c := make([]float32, mr*ldc)
	for i := range c {
		c[i] = 1
	}
	kern.fn(kc, a, b, c, ldc, false)
	kern.fn(kc, a, b, c, ldc, true)
	for i := range mr {
		for j := range ldc {
			want := float32(1)
			if j < nr {
				want = 0
				for p := range kc {
					want += 2 * a[p*mr+i] * b[p*nr+j]
				}
			}
			if c[i*ldc+j] != want {
				return false
			}
		}
	}
	return true
}
