package gmm

import (
	"fmt"

	"github.com/cadps/toolkit/cadps/nn"
	"github.com/cadps/toolkit/internal/linalg"
	"github.com/cadps/toolkit/ops"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// Matrix is the linear measurement operator y = A x on vectors: x [N, d] to
// y [N, m]. It implements ops.Operator, ops.Linear, ops.PseudoInverter
// (A⁺ = Aᵀ(AAᵀ)⁻¹ for an A of full row rank), and, through the dense SVD of
// A, ops.Decomposer and ops.Proximal (for DDRM and DiffPIR).
type Matrix struct {
	m, d int
	a    []float32 // m×d
	pinv []float32 // d×m
	svd  *ops.DenseSVD
}

// NewMatrix returns the operator of A (m rows of length d, full row rank).
func NewMatrix(a [][]float64) (*Matrix, error) {
	m := len(a)
	if m == 0 || len(a[0]) == 0 {
		return nil, fmt.Errorf("gmm: empty measurement matrix (%d rows)", m)
	}
	d := len(a[0])
	op := &Matrix{m: m, d: d, a: make([]float32, 0, m*d), pinv: make([]float32, d*m)}
	for i, row := range a {
		if len(row) != d {
			return nil, fmt.Errorf("gmm: row %d of A has %d columns, row 0 has %d", i, len(row), d)
		}
		op.a = append(op.a, toF32(row)...)
	}
	svd, err := ops.NewDenseSVD(a, []int{1, d})
	if err != nil {
		return nil, fmt.Errorf("gmm: A: %w", err)
	}
	op.svd = svd
	gram := make([]float64, m*m)
	for i := range m {
		for j := range m {
			gram[i*m+j] = linalg.Dot(a[i], a[j])
		}
	}
	l, err := cholesky(gram, m)
	if err != nil {
		return nil, fmt.Errorf("gmm: A A ᵀ: %w (A must have full row rank)", err)
	}
	e := make([]float64, m)
	for j := range m { // column j of A⁺ = Aᵀ (AAᵀ)⁻¹ e_j
		clear(e)
		e[j] = 1
		c := cholSolve(l, m, e)
		for i := range d {
			s := 0.0
			for r := range m {
				s += a[r][i] * c[r]
			}
			op.pinv[i*m+j] = float32(s)
		}
	}
	return op, nil
}

// Name implements ops.Operator.
func (*Matrix) Name() string { return "matrix" }

// OutputShape implements ops.Operator: [N, d] → [N, m].
func (op *Matrix) OutputShape(in []int) ([]int, error) {
	if len(in) != 2 || in[1] != op.d {
		return nil, fmt.Errorf("matrix operator: input shape %v, want [N, %d]", in, op.d)
	}
	return []int{in[0], op.m}, nil
}

// Apply implements ops.Operator: x Aᵀ.
func (op *Matrix) Apply(x *graph.Node) *graph.Node {
	a := graph.Const(x.Graph(), tensors.FromFlatDataAndDimensions(op.a, op.m, op.d))
	return nn.DotGeneralConst(x, []int{1}, nil, a, []int{1}, nil)
}

// Adjoint implements ops.Linear: y A.
func (op *Matrix) Adjoint(y *graph.Node) *graph.Node {
	a := graph.Const(y.Graph(), tensors.FromFlatDataAndDimensions(op.a, op.m, op.d))
	return nn.DotGeneralConst(y, []int{1}, nil, a, []int{0}, nil)
}

// PseudoInverse implements ops.PseudoInverter: y (A⁺)ᵀ.
func (op *Matrix) PseudoInverse(y *graph.Node) *graph.Node {
	p := graph.Const(y.Graph(), tensors.FromFlatDataAndDimensions(op.pinv, op.d, op.m))
	return nn.DotGeneralConst(y, []int{1}, nil, p, []int{1}, nil)
}

// SVD implements ops.Decomposer: the dense SVD of A for inputs [N, d].
func (op *Matrix) SVD(in []int) (ops.Decomposition, error) {
	if _, err := op.OutputShape(in); err != nil {
		return nil, err
	}
	return op.svd, nil
}

// Prox implements ops.Proximal through the SVD of A.
func (op *Matrix) Prox(xIn, y, tau *graph.Node) *graph.Node { return ops.ProxSVD(op.svd, xIn, y, tau) }
