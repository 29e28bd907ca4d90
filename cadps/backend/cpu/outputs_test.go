// Part of the toolkit's fork of GoMLX v0.26.0's pure-Go backend (Apache-2.0); see NOTICE.

package cpu

import (
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// TestRepeatedOutputs checks both sides of a graph that returns one value
// twice. The backend refuses a Compile that lists one node twice, as
// upstream does, since Execute could not give both positions a buffer of
// their own; GoMLX's graph package never asks for that: it compiles the
// second position as an Identity of the first. Through the graph package,
// with the input donated or not and the ops in sequence or in parallel,
// the two outputs must then be distinct buffers, so that finalizing one
// (or donating it to another execution) leaves the other's values intact.
func TestRepeatedOutputs(t *testing.T) {
	in := []float32{1, -2, 3}
	for _, c := range []struct {
		name  string
		build func(b backends.Builder, x backends.Op) (backends.Op, error)
		fn    func(x *graph.Node) *graph.Node
		want  []float32
	}{
		{"parameter", func(_ backends.Builder, x backends.Op) (backends.Op, error) { return x, nil },
			func(x *graph.Node) *graph.Node { return x }, in},
		{"computed", func(b backends.Builder, x backends.Op) (backends.Op, error) { return b.Neg(x) },
			graph.Neg, []float32{-1, 2, -3}},
		{"constant", func(b backends.Builder, _ backends.Op) (backends.Op, error) { return b.Constant([]float32{4, 5, 6}, 3) },
			func(x *graph.Node) *graph.Node { return graph.Const(x.Graph(), []float32{4, 5, 6}) }, []float32{4, 5, 6}},
	} {
		for _, config := range []string{"ops_sequential", "ops_parallel"} {
			be, err := New(config)
			if err != nil {
				t.Fatal(err)
			}
			t.Run(c.name+" compile "+config, func(t *testing.T) {
				b := be.Builder("repeated")
				x, err := b.Parameter("x", shapes.Make(dtypes.Float32, 3), nil)
				if err != nil {
					t.Fatal(err)
				}
				y, err := c.build(b, x)
				if err != nil {
					t.Fatal(err)
				}
				_, err = b.Compile([]backends.Op{y, y}, nil)
				if err == nil || !strings.Contains(err.Error(), "Repeated outputs") {
					t.Fatalf("Compile of one node listed twice: err = %v, want the repeated outputs refused", err)
				}
			})
			for _, donate := range []bool{false, true} {
				name := c.name + " exec " + config
				if donate {
					name += " donated"
				}
				t.Run(name, func(t *testing.T) {
					exec, err := graph.NewExec(be, func(x *graph.Node) (*graph.Node, *graph.Node) {
						y := c.fn(x)
						return y, y
					})
					if err != nil {
						t.Fatal(err)
					}
					defer exec.Finalize()
					var arg any = tensors.FromValue(slices.Clone(in))
					if donate {
						if arg, err = graph.DonateTensorBuffer(arg.(*tensors.Tensor), be, 0); err != nil {
							t.Fatal(err)
						}
					}
					outs, err := exec.Exec(arg)
					if err != nil {
						t.Fatal(err)
					}
					b0, err := outs[0].Buffer(be, 0)
					if err != nil {
						t.Fatal(err)
					}
					b1, err := outs[1].Buffer(be, 0)
					if err != nil {
						t.Fatal(err)
					}
					if b0 == b1 {
						t.Fatal("both outputs are one buffer: finalizing one frees the other")
					}
					outs[0].FinalizeAll()
					got := tensors.MustCopyFlatData[float32](outs[1])
					if !slices.Equal(got, c.want) {
						t.Fatalf("second output after the first was finalized = %v, want %v", got, c.want)
					}
				})
			}
		}
	}
}
