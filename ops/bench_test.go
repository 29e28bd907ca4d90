package ops

import (
	"testing"
	"time"

	"github.com/cadps/toolkit/internal/num"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// BenchmarkOperators measures one forward pass plus the VJP d<A(x),v>/dx
// (what a guidance step needs) of each reference operator on a 256×256
// colour image, batch 1, reported as ms/op-vjp.
func BenchmarkOperators(b *testing.B) {
	be := newBackend(b)
	shape := []int{1, 3, 256, 256}
	for _, spec := range []string{
		"super_resolution:factor=4",
		"super_resolution:factor=2",
		"gaussian_blur:kernel_size=61,intensity=3.0",
		"motion_blur:kernel_size=61,intensity=0.5",
		"inpaint_box:size=128",
		"inpaint_random",
		"phase_retrieval:oversample=2",
	} {
		b.Run(spec, func(b *testing.B) {
			op, err := Parse(spec, shape, 1)
			if err != nil {
				b.Fatal(err)
			}
			yShape, _ := op.OutputShape(shape)
			x := tensors.FromFlatDataAndDimensions(randomVector(1, num.Prod(shape)), shape...)
			v := tensors.FromFlatDataAndDimensions(randomVector(2, num.Prod(yShape)), yShape...)
			exec := graph.MustNewExec(be, func(x, v *graph.Node) (*graph.Node, *graph.Node) {
				y := op.Apply(x)
				return y, graph.Gradient(graph.ReduceAllSum(graph.Mul(y, v)), x)[0]
			})
			if _, err := exec.Exec(x, v); err != nil { // compiles
				b.Fatal(err)
			}
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				out, err := exec.Exec(x, v)
				if err != nil {
					b.Fatal(err)
				}
				for _, t := range out {
					t.FinalizeAll()
				}
			}
			b.ReportMetric(float64(time.Since(start).Microseconds())/1e3/float64(b.N), "ms/op-vjp")
		})
	}
}
