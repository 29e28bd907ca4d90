package cadps

import (
	"strings"
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

// TestClassConditionalNetworkLabels checks that a label outside the
// model's classes, which the embedding lookup would clamp to the nearest
// class, and a label for a model without classes fail with an error that
// names them, as do labels given to Apply of a model without classes and
// a nil model given to either adapter (a nil pointer dereference inside
// the graph before).
func TestClassConditionalNetworkLabels(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	models := map[bool]*unet.Model{}
	for _, classCond := range []bool{false, true} {
		m, err := unet.New(unet.Config{ImageSize: 8, NumChannels: 32, NumResBlocks: 1, ChannelMult: "1,2",
			ClassCond: classCond, NumClasses: 4, NumHeads: 1, NumHeadChannels: -1, NumHeadsUpsample: -1})
		if err != nil {
			t.Fatal(err)
		}
		models[classCond] = m
	}
	tests := []struct {
		name      string
		classCond bool
		net       func(m *unet.Model) func(ctx *context.Context, x, ts *graph.Node) *graph.Node
		want      string // "" for no error
	}{
		{"last class", true, func(m *unet.Model) func(ctx *context.Context, x, ts *graph.Node) *graph.Node {
			return ClassConditionalNetwork(m, 3)
		}, ""},
		{"one past the classes", true, func(m *unet.Model) func(ctx *context.Context, x, ts *graph.Node) *graph.Node {
			return ClassConditionalNetwork(m, 4)
		}, "class label 4 is outside the model's 4 classes (0 to 3)"},
		{"negative", true, func(m *unet.Model) func(ctx *context.Context, x, ts *graph.Node) *graph.Node {
			return ClassConditionalNetwork(m, -1)
		}, "class label -1 is outside the model's 4 classes"},
		{"model without classes", false, func(m *unet.Model) func(ctx *context.Context, x, ts *graph.Node) *graph.Node {
			return ClassConditionalNetwork(m, 0)
		}, "class label 0 given to a model without classes (class_cond=False)"},
		{"Apply with labels, model without classes", false, func(m *unet.Model) func(ctx *context.Context, x, ts *graph.Node) *graph.Node {
			return func(ctx *context.Context, x, ts *graph.Node) *graph.Node {
				return m.Apply(ctx, x, ts, graph.Const(x.Graph(), []int32{0}))
			}
		}, "labels given to a model without classes (class_cond=False)"},
		{"UNetNetwork, nil model", false, func(*unet.Model) func(ctx *context.Context, x, ts *graph.Node) *graph.Node {
			return UNetNetwork(nil)
		}, "cadps: UNetNetwork was given no model (a nil *unet.Model)"},
		{"ClassConditionalNetwork, nil model", true, func(*unet.Model) func(ctx *context.Context, x, ts *graph.Node) *graph.Node {
			return ClassConditionalNetwork(nil, 0)
		}, "cadps: ClassConditionalNetwork was given no model (a nil *unet.Model)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := models[tc.classCond]
			ctx := context.New()
			if err := m.InitRandom(ctx, 3); err != nil {
				t.Fatal(err)
			}
			net := tc.net(m)
			exec, err := context.NewExec(b, ctx, func(ctx *context.Context, x *graph.Node) *graph.Node {
				return net(ctx, x, graph.Const(x.Graph(), []float32{500}))
			})
			if err == nil {
				_, err = exec.Exec(tensors.FromFlatDataAndDimensions(make([]float32, 3*8*8), 1, 3, 8, 8))
			}
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("error %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
