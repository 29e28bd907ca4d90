// Part of the toolkit's fork of GoMLX v0.26.0's pure-Go backend (Apache-2.0); see NOTICE.

package cpu

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/dtypes/bfloat16"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/core/tensors/images"
)

// TestEmptyConvolutions checks convolutions with a batch, input channels or
// output channels of 0: an empty output, or zeros where nothing is summed,
// as upstream gives them (the lowered path's views need positive sizes).
func TestEmptyConvolutions(t *testing.T) {
	b := newTestBackend(t)
	conv := func(groups int) func(x, k *graph.Node) *graph.Node {
		return func(x, k *graph.Node) *graph.Node {
			return graph.Convolve(x, k).ChannelsAxis(images.ChannelsFirst).NoPadding().ChannelGroupCount(groups).Done()
		}
	}
	for _, tc := range []struct {
		name   string
		dtype  dtypes.DType
		x, k   []int
		groups int
		want   []int
	}{
		{"no batch, float64", dtypes.Float64, []int{0, 3, 8, 8}, []int{4, 3, 3, 3}, 1, []int{0, 4, 6, 6}},
		{"no input channels", dtypes.Float64, []int{2, 0, 8, 8}, []int{4, 0, 3, 3}, 1, []int{2, 4, 6, 6}},
		{"no output channels", dtypes.Float64, []int{2, 3, 8, 8}, []int{0, 3, 3, 3}, 1, []int{2, 0, 6, 6}},
		{"no batch, grouped float32", dtypes.Float32, []int{0, 4, 8, 8}, []int{4, 2, 3, 3}, 2, []int{0, 4, 6, 6}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := graph.ExecOnce(b, conv(tc.groups),
				tensors.FromShape(shapes.Make(tc.dtype, tc.x...)), tensors.FromShape(shapes.Make(tc.dtype, tc.k...)))
			if err != nil {
				t.Fatal(err)
			}
			if got := out.Shape(); !got.Equal(shapes.Make(tc.dtype, tc.want...)) {
				t.Fatalf("shape %s, want %v", got, tc.want)
			}
			out.ConstFlatData(func(flat any) {
				switch v := flat.(type) {
				case []float64:
					for i, x := range v {
						if x != 0 {
							t.Fatalf("value %d = %v, want 0", i, x)
						}
					}
				case []float32:
					if len(v) != 0 {
						t.Fatalf("%d values, want none", len(v))
					}
				}
			})
		})
	}
}

// TestBFloat16ThinDot checks that a bfloat16 product with one row and one
// column sums exact products in float32, as the other bfloat16 products
// do: rounding each product to bfloat16 first put [1,4096]·[4096,1] 0.41
// away from the exact value, three bfloat16 steps.
func TestBFloat16ThinDot(t *testing.T) {
	b := newTestBackend(t)
	r := rand.New(rand.NewPCG(3, 4))
	const k = 4096
	x, y := make([]bfloat16.BFloat16, k), make([]bfloat16.BFloat16, k)
	exact := 0.0
	for i := range x {
		x[i], y[i] = bfloat16.FromFloat64(r.NormFloat64()), bfloat16.FromFloat64(r.NormFloat64())
		exact += float64(x[i].Float32()) * float64(y[i].Float32())
	}
	out, err := graph.ExecOnce(b, func(a, c *graph.Node) *graph.Node { return graph.Dot(a, c) },
		tensors.FromFlatDataAndDimensions(x, 1, k), tensors.FromFlatDataAndDimensions(y, k, 1))
	if err != nil {
		t.Fatal(err)
	}
	got := float64(tensors.MustCopyFlatData[bfloat16.BFloat16](out)[0].Float32())
	// One rounding of the float32 sum to bfloat16: within half a step.
	if step := math.Pow(2, math.Floor(math.Log2(math.Abs(exact)))-7); math.Abs(got-exact) > step {
		t.Errorf("[1,%d]·[%d,1] = %v, exact %v: more than one bfloat16 step (%v) away", k, k, got, exact, step)
	}
}
