// Part of the toolkit's fork of GoMLX v0.26.0's pure-Go backend (Apache-2.0); see NOTICE.

//go:build !amd64 || purego

package cpu

// float32Arith returns nil: without vector kernels the upstream loops run.
func float32Arith(arithOp) *arithKernels { return nil }

// vectorExp returns nil: without vector kernels exp runs in float64.
func vectorExp() func(dst, src []float32) int { return nil }

// vectorLogistic returns nil: without vector kernels logisticFloat32's
// passes are Go loops.
func vectorLogistic() *logisticPasses { return nil }
