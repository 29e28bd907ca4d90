package ops_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/ops"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// halve averages 2×2 blocks: [N,C,H,W] → [N,C,H/2,W/2].
func halve(x *graph.Node) *graph.Node {
	d := x.Shape().Dimensions
	return graph.ReduceMean(graph.Reshape(x, d[0], d[1], d[2]/2, 2, d[3]/2, 2), 3, 5)
}

// halveShape is halve's shape function.
func halveShape(in []int) ([]int, error) {
	if in[2]%2 != 0 || in[3]%2 != 0 {
		return nil, fmt.Errorf("image %dx%d has an odd side", in[2], in[3])
	}
	return []int{in[0], in[1], in[2] / 2, in[3] / 2}, nil
}

// halveAdjoint is halve's adjoint: each value, divided by 4, on its block.
func halveAdjoint(y *graph.Node) *graph.Node {
	d := y.Shape().Dimensions
	up := graph.BroadcastToDims(graph.Reshape(y, d[0], d[1], d[2], 1, d[3], 1), d[0], d[1], d[2], 2, d[3], 2)
	return graph.MulScalar(graph.Reshape(up, d[0], d[1], 2*d[2], 2*d[3]), 0.25)
}

// TestFuncChecks checks that a Func or LinearFunc whose function breaks
// its contract (a result of another dtype than x, a measurement without
// the batch axis first, an adjoint not shaped like x) is refused when the
// graph is built, by an error naming the operator and the problem, and
// that functions keeping it ([N] measurements included) run.
func TestFuncChecks(t *testing.T) {
	mustFunc := func(f *ops.Func, err error) ops.Operator {
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	mustLinear := func(f *ops.LinearFunc, err error) ops.Operator {
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	perImage := func(in []int) ([]int, error) { return in[:1], nil }
	sumImage := func(x *graph.Node) *graph.Node { return graph.ReduceSum(x, 1, 2, 3) }
	b := backend.MustNew()
	for _, c := range []struct {
		name    string
		op      ops.Operator
		adjoint bool     // apply the adjoint to a measurement instead of A to an image
		refused bool     // OutputShape refuses the image too
		want    []string // substrings of the error; none: no error
	}{
		{name: "same shape", op: mustFunc(ops.NewFunc("square", nil, graph.Square))},
		{name: "one value per image", op: mustFunc(ops.NewFunc("total", perImage, sumImage))},
		{name: "float64 result",
			op:   mustFunc(ops.NewFunc("wide", nil, func(x *graph.Node) *graph.Node { return graph.ConvertDType(x, dtypes.Float64) })),
			want: []string{"wide", "dtype", "Float64", "Float32"}},
		{name: "rank 0",
			op:      mustFunc(ops.NewFunc("scalar", func([]int) ([]int, error) { return nil, nil }, graph.ReduceAllSum)),
			refused: true, want: []string{"scalar", "batch axis"}},
		{name: "batch axis dropped",
			op: mustFunc(ops.NewFunc("flat",
				func(in []int) ([]int, error) { return []int{in[0] * in[1] * in[2] * in[3]}, nil },
				func(x *graph.Node) *graph.Node { return graph.Reshape(x, -1) })),
			refused: true, want: []string{"flat", "batch axis"}},
		{name: "adjoint", op: mustLinear(ops.NewLinearFunc("halve", halveShape, halve, halveAdjoint)), adjoint: true},
		{name: "adjoint not upsampled",
			op:      mustLinear(ops.NewLinearFunc("halve", halveShape, halve, func(y *graph.Node) *graph.Node { return y })),
			adjoint: true, want: []string{"adjoint of halve", "[2 1 4 4]", "shape of the input"}},
		{name: "adjoint of rank 2",
			op:      mustLinear(ops.NewLinearFunc("halve", halveShape, halve, func(y *graph.Node) *graph.Node { return graph.Reshape(y, 2, -1) })),
			adjoint: true, want: []string{"adjoint of halve", "not an input"}},
		{name: "adjoint float64",
			op: mustLinear(ops.NewLinearFunc("halve", halveShape, halve, func(y *graph.Node) *graph.Node {
				return graph.ConvertDType(halveAdjoint(y), dtypes.Float64)
			})),
			adjoint: true, want: []string{"adjoint of halve", "dtype", "Float64"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dims := []int{2, 1, 8, 8}
			out, err := c.op.OutputShape(dims)
			if (err != nil) != c.refused {
				t.Fatalf("%s: OutputShape(%v) = %v, %v; want an error: %v", c.op.Name(), dims, out, err, c.refused)
			}
			errs := []error{err}
			if c.adjoint {
				dims = out
			}
			in := tensors.FromFlatDataAndDimensions(make([]float32, numel(dims)), dims...)
			_, err = graph.MustNewExec(b, func(v *graph.Node) *graph.Node {
				if c.adjoint {
					return c.op.(ops.Linear).Adjoint(v)
				}
				return c.op.Apply(v)
			}).Exec(in)
			switch {
			case len(c.want) == 0 && err != nil:
				t.Fatalf("%s: %v", c.op.Name(), err)
			case len(c.want) > 0 && err == nil:
				t.Fatalf("%s: accepted, want an error naming %q", c.op.Name(), c.want)
			}
			for _, err := range append(errs, err) {
				for _, w := range c.want {
					if err != nil && !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not name %q", err, w)
					}
				}
			}
		})
	}
}

func numel(dims []int) int {
	n := 1
	for _, d := range dims {
		n *= d
	}
	return n
}

// inpaintingFunc is a user's operator given a kind by embedding, as the
// Func documentation shows.
type inpaintingFunc struct{ *ops.Func }

func (inpaintingFunc) Kind() ops.Kind { return ops.KindInpainting }

// blurLinearFunc keeps a LinearFunc's adjoint and adds a kind.
type blurLinearFunc struct{ *ops.LinearFunc }

func (blurLinearFunc) Kind() ops.Kind { return ops.KindBlur }

// TestFuncKind checks that a Func reports no kind and that embedding it (or
// a LinearFunc) in a type with a Kind method gives it one, keeping the
// operator (and its adjoint).
func TestFuncKind(t *testing.T) {
	f, err := ops.NewFunc("masked", nil, graph.Square)
	if err != nil {
		t.Fatal(err)
	}
	lin, err := ops.NewLinearFunc("halve", halveShape, halve, halveAdjoint)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		op     ops.Operator
		want   ops.Kind
		linear bool
	}{
		{f, ops.KindOther, false},
		{inpaintingFunc{f}, ops.KindInpainting, false},
		{lin, ops.KindOther, true},
		{blurLinearFunc{lin}, ops.KindBlur, true},
	} {
		if got := ops.KindOf(c.op); got != c.want {
			t.Errorf("%T %s: KindOf = %q, want %q", c.op, c.op.Name(), got, c.want)
		}
		if _, ok := c.op.(ops.Linear); ok != c.linear {
			t.Errorf("%T %s: ops.Linear = %v, want %v", c.op, c.op.Name(), ok, c.linear)
		}
	}
}
