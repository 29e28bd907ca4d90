package ops

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/cadps/toolkit/internal/linalg"
	"github.com/cadps/toolkit/internal/num"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// TestSVDOperatorPseudoInverse checks an SVDOperator's A⁺ as a matrix (A⁺
// applied to every unit measurement) against A (A applied to every unit
// image): the four Penrose conditions, which only the Moore–Penrose
// inverse meets (A A⁺ A = A, A⁺ A A⁺ = A⁺, A A⁺ and A⁺ A symmetric), and a
// dense reference where the case has one: for A = B C of rank r (B m×r, C
// r×D, both of rank r) A⁺ = Cᵀ(CCᵀ)⁻¹(BᵀB)⁻¹Bᵀ, computed in float64 without
// an SVD. A singular value at or below max(M, D)·ε of the largest (3·10⁻⁷
// of 1 for M = D = 5 in float32; 10⁻⁶ for M = 16 measurements of an image
// of D = 2 values) gives a zero component, as an exact zero does, and
// 10⁻⁴ is inverted.
func TestSVDOperatorPseudoInverse(t *testing.T) {
	b := newBackend(t)
	// Rank 3, 5×12: B 5×3 and C 3×12 with random entries.
	bf, cf := randomMatrix(11, 5, 3), randomMatrix(12, 3, 12)
	lowRank := matMul(bf, cf)
	mask := []float32{1, 0, 1, 1, 1, 0, 0, 1, 1}
	maskSVD, err := NewMaskSVD(mask, []int{1, 2, 3, 3})
	if err != nil {
		t.Fatal(err)
	}
	block, err := BlockAverageSVD(2, []int{1, 1, 4, 4})
	if err != nil {
		t.Fatal(err)
	}
	dense := func(a [][]float64, in []int) Decomposition {
		d, err := NewDenseSVD(a, in)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	cases := []struct {
		name    string
		d       Decomposition
		in, out []int
		want    [][]float64 // A⁺ (D×m), nil: the Penrose conditions alone
	}{
		{"dense 5x12 of rank 3", dense(lowRank, []int{1, 1, 3, 4}), []int{1, 1, 3, 4}, []int{1, 5}, factoredPseudoInverse(t, bf, cf)},
		{"diagonal with tiny and zero values", dense(diagonalMatrix(1, 0.5, 1e-4, 3e-7, 0), []int{1, 5}), []int{1, 5}, []int{1, 5},
			diagonalMatrix(1, 2, 1e4, 0, 0)},
		{"tall: 16 measurements of 2 values", tallSVD{[]float64{1, 1e-6}, 16}, []int{1, 1, 1, 2}, []int{1, 16},
			[][]float64{append([]float64{1}, make([]float64, 15)...), make([]float64, 16)}},
		{"mask", maskSVD, []int{1, 2, 3, 3}, []int{1, 2, 3, 3}, nil},
		{"block average x2", block, []int{1, 1, 4, 4}, []int{1, 1, 2, 2}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			op, err := NewSVDOperator("svd", c.d, c.in, c.out)
			if err != nil {
				t.Fatal(err)
			}
			d, m := num.Prod(c.in[1:]), num.Prod(c.out[1:])
			a := transposeMatrix(unitImages(t, b, d, c.in, op.Apply)) // m×D
			p := transposeMatrix(unitImages(t, b, m, c.out, op.PseudoInverse))
			for i := range p {
				for j, v := range p[i] {
					if math.IsNaN(v) || math.IsInf(v, 0) {
						t.Fatalf("A⁺[%d][%d] = %v", i, j, v)
					}
				}
			}
			ap, pa := matMul(a, p), matMul(p, a)
			for _, e := range []struct {
				what      string
				got, want [][]float64
			}{
				{"A A⁺ A vs A", matMul(ap, a), a},
				{"A⁺ A A⁺ vs A⁺", matMul(pa, p), p},
				{"A A⁺ vs its transpose", ap, transposeMatrix(ap)},
				{"A⁺ A vs its transpose", pa, transposeMatrix(pa)},
				{"A⁺ vs the dense reference", p, c.want},
			} {
				if e.want == nil {
					continue
				}
				if dev := relativeDeviation(e.got, e.want); dev > 1e-4 {
					t.Errorf("%s: relative deviation %.3g", e.what, dev)
				}
			}
		})
	}
}

