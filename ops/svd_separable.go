package ops

import (
	"fmt"
	"slices"

	"github.com/cadps/toolkit/internal/linalg"
	"github.com/gomlx/gomlx/pkg/core/graph"
)

// SeparableSVD is the decomposition of a separable operator Y = Mh X Mwᵀ
// per channel (the resizers of super-resolution, separable blurs): with
// Mh = Uh Sh Vhᵀ and Mw = Uw Sw Vwᵀ, A = (Uh ⊗ Uw)(Sh ⊗ Sw)(Vh ⊗ Vw)ᵀ.
// The spectral grid Vhᵀ X Vw is flattened with the m = C·kh·kw entries
// (c, i < kh, j < kw) first, in that order, singular value sh_i·sw_j, then
// the rest in row-major order; kh, kw are the ranks of the factors' SVDs
// (min of their sides). It implements [SeparableDecomposition].
type SeparableSVD struct {
	in             []int
	uh, vh, uw, vw [][]float64
	sh, sw         []float64
	kh, kw         int
	perm, inv      []int
	singulars      []float64
}

// NewSeparableSVD returns the decomposition of X ↦ Mh X Mwᵀ for inputs in
// = [N,C,H,W], mh being H'×H and mw W'×W.
func NewSeparableSVD(mh, mw [][]float64, in []int) (*SeparableSVD, error) {
	if err := checkImageShape(in); err != nil {
		return nil, err
	}
	if len(mh) == 0 || len(mw) == 0 || len(mh[0]) != in[2] || len(mw[0]) != in[3] {
		return nil, fmt.Errorf("separable svd: factors do not match the image %dx%d", in[2], in[3])
	}
	uh, sh, vh, err := linalg.SVD(mh)
	if err != nil {
		return nil, fmt.Errorf("separable svd: rows: %w", err)
	}
	uw, sw, vw, err := linalg.SVD(mw)
	if err != nil {
		return nil, fmt.Errorf("separable svd: columns: %w", err)
	}
	c, h, w := in[1], in[2], in[3]
	s := &SeparableSVD{in: slices.Clone(in), uh: uh, vh: vh, uw: uw, vw: vw, sh: sh, sw: sw, kh: len(sh), kw: len(sw)}
	head := make([]bool, c*h*w)
	for ch := range c {
		for i := range s.kh {
			for j := range s.kw {
				k := ch*h*w + i*w + j
				s.perm = append(s.perm, k)
				head[k] = true
				s.singulars = append(s.singulars, sh[i]*sw[j])
			}
		}
	}
	for k, isHead := range head {
		if !isHead {
			s.perm = append(s.perm, k)
		}
	}
	s.inv = inversePermutation(s.perm)
	return s, nil
}

// spectralDim returns D = C·H·W.
func (s *SeparableSVD) spectralDim() int { return s.in[1] * s.in[2] * s.in[3] }

// Singulars implements [Decomposition].
func (s *SeparableSVD) Singulars() []float64 { return slices.Clone(s.singulars) }

// AxisSingulars implements [SeparableDecomposition]: the singular values of
// the H'×H and W'×W axis matrices.
func (s *SeparableSVD) AxisSingulars() (h, w []float64) {
	return slices.Clone(s.sh), slices.Clone(s.sw)
}

// Vt implements [Decomposition].
func (s *SeparableSVD) Vt(x *graph.Node) *graph.Node {
	n := x.Shape().Dim(0)
	g := separable(x, transpose(s.vh), transpose(s.vw))
	return gatherColumns(graph.Reshape(g, n, s.in[1]*s.in[2]*s.in[3]), s.perm)
}

// V implements [Decomposition].
func (s *SeparableSVD) V(v *graph.Node) *graph.Node {
	checkSpectral("SeparableSVD.V", v, s.spectralDim())
	n := v.Shape().Dim(0)
	g := graph.Reshape(gatherColumns(v, s.inv), n, s.in[1], s.in[2], s.in[3])
	return separable(g, s.vh, s.vw)
}

// Ut implements [Decomposition].
func (s *SeparableSVD) Ut(y *graph.Node) *graph.Node {
	n := y.Shape().Dim(0)
	return graph.Reshape(separable(y, transpose(s.uh), transpose(s.uw)), n, s.in[1]*s.kh*s.kw)
}

// U implements [Decomposition].
func (s *SeparableSVD) U(u *graph.Node) *graph.Node {
	n := u.Shape().Dim(0)
	return separable(graph.Reshape(u, n, s.in[1], s.kh, s.kw), s.uh, s.uw)
}

// DenseSVD is the decomposition of a small operator given as a dense
// matrix on the flattened image (user-defined operators, the exact-posterior
// benchmark's mixtures): A is m×D with m ≤ D, measurements are [N,m].
type DenseSVD struct {
	in        []int
	vt        []float64 // D×D, row-major: rows are Vᵀ's rows
	ut        []float64 // m×m
	singulars []float64
	d, m      int
}

