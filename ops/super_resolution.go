package ops

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/graph"
)

// SuperResolution is the downsampling operator of super-resolution: the
// antialiased resizer of DPS's util/resizer.py (MATLAB imresize semantics)
// shrinking H and W by an integer factor. It is applied as two dense matrix
// products computed on the host, so its adjoint (the transposed matrices)
// and its pseudo-inverse are exact.
type SuperResolution struct {
	factor int
	kernel ResizeKernel
}

// NewSuperResolution returns the ×factor downsampling operator with the
// named resize kernel ("" or "cubic" as the reference; see
// [LookupResizeKernel]).
func NewSuperResolution(factor int, kernel string) (*SuperResolution, error) {
	if factor < 1 {
		return nil, fmt.Errorf("super_resolution: factor must be a positive integer, got %d", factor)
	}
	k, err := LookupResizeKernel(kernel)
	if err != nil {
		return nil, fmt.Errorf("super_resolution: %w", err)
	}
	return &SuperResolution{factor: factor, kernel: k}, nil
}

// Name implements [Operator].
func (s *SuperResolution) Name() string { return "super_resolution" }

// Factor returns the downsampling factor.
func (s *SuperResolution) Factor() int { return s.factor }

// Kernel returns the name of the resize kernel.
func (s *SuperResolution) Kernel() string { return s.kernel.Name }

// String describes the operator as a spec.
func (s *SuperResolution) String() string {
	return fmt.Sprintf("super_resolution:factor=%d,kernel=%s", s.factor, s.kernel.Name)
}

// OutputShape implements [Operator]: [N,C,H/f,W/f]; f must divide H and W.
func (s *SuperResolution) OutputShape(in []int) ([]int, error) {
	if err := checkImageShape(in); err != nil {
		return nil, err
	}
	h, w := in[2], in[3]
	if h%s.factor != 0 || w%s.factor != 0 {
		return nil, fmt.Errorf("factor %d does not divide the image size %dx%d", s.factor, h, w)
	}
	return []int{in[0], in[1], h / s.factor, w / s.factor}, nil
}

// Matrices returns the [H/f,H] and [W/f,W] resize matrices for an H×W
// image: A(x) = Mh · x · Mwᵀ per channel.
func (s *SuperResolution) Matrices(h, w int) (mh, mw [][]float64, err error) {
	scale := 1 / float64(s.factor)
	if mh, err = ResizeMatrix(h, h/s.factor, scale, s.kernel, true); err != nil {
		return nil, nil, fmt.Errorf("super_resolution: %w", err)
	}
	if mw, err = ResizeMatrix(w, w/s.factor, scale, s.kernel, true); err != nil {
		return nil, nil, fmt.Errorf("super_resolution: %w", err)
	}
	return mh, mw, nil
}

// matrices returns the resize matrices for x's shape, panicking (in graph
// building) on a shape the operator does not accept.
func (s *SuperResolution) matrices(in []int) (mh, mw [][]float64) {
	mh, mw, err := s.Matrices(in[2], in[3])
	if err != nil {
		panic(err)
	}
	return mh, mw
}

// Apply implements [Operator].
func (s *SuperResolution) Apply(x *graph.Node) *graph.Node {
	in := mustShape(s, x)
	mh, mw := s.matrices(in)
	return separable(x, mh, mw)
}

// Adjoint implements [Linear]: Mhᵀ · y · Mw.
func (s *SuperResolution) Adjoint(y *graph.Node) *graph.Node {
	in := s.inputShape(y)
	mh, mw := s.matrices(in)
	return separable(y, transpose(mh), transpose(mw))
}

// PseudoInverse implements [PseudoInverter]: Mh⁺ · y · Mw⁺ᵀ with the
// Moore–Penrose pseudo-inverses of the resize matrices, so A(A⁺y) = y.
func (s *SuperResolution) PseudoInverse(y *graph.Node) *graph.Node {
	in := s.inputShape(y)
	mh, mw := s.matrices(in)
	ph, err := pseudoInverse(mh)
	if err != nil {
		panic(fmt.Errorf("super_resolution: pseudo-inverse of the %dx%d resize matrix: %w", len(mh), in[2], err))
	}
	pw, err := pseudoInverse(mw)
	if err != nil {
		panic(fmt.Errorf("super_resolution: pseudo-inverse of the %dx%d resize matrix: %w", len(mw), in[3], err))
	}
	return separable(y, ph, pw)
}

// GramDiagonal implements [DiagonalGram] for resize matrices with disjoint
// rows (the box kernel's): A = Mh ⊗ Mw per channel, and the diagonal of
// A diag(c) Aᵀ is then (Mh∘Mh) · c · (Mw∘Mw)ᵀ. ok is false for other
// kernels, whose rows overlap, and for shapes the operator does not take.
func (s *SuperResolution) GramDiagonal(c *graph.Node) (*graph.Node, bool) {
	dims := c.Shape().Dimensions
	if len(dims) != 4 {
		return nil, false
	}
	mh, mw, err := s.Matrices(dims[2], dims[3])
	if err != nil || !disjointRows(mh) || !disjointRows(mw) {
		return nil, false
	}
	sh := graph.ConvertDType(graph.Const(c.Graph(), squared(mh)), c.DType())
	sw := graph.ConvertDType(graph.Const(c.Graph(), squared(mw)), c.DType())
	t := graph.Einsum("nchw,ih->nciw", c, sh)
	return graph.Einsum("nciw,jw->ncij", t, sw), true
}

// disjointRows reports whether no column of m has two non-zero entries.
func disjointRows(m [][]float64) bool {
	if len(m) == 0 {
		return false
	}
	used := make([]bool, len(m[0]))
	for _, row := range m {
		for j, v := range row {
			if v == 0 {
				continue
			}
			if used[j] {
				return false
			}
			used[j] = true
		}
	}
	return true
}

// squared returns m∘m as float32 rows.
func squared(m [][]float64) [][]float32 {
	out := make([][]float32, len(m))
	for i, row := range m {
		out[i] = make([]float32, len(row))
		for j, v := range row {
			out[i][j] = float32(v * v)
		}
	}
	return out
}

// inputShape returns the image shape whose measurement has y's shape.
func (s *SuperResolution) inputShape(y *graph.Node) []int {
	d := y.Shape().Dimensions
	if err := checkImageShape(d); err != nil {
		panic(fmt.Errorf("ops: super_resolution measurement %s: %w", y.Shape(), err))
	}
	return []int{d[0], d[1], d[2] * s.factor, d[3] * s.factor}
}
