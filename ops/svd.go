package ops

import (
	"fmt"
	"math"
	"slices"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// Decomposition is a singular value decomposition A = U Σ Vᵀ of a linear
// operator for one input shape [N,C,H,W] (the spectral methods' view of A,
// as DDRM's H_functions).
//
// Spectral vectors are [N,D] with D = C·H·W. V is orthogonal (D×D); the
// first m = len(Singulars()) spectral components carry the singular values
// s_i, the other D−m span the null space of A. U is orthogonal m×m on the
// measurement space: Ut maps a measurement (shaped as A's output) to [N,m]
// and U maps back.
type Decomposition interface {
	// Singulars returns s_1 … s_m (m values, non-negative; not necessarily
	// sorted).
	Singulars() []float64
	// Vt builds Vᵀ x: [N,C,H,W] → [N,D].
	Vt(x *graph.Node) *graph.Node
	// V builds V v: [N,D] → [N,C,H,W].
	V(v *graph.Node) *graph.Node
	// Ut builds Uᵀ y: a measurement → [N,m].
	Ut(y *graph.Node) *graph.Node
	// U builds U u: [N,m] → a measurement.
	U(u *graph.Node) *graph.Node
}

// SeparableDecomposition is implemented by decompositions of separable
// operators, Y = Mh X Mwᵀ on every channel (resizers, blurs whose kernel
// is of rank one), whose singular values are products of the two axis
// matrices' singular values. Methods that treat each axis's small values
// as the reference does (DDRM) ask for them.
//
// Singulars must then hold one block per channel of kh·kw products
// h_i·w_j (kh = len(h), kw = len(w)), row-major: index c·kh·kw + i·kw + j.
type SeparableDecomposition interface {
	Decomposition
	// AxisSingulars returns the singular values h of Mh (kh values) and w
	// of Mw (kw values), non-negative; the caller may change the slices.
	AxisSingulars() (h, w []float64)
}

// ZeroReporter is implemented by operators that can tell, before an image's
// shape is known, that they keep nothing of any image: A x = 0 for every x
// (an inpainting mask that hides every pixel). Such an operator has no
// positive singular value, and methods that divide by them (DDRM) refuse it
// before sampling.
type ZeroReporter interface {
	// KeepsNothing reports whether A x = 0 for every image x.
	KeepsNothing() bool
}

// Decomposer is implemented by linear operators that give their singular
// value decomposition (needed by DDRM).
type Decomposer interface {
	// SVD returns the decomposition of A for inputs shaped in, or an error
	// naming why there is none (a shape the operator does not take).
	SVD(in []int) (Decomposition, error)
}

// SVDReporter is implemented by operators that implement [Decomposer] and
// [Proximal] but have a decomposition for some of their instances only (a
// blur's, when its kernel is separable: a Fourier diagonalisation of the
// others would not hold under reflection padding).
type SVDReporter interface {
	// HasSVD reports whether this operator's SVD and Prox exist.
	HasSVD() bool
}

// HasSVD reports whether op gives its singular value decomposition: it
// implements [Decomposer], and says so when it is an [SVDReporter].
func HasSVD(op Operator) bool {
	_, ok := op.(Decomposer)
	return ok && svdReported(op)
}

// HasProx reports whether op solves its quadratic data problem in closed
// form: it implements [Proximal], and says so when it is an [SVDReporter].
func HasProx(op Operator) bool {
	_, ok := op.(Proximal)
	return ok && svdReported(op)
}

// svdReported is false when op is an [SVDReporter] without an SVD.
func svdReported(op Operator) bool {
	r, ok := op.(SVDReporter)
	return !ok || r.HasSVD()
}

// Proximal is implemented by linear operators that solve their own
// quadratic data problem in closed form (needed by DiffPIR's data step).
type Proximal interface {
	// Prox builds argmin_x ‖y − A x‖² + τ ‖x − x_in‖² for every image of
	// the batch; tau is a scalar node of x_in's dtype, τ > 0.
	Prox(xIn, y, tau *graph.Node) *graph.Node
}

// ProxSVD returns argmin_x ‖y − A x‖² + τ ‖x − x_in‖² through the
// decomposition d: in the spectral basis the problem is diagonal, v_i =
// (s_i ũ_i + τ ṽ_i)/(s_i² + τ) with ũ = Uᵀy and ṽ = Vᵀx_in, and the null
// space keeps x_in. Nothing is divided by τ alone, so small τ is stable.
func ProxSVD(d Decomposition, xIn, y, tau *graph.Node) *graph.Node {
	v := d.Vt(xIn)
	u := d.Ut(y)
	m := len(d.Singulars())
	s := constFloats(v, d.Singulars(), 1, m)
	head := graph.Slice(v, graph.AxisRange(), graph.AxisRange(0, m))
	num := graph.Add(graph.Mul(s, u), graph.Mul(tau, head))
	den := graph.Add(graph.Square(s), tau)
	head = graph.Div(num, den)
	if m == v.Shape().Dim(1) {
		return d.V(head)
	}
	tail := graph.Slice(v, graph.AxisRange(), graph.AxisRange(m))
	return d.V(graph.Concatenate([]*graph.Node{head, tail}, 1))
}

// ApplySVD returns A x = U Σ (Vᵀ x)[:m] through the decomposition d.
func ApplySVD(d Decomposition, x *graph.Node) *graph.Node {
	v := d.Vt(x)
	m := len(d.Singulars())
	s := constFloats(v, d.Singulars(), 1, m)
	return d.U(graph.Mul(s, graph.Slice(v, graph.AxisRange(), graph.AxisRange(0, m))))
}

// AdjointSVD returns Aᵀ y = V [Σ Uᵀ y; 0] through the decomposition d, for
// a measurement y [N,...] and inputs [N,C,H,W] of dimension dim = D =
// C·H·W, the width of d's spectral vectors: the result is shaped as d.V
// gives it, [N,C,H,W]. A dim other than the D that d.V maps from (fewer
// than the m singular values, or more or fewer than the pixels d.V
// returns) panics with an error naming both, as graph-building misuse
// does.
func AdjointSVD(d Decomposition, y *graph.Node, dim int) *graph.Node {
	m := len(d.Singulars())
	if sd, ok := d.(spectralSized); ok && sd.spectralDim() != dim {
		panic(fmt.Errorf("ops: AdjointSVD for inputs of dimension %d, but the decomposition's are of dimension D = C·H·W = %d", dim, sd.spectralDim()))
	}
	if dim < m {
		panic(fmt.Errorf("ops: AdjointSVD for inputs of dimension %d, but the decomposition has %d singular values: D = C·H·W is at least m", dim, m))
	}
	u := d.Ut(y)
	s := constFloats(u, d.Singulars(), 1, m)
	v := graph.Mul(s, u)
	if dim > m {
		v = graph.Concatenate([]*graph.Node{v, graph.Zeros(u.Graph(), shapeOfDims(u, u.Shape().Dim(0), dim-m))}, 1)
	}
	x := d.V(v)
	if got := x.Shape().Size() / max(x.Shape().Dim(0), 1); x.Rank() < 1 || got != dim {
		panic(fmt.Errorf("ops: AdjointSVD for inputs of dimension %d, but the decomposition maps spectral vectors to %s, of dimension %d", dim, x.Shape(), got))
	}
	return x
}

// spectralSized is implemented by the package's decompositions: D, the
// width of their spectral vectors.
type spectralSized interface {
	spectralDim() int
}

// checkSpectral panics, naming the decomposition's method, unless v is an
// [N,d] spectral vector.
func checkSpectral(what string, v *graph.Node, d int) {
	if v.Rank() != 2 || v.Shape().Dim(1) != d {
		panic(fmt.Errorf("ops: %s takes spectral vectors [N,%d], got %s", what, d, v.Shape()))
	}
}

// gatherColumns returns the columns idx of the [N,D] node v, [N,len(idx)].
func gatherColumns(v *graph.Node, idx []int) *graph.Node {
	ind := make([]int32, len(idx))
	for k, i := range idx {
		ind[k] = int32(i)
	}
	return gatherColumnsAt(v, graph.Const(v.Graph(), ind))
}

// gatherColumnsAt returns the columns idx ([K] int32 node) of the [N,D]
// node v, [N,K].
func gatherColumnsAt(v, idx *graph.Node) *graph.Node {
	t := graph.Transpose(v, 0, 1)
	g := graph.Gather(t, graph.Reshape(idx, idx.Shape().Dim(0), 1))
	return graph.Transpose(g, 0, 1)
}

// inversePermutation returns q with q[p[k]] = k.
func inversePermutation(p []int) []int {
	q := make([]int, len(p))
	for k, i := range p {
		q[i] = k
	}
	return q
}

// checkPermutation reports whether p is a permutation of 0…n−1.
func checkPermutation(p []int, n int) error {
	if len(p) != n {
		return fmt.Errorf("permutation has %d entries, want %d", len(p), n)
	}
	seen := make([]bool, n)
	for _, i := range p {
		if i < 0 || i >= n || seen[i] {
			return fmt.Errorf("index %d repeated or outside [0,%d)", i, n)
		}
		seen[i] = true
	}
	return nil
}

// SVDDense returns the singular value decomposition a = U diag(s) Vᵀ of a
// dense r×c matrix (row-major rows) by one-sided Jacobi rotations: u is
// r×k, s has k = min(r,c) values in decreasing order, v is c×c with its
// first k columns matching s and the rest spanning the null space.
func SVDDense(a [][]float64) (u [][]float64, s []float64, v [][]float64, err error) {
	r := len(a)
	if r == 0 || len(a[0]) == 0 {
		return nil, nil, nil, fmt.Errorf("svd: empty matrix")
	}
	c := len(a[0])
	for _, row := range a {
		if len(row) != c {
			return nil, nil, nil, fmt.Errorf("svd: ragged matrix")
		}
		for _, x := range row {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return nil, nil, nil, fmt.Errorf("svd: matrix has non-finite entries")
			}
		}
	}
	if r < c {
		return svdWide(a)
	}
	// Columns of w = a·v are rotated until orthogonal; w is kept column-major.
	w := make([][]float64, c)
	v = make([][]float64, c) // v[j] is column j
	for j := range w {
		w[j] = make([]float64, r)
		for i := range r {
			w[j][i] = a[i][j]
		}
		v[j] = make([]float64, c)
		v[j][j] = 1
	}
	for sweep := 0; sweep < 60; sweep++ {
		rotated := false
		for p := 0; p < c-1; p++ {
			for q := p + 1; q < c; q++ {
				alpha, beta, gamma := dot64(w[p], w[p]), dot64(w[q], w[q]), dot64(w[p], w[q])
				if gamma == 0 || math.Abs(gamma) <= 1e-15*math.Sqrt(alpha*beta) {
					continue
				}
				rotated = true
				zeta := (beta - alpha) / (2 * gamma)
				t := math.Copysign(1, zeta) / (math.Abs(zeta) + math.Sqrt(1+zeta*zeta))
				cs := 1 / math.Sqrt(1+t*t)
				sn := cs * t
				rotate(w[p], w[q], cs, sn)
				rotate(v[p], v[q], cs, sn)
			}
		}
		if !rotated {
			break
		}
	}
	order := make([]int, c)
	norms := make([]float64, c)
	for j := range order {
		order[j] = j
		norms[j] = math.Sqrt(dot64(w[j], w[j]))
	}
	slices.SortStableFunc(order, func(x, y int) int {
		switch {
		case norms[x] > norms[y]:
			return -1
		case norms[x] < norms[y]:
			return 1
		}
		return 0
	})
	k := min(r, c)
	s = make([]float64, k)
	u = make([][]float64, r)
	for i := range u {
		u[i] = make([]float64, k)
	}
	vOut := make([][]float64, c)
	for i := range vOut {
		vOut[i] = make([]float64, c)
	}
	for jj, j := range order {
		for i := range c {
			vOut[i][jj] = v[j][i]
		}
		if jj < k {
			if norms[j] <= 1e-13*norms[order[0]] {
				continue // numerically zero: completeColumns gives u a unit column
			}
			s[jj] = norms[j]
			for i := range r {
				if norms[j] > 0 {
					u[i][jj] = w[j][i] / norms[j]
				}
			}
		}
	}
	completeColumns(u, s)
	return u, s, vOut, nil
}

