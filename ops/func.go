package ops

import (
	"errors"
	"fmt"
	"slices"

	"github.com/gomlx/gomlx/pkg/core/graph"
)

// Func is a user's own operator: a Go function of graph nodes with a name
// and a function giving its output shape. Built of GoMLX ops, it is
// differentiable like the package's operators, so the methods that need
// only A(x) and its gradient run with it: the DPS-type methods (dps,
// cadps) and daps. The other methods need more of A than a Func gives (see
// the package documentation); guidance.CheckOperator refuses a Func for
// them, and [NewLinearFunc] adds the adjoint that pigdm, tmpd, mmps and
// cadps-gauss need.
//
// A Func reports no kind ([KindOf] gives [KindOther], for which the
// DPS-type methods have no default step size). To give it one, embed it in
// a type that implements [Kinder]:
//
//	type myOp struct{ *ops.Func }
//
//	func (myOp) Kind() ops.Kind { return ops.KindInpainting }
//
// and use myOp{f} as the operator; embed a *LinearFunc the same way to keep
// the adjoint.
type Func struct {
	name  string
	shape func(in []int) ([]int, error)
	apply func(x *graph.Node) *graph.Node
}

// NewFunc returns the operator named name computing apply(x).
//
// x is a batch of images [N,C,H,W] with values in [-1,1], float32 in the
// toolkit's samplers (constants that apply builds should take x.DType()).
// apply must return the measurements of the N images with the batch axis
// first, [N,...] (rank ≥ 1; [N] for one value per image), of x's dtype.
// shape(in) returns that output shape for an input shape in [N,C,H,W], or
// an error naming why the operator cannot take in; nil means "same as the
// input".
//
// OutputShape refuses an output shape that does not keep the batch axis
// first, and Apply panics when apply's result differs from it in shape or
// from x in dtype.
func NewFunc(name string, shape func(in []int) ([]int, error), apply func(x *graph.Node) *graph.Node) (*Func, error) {
	if name == "" {
		return nil, errors.New("func operator: empty name")
	}
	if apply == nil {
		return nil, fmt.Errorf("func operator %s: nil function", name)
	}
	if shape == nil {
		shape = func(in []int) ([]int, error) { return slices.Clone(in), nil }
	}
	return &Func{name: name, shape: shape, apply: apply}, nil
}

// Name implements [Operator].
func (f *Func) Name() string { return f.name }

// OutputShape implements [Operator]: the shape function's output shape for
// in [N,C,H,W], or an error when in is not NCHW, when the shape function
// refuses it, or when its output shape does not start with N (a
// measurement has one entry per image).
func (f *Func) OutputShape(in []int) ([]int, error) {
	if err := checkImageShape(in); err != nil {
		return nil, err
	}
	out, err := f.shape(slices.Clone(in))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.name, err)
	}
	if len(out) == 0 || out[0] != in[0] {
		return nil, fmt.Errorf("%s: output shape %v for input %v does not keep the batch axis first: the measurement must be [N,...] with N = %d, one entry per image",
			f.name, out, in, in[0])
	}
	return out, nil
}

// Apply implements [Operator]. It panics, as GoMLX graph building does, when
// the function's result does not have the declared output shape or x's
// dtype.
func (f *Func) Apply(x *graph.Node) *graph.Node {
	in := mustShape(f, x)
	want, _ := f.OutputShape(in)
	y := f.apply(x)
	switch {
	case y == nil:
		panic(fmt.Errorf("ops: %s returned no node", f.name))
	case !slices.Equal(y.Shape().Dimensions, want):
		panic(fmt.Errorf("ops: %s returned shape %v, its shape function says %v", f.name, y.Shape().Dimensions, want))
	case y.DType() != x.DType():
		panic(fmt.Errorf("ops: %s returned dtype %s, want x's dtype %s", f.name, y.DType(), x.DType()))
	}
	return y
}

// LinearFunc is a [Func] that is linear and gives its adjoint.
type LinearFunc struct {
	Func
	adjoint func(y *graph.Node) *graph.Node
}

// NewLinearFunc returns a user's linear operator with its adjoint: apply
// and shape are as for [NewFunc], and adjoint(y) must compute Aᵀy for a
// measurement y shaped [N,...] as apply's output, with the shape [N,C,H,W]
// and the dtype of the input x.
//
// Adjoint panics when adjoint's result is not an input that the operator
// maps to y's shape, or is not of y's dtype: the input's own shape is not
// known from y, so an adjoint that returns another input A maps to y's
// shape goes unnoticed.
func NewLinearFunc(name string, shape func(in []int) ([]int, error), apply, adjoint func(*graph.Node) *graph.Node) (*LinearFunc, error) {
	f, err := NewFunc(name, shape, apply)
	if err != nil {
		return nil, err
	}
	if adjoint == nil {
		return nil, fmt.Errorf("func operator %s: nil adjoint", name)
	}
	return &LinearFunc{Func: *f, adjoint: adjoint}, nil
}

// Adjoint implements [Linear]. It panics, as GoMLX graph building does,
// when the adjoint's result is not shaped as an input the operator maps to
// y's shape, or is not of y's dtype.
func (f *LinearFunc) Adjoint(y *graph.Node) *graph.Node {
	x := f.adjoint(y)
	if x == nil {
		panic(fmt.Errorf("ops: the adjoint of %s returned no node", f.name))
	}
	dims, yDims := x.Shape().Dimensions, y.Shape().Dimensions
	out, err := f.OutputShape(dims)
	switch {
	case err != nil:
		panic(fmt.Errorf("ops: the adjoint of %s returned shape %v for y %v, which is not an input of the operator: %w", f.name, dims, yDims, err))
	case !slices.Equal(out, yDims):
		panic(fmt.Errorf("ops: the adjoint of %s returned shape %v for y %v, but %s maps %v to %v: Aᵀy must have the shape of the input x", f.name, dims, yDims, f.name, dims, out))
	case x.DType() != y.DType():
		panic(fmt.Errorf("ops: the adjoint of %s returned dtype %s, want y's dtype %s", f.name, x.DType(), y.DType()))
	}
	return x
}
