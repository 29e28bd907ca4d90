package cadps

import (
	"errors"
	"fmt"

	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/cadps/unet"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// UNetNetwork adapts an unconditional UNet to a guidance.Network. A nil m
// fails the graph's construction with an error naming it.
func UNetNetwork(m *unet.Model) guidance.Network {
	return func(ctx *context.Context, x, t *graph.Node) *graph.Node {
		if m == nil {
			panic(errors.New("cadps: UNetNetwork was given no model (a nil *unet.Model)"))
		}
		return m.Apply(ctx, x, t, nil)
	}
}

// ClassConditionalNetwork adapts a class-conditional UNet to a
// guidance.Network that conditions every image on label. A label outside
// the model's classes [0, m.NumClasses()), which the embedding lookup would
// clamp to the nearest class without a word, a model without classes, or
// a nil m, fails the graph's construction with an error naming it.
func ClassConditionalNetwork(m *unet.Model, label int) guidance.Network {
	return func(ctx *context.Context, x, t *graph.Node) *graph.Node {
		if m == nil {
			panic(errors.New("cadps: ClassConditionalNetwork was given no model (a nil *unet.Model)"))
		}
		if err := CheckClassLabel(m, label); err != nil {
			panic(err)
		}
		n := x.Shape().Dim(0)
		labels := make([]int32, n)
		for k := range labels {
			labels[k] = int32(label)
		}
		return m.Apply(ctx, x, t, graph.Const(x.Graph(), labels))
	}
}

// CheckClassLabel reports whether m takes label as a class, as
// ClassConditionalNetwork requires: an error names a model without classes
// (class_cond=False), or a label outside its classes [0, m.NumClasses()),
// which the embedding lookup would clamp to the nearest class without a
// word; a nil m is an error too.
func CheckClassLabel(m *unet.Model, label int) error {
	if m == nil {
		return fmt.Errorf("cadps: class label %d given to no model (a nil *unet.Model)", label)
	}
	switch n := m.NumClasses(); {
	case n == 0:
		return fmt.Errorf("cadps: class label %d given to a model without classes (class_cond=False)", label)
	case label < 0 || label >= n:
		return fmt.Errorf("cadps: class label %d is outside the model's %d classes (0 to %d)", label, n, n-1)
	}
	return nil
}
