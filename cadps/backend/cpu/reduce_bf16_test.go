// Part of the toolkit's fork of GoMLX v0.26.0's pure-Go backend (Apache-2.0); see NOTICE.

package cpu

import (
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/dtypes/bfloat16"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/core/tensors/images"
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

// TestWindowAndScatterSumsBFloat16Accumulate checks the other bfloat16 sums
// the same way: window sums (sum and average pools, on the 2-D pooling path
// and upstream's general one) and scatter-adds (the gradient of a gather).
func TestWindowAndScatterSumsBFloat16Accumulate(t *testing.T) {
	b := newTestBackend(t)
	const side, n = 64, 4096
	ones := make([]bfloat16.BFloat16, n)
	for i := range ones {
		ones[i] = bfloat16.FromFloat32(1)
	}
	indices := make([]int32, n)
	for i := range indices {
		indices[i] = int32(i % 4)
	}
	for _, tc := range []struct {
		name string
		dims []int
		f    func(x *graph.Node) *graph.Node
		want []float32
	}{
		{"sum pool over the last two axes", []int{1, 1, side, side}, func(x *graph.Node) *graph.Node {
			return graph.SumPool(x).ChannelsAxis(images.ChannelsFirst).Window(side).Done()
		}, []float32{n}},
		{"sum pool over middle axes", []int{1, side, side, 1}, func(x *graph.Node) *graph.Node {
			return graph.SumPool(x).ChannelsAxis(images.ChannelsLast).Window(side).Done()
		}, []float32{n}},
		{"mean pool", []int{1, 1, side, side}, func(x *graph.Node) *graph.Node {
			return graph.MeanPool(x).ChannelsAxis(images.ChannelsFirst).Window(side).Done()
		}, []float32{1}},
		{"scatter-add", []int{n}, func(x *graph.Node) *graph.Node {
			idx := graph.Const(x.Graph(), tensors.FromFlatDataAndDimensions(indices, n, 1))
			return graph.ScatterSum(graph.Zeros(x.Graph(), shapes.Make(dtypes.BFloat16, 4)), idx, x, false, false)
		}, []float32{n / 4, n / 4, n / 4, n / 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tensors.MustCopyFlatData[bfloat16.BFloat16](graph.MustExecOnce(b, tc.f,
				tensors.FromFlatDataAndDimensions(ones, tc.dims...)))
			if len(got) != len(tc.want) {
				t.Fatalf("%d values, want %d", len(got), len(tc.want))
			}
			for i, v := range got {
				if v.Float32() != tc.want[i] {
					t.Errorf("value %d = %v, want %v", i, v.Float32(), tc.want[i])
				}
			}
		})
	}
}
