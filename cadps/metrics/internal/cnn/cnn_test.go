package cnn

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// TestPoolSize compares with the output sizes of PyTorch 1.13's
// max_pool2d (0 where it refuses the input as too small).
func TestPoolSize(t *testing.T) {
	tests := []struct {
		n, k, stride, pad int
		ceil              bool
		want              int
	}{
		{2, 3, 2, 0, true, 1},
		{1, 3, 2, 0, true, 0},
		{5, 3, 2, 0, true, 2},
		{6, 3, 2, 0, true, 3},
		{7, 3, 2, 0, false, 3},
		{7, 3, 2, 0, true, 3},
		{4, 2, 2, 0, true, 2},
		{5, 2, 2, 0, true, 3},
		{147, 3, 2, 0, false, 73},
		{35, 3, 1, 1, false, 35},
		{3, 3, 2, 1, true, 2},
		{2, 3, 2, 0, false, 0},
	}
	for _, tc := range tests {
		if got := max(0, PoolSize(tc.n, tc.k, tc.stride, tc.pad, tc.ceil)); got != tc.want {
			t.Errorf("PoolSize(%d, k %d, stride %d, pad %d, ceil %v) = %d, want %d", tc.n, tc.k, tc.stride, tc.pad, tc.ceil, got, tc.want)
		}
	}
}

// TestPools compares the pools with PyTorch's definitions written as loops
// (max_pool2d; avg_pool2d with count_include_pad=False) on random maps, for
// the configurations the metric networks use and a few odd sizes.
func TestPools(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	tests := []struct {
		h, w, k, stride, pad int
		ceil                 bool
	}{
		{35, 35, 3, 1, 1, false},
		{8, 9, 3, 1, 1, false},
		{147, 147, 3, 2, 0, false},
		{17, 16, 3, 2, 0, false},
		{37, 45, 3, 2, 0, true},
		{2, 5, 3, 2, 0, true},
		{48, 40, 2, 2, 0, false},
		{9, 7, 3, 2, 1, true},
		{5, 6, 3, 2, 1, false},
	}
	const n, c = 2, 3
	for _, tc := range tests {
		x := make([]float32, n*c*tc.h*tc.w)
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
		xt := tensors.FromFlatDataAndDimensions(x, n, c, tc.h, tc.w)
		oh, ow := PoolSize(tc.h, tc.k, tc.stride, tc.pad, tc.ceil), PoolSize(tc.w, tc.k, tc.stride, tc.pad, tc.ceil)
		check := func(name string, pool func(*Node) *Node, mean bool) {
			g, err := graph.ExecOnce(b, pool, xt)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(g.Shape().Dimensions, []int{n, c, oh, ow}) {
				t.Fatalf("%s %+v: shape %v, want %v", name, tc, g.Shape().Dimensions, []int{n, c, oh, ow})
			}
			got := tensors.MustCopyFlatData[float32](g)
			for i, v := range got {
				want := torchPool(x[i/(oh*ow)*tc.h*tc.w:], tc.h, tc.w, tc.k, tc.stride, tc.pad, i%(oh*ow)/ow, i%ow, mean)
				if math.Abs(float64(v)-want) > 1e-6*(1+math.Abs(want)) {
					t.Fatalf("%s %+v: value %d is %g, want %g", name, tc, i, v, want)
				}
			}
		}
		check("max", func(x *Node) *Node { return MaxPool(x, tc.k, tc.stride, tc.pad, tc.ceil) }, false)
		if !tc.ceil {
			check("mean", func(x *Node) *Node { return AvgPoolExcludePad(x, tc.k, tc.stride, tc.pad) }, true)
		}
	}
}

// torchPool is output (oy, ox) of PyTorch's max or average pool (without
// the padding in the count) of the h×w map x.
func torchPool(x []float32, h, w, k, stride, pad, oy, ox int, mean bool) float64 {
	best, sum, count := math.Inf(-1), 0.0, 0
	for y := max(0, oy*stride-pad); y < min(h, oy*stride-pad+k); y++ {
		for xx := max(0, ox*stride-pad); xx < min(w, ox*stride-pad+k); xx++ {
			v := float64(x[y*w+xx])
			best, sum, count = math.Max(best, v), sum+v, count+1
		}
	}
	if mean {
		return sum / float64(count)
	}
	return best
}

// TestPoolGradients differentiates the pools, so that the metric networks
// can serve as losses: the gradient of the sum of a pool's outputs gives
// each window a total weight of one (max: its largest element; average:
// its real pixels equally), so the gradient sums to the number of windows.
func TestPoolGradients(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	const n, c, h, w = 2, 3, 9, 8
	r := rand.New(rand.NewPCG(5, 6))
	x := make([]float32, n*c*h*w)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	for _, tc := range []struct {
		name           string
		k, stride, pad int
		ceil           bool
		pool           func(x *graph.Node) *graph.Node
	}{
		{"max 3x3 s2 ceil", 3, 2, 0, true, func(x *graph.Node) *graph.Node { return MaxPool(x, 3, 2, 0, true) }},
		{"max 3x3 s2 pad1", 3, 2, 1, false, func(x *graph.Node) *graph.Node { return MaxPool(x, 3, 2, 1, false) }},
		{"avg 3x3 s1 pad1", 3, 1, 1, false, func(x *graph.Node) *graph.Node { return AvgPoolExcludePad(x, 3, 1, 1) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			exec, err := graph.NewExec(b, func(x *graph.Node) *graph.Node {
				return graph.Gradient(graph.ReduceAllSum(tc.pool(x)), x)[0]
			})
			if err != nil {
				t.Fatal(err)
			}
			out, err := exec.Exec(tensors.FromFlatDataAndDimensions(x, n, c, h, w))
			if err != nil {
				t.Fatal(err)
			}
			var sum float64
			for _, g := range tensors.MustCopyFlatData[float32](out[0]) {
				sum += float64(g)
			}
			windows := n * c * PoolSize(h, tc.k, tc.stride, tc.pad, tc.ceil) * PoolSize(w, tc.k, tc.stride, tc.pad, tc.ceil)
			if math.Abs(sum-float64(windows)) > 1e-4 {
				t.Errorf("gradient sums to %g, want %d (one per window)", sum, windows)
			}
		})
	}
}
