// Part of the toolkit's fork of GoMLX v0.26.0's pure-Go backend (Apache-2.0); see NOTICE.

package cpu

import "sync"

// sgemmKernel returns the fastest micro-kernel this CPU runs, chosen once.
var sgemmKernel = sync.OnceValue(func() *microKernel {
	if ks := vectorKernels(); len(ks) > 0 {
		return ks[0]
	}
	return &genericKernel
})

// SGEMMKernel names the float32 matrix-product kernel this CPU uses:
// "avx512", "avx2" or "generic" (portable Go: other CPUs, or binaries
// built with -tags purego).
func SGEMMKernel() string { return sgemmKernel().name }
