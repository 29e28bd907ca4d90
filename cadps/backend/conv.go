package backend

import (
	"slices"

	"github.com/gomlx/gomlx/backends"
)

// ConvGeneral implements backends.Builder. It fills in the defaults the
// pure-Go backend mishandles (nil strides, dilations ≤ 0) before forwarding.
func (b *builder) ConvGeneral(input, kernel backends.Op, axes backends.ConvolveAxesConfig,
	strides []int, paddings [][2]int, inputDilations, kernelDilations []int,
	channelGroupCount, batchGroupCount int) (backends.Op, error) {
	n := len(axes.InputSpatial)
	strides = ones(strides, n)
	inputDilations = ones(inputDilations, n)
	kernelDilations = ones(kernelDilations, n)
	if paddings == nil {
		paddings = make([][2]int, n)
	}
	return b.Builder.ConvGeneral(input, kernel, axes, strides, paddings, inputDilations, kernelDilations,
		max(channelGroupCount, 1), max(batchGroupCount, 1))
}

// ones returns v with missing or non-positive entries replaced by 1, as a
// fresh slice of length n.
func ones(v []int, n int) []int {
	out := slices.Repeat([]int{1}, n)
	for i := range min(n, len(v)) {
		if v[i] > 0 {
			out[i] = v[i]
		}
	}
	return out
}
