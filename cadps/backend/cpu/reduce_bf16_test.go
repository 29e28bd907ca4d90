// Part of the toolkit's fork of GoMLX v0.26.0's pure-Go backend (Apache-2.0); see NOTICE.

package cpu

import (
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes/bfloat16"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// TestReduceSumBFloat16Accumulates sums bfloat16 values whose exact sums are
// bfloat16 numbers: a sum rounded to bfloat16 after every addition stalls
// (256 + 1 rounds back to 256), one accumulated in float32 does not.
func TestReduceSumBFloat16Accumulates(t *testing.T) {
	b := newTestBackend(t)
	const rows, n = 3, 4096
	x := make([]bfloat16.BFloat16, rows*n)
	for i := range x {
		x[i] = bfloat16.FromFloat32(float32(i/n + 1)) // row r holds n copies of r+1
	}
	for _, axis := range []int{1, 0} {
		got := tensors.MustCopyFlatData[bfloat16.BFloat16](graph.MustExecOnce(b, func(x *graph.Node) *graph.Node {
			return graph.ReduceSum(x, axis)
		}, tensors.FromFlatDataAndDimensions(x, rows, n)))
		for i, v := range got {
			want := float32(n * (i + 1)) // rows summed: 1 + 2 + 3 at every column
			if axis == 0 {
				want = 6
			}
			if v.Float32() != want {
				t.Fatalf("ReduceSum over axis %d: element %d = %v, want %v", axis, i, v.Float32(), want)
			}
		}
	}
}
