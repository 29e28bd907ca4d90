package ops

import (
	"fmt"
	"math"
	"slices"

	"github.com/cadps/toolkit/internal/linalg"
	"github.com/gomlx/gomlx/pkg/core/graph"
)

// BlockSVD is the decomposition of a block operator that maps every f×f
// block of every channel to one value with the 1×f² row r = u·s·vᵀ₀ (the
// block average has r = [1/f²,…], s = 1/f): DDRM's SuperResolution layout.
//
// Spectral vectors hold, for channel c and block b (row-major over the
// (H/f)×(W/f) blocks), the block's first coefficient at c·B + b and its
// other f²−1 coefficients at C·B + (f²−1)(c·B + b) + j − 1, j = 1…f²−1,
// where the coefficients of a block patch p (row-major) are Vᵀp with the
// f²×f² orthogonal basis V whose first column is the row's direction.
// Measurements are [N,C,H/f,W/f].
type BlockSVD struct {
	f          int
	in         []int
	v          []float64 // f²×f², row-major
	u, s       float64
	singulars  []float64
	blocks, nc int
}

// NewBlockSVD returns the decomposition for inputs in = [N,C,H,W] with the
// f²×f² basis v (row-major; column 0 along the row, columns 1… its null
// space), the 1×1 left factor u (±1) and the singular value s (positive,
// finite). v must be orthogonal (VᵀV = I within 1e-5, float32 rounding):
// the decomposition's V and Vᵀ are then each other's inverse, which the
// sampling methods rely on.
func NewBlockSVD(f int, in []int, v []float64, u, s float64) (*BlockSVD, error) {
	if err := checkImageShape(in); err != nil {
		return nil, err
	}
	if f < 1 || in[2]%f != 0 || in[3]%f != 0 {
		return nil, fmt.Errorf("block svd: factor %d does not divide the image %dx%d", f, in[2], in[3])
	}
	if len(v) != f*f*f*f {
		return nil, fmt.Errorf("block svd: basis has %d values, want %d", len(v), f*f*f*f)
	}
	if !(s > 0) || math.IsInf(s, 1) {
		return nil, fmt.Errorf("block svd: singular value s must be positive and finite, got %v", s)
	}
	if !(math.Abs(math.Abs(u)-1) <= orthogonalTolerance) {
		return nil, fmt.Errorf("block svd: left factor u must be ±1, got %v", u)
	}
	if i, j, dev := orthogonalityDefect(v, f*f); !(dev <= orthogonalTolerance) {
		return nil, fmt.Errorf("block svd: basis v is not orthogonal: (VᵀV)[%d][%d] is off the identity by %.3g (at most %g allowed)", i, j, dev, orthogonalTolerance)
	}
	b := &BlockSVD{f: f, in: slices.Clone(in), v: slices.Clone(v), u: u, s: s, nc: in[1]}
	b.blocks = (in[2] / f) * (in[3] / f)
	b.singulars = make([]float64, b.nc*b.blocks)
	for i := range b.singulars {
		b.singulars[i] = s
	}
	return b, nil
}

// orthogonalTolerance is the largest deviation from the identity that
// NewBlockSVD accepts in VᵀV (and from ±1 in u): a basis computed in
// float32, as the reference's is, is orthogonal to a few float32 ulps.
const orthogonalTolerance = 1e-5

// orthogonalityDefect returns the entry (i, j) of VᵀV, for the k×k
// row-major v, farthest from the identity and its distance (NaN when v
// holds a NaN).
func orthogonalityDefect(v []float64, k int) (wi, wj int, worst float64) {
	for i := range k {
		for j := i; j < k; j++ {
			var d float64
			for r := range k {
				d += v[r*k+i] * v[r*k+j]
			}
			if i == j {
				d--
			}
			if d = math.Abs(d); !(d <= worst) {
				wi, wj, worst = i, j, d
				if math.IsNaN(d) {
					return wi, wj, d
				}
			}
		}
	}
	return wi, wj, worst
}