// TestSVDOperatorPseudoInverseShape checks that A⁺ of a measurement of
// another shape than the operator's output panics with an error naming
// both, which the graph's execution returns.
func TestSVDOperatorPseudoInverseShape(t *testing.T) {
	b := newBackend(t)
	block, err := BlockAverageSVD(2, []int{1, 1, 4, 4})
	if err != nil {
		t.Fatal(err)
	}
	dense, err := NewDenseSVD([][]float64{{1, 0, 0, 0}, {0, 1, 0, 0}}, []int{1, 1, 2, 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		d       Decomposition
		in, out []int
		y       []int
		want    string // substring of the error; "" runs
	}{
		{"block, its output", block, []int{1, 1, 4, 4}, []int{1, 1, 2, 2}, []int{3, 1, 2, 2}, ""},
		{"block, the image", block, []int{1, 1, 4, 4}, []int{1, 1, 2, 2}, []int{1, 1, 4, 4},
			"pseudo-inverse of a measurement shaped [1 1 4 4], want [N [1 2 2]]"},
		{"block, flattened", block, []int{1, 1, 4, 4}, []int{1, 1, 2, 2}, []int{1, 4}, "shaped [1 4], want [N [1 2 2]]"},
		{"dense, its output", dense, []int{1, 1, 2, 2}, []int{1, 2}, []int{2, 2}, ""},
		{"dense, too wide", dense, []int{1, 1, 2, 2}, []int{1, 2}, []int{1, 3}, "shaped [1 3], want [N [2]]"},
		{"dense, another rank", dense, []int{1, 1, 2, 2}, []int{1, 2}, []int{1, 1, 2}, "shaped [1 1 2], want [N [2]]"},
	} {
		t.Run(c.name, func(t *testing.T) {
			op, err := NewSVDOperator("svd", c.d, c.in, c.out)
			if err != nil {
				t.Fatal(err)
			}
			exec := graph.MustNewExec(b, op.PseudoInverse)
			out, err := exec.Exec(tensors.FromFlatDataAndDimensions(randomVector(1, num.Prod(c.y)), c.y...))
			switch {
			case c.want == "" && err != nil:
				t.Fatal(err)
			case c.want == "":
				want := append([]int{c.y[0]}, c.in[1:]...)
				if got := out[0].Shape().Dimensions; !slices.Equal(got, want) {
					t.Errorf("A⁺y shaped %v, want %v", got, want)
				}
			case err == nil || !strings.Contains(err.Error(), c.want):
				t.Fatalf("A⁺y for y shaped %v: error %v, want %q", c.y, err, c.want)
			}
		})
	}
}

// TestSVDOperatorNothingKept: a decomposition without singular values (a
// mask that hides every pixel) is refused by name, where it made Apply fail
// deep in the backend.
func TestSVDOperatorNothingKept(t *testing.T) {
	in := []int{1, 3, 2, 2}
	hidden, err := NewMaskSVD(make([]float32, 4), in)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewSVDOperator("hidden", hidden, in, in); err == nil || !strings.Contains(err.Error(), "svd operator hidden: the decomposition has no singular values") {
		t.Errorf("NewSVDOperator of a rank-0 decomposition: error %v", err)
	}
}

// tallSVD is the decomposition of a diagonal M×D matrix with D = len(s)
// singular values s and M > D (Vᵀ = I, U = the first D columns of I):
// measurements of more values than the image has.
type tallSVD struct {
	s []float64
	m int // M
}

func (d tallSVD) Singulars() []float64         { return d.s }
func (d tallSVD) Vt(x *graph.Node) *graph.Node { return graph.Reshape(x, x.Shape().Dim(0), len(d.s)) }
func (d tallSVD) V(v *graph.Node) *graph.Node {
	return graph.Reshape(v, v.Shape().Dim(0), 1, 1, len(d.s))
}
func (d tallSVD) Ut(y *graph.Node) *graph.Node {
	return graph.Slice(y, graph.AxisRange(), graph.AxisRange(0, len(d.s)))
}
func (d tallSVD) U(u *graph.Node) *graph.Node {
	zeros := graph.Zeros(u.Graph(), shapeOfDims(u, u.Shape().Dim(0), d.m-len(d.s)))
	return graph.Concatenate([]*graph.Node{u, zeros}, 1)
}

// unitImages returns f applied to the n unit vectors shaped [n, dims[1:]…]
// (one per batch entry), row k holding f(e_k) flattened.
func unitImages(t *testing.T, b backends.Backend, n int, dims []int, f func(*graph.Node) *graph.Node) [][]float64 {
	t.Helper()
	eye := make([]float32, n*n)
	for k := range n {
		eye[k*n+k] = 1
	}
	in := append([]int{n}, dims[1:]...)
	exec := graph.MustNewExec(b, f)
	out, err := exec.Exec(tensors.FromFlatDataAndDimensions(eye, in...))
	if err != nil {
		t.Fatal(err)
	}
	flat := tensors.MustCopyFlatData[float32](out[0])
	w := len(flat) / n
	rows := make([][]float64, n)
	for k := range rows {
		rows[k] = make([]float64, w)
		for j := range w {
			rows[k][j] = float64(flat[k*w+j])
		}
	}
	return rows
}

// factoredPseudoInverse returns (B C)⁺ = Cᵀ(CCᵀ)⁻¹(BᵀB)⁻¹Bᵀ for B of full
// column rank and C of full row rank, through Cholesky solves.
func factoredPseudoInverse(t *testing.T, b, c [][]float64) [][]float64 {
	t.Helper()
	r := len(c)
	inv := func(g [][]float64) [][]float64 { // g⁻¹ for g symmetric positive definite, r×r
		flat := make([]float64, 0, r*r)
		for _, row := range g {
			flat = append(flat, row...)
		}
		l, err := linalg.Cholesky(flat, r)
		if err != nil {
			t.Fatal(err)
		}
		out := make([][]float64, r)
		for j := range r {
			e := make([]float64, r)
			e[j] = 1
			linalg.CholSolve(l, r, e)
			out[j] = e // g⁻¹ is symmetric: column j is row j
		}
		return out
	}
	ct, bt := transposeMatrix(c), transposeMatrix(b)
	return matMul(matMul(ct, inv(matMul(c, ct))), matMul(inv(matMul(bt, b)), bt))
}

// randomMatrix returns an r×c matrix of standard normal entries from seed.
func randomMatrix(seed uint64, r, c int) [][]float64 {
	v := randomVector(seed, r*c)
	m := make([][]float64, r)
	for i := range m {
		m[i] = make([]float64, c)
		for j := range c {
			m[i][j] = float64(v[i*c+j])
		}
	}
	return m
}

// diagonalMatrix returns the square matrix with diagonal d.
func diagonalMatrix(d ...float64) [][]float64 {
	m := make([][]float64, len(d))
	for i, v := range d {
		m[i] = make([]float64, len(d))
		m[i][i] = v
	}
	return m
}

// matMul returns a b.
func matMul(a, b [][]float64) [][]float64 {
	out := make([][]float64, len(a))
	for i := range a {
		out[i] = make([]float64, len(b[0]))
		for k, v := range a[i] {
			for j := range b[k] {
				out[i][j] += v * b[k][j]
			}
		}
	}
	return out
}

// transposeMatrix returns aᵀ.
func transposeMatrix(a [][]float64) [][]float64 {
	out := make([][]float64, len(a[0]))
	for j := range out {
		out[j] = make([]float64, len(a))
		for i := range a {
			out[j][i] = a[i][j]
		}
	}
	return out
}

// relativeDeviation returns max |got − want| over 1 + max |want|, or +Inf
// when the shapes differ.
func relativeDeviation(got, want [][]float64) float64 {
	if len(got) != len(want) {
		return math.Inf(1)
	}
	var dev, scale float64
	for i := range want {
		if len(got[i]) != len(want[i]) {
			return math.Inf(1)
		}
		for j := range want[i] {
			dev = max(dev, math.Abs(got[i][j]-want[i][j]))
			scale = max(scale, math.Abs(want[i][j]))
		}
	}
	return dev / (1 + scale)
}
