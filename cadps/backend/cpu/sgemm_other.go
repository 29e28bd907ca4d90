// Part of the toolkit's fork of GoMLX v0.26.0's pure-Go backend (Apache-2.0); see NOTICE.

//go:build !amd64 || purego

package cpu

// vectorKernels returns no kernels: on this architecture (or with the
// purego build tag) products use the portable Go kernel.
func vectorKernels() []*microKernel { return nil }
