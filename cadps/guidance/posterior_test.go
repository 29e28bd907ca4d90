package guidance

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// run1 executes f on the pure-Go backend and returns its flat float32 output.
func run1(t *testing.T, f func(g *graph.Graph) *graph.Node) []float32 {
	t.Helper()
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	out, err := graph.ExecOnce(b, func(g *graph.Graph) *graph.Node { return f(g) })
	if err != nil {
		t.Fatal(err)
	}
	return tensors.MustCopyFlatData[float32](out)
}

// TestIterativeSolvers solves batched systems M u = b with both solvers:
// SPD M = σ² I + B Bᵀ (well conditioned), M = B Bᵀ of rank 3 < 6 with b in
// its range (singular), and, for GCR only, a non-symmetric M whose
// symmetric part is indefinite (the case CG is not built for), all against
// the relative residual of the exact solution.
func TestIterativeSolvers(t *testing.T) {
	const n, d = 2, 6
	r := rand.New(rand.NewPCG(1, 2))
	type solver func(apply func(v *graph.Node) *graph.Node, b *graph.Node, iters int) *graph.Node
	cases := []struct {
		name  string
		solve solver
		rank  int
		shift float64
		skew  float64 // weight of an added antisymmetric part
		iters int
		tol   float64
	}{
		{"cg/regular", ConjugateGradient, d, 0.5, 0, d, 1e-4},
		{"cg/singular", ConjugateGradient, 3, 0, 0, 3, 1e-3},
		{"cg/extra iterations", ConjugateGradient, d, 0.5, 0, 3 * d, 1e-4},
		{"gcr/regular", generalizedConjugateResidual, d, 0.5, 0, d, 1e-4},
		{"gcr/singular", generalizedConjugateResidual, 3, 0, 0, 3, 1e-3},
		{"gcr/extra iterations", generalizedConjugateResidual, d, 0.5, 0, 3 * d, 1e-4},
		{"gcr/non-symmetric", generalizedConjugateResidual, d, 0.5, 3, d, 1e-3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bm := make([]float64, d*c.rank)
			for k := range bm {
				bm[k] = r.NormFloat64()
			}
			m := make([][]float64, d)
			for i := range m {
				m[i] = make([]float64, d)
				for j := range m[i] {
					for k := range c.rank {
						m[i][j] += bm[i*c.rank+k] * bm[j*c.rank+k]
					}
				}
				m[i][i] += c.shift
			}
			for i := range d {
				for j := i + 1; j < d; j++ {
					v := c.skew * r.NormFloat64()
					m[i][j] += v
					m[j][i] -= v
				}
			}
			// Right-hand sides in M's range: b = M z.
			rhs := make([]float32, n*d)
			for s := range n {
				z := make([]float64, d)
				for k := range z {
					z[k] = r.NormFloat64()
				}
				for i := range d {
					for j := range d {
						rhs[s*d+i] += float32(m[i][j] * z[j])
					}
				}
			}
			mf := make([]float32, 0, d*d)
			for _, row := range m {
				for _, v := range row {
					mf = append(mf, float32(v))
				}
			}
			u := run1(t, func(g *graph.Graph) *graph.Node {
				mat := graph.Reshape(graph.Const(g, mf), d, d)
				apply := func(v *graph.Node) *graph.Node {
					return graph.Reshape(graph.Einsum("ij,nj->ni", mat, graph.Reshape(v, n, d)), n, 1, 1, d)
				}
				return c.solve(apply, graph.Reshape(graph.Const(g, rhs), n, 1, 1, d), c.iters)
			})
			// Check the relative residual M u − b, the solution being unique only
			// up to M's null space in the singular case.
			for s := range n {
				worst, scale := 0.0, 0.0
				for i := range d {
					v := -float64(rhs[s*d+i])
					scale = math.Max(scale, math.Abs(v))
					for j := range d {
						v += m[i][j] * float64(u[s*d+j])
					}
					worst = math.Max(worst, math.Abs(v))
				}
				if worst /= scale; worst > c.tol || math.IsNaN(worst) {
					t.Errorf("system %d: max |M u − b| / max |b| = %.3g > %.0e", s, worst, c.tol)
				}
			}
		})
	}
}

