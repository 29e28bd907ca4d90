// Part of the toolkit's fork of GoMLX v0.26.0's pure-Go backend (Apache-2.0); see NOTICE.

package cpu

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/cadps/toolkit/internal/benchutil"
	"github.com/cadps/toolkit/internal/fixtures"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// TestThinDotGeneral checks the wrapper's products with one or two rows or
// columns (the broadcast path) and a wide one (the inner backend's path)
// against the unwrapped pure-Go backend, with their gradients, across axis
// orders, batch axes and several contracting axes.
func TestThinDotGeneral(t *testing.T) {
	wrapped := newTestBackend(t)
	// Sequential: upstream's parallel executor races on a node's inputs
	// (go test -race), and could then compute a wrong reference.
	plain, err := newConfigured("go:ops_sequential")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name       string
		lhs, rhs   []int
		lhsC, lhsB []int
		rhsC, rhsB []int
	}{
		{"matrix-vector", []int{7, 5}, []int{5, 1}, []int{1}, nil, []int{0}, nil},
		{"vector-matrix", []int{1, 5}, []int{5, 6}, []int{1}, nil, []int{0}, nil},
		{"two-columns-transposed", []int{5, 7}, []int{2, 5}, []int{0}, nil, []int{1}, nil},
		{"rank-1-operand", []int{7, 5}, []int{5}, []int{1}, nil, []int{0}, nil},
		{"inner-product", []int{5}, []int{5}, []int{0}, nil, []int{0}, nil},
		{"outer-product", []int{7, 1}, []int{1, 6}, []int{1}, nil, []int{0}, nil},
		{"contract-2", []int{2, 7}, []int{6, 2}, []int{0}, nil, []int{1}, nil},
		{"batched", []int{3, 4, 6}, []int{6, 3, 2}, []int{2}, []int{0}, []int{0}, []int{1}},
		{"two-contracting-swapped", []int{2, 3, 4, 5}, []int{5, 2, 4}, []int{3, 2}, []int{0}, []int{0, 2}, []int{1}},
		{"wide (inner backend)", []int{7, 5}, []int{5, 6}, []int{1}, nil, []int{0}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			inputs := func() []any { // one copy per backend: a tensor belongs to one
				r := rand.New(rand.NewPCG(5, 6))
				return []any{benchutil.RandTensor(r, c.lhs...), benchutil.RandTensor(r, c.rhs...)}
			}
			f := func(x, y *graph.Node) []*graph.Node {
				p := graph.DotGeneral(x, c.lhsC, c.lhsB, y, c.rhsC, c.rhsB)
				w := graph.Scalar(x.Graph(), p.DType(), 0.7) // a cotangent that is not all ones
				if p.Rank() > 0 {
					w = graph.Sin(graph.Iota(x.Graph(), p.Shape(), p.Rank()-1))
				}
				g := graph.Gradient(graph.ReduceAllSum(graph.Mul(p, w)), x, y)
				return []*graph.Node{p, g[0], g[1]}
			}
			want := graph.MustNewExec(plain, f).MustExec(inputs()...)
			got := graph.MustNewExec(wrapped, f).MustExec(inputs()...)
			for i, what := range []string{"product", "lhs gradient", "rhs gradient"} {
				if !got[i].Shape().Equal(want[i].Shape()) {
					t.Fatalf("%s: shape %s, want %s", what, got[i].Shape(), want[i].Shape())
				}
				d, err := fixtures.MaxRelDiff(tensors.MustCopyFlatData[float32](got[i]), tensors.MustCopyFlatData[float32](want[i]))
				if err != nil || d > 1e-5 {
					t.Errorf("%s differs from the pure-Go backend's: %v, max relative difference %.3g", what, err, d)
				}
			}
		})
	}
}

// BenchmarkThinDot times thin products [M,K]×[K,N]: a measurement matrix
// with one or two rows applied to 1000 samples of dimension 800 and its
// adjoint, and a UNet time-embedding layer at batch 1, on the wrapped backend and on the pure-Go backend with every
// product blocked, which the wrapper otherwise asks for.
func BenchmarkThinDot(b *testing.B) {
	for _, config := range []string{BackendName, "go:dotgeneral_large"} {
		be, err := newConfigured(config)
		if err != nil {
			b.Fatal(err)
		}
		for _, d := range [][3]int{{1000, 800, 1}, {1000, 800, 2}, {1000, 1, 800}, {1000, 2, 800}, {1, 512, 1024}} {
			m, k, n := d[0], d[1], d[2]
			b.Run(fmt.Sprintf("%s/%dx%dx%d", config, m, k, n), func(b *testing.B) {
				r := rand.New(rand.NewPCG(1, 1))
				x, y := benchutil.RandTensor(r, m, k), benchutil.RandTensor(r, k, n)
				exec := graph.MustNewExec(be, func(x, y *graph.Node) *graph.Node { return graph.DotGeneral(x, []int{1}, nil, y, []int{0}, nil) })
				exec.MustExec(x, y)[0].FinalizeAll()
				b.ResetTimer()
				start := time.Now()
				for range b.N {
					exec.MustExec(x, y)[0].FinalizeAll()
				}
				b.ReportMetric(2*float64(m*k*n)*float64(b.N)/time.Since(start).Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