// BlockAverageSVD returns the decomposition of the f×f block average for
// inputs in: s = 1/f, u = 1 and a Householder basis whose first column is
// the constant patch (for f = 1, the identity). f must be positive and
// divide in's H and W, as for NewBlockSVD; both are checked before the
// f²×f² basis is built.
func BlockAverageSVD(f int, in []int) (*BlockSVD, error) {
	if err := checkImageShape(in); err != nil {
		return nil, err
	}
	if f < 1 || in[2]%f != 0 || in[3]%f != 0 {
		return nil, fmt.Errorf("block svd: factor %d does not divide the image %dx%d", f, in[2], in[3])
	}
	if f == 1 { // one pixel per block: the identity, whose reflection below is 0/0
		return NewBlockSVD(1, in, []float64{1}, 1, 1)
	}
	k := f * f
	// The Householder reflection H = I − 2wwᵀ/wᵀw with w = e₀ − c maps e₀
	// to c = (1/f,…,1/f), the unit constant patch; H is symmetric and
	// orthogonal, its first column is c.
	c := 1 / float64(f)
	w := make([]float64, k)
	for i := range w {
		w[i] = -c
	}
	w[0] += 1
	ww := linalg.Dot(w, w)
	v := make([]float64, k*k)
	for i := range k {
		for j := range k {
			d := 0.0
			if i == j {
				d = 1
			}
			v[i*k+j] = d - 2*w[i]*w[j]/ww
		}
	}
	return NewBlockSVD(f, in, v, 1, 1/float64(f))
}

// spectralDim returns D = C·H·W.
func (b *BlockSVD) spectralDim() int { return b.in[1] * b.in[2] * b.in[3] }

// measurementDim implements measurementSized.
func (b *BlockSVD) measurementDim() int { return b.nc * b.blocks }

// Singulars implements [Decomposition].
func (b *BlockSVD) Singulars() []float64 { return slices.Clone(b.singulars) }

// patches returns x's f×f patches as [N, C·B, f²].
func (b *BlockSVD) patches(x *graph.Node) *graph.Node {
	n, c, h, w, f := x.Shape().Dim(0), b.in[1], b.in[2], b.in[3], b.f
	t := graph.Reshape(x, n, c, h/f, f, w/f, f)
	t = graph.TransposeAllAxes(t, 0, 1, 2, 4, 3, 5)
	return graph.Reshape(t, n, c*b.blocks, f*f)
}

// Vt implements [Decomposition].
func (b *BlockSVD) Vt(x *graph.Node) *graph.Node {
	n, k := x.Shape().Dim(0), b.f*b.f
	v := constFloats(x, b.v, k, k)
	coef := graph.Einsum("nbk,kj->nbj", b.patches(x), v)
	first := graph.Reshape(graph.Slice(coef, graph.AxisRange(), graph.AxisRange(), graph.AxisRange(0, 1)), n, b.nc*b.blocks)
	rest := graph.Reshape(graph.Slice(coef, graph.AxisRange(), graph.AxisRange(), graph.AxisRange(1)), n, b.nc*b.blocks*(k-1))
	return graph.Concatenate([]*graph.Node{first, rest}, 1)
}

// V implements [Decomposition].
func (b *BlockSVD) V(s *graph.Node) *graph.Node {
	n, k, f := s.Shape().Dim(0), b.f*b.f, b.f
	m := b.nc * b.blocks
	first := graph.Reshape(graph.Slice(s, graph.AxisRange(), graph.AxisRange(0, m)), n, m, 1)
	rest := graph.Reshape(graph.Slice(s, graph.AxisRange(), graph.AxisRange(m)), n, m, k-1)
	coef := graph.Concatenate([]*graph.Node{first, rest}, 2)
	v := constFloats(s, b.v, k, k)
	p := graph.Einsum("nbj,kj->nbk", coef, v)
	c, h, w := b.in[1], b.in[2], b.in[3]
	t := graph.Reshape(p, n, c, h/f, w/f, f, f)
	t = graph.TransposeAllAxes(t, 0, 1, 2, 4, 3, 5)
	return graph.Reshape(t, n, c, h, w)
}

// Ut implements [Decomposition].
func (b *BlockSVD) Ut(y *graph.Node) *graph.Node {
	n := y.Shape().Dim(0)
	return graph.MulScalar(graph.Reshape(y, n, b.nc*b.blocks), b.u)
}

// U implements [Decomposition].
func (b *BlockSVD) U(u *graph.Node) *graph.Node {
	n, f := u.Shape().Dim(0), b.f
	return graph.Reshape(graph.MulScalar(u, b.u), n, b.in[1], b.in[2]/f, b.in[3]/f)
}

// MaskSVD is the decomposition of inpainting (A = keep the observed
// pixels) in DDRM's layout: vectors are the image flattened pixel-major
// (index C·(W·row + col) + c); the spectral vector lists the observed
// entries in increasing order, then the missing ones channel by channel
// (every missing pixel's channel 0, then channel 1, …). All singular
// values are 1. Measurements are the masked image, [N,C,H,W].
type MaskSVD struct {
	in        []int
	perm, inv []int
	kept      int
	singulars []float64
}

