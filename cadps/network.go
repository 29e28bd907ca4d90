package cadps

import (
	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/cadps/unet"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// UNetNetwork adapts an unconditional UNet to a guidance.Network.
func UNetNetwork(m *unet.Model) guidance.Network {
	return func(ctx *context.Context, x, t *graph.Node) *graph.Node { return m.Apply(ctx, x, t, nil) }
}

// ClassConditionalNetwork adapts a class-conditional UNet to a
// guidance.Network that conditions every image on label.
func ClassConditionalNetwork(m *unet.Model, label int) guidance.Network {
	return func(ctx *context.Context, x, t *graph.Node) *graph.Node {
		n := x.Shape().Dim(0)
		labels := make([]int32, n)
		for k := range labels {
			labels[k] = int32(label)
		}
		return m.Apply(ctx, x, t, graph.Const(x.Graph(), labels))
	}
}
