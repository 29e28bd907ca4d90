package ops

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// Parametrized is implemented by operators whose data (an inpainting mask,
// a blur kernel) can enter a graph as inputs instead of constants, so that
// one compiled graph serves every operator that differs from this one in
// those data only: the masks or kernels drawn for each image of a table
// then share one compiled sampling step.
type Parametrized interface {
	Operator
	// Parameters returns the operator's data as float32 tensors and a key
	// naming everything else its bound form's graphs depend on: two
	// operators with equal keys, bound to inputs shaped as their tensors,
	// build the same graphs. ok is false when this operator has no bound
	// form (a blur whose separable kernel runs as matrix products, which
	// depend on the image's size).
	Parameters() (key string, data []*tensors.Tensor, ok bool)
	// Bind returns the operator reading its data from the nodes given,
	// shaped and ordered as Parameters' tensors (converted to the image's
	// dtype where used). The bound operator implements the interfaces whose
	// graphs are built from the data alone (an inpainting's adjoint,
	// pseudo-inverse, Gram diagonal and proximal step; a blur's adjoint),
	// and its kind, but none that is computed from the data on the host
	// (an SVD, ZeroReporter), so that a method which needs those refuses
	// it (guidance.CheckOperator); a bound inpainting builds its SVD in the
	// graph instead ([GraphDecomposer]). Bind(nil) returns the bound form
	// for such checks only: building a graph with it panics.
	Bind(data []*graph.Node) Operator
}

// boundInput returns the node data[k] for an operator applied to x
// (boundData), converted to x's dtype.
func boundInput(op Operator, data []*graph.Node, k, want int, x *graph.Node) *graph.Node {
	d := boundData(op, data, k, want, x.Graph())
	if d.DType() != x.DType() {
		d = graph.ConvertDType(d, x.DType())
	}
	return d
}

// boundData returns the node data[k] of an operator bound to data for a
// graph built in g: data must hold want nodes, in g.
func boundData(op Operator, data []*graph.Node, k, want int, g *graph.Graph) *graph.Node {
	switch {
	case len(data) != want:
		panic(fmt.Errorf("ops: %s bound to %d inputs, want %d (Bind(nil) is for checks only)", op.Name(), len(data), want))
	case data[k].Graph() != g:
		panic(fmt.Errorf("ops: %s bound to inputs of another graph than its image's", op.Name()))
	}
	return data[k]
}

// Parameters implements [Parametrized]: the H×W mask.
func (p *Inpainting) Parameters() (string, []*tensors.Tensor, bool) {
	return fmt.Sprintf("inpainting %dx%d", p.h, p.w), []*tensors.Tensor{tensors.FromFlatDataAndDimensions(p.Mask(), p.h, p.w)}, true
}

// Bind implements [Parametrized]: the result masks with data[0], an H×W
// float32 node.
func (p *Inpainting) Bind(data []*graph.Node) Operator { return &boundInpainting{p: p, data: data} }

// boundInpainting is an [Inpainting] whose mask is a graph input.
type boundInpainting struct {
	p    *Inpainting
	data []*graph.Node
}

// Name implements [Operator].
func (b *boundInpainting) Name() string { return b.p.Name() }

// Kind implements [Kinder].
func (b *boundInpainting) Kind() Kind { return b.p.Kind() }

// OutputShape implements [Operator].
func (b *boundInpainting) OutputShape(in []int) ([]int, error) { return b.p.OutputShape(in) }

// Apply implements [Operator].
func (b *boundInpainting) Apply(x *graph.Node) *graph.Node {
	mustShape(b, x)
	return graph.Mul(x, b.mask(x))
}

// Adjoint implements [Linear]: Aᵀ = A.
func (b *boundInpainting) Adjoint(y *graph.Node) *graph.Node { return b.Apply(y) }

// PseudoInverse implements [PseudoInverter]: A⁺y = mask ⊙ y.
func (b *boundInpainting) PseudoInverse(y *graph.Node) *graph.Node { return b.Apply(y) }

// Prox implements [Proximal] as [Inpainting.Prox].
func (b *boundInpainting) Prox(xIn, y, tau *graph.Node) *graph.Node {
	mustShape(b, xIn)
	return maskProx(b.mask(xIn), xIn, y, tau)
}

// mask returns the mask input as a [1,1,H,W] node of x's dtype.
func (b *boundInpainting) mask(x *graph.Node) *graph.Node {
	return graph.Reshape(boundInput(b, b.data, 0, 1, x), 1, 1, b.p.h, b.p.w)
}

// GramDiagonal implements [DiagonalGram] as [Inpainting.GramDiagonal].
func (b *boundInpainting) GramDiagonal(c *graph.Node) (*graph.Node, bool) { return maskGram(b, c) }

// Parameters implements [Parametrized]: the size×size kernel and the
// kernel flipped in both axes (for the adjoint). A separable kernel has no
// bound form: it runs as matrix products built for the image's size.
func (b *Blur) Parameters() (string, []*tensors.Tensor, bool) {
	if b.Separable() {
		return "", nil, false
	}
	flipped := b.Kernel()
	for i, j := 0, len(flipped)-1; i < j; i, j = i+1, j-1 {
		flipped[i], flipped[j] = flipped[j], flipped[i] // reversing row-major data flips both axes
	}
	key := fmt.Sprintf("blur %s %dx%d motion=%t", b.name, b.size, b.size, b.motion)
	return key, []*tensors.Tensor{
		tensors.FromFlatDataAndDimensions(b.Kernel(), b.size, b.size),
		tensors.FromFlatDataAndDimensions(flipped, b.size, b.size),
	}, true
}

// Bind implements [Parametrized]: the result correlates with data[0], the
// size×size float32 kernel, and its adjoint with data[1], the kernel
// flipped in both axes.
func (b *Blur) Bind(data []*graph.Node) Operator { return &boundBlur{b: b, data: data} }

// boundBlur is a non-separable [Blur] whose kernel is a graph input.
type boundBlur struct {
	b    *Blur
	data []*graph.Node
}

// Name implements [Operator].
func (k *boundBlur) Name() string { return k.b.Name() }

// Kind implements [Kinder].
func (k *boundBlur) Kind() Kind { return k.b.Kind() }

// MotionBlur implements [MotionReporter].
func (k *boundBlur) MotionBlur() bool { return k.b.MotionBlur() }

// OutputShape implements [Operator].
func (k *boundBlur) OutputShape(in []int) ([]int, error) { return k.b.OutputShape(in) }

// Apply implements [Operator] as [Blur.Apply] does for a kernel that is not
// separable.
func (k *boundBlur) Apply(x *graph.Node) *graph.Node {
	in := mustShape(k, x)
	p := k.b.size / 2
	padded := reflectPad(reflectPad(x, 2, p), 3, p)
	return correlate(padded, k.kernel(x, 0), 0, in)
}

// Adjoint implements [Linear] as [Blur.Adjoint] does.
func (k *boundBlur) Adjoint(y *graph.Node) *graph.Node {
	in := mustShape(k, y)
	g := correlate(y, k.kernel(y, 1), k.b.size-1, in)
	p := k.b.size / 2
	return foldReflect(foldReflect(g, 2, p), 3, p)
}

// kernel returns input k (the kernel or its flip) as a [1,1,size,size]
// convolution weight of x's dtype.
func (k *boundBlur) kernel(x *graph.Node, input int) *graph.Node {
	return graph.Reshape(boundInput(k, k.data, input, 2, x), 1, 1, k.b.size, k.b.size)
}
