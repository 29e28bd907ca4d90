// Part of the toolkit's fork of GoMLX v0.26.0's pure-Go backend (Apache-2.0); see NOTICE.

package cpu

import (
	"fmt"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// TestVectorArith checks the vector kernels (where this CPU has them)
// against Go's float32 arithmetic on lengths around the vector width, in
// place and not, for every form.
func TestVectorArith(t *testing.T) {
	ref := map[arithOp]func(x, y float32) float32{
		arithAdd: func(x, y float32) float32 { return x + y },
		arithSub: func(x, y float32) float32 { return x - y },
		arithMul: func(x, y float32) float32 { return x * y },
		arithDiv: func(x, y float32) float32 { return x / y },
	}
	for op, f := range ref {
		k := float32Arith(op)
		if k == nil {
			t.Skip("no vector kernels on this CPU or build")
		}
		for _, n := range []int{0, 1, 7, 8, 9, 16, 31, 100} {
			for _, inPlace := range []bool{false, true} {
				t.Run(fmt.Sprintf("op%d/n%d/inplace=%v", op, n, inPlace), func(t *testing.T) {
					a, b := make([]float32, n), make([]float32, n)
					for i := range a {
						a[i], b[i] = float32(i)*0.37-5, float32(i%5)+0.5
					}
					const s = float32(1.25)
					forms := []struct {
						name string
						run  func(dst []float32)
						want func(i int) float32
					}{
						{"vv", func(dst []float32) { k.vv(dst, a, b) }, func(i int) float32 { return f(a[i], b[i]) }},
						{"vs", func(dst []float32) { k.vs(dst, a, s) }, func(i int) float32 { return f(a[i], s) }},
						{"sv", func(dst []float32) { k.sv(dst, a, s) }, func(i int) float32 { return f(s, a[i]) }},
					}
					for _, form := range forms {
						want := make([]float32, n)
						for i := range want {
							want[i] = form.want(i)
						}
						dst := make([]float32, n)
						if inPlace {
							saved := append([]float32(nil), a...)
							form.run(a)
							dst, a = a, saved
						} else {
							form.run(dst)
						}
						for i := range want {
							if dst[i] != want[i] {
								t.Fatalf("%s: element %d = %g, want %g", form.name, i, dst[i], want[i])
							}
						}
					}
				})
			}
		}
	}
}

// TestArithThroughBackend runs the four operations on full, scalar and
// broadcast float32 operands through the backend.
func TestArithThroughBackend(t *testing.T) {
	be := newTestBackend(t)
	x := tensors.FromValue([][]float32{{1, 2, 3, 4, 5, 6, 7, 8, 9}, {-1, -2, -3, -4, -5, -6, -7, -8, -9}})
	y := tensors.FromValue([][]float32{{2}, {4}})
	got := graph.MustExecOnce(be, func(x, y *graph.Node) *graph.Node {
		g := x.Graph()
		two := graph.Const(g, float32(2))
		full := graph.Div(graph.Sub(graph.Mul(x, x), x), graph.Add(x, x))       // (x²−x)/(2x) = (x−1)/2
		scal := graph.Add(graph.Sub(two, graph.Div(x, two)), graph.Mul(two, x)) // 2 − x/2 + 2x = 2 + 1.5x
		bcast := graph.Sub(x, y)                                                // rows shifted by 2 and 4
		return graph.Add(graph.Add(full, graph.Mul(scal, graph.Const(g, float32(10)))), graph.Mul(bcast, two))
	}, x, y).Value().([][]float32)
	yv := []float32{2, 4}
	for i, row := range x.Value().([][]float32) {
		for j, v := range row {
			want := (v-1)/2 + 10*(2+1.5*v) + 2*(v-yv[i])
			if d := got[i][j] - want; d > 1e-4 || d < -1e-4 {
				t.Fatalf("element [%d,%d] = %g, want %g", i, j, got[i][j], want)
			}
		}
	}
}
