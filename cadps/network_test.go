package cadps

import (
	"testing"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/unet"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// TestClassConditionalNetwork checks that the network conditions every
// image of a batch on its label: its output is the model's with that label
// for each image, and another label changes it.
func TestClassConditionalNetwork(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	m, err := unet.New(unet.Config{ImageSize: 8, NumChannels: 32, NumResBlocks: 1, ChannelMult: "1,2",
		LearnSigma: true, ClassCond: true, NumClasses: 4, NumHeads: 1, NumHeadChannels: -1, NumHeadsUpsample: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.New()
	if err := m.InitRandom(ctx, 3); err != nil {
		t.Fatal(err)
	}
	const n = 2
	x := make([]float32, n*3*8*8)
	for k := range x {
		x[k] = float32(k%17)/8 - 1
	}
	run := func(f func(ctx *context.Context, x, ts *graph.Node) *graph.Node) []float32 {
		t.Helper()
		exec, err := context.NewExec(b, ctx, func(ctx *context.Context, x *graph.Node) *graph.Node {
			return f(ctx, x, graph.Const(x.Graph(), []float32{500, 500}))
		})
		if err != nil {
			t.Fatal(err)
		}
		out, err := exec.Exec(tensors.FromFlatDataAndDimensions(x, n, 3, 8, 8))
		if err != nil {
			t.Fatal(err)
		}
		return tensors.MustCopyFlatData[float32](out[0])
	}
	withLabel := func(label int32) func(ctx *context.Context, x, ts *graph.Node) *graph.Node {
		return func(ctx *context.Context, x, ts *graph.Node) *graph.Node {
			return m.Apply(ctx, x, ts, graph.Const(x.Graph(), []int32{label, label}))
		}
	}
	got := run(ClassConditionalNetwork(m, 3))
	want := run(withLabel(3))
	other := run(withLabel(1))
	differs := false
	for k := range got {
		if got[k] != want[k] {
			t.Fatalf("output %d: %g, want the model's %g with label 3", k, got[k], want[k])
		}
		differs = differs || got[k] != other[k]
	}
	if !differs {
		t.Error("label 1 gives the same output as label 3: the label is not used")
	}
}
