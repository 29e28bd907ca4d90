package cnn

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	timage "github.com/gomlx/gomlx/pkg/core/tensors/images"
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

// TestPools compares the slice-based pools with GoMLX's window reductions
// on random maps, for the configurations the metric networks use and a few
// odd sizes.
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
	}
	for _, tc := range tests {
		x := make([]float32, 2*3*tc.h*tc.w)
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
		xt := tensors.FromFlatDataAndDimensions(x, 2, 3, tc.h, tc.w)
		oh, ow := PoolSize(tc.h, tc.k, tc.stride, tc.pad, tc.ceil), PoolSize(tc.w, tc.k, tc.stride, tc.pad, tc.ceil)
		extra := func(n, o int) int { return max(0, (o-1)*tc.stride+tc.k-n-2*tc.pad) }
		pads := [][2]int{{tc.pad, tc.pad + extra(tc.h, oh)}, {tc.pad, tc.pad + extra(tc.w, ow)}}
		check := func(name string, got, want func(*Node) *Node) {
			g, err := graph.ExecOnce(b, got, xt)
			if err != nil {
				t.Fatal(err)
			}
			w, err := graph.ExecOnce(b, want, xt)
			if err != nil {
				t.Fatal(err)
			}
			gv, wv := tensors.MustCopyFlatData[float32](g), tensors.MustCopyFlatData[float32](w)
			if !slices.Equal(g.Shape().Dimensions, w.Shape().Dimensions) || !slices.Equal(g.Shape().Dimensions, []int{2, 3, oh, ow}) {
				t.Fatalf("%s %+v: shape %v, want %v", name, tc, g.Shape().Dimensions, w.Shape().Dimensions)
			}
			for i := range gv {
				if math.Abs(float64(gv[i]-wv[i])) > 1e-6 {
					t.Fatalf("%s %+v: value %d is %g, want %g", name, tc, i, gv[i], wv[i])
				}
			}
		}
		check("max", func(x *Node) *Node { return MaxPool(x, tc.k, tc.stride, tc.pad, tc.ceil) }, func(x *Node) *Node {
			return graph.MaxPool(x).ChannelsAxis(timage.ChannelsFirst).Window(tc.k).Strides(tc.stride).PaddingPerDim(pads).Done()
		})
		if !tc.ceil {
			check("mean", func(x *Node) *Node { return AvgPoolExcludePad(x, tc.k, tc.stride, tc.pad) }, func(x *Node) *Node {
				return graph.MeanPool(x).ChannelsAxis(timage.ChannelsFirst).Window(tc.k).Strides(tc.stride).PaddingPerDim(pads).Done()
			})
		}
	}
}
