package ops

import (
	"fmt"

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
// xIn is a float [N,C,H,W] batch of the decomposition's input shape, y the
// measurement [N,...] shaped as A maps xIn, and tau a scalar node of
// xIn's dtype, τ > 0 (as for [Proximal]); the result is shaped as d.V
// gives it, like xIn.
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

// ApplySVD returns A x = U Σ (Vᵀ x)[:m] through the decomposition d: x
// is a float [N,C,H,W] batch of the decomposition's input shape (the
// singular values are taken in its dtype), and the result is the
// measurement [N,...], shaped as d.U gives it.
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

// measurementSized is implemented by the decompositions whose Uᵀ reads a
// measurement as one vector of a fixed length (DenseSVD, BlockSVD): its
// values per image.
type measurementSized interface {
	measurementDim() int
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

// shapeOfDims returns the shape of like's dtype with the given dimensions.
func shapeOfDims(like *graph.Node, dims ...int) shapes.Shape {
	return shapes.Make(like.DType(), dims...)
}
