package ops

import (
	"fmt"
	"slices"

	"github.com/gomlx/gomlx/pkg/core/graph"
)

// Inpainting is the masking operator A(x) = mask ⊙ x of DPS's inpainting
// task: y has x's shape, with the missing pixels set to 0. The H×W mask (1 =
// observed, 0 = missing) is shared by every image and channel; the masks of
// the reference's generator come from [BoxMask], [RandomMask],
// [ExtremeMask], and also [HalfMask] and [LoadMask].
type Inpainting struct {
	mask []float32
	h, w int
	// spec holds the spec parameters that drew the mask
	// ("mask_type=box,size=128,margin=16,seed=3"), for String; empty for a
	// mask given as it is.
	spec string
}

// NewInpainting returns the inpainting operator with the h×w mask given
// row-major; every value must be 0 or 1.
func NewInpainting(mask []float32, h, w int) (*Inpainting, error) {
	if h <= 0 || w <= 0 {
		return nil, fmt.Errorf("inpainting: mask size must be positive, got %dx%d", h, w)
	}
	if len(mask) != h*w {
		return nil, fmt.Errorf("inpainting: mask has %d values, want %dx%d", len(mask), h, w)
	}
	for i, v := range mask {
		if v != 0 && v != 1 {
			return nil, fmt.Errorf("inpainting: mask value %d is %v, want 0 (missing) or 1 (observed)", i, v)
		}
	}
	return &Inpainting{mask: slices.Clone(mask), h: h, w: w}, nil
}

// Name implements [Operator].
func (p *Inpainting) Name() string { return "inpainting" }

// Mask returns a copy of the H×W mask, row-major (1 = observed).
func (p *Inpainting) Mask() []float32 { return slices.Clone(p.mask) }

// MissingFraction returns the fraction of pixels the mask hides.
func (p *Inpainting) MissingFraction() float64 {
	var missing int
	for _, v := range p.mask {
		if v == 0 {
			missing++
		}
	}
	return float64(missing) / float64(len(p.mask))
}

// KeepsNothing implements [ZeroReporter]: the mask hides every pixel.
func (p *Inpainting) KeepsNothing() bool { return !slices.Contains(p.mask, 1) }

// String describes the operator as a spec that [Parse] turns back into
// the same operator, whatever seed it is given
// ("inpainting:mask_type=box,size=128,margin=16,seed=3"), for a mask made
// by Parse or [FromConfig]. A mask given as it is ([NewInpainting], a
// recorded mask), and one a spec cannot give (a margin with two sides, a
// path with a comma), have no spec: String then describes the mask
// ("inpainting:256x256 mask, 25.0% missing"), which Parse refuses.
func (p *Inpainting) String() string {
	if p.spec != "" {
		return "inpainting:" + p.spec
	}
	return fmt.Sprintf("inpainting:%dx%d mask, %.1f%% missing", p.h, p.w, 100*p.MissingFraction())
}

// OutputShape implements [Operator]: A(x) has x's shape, whose H×W must be
// the mask's.
func (p *Inpainting) OutputShape(in []int) ([]int, error) {
	if err := checkImageShape(in); err != nil {
		return nil, err
	}
	if in[2] != p.h || in[3] != p.w {
		return nil, fmt.Errorf("the mask is %dx%d but the image is %dx%d", p.h, p.w, in[2], in[3])
	}
	return slices.Clone(in), nil
}

// Apply implements [Operator].
func (p *Inpainting) Apply(x *graph.Node) *graph.Node {
	mustShape(p, x)
	return graph.Mul(x, constOf(x, p.mask, 1, 1, p.h, p.w))
}

// Adjoint implements [Linear]: the mask is diagonal, so Aᵀ = A.
func (p *Inpainting) Adjoint(y *graph.Node) *graph.Node { return p.Apply(y) }

// PseudoInverse implements [PseudoInverter]: A⁺y = mask ⊙ y.
func (p *Inpainting) PseudoInverse(y *graph.Node) *graph.Node { return p.Apply(y) }

// GramDiagonal implements [DiagonalGram]: A = diag(m) with m ∈ {0,1}, so
// A diag(c) Aᵀ = diag(m ⊙ c). ok is false when c [N,C,H,W] is not of the
// mask's H×W (or not a float image).
func (p *Inpainting) GramDiagonal(c *graph.Node) (*graph.Node, bool) { return maskGram(p, c) }

// maskGram is the Gram diagonal of the masking operator op: A diag(c) Aᵀ
// = diag(m ⊙ c) = A c; ok is false when op does not take c's shape or c is
// not a float image.
func maskGram(op Operator, c *graph.Node) (*graph.Node, bool) {
	if _, err := op.OutputShape(c.Shape().Dimensions); err != nil || !c.DType().IsFloat() {
		return nil, false
	}
	return op.Apply(c), true
}
