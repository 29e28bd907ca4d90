package nn

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/internal/benchutil"
	"github.com/cadps/toolkit/internal/fixtures"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// dotCase is a DotGeneral of the UNet: a linear layer or one of attention's
// batched products.
type dotCase struct {
	name               string
	lhs, rhs           []int
	lhsC, lhsB         []int
	rhsC, rhsB         []int
	flopsM, flopsN, mk int // M·N·K·batch = flopsM·flopsN·mk
}

func dotCases(n, bh, t int) []dotCase {
	return []dotCase{
		{name: fmt.Sprintf("linear-%dx512x512", n), lhs: []int{n, 512}, rhs: []int{512, 512},
			lhsC: []int{1}, rhsC: []int{0}, flopsM: n, flopsN: 512, mk: 512},
		{name: fmt.Sprintf("attn-qk-%dx%dx%dx64", bh, t, t), lhs: []int{bh, t, 64}, rhs: []int{bh, t, 64},
			lhsC: []int{2}, lhsB: []int{0}, rhsC: []int{2}, rhsB: []int{0}, flopsM: bh * t, flopsN: t, mk: 64},
		{name: fmt.Sprintf("attn-av-%dx%dx%dx64", bh, t, t), lhs: []int{bh, t, t}, rhs: []int{bh, t, 64},
			lhsC: []int{2}, lhsB: []int{0}, rhsC: []int{1}, rhsB: []int{0}, flopsM: bh * t, flopsN: 64, mk: t},
	}
}

// dotGradGraph returns the graph of the two gradients of <DotGeneral, v>.
func dotGradGraph(dc dotCase, lean bool) func(a, b, v *graph.Node) []*graph.Node {
	return func(a, b, v *graph.Node) []*graph.Node {
		var y *graph.Node
		if lean {
			y = DotGeneral(a, dc.lhsC, dc.lhsB, b, dc.rhsC, dc.rhsB)
		} else {
			y = graph.DotGeneral(a, dc.lhsC, dc.lhsB, b, dc.rhsC, dc.rhsB)
		}
		return graph.Gradient(graph.ReduceAllSum(graph.Mul(y, v)), a, b)
	}
}

func dotInputs(dc dotCase, r *rand.Rand, outDims []int) []*tensors.Tensor {
	return []*tensors.Tensor{benchutil.RandTensor(r, dc.lhs...), benchutil.RandTensor(r, dc.rhs...), benchutil.RandTensor(r, outDims...)}
}

func dotOutDims(dc dotCase) []int {
	var dims []int
	for _, a := range dc.lhsB {
		dims = append(dims, dc.lhs[a])
	}
	for _, a := range crossAxes(len(dc.lhs), dc.lhsC, dc.lhsB) {
		dims = append(dims, dc.lhs[a])
	}
	for _, a := range crossAxes(len(dc.rhs), dc.rhsC, dc.rhsB) {
		dims = append(dims, dc.rhs[a])
	}
	return dims
}

// gradCases are the products the gradient tests check: the UNet's at small
// sizes, transposed contracting axes, and several batch and contracting
// axes.
func gradCases() []dotCase {
	return append(dotCases(6, 2, 5),
		dotCase{name: "transposed", lhs: []int{4, 3}, rhs: []int{5, 4}, lhsC: []int{0}, rhsC: []int{1}},
		dotCase{name: "multi-axes", lhs: []int{2, 3, 4, 5}, rhs: []int{5, 2, 4, 6},
			lhsC: []int{3, 2}, lhsB: []int{0}, rhsC: []int{0, 2}, rhsB: []int{1}})
}

// TestDotGeneralLeanGrad checks the prototype's gradients against GoMLX's on
// small shapes, including transposed contracting axes and several batch and
// contracting axes.
func TestDotGeneralLeanGrad(t *testing.T) {
	be := testBackend(t)
	for _, dc := range gradCases() {
		t.Run(dc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(9, 9))
			in := dotInputs(dc, r, dotOutDims(dc))
			want := graph.MustNewExec(be, dotGradGraph(dc, false)).MustExec(in[0], in[1], in[2])
			got := graph.MustNewExec(be, dotGradGraph(dc, true)).MustExec(in[0], in[1], in[2])
			for i := range want {
				if !got[i].Shape().Equal(want[i].Shape()) {
					t.Fatalf("gradient %d: shape %s, want %s", i, got[i].Shape(), want[i].Shape())
				}
				d, err := fixtures.MaxRelDiff(tensors.MustCopyFlatData[float32](got[i]), tensors.MustCopyFlatData[float32](want[i]))
				if err != nil || d > 1e-5 {
					t.Errorf("gradient %d differs from GoMLX's: %v %.3g", i, err, d)
				}
			}
		})
	}
}

