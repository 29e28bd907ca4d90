package ops

import (
	"fmt"
	"slices"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	timage "github.com/gomlx/gomlx/pkg/core/tensors/images"
)

// checkImageShape returns an error unless in is an NCHW shape with positive
// dimensions.
func checkImageShape(in []int) error {
	if len(in) != 4 {
		return fmt.Errorf("image shape %v is not NCHW (4 dimensions)", in)
	}
	for _, d := range in {
		if d <= 0 {
			return fmt.Errorf("image shape %v has a non-positive dimension", in)
		}
	}
	return nil
}

// mustShape checks that op accepts x, panicking (as GoMLX's graph builders
// do; Exec turns it into an error) when x's shape or dtype is invalid for
// op. It returns x's dimensions.
func mustShape(op Operator, x *graph.Node) []int {
	in := x.Shape().Dimensions
	if _, err := op.OutputShape(in); err != nil {
		panic(fmt.Errorf("ops: %s applied to %s: %w", op.Name(), x.Shape(), err))
	}
	if !x.DType().IsFloat() {
		panic(fmt.Errorf("ops: %s applied to %s: the image must be a float tensor", op.Name(), x.Shape()))
	}
	return slices.Clone(in)
}

// constOf returns a constant holding data with the given dimensions, in
// like's graph and of like's dtype.
func constOf(like *graph.Node, data []float32, dims ...int) *graph.Node {
	c := graph.ConstTensor(like.Graph(), tensors.FromFlatDataAndDimensions(data, dims...))
	if like.DType() != dtypes.Float32 {
		c = graph.ConvertDType(c, like.DType())
	}
	return c
}

// constFloats returns float64 data as a constant of like's dtype, rounded
// once (float64 images keep the host's float64 precision).
func constFloats(like *graph.Node, data []float64, dims ...int) *graph.Node {
	if like.DType() == dtypes.Float64 {
		return graph.ConstTensor(like.Graph(), tensors.FromFlatDataAndDimensions(data, dims...))
	}
	f := make([]float32, len(data))
	for i, v := range data {
		f[i] = float32(v)
	}
	return constOf(like, f, dims...)
}

// separable returns Mh · X · Mwᵀ for every image X of the [N,C,H,W] tensor
// x, where mh is [H',H] and mw is [W',W]: a product along H, then one along
// W (the reference resizer's order).
//
// Each product is a 1×1 convolution with the matrix as its weights (the
// image rows or columns as channels) rather than a DotGeneral: GoMLX's
// DotGeneral gradient materialises the whole outer product (hundreds of MB
// and seconds here), while a convolution's gradient is a convolution.
func separable(x *graph.Node, mh, mw [][]float64) *graph.Node {
	d := x.Shape().Dimensions
	n, c, h, w := d[0], d[1], d[2], d[3]
	oh, ow := len(mh), len(mw)
	// Along H: [N·C, H (channels), W (spatial)] with an [H', H, 1] kernel.
	kh := constFloats(x, flatten(mh), oh, h, 1)
	t := graph.Reshape(x, n*c, h, w)
	// Strides are always given: GoMLX's own pure-Go backend refuses a
	// convolution whose strides are left unset.
	t = graph.Convolve(t, kh).ChannelsAxis(timage.ChannelsFirst).StridePerAxis(1).Done()
	// Along W: [N·C, H' (spatial), W (channels)] with a [1, W, W'] kernel.
	kw := constFloats(x, flatten(transpose(mw)), 1, w, ow)
	t = graph.Convolve(t, kw).ChannelsAxis(timage.ChannelsLast).StridePerAxis(1).Done()
	return graph.Reshape(t, n, c, oh, ow)
}
