//go:build purego

package cpu

// concurrentRepeats is how many times each of TestDotGeneral_Exec's
// concurrent workers runs the shared executable. The purego pass checks
// the portable kernels' results; what runs concurrently around them (the
// executor's buffers and worker pool) is the same code as in the default
// build, whose pass stresses it with 1000 calls per worker, so here every
// worker checks a few calls of its own.
const concurrentRepeats = 50
