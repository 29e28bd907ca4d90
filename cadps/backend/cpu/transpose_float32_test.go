// Part of the toolkit's fork of GoMLX v0.26.0's pure-Go backend (Apache-2.0); see NOTICE.

package cpu

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// TestTransposeFloat32 checks float32 transposes (contiguous and strided
// rows, merged axes, size-1 axes, rows too short for the run path, empty)
// against element-by-element indexing.
func TestTransposeFloat32(t *testing.T) {
	be := newTestBackend(t)
	r := rand.New(rand.NewPCG(9, 10))
	cases := []struct{ dims, perm []int }{
		{[]int{5, 7}, []int{1, 0}},
		{[]int{2, 3, 5, 7}, []int{0, 2, 3, 1}},
		{[]int{2, 5, 7, 3}, []int{0, 3, 1, 2}},
		{[]int{3, 4, 9}, []int{1, 0, 2}},
		{[]int{3, 1, 9, 1}, []int{3, 2, 1, 0}},
		{[]int{6, 3}, []int{1, 0}},
		{[]int{4, 0, 5}, []int{2, 1, 0}},
		{[]int{2, 3, 4, 5}, []int{3, 2, 1, 0}},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%v/%v", c.dims, c.perm), func(t *testing.T) {
			x := randTensor(r, c.dims...)
			flat := tensors.MustCopyFlatData[float32](x)
			got := graph.MustExecOnce(be, func(x *graph.Node) *graph.Node { return graph.TransposeAllAxes(x, c.perm...) }, x)
			outDims := make([]int, len(c.perm))
			for i, a := range c.perm {
				outDims[i] = c.dims[a]
			}
			if !slices.Equal(got.Shape().Dimensions, outDims) {
				t.Fatalf("shape %s, want %v", got.Shape(), outDims)
			}
			strides := calculateStrides(c.dims)
			var want []float32
			var walk func(axis, offset int)
			walk = func(axis, offset int) {
				if axis == len(outDims) {
					want = append(want, flat[offset])
					return
				}
				for i := range outDims[axis] {
					walk(axis+1, offset+i*strides[c.perm[axis]])
				}
			}
			walk(0, 0)
			if g := tensors.MustCopyFlatData[float32](got); !slices.Equal(g, want) {
				t.Fatalf("got %v, want %v", g, want)
			}
		})
	}
}
