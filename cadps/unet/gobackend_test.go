package unet

import (
	"testing"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/internal/fixtures"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// TestGoBackend runs a small UNet, with a strided downsampling convolution,
// on GoMLX's own pure-Go backend (GOMLX_BACKEND=go, which package backend
// offers for comparison) and checks that it gives the toolkit's CPU
// backend's output. That backend refuses a convolution whose strides are
// left unset.
func TestGoBackend(t *testing.T) {
	def, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	simple, err := backend.NewWithConfig("go:ops_sequential")
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(Config{ImageSize: 8, NumChannels: 32, NumResBlocks: 1, ChannelMult: "1,2",
		AttentionResolutions: "4", NumHeads: 1, NumHeadChannels: -1, NumHeadsUpsample: -1})
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, 2*3*8*8)
	for i := range x {
		x[i] = float32(i%17)/8 - 1
	}
	forward := func(b backends.Backend) []float32 {
		t.Helper()
		ctx := context.New()
		if err := m.InitRandom(ctx, 5); err != nil {
			t.Fatal(err)
		}
		exec, err := context.NewExecAny(b, ctx, func(ctx *context.Context, x *graph.Node) *graph.Node {
			return m.Apply(ctx, x, graph.Const(x.Graph(), []float32{417, 3}), nil)
		})
		if err != nil {
			t.Fatalf("%s: %v", b.Name(), err)
		}
		out, err := exec.Exec(tensors.FromFlatDataAndDimensions(x, 2, 3, 8, 8))
		if err != nil {
			t.Fatalf("%s: %v", b.Name(), err)
		}
		return tensors.MustCopyFlatData[float32](out[0])
	}
	want := forward(def)
	got := forward(simple)
	d, err := fixtures.MaxRelDiff(got, want)
	if err != nil {
		t.Fatal(err)
	}
	if d > 1e-5 {
		t.Errorf("GoMLX's pure-Go backend differs from the toolkit's by %.3g > 1e-5", d)
	}
}
