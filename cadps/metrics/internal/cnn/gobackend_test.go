package cnn

import (
	"testing"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// TestConv2DGoBackend runs Conv2D, with stride 1 and 2, on GoMLX's own
// pure-Go backend (GOMLX_BACKEND=go, offered for comparison) and checks it
// against the toolkit's CPU backend. That backend refuses a convolution
// whose strides are left unset.
func TestConv2DGoBackend(t *testing.T) {
	def, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	simple, err := backend.NewWithConfig("go:ops_sequential")
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, 2*9*9)
	for i := range x {
		x[i] = float32(i%7) - 3
	}
	k := make([]float32, 4*2*3*3)
	for i := range k {
		k[i] = float32(i%5)/4 - 0.5
	}
	for _, stride := range []int{1, 2} {
		run := func(b backends.Backend) []float32 {
			t.Helper()
			exec, err := graph.NewExec(b, func(x, k *graph.Node) *graph.Node { return Conv2D(x, k, nil, stride, 1, 1) })
			if err != nil {
				t.Fatal(err)
			}
			out, err := exec.Exec(tensors.FromFlatDataAndDimensions(x, 1, 2, 9, 9), tensors.FromFlatDataAndDimensions(k, 4, 2, 3, 3))
			if err != nil {
				t.Fatalf("stride %d on %s: %v", stride, b.Name(), err)
			}
			return tensors.MustCopyFlatData[float32](out[0])
		}
		want, got := run(def), run(simple)
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("stride %d: output %d is %g on GoMLX's pure-Go backend, %g on the toolkit's", stride, i, got[i], want[i])
			}
		}
	}
}
