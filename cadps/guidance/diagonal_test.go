package guidance

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps/backend"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// diagonalWorld is a fixed random symmetric 9×9 matrix J acting on [N,1,3,3]
// items, with the quantities the estimators must recover.
type diagonalWorld struct {
	j        [][]float64
	diag     []float64 // J_ii
	rowSum   []float64 // Σ_j J_ij
	probeVar []float64 // Σ_{j≠i} J_ij²: one Hutchinson probe's variance
}

func newDiagonalWorld() diagonalWorld {
	const d = 9
	r := rand.New(rand.NewPCG(5, 6))
	w := diagonalWorld{j: make([][]float64, d), diag: make([]float64, d), rowSum: make([]float64, d), probeVar: make([]float64, d)}
	for i := range w.j {
		w.j[i] = make([]float64, d)
	}
	for i := range d {
		for k := i; k < d; k++ {
			v := r.NormFloat64()
			w.j[i][k], w.j[k][i] = v, v
		}
	}
	for i := range d {
		w.diag[i] = w.j[i][i]
		for k := range d {
			w.rowSum[i] += w.j[i][k]
			if k != i {
				w.probeVar[i] += w.j[i][k] * w.j[i][k]
			}
		}
	}
	return w
}

// estimate runs the estimator on n items at respaced index i and returns the
// estimates, [n][9].
func (w diagonalWorld) estimate(t *testing.T, d Diagonal, n, i int) [][]float64 {
	t.Helper()
	flatJ := make([]float32, 0, 81)
	for _, row := range w.j {
		for _, v := range row {
			flatJ = append(flatJ, float32(v))
		}
	}
	out := run1(t, func(g *graph.Graph) *graph.Node {
		x := graph.Zeros(g, shapesOf(n))
		idx := graph.Scalar(g, dtypes.Int32, i)
		jm := graph.Const(g, flatJ)
		jm = graph.Reshape(jm, 9, 9)
		jv := func(v *graph.Node) *graph.Node {
			flat := graph.Reshape(v, n, 9)
			return graph.Reshape(graph.Einsum("ij,nj->ni", jm, flat), n, 1, 3, 3)
		}
		return d.estimate(x, idx, jv)
	})
	res := make([][]float64, n)
	for k := range res {
		res[k] = make([]float64, 9)
		for e := range 9 {
			res[k][e] = float64(out[k*9+e])
		}
	}
	return res
}

// TestDiagonalEstimators checks the three estimators on a known symmetric
// matrix: the row sums and the exact diagonal to float32 precision on every
// item; Hutchinson's mean over 4000 items (independent probes) within five
// standard errors of the diagonal, its variance within 10 % of the
// theoretical Σ_{j≠i} J_ij² / probes, and its probes fixed by (seed, step)
// and different across steps and seeds.
func TestDiagonalEstimators(t *testing.T) {
	w := newDiagonalWorld()
	for _, c := range []struct {
		name string
		d    Diagonal
		want []float64
	}{
		{"rowsum", Diagonal{}, w.rowSum},
		{"rowsum/named", Diagonal{Estimator: RowSum}, w.rowSum},
		{"exact", Diagonal{Estimator: ExactDiagonal}, w.diag},
	} {
		t.Run(c.name, func(t *testing.T) {
			for k, item := range w.estimate(t, c.d, 3, 7) {
				for e, v := range item {
					if math.Abs(v-c.want[e]) > 1e-5*(1+math.Abs(c.want[e])) {
						t.Fatalf("item %d element %d: %.6g, want %.6g", k, e, v, c.want[e])
					}
				}
			}
		})
	}
	const n = 4000
	for _, probes := range []int{1, 4} {
		d := Diagonal{Estimator: Hutchinson, Probes: probes, Seed: 11}
		est := w.estimate(t, d, n, 7)
		for e := range 9 {
			mean, sq := 0.0, 0.0
			for _, item := range est {
				mean += item[e] / n
			}
			for _, item := range est {
				sq += (item[e] - mean) * (item[e] - mean) / (n - 1)
			}
			wantVar := w.probeVar[e] / float64(probes)
			if se := math.Sqrt(wantVar / n); math.Abs(mean-w.diag[e]) > 5*se {
				t.Errorf("probes %d element %d: mean %.4f, diagonal %.4f (standard error %.4f)", probes, e, mean, w.diag[e], se)
			}
			if math.Abs(sq/wantVar-1) > 0.1 {
				t.Errorf("probes %d element %d: variance %.4f, want %.4f", probes, e, sq, wantVar)
			}
		}
	}
	same := func(a, b [][]float64) bool {
		for k := range a {
			for e := range a[k] {
				if a[k][e] != b[k][e] {
					return false
				}
			}
		}
		return true
	}
	base := Diagonal{Estimator: Hutchinson, Seed: 11}
	first := w.estimate(t, base, 8, 7)
	if !same(first, w.estimate(t, base, 8, 7)) {
		t.Error("the same seed and step gave different probes")
	}
	if same(first, w.estimate(t, base, 8, 8)) {
		t.Error("steps 7 and 8 gave the same probes")
	}
	if same(first, w.estimate(t, Diagonal{Estimator: Hutchinson, Seed: 12}, 8, 7)) {
		t.Error("seeds 11 and 12 gave the same probes")
	}
}

// TestParseDiagonal checks the estimator names and the error for an
// unknown one.
func TestParseDiagonal(t *testing.T) {
	for _, c := range []struct {
		in   string
		want DiagonalEstimator
		err  bool
	}{
		{"", RowSum, false},
		{"rowsum", RowSum, false},
		{"hutchinson", Hutchinson, false},
		{"exact", ExactDiagonal, false},
		{"diag", "", true},
	} {
		got, err := ParseDiagonal(c.in)
		if (err != nil) != c.err || got != c.want {
			t.Errorf("ParseDiagonal(%q) = %q, %v; want %q (error %v)", c.in, got, err, c.want, c.err)
		}
	}
}

// shapesOf returns the float32 shape [n,1,3,3].
func shapesOf(n int) shapes.Shape { return shapes.Make(dtypes.Float32, n, 1, 3, 3) }

// TestExactDiagonalLimit checks that the exact diagonal refuses items above
// MaxExactDiagonal elements with an error naming the limit.
func TestExactDiagonalLimit(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	_, err = graph.ExecOnce(b, func(g *graph.Graph) *graph.Node {
		x := graph.Zeros(g, shapes.Make(dtypes.Float32, 1, 1, 33, 33))
		return Diagonal{Estimator: ExactDiagonal}.estimate(x, graph.Scalar(g, dtypes.Int32, 0), func(v *graph.Node) *graph.Node { return v })
	})
	if err == nil || !strings.Contains(err.Error(), "1089 elements per item is over the limit of 1024") {
		t.Fatalf("error %v, want the exact diagonal's size limit", err)
	}
}
