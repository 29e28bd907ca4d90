package ops

import (
	"errors"
	"fmt"
	"slices"

	"github.com/gomlx/gomlx/pkg/core/graph"
)

// Func is a user's own operator: a Go function of graph nodes with a name
// and a function giving its output shape. Built of GoMLX ops, it is
// differentiable like the package's operators, so every guidance method
// works with it.
type Func struct {
	name  string
	shape func(in []int) ([]int, error)
	apply func(x *graph.Node) *graph.Node
}

// NewFunc returns the operator named name computing apply(x), whose output
// shape for an NCHW input shape is shape(in) (nil means "same as the
// input").
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

// OutputShape implements [Operator].
func (f *Func) OutputShape(in []int) ([]int, error) {
	if err := checkImageShape(in); err != nil {
		return nil, err
	}
	out, err := f.shape(slices.Clone(in))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.name, err)
	}
	return out, nil
}

// Apply implements [Operator]. It panics, as GoMLX graph building does, when
// the function's result does not have the declared output shape.
func (f *Func) Apply(x *graph.Node) *graph.Node {
	in := mustShape(f, x)
	want, _ := f.OutputShape(in)
	y := f.apply(x)
	if !slices.Equal(y.Shape().Dimensions, want) {
		panic(fmt.Errorf("ops: %s returned shape %v, its shape function says %v", f.name, y.Shape().Dimensions, want))
	}
	return y
}

// LinearFunc is a [Func] that is linear and gives its adjoint.
type LinearFunc struct {
	Func
	adjoint func(y *graph.Node) *graph.Node
}

// NewLinearFunc returns a user's linear operator with its adjoint: adjoint(y)
// must compute Aᵀy, of the input's shape.
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

// Adjoint implements [Linear].
func (f *LinearFunc) Adjoint(y *graph.Node) *graph.Node { return f.adjoint(y) }