// TestGCRResidualMonotone checks that GCR's residual norm does not grow with
// the iteration count on a random non-symmetric system, and that d
// iterations solve it.
func TestGCRResidualMonotone(t *testing.T) {
	const d = 8
	r := rand.New(rand.NewPCG(3, 4))
	m := make([]float32, d*d)
	for k := range m {
		m[k] = float32(r.NormFloat64())
	}
	for i := range d {
		m[i*d+i] += 0.2
	}
	rhs := make([]float32, d)
	for k := range rhs {
		rhs[k] = float32(r.NormFloat64())
	}
	residual := func(solve func(apply func(v *graph.Node) *graph.Node, b *graph.Node, iters int) *graph.Node, iters int) float64 {
		out := run1(t, func(g *graph.Graph) *graph.Node {
			mat := graph.Reshape(graph.Const(g, m), d, d)
			apply := func(v *graph.Node) *graph.Node {
				return graph.Reshape(graph.Einsum("ij,nj->ni", mat, graph.Reshape(v, 1, d)), 1, 1, 1, d)
			}
			b := graph.Reshape(graph.Const(g, rhs), 1, 1, 1, d)
			u := solve(apply, b, iters)
			return graph.Sqrt(graph.ReduceAllSum(graph.Square(graph.Sub(apply(u), b))))
		})
		return float64(out[0])
	}
	prev := math.Inf(1)
	for k := 1; k <= d; k++ {
		g := residual(generalizedConjugateResidual, k)
		if g > prev*(1+1e-4) || math.IsNaN(g) {
			t.Errorf("GCR residual grew from %.4g to %.4g at %d iterations", prev, g, k)
		}
		prev = g
	}
	if prev > 1e-3 {
		t.Errorf("GCR residual %.3g after %d iterations on a %d×%d system", prev, d, d, d)
	}
}

// TestSafeDiv checks that 0/0 and x/0 give 0 while other quotients are
// exact, with a per-image denominator broadcast.
func TestSafeDiv(t *testing.T) {
	got := run1(t, func(g *graph.Graph) *graph.Node {
		num := graph.Reshape(graph.Const(g, []float32{1, 2, 0, 3}), 2, 2)
		den := graph.Reshape(graph.Const(g, []float32{2, 0}), 2, 1)
		return safeDiv(num, den)
	})
	want := []float32{0.5, 1, 0, 0}
	for k := range want {
		if got[k] != want[k] {
			t.Fatalf("safeDiv = %v, want %v", got, want)
		}
	}
}

// TestKrylovIterations checks the cap on a solver's unrolled steps: twice
// the unknowns per batch element, never below one, never above the request.
func TestKrylovIterations(t *testing.T) {
	cases := []struct {
		dims        []int
		iters, want int
	}{
		{[]int{1000, 1}, 10, 2},
		{[]int{1000, 4}, 10, 8},
		{[]int{1000, 4}, 5, 5},
		{[]int{2, 3, 16, 16}, 10, 10},
		{[]int{7, 1}, 0, 1},
	}
	be, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		g := graph.NewGraph(be, "krylov")
		b := graph.Parameter(g, "b", shapes.Make(dtypes.Float32, c.dims...))
		if got := krylovIterations(b, c.iters); got != c.want {
			t.Errorf("krylovIterations(%v, %d) = %d, want %d", c.dims, c.iters, got, c.want)
		}
	}
}

// TestKrylovCapOfMMPSCost checks that MMPS's NetworkCost counts the CG
// iterations its solve runs: the cap of krylovIterations on measurements
// of each shape, a batch of scalar measurements included.
func TestKrylovCapOfMMPSCost(t *testing.T) {
	be, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	for _, dims := range [][]int{{7}, {1000, 1}, {3, 5}, {2, 1, 2, 2}, {2, 3, 16, 16}} {
		g := graph.NewGraph(be, "krylov")
		b := graph.Parameter(g, "b", shapes.Make(dtypes.Float32, dims...))
		want := krylovIterations(b, 10) + 1
		if _, got := (MMPS{CGIterations: 10}).NetworkCost(nil, dims); got != want {
			t.Errorf("measurements %v: MMPS counts %d products, its solve runs %d (with the gradient's)", dims, got, want)
		}
	}
}
