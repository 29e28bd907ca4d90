// Part of the toolkit's fork of GoMLX v0.26.0's pure-Go backend (Apache-2.0); see NOTICE.

package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
)

// TestParallelChunks checks that the ranges cover [0, n) once each, that
// every range but the last is a multiple of 64 long, and that there are
// min(workers, n/minParallelElements) of them (one below twice
// minParallelElements).
func TestParallelChunks(t *testing.T) {
	m := minParallelElements
	for _, n := range []int{0, 1, m - 1, m, 2*m - 1, 2 * m, 3*m + 13, 1<<20 + 7} {
		for _, workers := range []int{1, 2, 3, 8} {
			ranges := coveringRanges(t, n, func(fn func(lo, hi int)) { parallelChunks(n, workers, fn) })
			if want := max(1, min(workers, n/m)); len(ranges) != want {
				t.Errorf("n=%d workers=%d: %d ranges, want %d", n, workers, len(ranges), want)
			}
			for _, r := range ranges {
				if r[1] != n && (r[1]-r[0])%64 != 0 {
					t.Errorf("n=%d workers=%d: range %v is not a multiple of 64 long", n, workers, r)
				}
			}
		}
	}
}

// TestSplitRange checks the split that element-wise ops, kernel packing,
// padded copies and pools share: the ranges cover [0, n) once, there are
// at most parts of them (exactly as many as the aligned step gives), and
// each but the last is a multiple of align long.
func TestSplitRange(t *testing.T) {
	for _, tc := range []struct{ n, parts, align int }{
		{0, 1, 1}, {5, 1, 6}, {5, 3, 1}, {5, 3, 6}, {7, 2, 6}, {13, 2, 6}, {13, 3, 6},
		{100, 7, 1}, {1000, 3, 64}, {64, 2, 64}, {65, 2, 64},
	} {
		ranges := coveringRanges(t, tc.n, func(fn func(lo, hi int)) { splitRange(tc.n, tc.parts, tc.align, fn) })
		want := 1
		if tc.parts > 1 && tc.n > 0 {
			step := roundUp((tc.n+tc.parts-1)/tc.parts, tc.align)
			want = (tc.n + step - 1) / step
		}
		if len(ranges) != want || len(ranges) > max(1, tc.parts) {
			t.Errorf("%+v: %d ranges %v, want %d", tc, len(ranges), ranges, want)
		}
		for _, r := range ranges {
			if r[1] != tc.n && (r[1]-r[0])%tc.align != 0 {
				t.Errorf("%+v: range %v is not a multiple of %d long", tc, r, tc.align)
			}
		}
	}
}

// coveringRanges runs split, which calls its function on ranges of
// [0, n), possibly at once, and returns those ranges; it fails the test
// unless they cover [0, n) once each.
func coveringRanges(t *testing.T, n int, split func(fn func(lo, hi int))) [][2]int {
	t.Helper()
	var mu sync.Mutex
	var ranges [][2]int
	seen := make([]int, n)
	split(func(lo, hi int) {
		mu.Lock()
		defer mu.Unlock()
		ranges = append(ranges, [2]int{lo, hi})
		for i := lo; i < hi; i++ {
			seen[i]++
		}
	})
	for i, c := range seen {
		if c != 1 {
			t.Fatalf("n=%d: element %d in %d ranges %v", n, i, c, ranges)
		}
	}
	return ranges
}

// TestSplitElementwiseExact checks that exp, logistic and the four
// arithmetic ops split across goroutines give, bit for bit, what one pass
// gives, on an odd size with values that leave the vector exp's range
// (and NaN, ±Inf) near the chunk boundaries.
func TestSplitElementwiseExact(t *testing.T) {
	const n = 3*minParallelElements + 13
	r := rand.New(rand.NewPCG(23, 24))
	a, b := randFloat32s(r, n), randFloat32s(r, n)
	for i, v := range []float32{100, -100, float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 89, -88} {
		for _, at := range []int{minParallelElements - 3, 2*minParallelElements + 40, n - 1} {
			a[at-i] = v
		}
	}
	same := func(t *testing.T, got, want []float32) {
		t.Helper()
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("element %d: %g, want %g", i, got[i], want[i])
			}
		}
	}
	for _, workers := range []int{2, 3} {
		t.Run(fmt.Sprintf("exp/workers=%d", workers), func(t *testing.T) {
			want, got := make([]float32, n), make([]float32, n)
			expFloat32(want, a)
			expFloat32Split(got, a, workers)
			same(t, got, want)
		})
		t.Run(fmt.Sprintf("logistic/workers=%d", workers), func(t *testing.T) {
			want, got := make([]float32, n), make([]float32, n)
			logisticFloat32(want, a)
			logisticFloat32Split(got, a, workers)
			same(t, got, want)
		})
		for _, op := range []arithOp{arithAdd, arithSub, arithMul, arithDiv} {
			k := arithKernelsFor(op)
			for _, c := range []struct {
				name         string
				aFull, bFull bool
				want         func(dst []float32)
			}{
				{"vv", true, true, func(dst []float32) { k.vv(dst, a, b) }},
				{"vs", true, false, func(dst []float32) { k.vs(dst, a, b[0]) }},
				{"sv", false, true, func(dst []float32) { k.sv(dst, b, a[0]) }},
			} {
				t.Run(fmt.Sprintf("op%d/%s/workers=%d", op, c.name, workers), func(t *testing.T) {
					want, got := make([]float32, n), make([]float32, n)
					c.want(want)
					k.runSplit(got, a, b, c.aFull, c.bFull, workers)
					same(t, got, want)
				})
			}
		}
	}
}