// svdWide is SVDDense for r < c: the rotations run over the r columns of
// aᵀ (c² rotations of length-c columns would cost seconds for the mixture
// benchmark's 4×800 matrices), and V's null space is completed by the
// Householder reflections of a QR factorisation of its first r columns.
func svdWide(a [][]float64) (u [][]float64, s []float64, v [][]float64, err error) {
	r, c := len(a), len(a[0])
	at := make([][]float64, c)
	for j := range at {
		at[j] = make([]float64, r)
		for i := range r {
			at[j][i] = a[i][j]
		}
	}
	ut, s, vt, err := SVDDense(at) // aᵀ = ut·diag(s)·vtᵀ: ut is c×r, vt r×r
	if err != nil {
		return nil, nil, nil, err
	}
	v = make([][]float64, c)
	for i := range v {
		v[i] = make([]float64, c)
		copy(v[i], ut[i])
	}
	for j, col := range householderComplement(ut, r) {
		for i := range c {
			v[i][r+j] = col[i]
		}
	}
	return vt, s, v, nil
}

// householderComplement returns c−k unit vectors orthogonal to each other
// and to the k orthonormal columns of the c×k matrix q: the last c−k
// columns of the orthogonal factor of q's Householder QR.
func householderComplement(q [][]float64, k int) [][]float64 {
	c := len(q)
	m := make([][]float64, k) // m[j] is column j, reduced in place
	for j := range m {
		m[j] = make([]float64, c)
		for i := range c {
			m[j][i] = q[i][j]
		}
	}
	refl := make([][]float64, k)
	for j := range k {
		x := m[j][j:]
		norm := math.Sqrt(dot64(x, x))
		w := append([]float64(nil), x...)
		w[0] += math.Copysign(norm, x[0])
		ww := dot64(w, w)
		if ww == 0 {
			refl[j] = nil
			continue
		}
		refl[j] = w
		for jj := j; jj < k; jj++ {
			y := m[jj][j:]
			f := 2 * dot64(w, y) / ww
			for i := range y {
				y[i] -= f * w[i]
			}
		}
	}
	out := make([][]float64, c-k)
	for e := range out {
		col := make([]float64, c)
		col[k+e] = 1
		for j := k - 1; j >= 0; j-- {
			w := refl[j]
			if w == nil {
				continue
			}
			y := col[j:]
			f := 2 * dot64(w, y) / dot64(w, w)
			for i := range y {
				y[i] -= f * w[i]
			}
		}
		out[e] = col
	}
	return out
}

