// Part of the toolkit's fork of GoMLX v0.26.0's pure-Go backend (Apache-2.0); see NOTICE.

package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// TestReduceWindowFloat32 compares the separable float32 pooling with
// upstream's window reduction: maxima and minima exactly, sums to rounding,
// on odd maps, strides, paddings past the window (windows wholly in the
// padding), 1×1 maps, ranks 2 to 4 and windows it hands back to upstream
// (shape inference refuses empty operands).
func TestReduceWindowFloat32(t *testing.T) {
	cases := []struct {
		dims, window, strides []int
		pads                  [][2]int
		pooled                bool // taken by the separable path
	}{
		{[]int{2, 3, 35, 35}, []int{1, 1, 3, 3}, []int{1, 1, 1, 1}, [][2]int{{}, {}, {1, 1}, {1, 1}}, true},
		{[]int{2, 3, 147, 147}, []int{1, 1, 3, 3}, []int{1, 1, 2, 2}, nil, true},
		{[]int{1, 2, 7, 9}, []int{1, 1, 3, 2}, []int{1, 1, 2, 3}, [][2]int{{}, {}, {0, 2}, {1, 1}}, true},
		{[]int{1, 2, 4, 5}, []int{1, 1, 2, 2}, []int{1, 1, 1, 1}, [][2]int{{}, {}, {3, 3}, {2, 4}}, true},
		{[]int{3, 1, 6, 6}, []int{1, 1, 1, 1}, []int{1, 1, 2, 1}, nil, true},
		{[]int{2, 5, 1, 1}, []int{1, 1, 3, 3}, []int{1, 1, 1, 1}, [][2]int{{}, {}, {1, 1}, {1, 1}}, true},
		{[]int{5, 7}, []int{2, 3}, []int{2, 2}, [][2]int{{0, 1}, {1, 0}}, true},
		{[]int{4, 6, 8}, []int{1, 3, 3}, nil, nil, true},
		{[]int{300, 40, 40}, []int{1, 3, 3}, []int{1, 1, 1}, [][2]int{{}, {1, 1}, {1, 1}}, true},
		{[]int{2, 4, 5, 5}, []int{1, 2, 3, 3}, []int{1, 1, 1, 1}, nil, false},
		{[]int{2, 3, 5, 5}, []int{1, 1, 3, 3}, []int{1, 1, 1, 1}, [][2]int{{}, {1, 0}, {}, {}}, false},
	}
	ops := []backends.ReduceOpType{backends.ReduceOpMax, backends.ReduceOpMin, backends.ReduceOpSum}
	for i, tc := range cases {
		for _, op := range ops {
			t.Run(fmt.Sprintf("%d/%v/%s", i, tc.dims, op), func(t *testing.T) {
				be, err := New("")
				if err != nil {
					t.Fatal(err)
				}
				b := be.Builder(t.Name()).(*Builder)
				x, err := b.Parameter("x", shapes.Make(dtypes.Float32, tc.dims...), nil)
				if err != nil {
					t.Fatal(err)
				}
				y, err := b.ReduceWindow(x, op, tc.window, tc.strides, nil, nil, tc.pads)
				if err != nil {
					t.Fatal(err)
				}
				node := y.(*Node)
				r := rand.New(rand.NewPCG(uint64(i), 9))
				data := randFloat32s(r, shapes.Make(dtypes.Float32, tc.dims...).Size())
				buf, err := be.BufferFromFlatData(0, data, shapes.Make(dtypes.Float32, tc.dims...))
				if err != nil {
					t.Fatal(err)
				}
				in := []*Buffer{buf.(*Buffer)}
				if _, ok := newPool2D(in[0], node); ok != tc.pooled {
					t.Fatalf("separable path taken: %v, want %v", ok, tc.pooled)
				}
				got, err := execReduceWindowFloat32(be.(*Backend), node, in, []bool{false})
				if err != nil {
					t.Fatal(err)
				}
				want, err := execReduceWindow(be.(*Backend), node, in, []bool{false})
				if err != nil {
					t.Fatal(err)
				}
				g, w := got.flat.([]float32), want.flat.([]float32)
				if len(g) != len(w) || len(g) != node.shape.Size() {
					t.Fatalf("%d outputs, want %d", len(g), len(w))
				}
				for j := range g {
					if g[j] != w[j] && !(op == backends.ReduceOpSum && math.Abs(float64(g[j]-w[j])) <= 1e-5*(1+math.Abs(float64(w[j])))) {
						t.Fatalf("output %d = %g, want %g", j, g[j], w[j])
					}
				}
			})
		}
	}
}

// TestMaxInto checks the vector maximum against Go's max, bit for bit (the
// sign of a zero too), on every length up to a few vectors, with NaNs,
// infinities and zeros of either sign on either side.
func TestMaxInto(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	special := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 0, float32(math.Copysign(0, -1))}
	for n := range 41 {
		a, b := randFloat32s(r, n), randFloat32s(r, n+3)
		for i := range a {
			if r.IntN(2) == 0 {
				a[i] = special[r.IntN(len(special))]
			}
			if r.IntN(2) == 0 {
				b[i] = special[r.IntN(len(special))]
			}
		}
		want := make([]float32, n)
		for i := range want {
			want[i] = max(a[i], b[i])
		}
		maxInto(a, b)
		for i := range want {
			if math.Float32bits(a[i]) != math.Float32bits(want[i]) && !(want[i] != want[i] && a[i] != a[i]) {
				t.Fatalf("length %d: element %d = %g, want %g", n, i, a[i], want[i])
			}
		}
	}
}