// NewDenseSVD decomposes the m×D matrix a (rows of a acting on the image
// in = [N,…] flattened per image); it needs m ≤ D.
func NewDenseSVD(a [][]float64, in []int) (*DenseSVD, error) {
	if len(in) < 2 {
		return nil, fmt.Errorf("dense svd: input shape %v, want [N,…]", in)
	}
	d := 1
	for _, x := range in[1:] {
		d *= x
	}
	if len(a) == 0 || len(a) > d || len(a[0]) != d {
		return nil, fmt.Errorf("dense svd: matrix must be m×%d with 1 ≤ m ≤ %d", d, d)
	}
	u, s, v, err := linalg.SVD(a)
	if err != nil {
		return nil, fmt.Errorf("dense svd: %w", err)
	}
	m := len(a)
	out := &DenseSVD{in: slices.Clone(in), singulars: s, d: d, m: m,
		vt: make([]float64, d*d), ut: make([]float64, m*m)}
	for i := range d {
		for j := range d {
			out.vt[i*d+j] = v[j][i]
		}
	}
	for i := range m {
		for j := range m {
			out.ut[i*m+j] = u[j][i]
		}
	}
	return out, nil
}

// spectralDim returns D.
func (s *DenseSVD) spectralDim() int { return s.d }

// measurementDim implements measurementSized.
func (s *DenseSVD) measurementDim() int { return s.m }

// Singulars implements [Decomposition].
func (s *DenseSVD) Singulars() []float64 { return slices.Clone(s.singulars) }

// Vt implements [Decomposition].
func (s *DenseSVD) Vt(x *graph.Node) *graph.Node {
	n := x.Shape().Dim(0)
	return graph.Einsum("nd,kd->nk", graph.Reshape(x, n, s.d), constFloats(x, s.vt, s.d, s.d))
}

// V implements [Decomposition].
func (s *DenseSVD) V(v *graph.Node) *graph.Node {
	dims := slices.Clone(s.in)
	dims[0] = v.Shape().Dim(0)
	return graph.Reshape(graph.Einsum("nk,kd->nd", v, constFloats(v, s.vt, s.d, s.d)), dims...)
}

// Ut implements [Decomposition].
func (s *DenseSVD) Ut(y *graph.Node) *graph.Node {
	n := y.Shape().Dim(0)
	return graph.Einsum("nd,kd->nk", graph.Reshape(y, n, s.m), constFloats(y, s.ut, s.m, s.m))
}

// U implements [Decomposition].
func (s *DenseSVD) U(u *graph.Node) *graph.Node {
	return graph.Einsum("nk,kd->nd", u, constFloats(u, s.ut, s.m, s.m))
}

// SVD implements [Decomposer] through the resize matrices of each axis.
func (s *SuperResolution) SVD(in []int) (Decomposition, error) {
	if _, err := s.OutputShape(in); err != nil {
		return nil, err
	}
	mh, mw := s.matrices(in)
	return NewSeparableSVD(mh, mw, in)
}

// Prox implements [Proximal] through the decomposition.
func (s *SuperResolution) Prox(xIn, y, tau *graph.Node) *graph.Node {
	d, err := s.SVD(xIn.Shape().Dimensions)
	if err != nil {
		panic(err)
	}
	return ProxSVD(d, xIn, y, tau)
}

// SVD implements [Decomposer] for separable kernels (Gaussian blur); other
// kernels have none here.
func (b *Blur) SVD(in []int) (Decomposition, error) {
	if !b.Separable() {
		return nil, fmt.Errorf("%s: the kernel is not separable, no SVD", b.name)
	}
	if _, err := b.OutputShape(in); err != nil {
		return nil, err
	}
	return NewSeparableSVD(b.reflectMatrix(b.col, in[2]), b.reflectMatrix(b.row, in[3]), in)
}

// HasSVD implements [SVDReporter]: separable kernels have an SVD.
func (b *Blur) HasSVD() bool { return b.Separable() }

// Prox implements [Proximal] for separable kernels through the
// decomposition (it panics for other kernels: check SVD first).
func (b *Blur) Prox(xIn, y, tau *graph.Node) *graph.Node {
	d, err := b.SVD(xIn.Shape().Dimensions)
	if err != nil {
		panic(err)
	}
	return ProxSVD(d, xIn, y, tau)
}

// SVD implements [Decomposer] in DDRM's inpainting layout (see [MaskSVD]).
func (p *Inpainting) SVD(in []int) (Decomposition, error) {
	if _, err := p.OutputShape(in); err != nil {
		return nil, err
	}
	return NewMaskSVD(p.mask, in)
}

// Prox implements [Proximal]: (m ⊙ y + τ x_in)/(m + τ) per pixel.
func (p *Inpainting) Prox(xIn, y, tau *graph.Node) *graph.Node {
	return maskProx(constOf(xIn, p.mask, 1, 1, p.h, p.w), xIn, y, tau)
}

// maskProx is the proximal step of the masking operator with the
// [1,1,H,W] mask m: (m ⊙ y + τ x_in)/(m + τ) per pixel.
func maskProx(m, xIn, y, tau *graph.Node) *graph.Node {
	return graph.Div(graph.Add(graph.Mul(m, y), graph.Mul(tau, xIn)), graph.Add(m, tau))
}