// NewMaskSVD returns the decomposition for inputs in with the H×W mask
// (1 observed, 0 missing, row-major); every value must be 0 or 1, as for
// NewInpainting.
func NewMaskSVD(mask []float32, in []int) (*MaskSVD, error) {
	if err := checkImageShape(in); err != nil {
		return nil, err
	}
	c, h, w := in[1], in[2], in[3]
	if len(mask) != h*w {
		return nil, fmt.Errorf("mask svd: mask has %d values, want %dx%d", len(mask), h, w)
	}
	var kept, missing []int
	for p, v := range mask {
		switch v {
		case 0:
			missing = append(missing, p)
		case 1:
		default:
			return nil, fmt.Errorf("mask svd: mask value %d is %v, want 0 (missing) or 1 (observed)", p, v)
		}
	}
	isMissing := make([]bool, c*h*w)
	var tail []int
	for ch := range c {
		for _, p := range missing {
			tail = append(tail, c*p+ch)
			isMissing[c*p+ch] = true
		}
	}
	for i := range isMissing {
		if !isMissing[i] {
			kept = append(kept, i)
		}
	}
	perm := append(kept, tail...)
	return NewPermutationSVD(perm, len(kept), in)
}

// NewPermutationSVD returns the decomposition of an inpainting whose
// spectral order is the permutation perm of the pixel-major flattened
// image, its first kept entries observed (DDRM's layout for masks read
// from a file lists them so).
func NewPermutationSVD(perm []int, kept int, in []int) (*MaskSVD, error) {
	if err := checkImageShape(in); err != nil {
		return nil, err
	}
	d := in[1] * in[2] * in[3]
	if err := checkPermutation(perm, d); err != nil {
		return nil, fmt.Errorf("mask svd: %w", err)
	}
	if kept < 0 || kept > d {
		return nil, fmt.Errorf("mask svd: %d observed entries outside [0,%d]", kept, d)
	}
	s := make([]float64, kept)
	for i := range s {
		s[i] = 1
	}
	return &MaskSVD{in: slices.Clone(in), perm: slices.Clone(perm), inv: inversePermutation(perm), kept: kept, singulars: s}, nil
}

// spectralDim returns D = C·H·W.
func (m *MaskSVD) spectralDim() int { return len(m.perm) }

// Singulars implements [Decomposition].
func (m *MaskSVD) Singulars() []float64 { return slices.Clone(m.singulars) }

// pixelMajor returns x [N,C,H,W] flattened pixel-major, [N,C·H·W].
func pixelMajor(x *graph.Node) *graph.Node {
	n, c, h, w := x.Shape().Dim(0), x.Shape().Dim(1), x.Shape().Dim(2), x.Shape().Dim(3)
	return graph.Reshape(graph.TransposeAllAxes(x, 0, 2, 3, 1), n, c*h*w)
}

// imageOfPixelMajor returns the pixel-major [N,D] v as [N,C,H,W] for
// in = [·,C,H,W].
func imageOfPixelMajor(v *graph.Node, in []int) *graph.Node {
	n := v.Shape().Dim(0)
	t := graph.Reshape(v, n, in[2], in[3], in[1])
	return graph.TransposeAllAxes(t, 0, 3, 1, 2)
}

// Vt implements [Decomposition].
func (m *MaskSVD) Vt(x *graph.Node) *graph.Node { return gatherColumns(pixelMajor(x), m.perm) }

// V implements [Decomposition].
func (m *MaskSVD) V(v *graph.Node) *graph.Node {
	checkSpectral("MaskSVD.V", v, m.spectralDim())
	return imageOfPixelMajor(gatherColumns(v, m.inv), m.in)
}

// Ut implements [Decomposition].
func (m *MaskSVD) Ut(y *graph.Node) *graph.Node {
	return gatherColumns(pixelMajor(y), m.perm[:m.kept])
}

// U implements [Decomposition].
func (m *MaskSVD) U(u *graph.Node) *graph.Node {
	n, d := u.Shape().Dim(0), len(m.perm)
	if d > m.kept {
		u = graph.Concatenate([]*graph.Node{u, graph.Zeros(u.Graph(), shapeOfDims(u, n, d-m.kept))}, 1)
	}
	return imageOfPixelMajor(gatherColumns(u, m.inv), m.in)
}