// BenchmarkDotGrad times both gradients of the UNet's products with GoMLX's
// gradient ("gomlx") and with dotGeneralLeanGrad ("lean"), and reports the
// peak RSS growth. The shapes are scaled down (N=1024 tokens, T=1024) so
// that GoMLX's gradient fits in memory: it allocates N·512·512 and
// batch·T·T·64 elements per operand.
func BenchmarkDotGrad(b *testing.B) {
	be := testBackend(b)
	for _, dc := range dotCases(1024, 4, 1024) {
		for _, lean := range []bool{false, true} {
			name := dc.name + "/gomlx"
			if lean {
				name = dc.name + "/lean"
			}
			b.Run(name, func(b *testing.B) {
				r := rand.New(rand.NewPCG(1, 1))
				in := dotInputs(dc, r, dotOutDims(dc))
				exec := graph.MustNewExec(be, dotGradGraph(dc, lean))
				before, err := benchutil.PeakRSS(true)
				if err != nil {
					b.Skip(err)
				}
				for _, o := range exec.MustExec(in[0], in[1], in[2]) {
					o.FinalizeAll()
				}
				b.ResetTimer()
				start := time.Now()
				for range b.N {
					for _, o := range exec.MustExec(in[0], in[1], in[2]) {
						o.FinalizeAll()
					}
				}
				elapsed := time.Since(start)
				peak, err := benchutil.PeakRSS(false)
				if err != nil {
					b.Fatal(err)
				}
				// Two gradient products, 2 FLOPs per multiply-add each.
				flops := 4 * float64(dc.flopsM) * float64(dc.flopsN) * float64(dc.mk)
				b.ReportMetric(flops*float64(b.N)/elapsed.Seconds()/1e9, "GFLOP/s")
				b.ReportMetric(peak-before, "delta-MiB")
			})
		}
	}
}

func testBackend(t testing.TB) backends.Backend {
	t.Helper()
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDotGeneralConstGrad checks DotGeneralConst's value and left-operand
// gradient against GoMLX's DotGeneral, with the right operand a constant.
func TestDotGeneralConstGrad(t *testing.T) {
	be := testBackend(t)
	for _, dc := range gradCases() {
		t.Run(dc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(3, 4))
			in := dotInputs(dc, r, dotOutDims(dc))
			build := func(fixed bool) func(a, v *graph.Node) []*graph.Node {
				return func(a, v *graph.Node) []*graph.Node {
					b := graph.Const(a.Graph(), in[1])
					var y *graph.Node
					if fixed {
						y = DotGeneralConst(a, dc.lhsC, dc.lhsB, b, dc.rhsC, dc.rhsB)
					} else {
						y = graph.DotGeneral(a, dc.lhsC, dc.lhsB, b, dc.rhsC, dc.rhsB)
					}
					return []*graph.Node{y, graph.Gradient(graph.ReduceAllSum(graph.Mul(y, v)), a)[0]}
				}
			}
			want := graph.MustNewExec(be, build(false)).MustExec(in[0], in[2])
			got := graph.MustNewExec(be, build(true)).MustExec(in[0], in[2])
			for i, what := range []string{"value", "gradient"} {
				if !got[i].Shape().Equal(want[i].Shape()) {
					t.Fatalf("%s: shape %s, want %s", what, got[i].Shape(), want[i].Shape())
				}
				d, err := fixtures.MaxRelDiff(tensors.MustCopyFlatData[float32](got[i]), tensors.MustCopyFlatData[float32](want[i]))
				if err != nil || d > 1e-5 {
					t.Errorf("%s differs from GoMLX's: %v %.3g", what, err, d)
				}
			}
		})
	}
}
