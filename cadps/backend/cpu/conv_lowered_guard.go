// Part of the toolkit's fork of GoMLX v0.26.0's pure-Go backend (Apache-2.0); see NOTICE.

package cpu

import (
	"fmt"
	"math"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/dtypes/bfloat16"
)

// A banded matrix (convBanded) multiplies every input of a window by the
// band, zeros included, so a NaN or an infinity in the input would make NaN
// of outputs whose taps never read it (∞·0). A convolution lowered with
// bands therefore ends in a guard node: it passes the lowered result on
// when the input is finite, and otherwise computes the convolution again
// with upstream's loop, which reads only the taps of each output.

// nonFiniteGuard is the data of the guard node, whose inputs are the
// convolution's input and kernel and its lowered result: ref is the
// upstream convolution node (never run itself) whose loop recomputes it.
type nonFiniteGuard struct {
	ref *Node
}

// guardNonFinite returns the guard node for the lowered convolution y of
// input and kernel, or y where the input's dtype is not one the guard
// scans.
func (b *Builder) guardNonFinite(y, input, kernel backends.Op, axes backends.ConvolveAxesConfig,
	strides []int, paddings [][2]int, inputDilations, kernelDilations []int, channelGroupCount int) (backends.Op, error) {
	inputs, err := b.checkOps("ConvGeneral", input, kernel, y)
	if err != nil {
		return nil, err
	}
	switch inputs[0].shape.DType {
	case dtypes.Float32, dtypes.Float64, dtypes.BFloat16:
	default:
		return y, nil
	}
	refOp, err := b.convGeneralDirect(input, kernel, axes, strides, paddings, inputDilations, kernelDilations, channelGroupCount, 1)
	if err != nil {
		return nil, err
	}
	ref := refOp.(*Node)
	if !ref.shape.Equal(inputs[2].shape) {
		return nil, fmt.Errorf("lowered convolution is %s, upstream's %s", inputs[2].shape, ref.shape)
	}
	node := b.newNode(backends.OpTypeConvGeneral, ref.shape, inputs...)
	node.data = &nonFiniteGuard{ref: ref}
	return node, nil
}

// execNonFiniteGuard runs the guard node g: the lowered result, or
// upstream's loop where the input holds a NaN or an infinity.
func execNonFiniteGuard(backend *Backend, g *nonFiniteGuard, inputs []*Buffer, owned []bool) (*Buffer, error) {
	if allFinite(inputs[0].flat) {
		if owned[2] {
			y := inputs[2]
			inputs[2] = nil
			return y, nil
		}
		return backend.cloneBuffer(inputs[2]), nil
	}
	return execConvGeneral(backend, g.ref, inputs[:2], owned[:2])
}

// allFinite reports whether flat (float32, float64 or bfloat16) holds no
// NaN and no infinity.
func allFinite(flat any) bool {
	switch v := flat.(type) {
	case []float32:
		for _, e := range v {
			if e-e != 0 { // NaN for NaN and ±Inf
				return false
			}
		}
	case []float64:
		for _, e := range v {
			if e-e != 0 {
				return false
			}
		}
	case []bfloat16.BFloat16:
		for _, e := range v {
			if f := e.Float32(); math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
				return false
			}
		}
	}
	return true
}