// completeColumns replaces the columns of u whose singular value is zero
// by unit vectors orthogonal to the others (Gram–Schmidt over the standard
// basis), so that u stays orthogonal for rank-deficient matrices.
func completeColumns(u [][]float64, s []float64) {
	r := len(u)
	for j, sj := range s {
		if sj > 0 {
			continue
		}
		for e := 0; e < r; e++ {
			col := make([]float64, r)
			col[e] = 1
			for range 2 { // twice, for orthogonality to rounding
				for k := range s {
					if k == j || (s[k] == 0 && k > j) {
						continue
					}
					var d float64
					for i := range r {
						d += u[i][k] * col[i]
					}
					for i := range r {
						col[i] -= d * u[i][k]
					}
				}
			}
			if n := math.Sqrt(dot64(col, col)); n > 1e-6 {
				for i := range r {
					u[i][j] = col[i] / n
				}
				break
			}
		}
	}
}

func dot64(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// rotate applies the Jacobi rotation (c, s) to the pair of vectors (a, b).
func rotate(a, b []float64, c, s float64) {
	for i := range a {
		x, y := a[i], b[i]
		a[i] = c*x - s*y
		b[i] = s*x + c*y
	}
}

// shapeOfDims returns the shape of like's dtype with the given dimensions.
func shapeOfDims(like *graph.Node, dims ...int) shapes.Shape {
	return shapes.Make(like.DType(), dims...)
}
