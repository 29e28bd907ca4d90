package guidance

import (
	"math"
	"slices"
	"testing"

	"github.com/cadps/toolkit/ops"
	"github.com/gomlx/gomlx/pkg/core/graph"
)

// TestNormGradientZeroResidual checks the DPS gradient of an image whose
// residual y − A(x̂0) is exactly zero: 0, as torch.linalg.norm's backward
// gives it in the reference, not the NaN of 0/0 that stops the run as
// diverged. It happens when x̂0 sits at the clamp on every observed pixel
// of a measurement without noise (an inpainted black image). The other
// image of the batch keeps its gradient (x − y)/‖x − y‖ on the observed
// pixels. A measurement of one value per image, [N], gets the same 0
// (GoMLX's Abs has gradient +1 at 0, torch's 0).
func TestNormGradientZeroResidual(t *testing.T) {
	mask := []float32{1, 0, 1, 1}
	op, err := ops.NewInpainting(mask, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		x, y  []float32 // [N,1,2,2]; x̂0 = clamp(x, −1, 1)
		grad  []float64
		norms []float64
	}{
		{"zero residual, clamped", []float32{-3, -2, -1.5, -4}, []float32{-1, 0, -1, -1},
			[]float64{0, 0, 0, 0}, []float64{0}},
		{"zero residual, inside the clamp", []float32{0.5, 0.9, -0.25, 0}, []float32{0.5, 0, -0.25, 0},
			[]float64{0, 0, 0, 0}, []float64{0}},
		{"one image of two", []float32{-3, -2, -1.5, -4, 0.3, 0.2, 0.5, 0.5}, []float32{-1, 0, -1, -1, 0, 0, 0.5, 0.1},
			[]float64{0, 0, 0, 0, 0.6, 0, 0, 0.8}, []float64{0, 0.5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := len(tc.x) / 4
			got := run1(t, func(g *graph.Graph) *graph.Node {
				x := graph.Reshape(graph.Const(g, tc.x), n, 1, 2, 2)
				s := &Step{Op: op, Y: graph.Reshape(graph.Const(g, tc.y), n, 1, 2, 2), X: x}
				grad, norm := s.NormGradient(graph.ClipScalar(x, -1, 1))
				return graph.Concatenate([]*graph.Node{graph.Reshape(grad, 4*n), norm}, 0)
			})
			want := append(append([]float64(nil), tc.grad...), tc.norms...)
			for k, v := range got {
				if math.IsNaN(float64(v)) || math.Abs(float64(v)-want[k]) > 1e-6 {
					t.Fatalf("gradient and norms %v, want %v", got, want)
				}
			}
		})
	}
	sum, err := ops.NewFunc("sum", func(in []int) ([]int, error) { return in[:1], nil },
		func(x *graph.Node) *graph.Node { return graph.ReduceSum(x, 1, 2, 3) })
	if err != nil {
		t.Fatal(err)
	}
	got := run1(t, func(g *graph.Graph) *graph.Node {
		x := graph.Reshape(graph.Const(g, []float32{0.25, 0.25, 0.25, 0.25, 0.5, 0.25, 0, 0}), 2, 1, 2, 2)
		s := &Step{Op: sum, Y: graph.Const(g, []float32{1, 1}), X: x} // residuals 0 and 0.25
		grad, norm := s.NormGradient(x)
		return graph.Concatenate([]*graph.Node{graph.Reshape(grad, 8), norm}, 0)
	})
	if want := []float32{0, 0, 0, 0, -1, -1, -1, -1, 0, 0.25}; !slices.Equal(got, want) {
		t.Errorf("[N] measurement: gradient and norms %v, want %v", got, want)
	}
}
