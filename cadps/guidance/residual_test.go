package guidance

import (
	"math"
	"testing"

	"github.com/cadps/toolkit/ops"
	"github.com/gomlx/gomlx/pkg/core/graph"
)

// TestResidualNormPerImage checks that Step.ResidualNorm and the norms of
// Step.NormGradient are one independent norm ‖y_n − A(x̂0)_n‖₂ per image
// for measurements of every rank, [N] (one value per image: |y_n −
// A(x̂0)_n|) included.
func TestResidualNormPerImage(t *testing.T) {
	const n, c, h, w = 2, 1, 2, 2
	x0 := []float32{0.1, -0.2, 0.3, 0.4, -0.5, 0.6, 0.7, -0.8} // [2,1,2,2]
	sumShape := func(in []int) ([]int, error) { return in[:1], nil }
	sum := func(x *graph.Node) *graph.Node { return graph.ReduceSum(x, 1, 2, 3) }
	rowShape := func(in []int) ([]int, error) { return []int{in[0], in[2]}, nil }
	rows := func(x *graph.Node) *graph.Node { return graph.ReduceSum(x, 1, 3) }
	cases := []struct {
		name  string
		shape func([]int) ([]int, error)
		apply func(*graph.Node) *graph.Node
		y     []float32
		want  []float64 // per image
	}{
		// A(x̂0) = (0.6, 0): |0.5 − 0.6| and |−1 − 0|.
		{"[N]", sumShape, sum, []float32{0.5, -1}, []float64{0.1, 1}},
		// A(x̂0) = ((−0.1, 0.7), (0.1, −0.1)).
		{"[N,H]", rowShape, rows, []float32{0, 0.7, 0.4, 0.3}, []float64{0.1, 0.5}},
		{"[N,C,H,W]", nil, func(x *graph.Node) *graph.Node { return x },
			[]float32{0.1, -0.2, 0.3, 0.4, -0.5, 0.6, 0.7, 0.4}, []float64{0, 1.2}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			op, err := ops.NewFunc("test", tc.shape, tc.apply)
			if err != nil {
				t.Fatal(err)
			}
			yDims, err := op.OutputShape([]int{n, c, h, w})
			if err != nil {
				t.Fatal(err)
			}
			got := run1(t, func(g *graph.Graph) *graph.Node {
				x := graph.Reshape(graph.Const(g, x0), n, c, h, w)
				s := &Step{Op: op, Y: graph.Reshape(graph.Const(g, tc.y), yDims...), X: x}
				_, norm := s.NormGradient(graph.MulScalar(x, 1))
				return graph.Concatenate([]*graph.Node{s.ResidualNorm(x), norm}, 0)
			})
			if len(got) != 2*n {
				t.Fatalf("got %d norms %v, want %d per call", len(got), got, n)
			}
			for k, v := range got {
				if want := tc.want[k%n]; math.Abs(float64(v)-want) > 1e-6 {
					t.Errorf("norm %d of image %d = %v, want %v (all: %v)", k/n, k%n, v, want, got)
				}
			}
		})
	}
}

// TestPerImageReductions checks the other per-image reductions on
// measurements of one value per image, [N]: the inner products of the
// Gaussian-likelihood solvers (imageDot) and DAPS's reported loss keep one
// value per image instead of summing the batch.
func TestPerImageReductions(t *testing.T) {
	a, b := []float32{2, -3}, []float32{0.5, 4}
	got := run1(t, func(g *graph.Graph) *graph.Node {
		return imageDot(graph.Const(g, a), graph.Const(g, b))
	})
	if want := []float32{1, -12}; len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("imageDot of [N] vectors = %v, want %v", got, want)
	}
	op, err := ops.NewFunc("sum", func(in []int) ([]int, error) { return in[:1], nil },
		func(x *graph.Node) *graph.Node { return graph.ReduceSum(x, 1, 2, 3) })
	if err != nil {
		t.Fatal(err)
	}
	x0 := []float32{0.1, -0.2, 0.3, 0.4, -0.5, 0.6, 0.7, -0.8} // A(x0) = (0.6, 0)
	loss := run1(t, func(g *graph.Graph) *graph.Node {
		x := graph.Reshape(graph.Const(g, x0), 2, 1, 2, 2)
		s := &Step{Op: op, Y: graph.Const(g, []float32{0.5, -1}), X: x}
		one := graph.OnesLike(x)
		_, l := DAPS{Tau: 1}.langevinStep(s, x, x, graph.ZerosLike(x), one, graph.ScalarOne(g, x.DType()), graph.ZerosLike(x))
		return l
	})
	if want := []float64{0.01, 1}; len(loss) != 2 || math.Abs(float64(loss[0])-want[0]) > 1e-6 || math.Abs(float64(loss[1])-want[1]) > 1e-6 {
		t.Errorf("DAPS loss of a [N] measurement = %v, want %v", loss, want)
	}
}
