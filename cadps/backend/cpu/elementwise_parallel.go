// Part of the toolkit's fork of GoMLX v0.26.0's pure-Go backend (Apache-2.0); see NOTICE.

package cpu

import "sync"

// minParallelElements is the fewest elements each goroutine of a split
// element-wise op takes, so that an op splits from twice as many on:
// below that, starting goroutines costs more than a second core gains.
const minParallelElements = 1 << 16

// parallelChunks calls fn on consecutive ranges [lo, hi) that cover [0, n)
// once each, on up to workers goroutines (the caller's among them):
// min(workers, n/minParallelElements) ranges, so one below
// 2·minParallelElements. Every range but the last is a multiple of 64
// elements long: the vector kernels' blocks of 8 then fall where they
// would in one pass, so each element's result is the same as in one pass,
// and ranges start on cache lines.
func parallelChunks(n, workers int, fn func(lo, hi int)) {
	splitRange(n, min(workers, n/minParallelElements), 64, fn)
}

// splitRange calls fn on consecutive ranges [lo, hi) that cover [0, n)
// once each, at most parts of them, every range but the last a multiple
// of align long, each on its own goroutine but the first, which runs on
// the caller's; it returns when all have returned.
func splitRange(n, parts, align int, fn func(lo, hi int)) {
	if parts <= 1 {
		fn(0, n)
		return
	}
	step := roundUp((n+parts-1)/parts, align)
	var wg sync.WaitGroup
	for lo := step; lo < n; lo += step {
		wg.Go(func() { fn(lo, min(lo+step, n)) })
	}
	fn(0, min(step, n))
	wg.Wait()
}

// elementWorkers is the number of goroutines an element-wise op of the
// backend may use (see sgemmWorkers).
func elementWorkers(backend *Backend) int {
	return sgemmWorkers(backend.workers.MaxParallelism())
}

// expFloat32Split is expFloat32 split across up to workers goroutines.
func expFloat32Split(dst, src []float32, workers int) {
	parallelChunks(len(src), workers, func(lo, hi int) { expFloat32(dst[lo:hi], src[lo:hi]) })
}

// logisticFloat32Split is logisticFloat32 split across up to workers
// goroutines.
func logisticFloat32Split(dst, src []float32, workers int) {
	parallelChunks(len(src), workers, func(lo, hi int) { logisticFloat32(dst[lo:hi], src[lo:hi]) })
}

// runSplit computes dst from a and b, each of dst's size (full) or a
// scalar, with k's vector kernels split across up to workers goroutines:
// a and b both full, b a scalar, or a a scalar.
func (k *arithKernels) runSplit(dst, a, b []float32, aFull, bFull bool, workers int) {
	parallelChunks(len(dst), workers, func(lo, hi int) {
		switch {
		case aFull && bFull:
			k.vv(dst[lo:hi], a[lo:hi], b[lo:hi])
		case aFull:
			k.vs(dst[lo:hi], a[lo:hi], b[0])
		default:
			k.sv(dst[lo:hi], b[lo:hi], a[0])
		}
	})
}
