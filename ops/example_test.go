package ops_test

import (
	"fmt"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/ops"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// A user's own measurement: a colour camera that records a grey image at
// half resolution (luma weights, then 2×2 block averages). Wrapped by
// NewFunc it is an ops.Operator, differentiable through GoMLX, so the
// guidance methods can take ∇ₓ‖y − A(x)‖² through it.
func ExampleNewFunc() {
	greyHalf, err := ops.NewFunc("grey_half",
		func(in []int) ([]int, error) {
			if in[1] != 3 {
				return nil, fmt.Errorf("want 3 colour channels, got %d", in[1])
			}
			if in[2]%2 != 0 || in[3]%2 != 0 {
				return nil, fmt.Errorf("image %dx%d has an odd side", in[2], in[3])
			}
			return []int{in[0], 1, in[2] / 2, in[3] / 2}, nil
		},
		func(x *graph.Node) *graph.Node {
			d := x.Shape().Dimensions
			luma := graph.Const(x.Graph(), [][][][]float32{{{{0.299}}, {{0.587}}, {{0.114}}}})
			grey := graph.ReduceSum(graph.Mul(x, luma), 1) // [N,H,W]
			blocks := graph.Reshape(grey, d[0], 1, d[2]/2, 2, d[3]/2, 2)
			return graph.ReduceMean(blocks, 3, 5)
		})
	if err != nil {
		fmt.Println(err)
		return
	}
	var op ops.Operator = greyHalf

	// A 4×4 colour ramp, and the gradient of ‖A(x)‖²/2 with respect to it.
	data := make([]float32, 3*4*4)
	for i := range data {
		data[i] = float32(i%16)/8 - 1
	}
	x := tensors.FromFlatDataAndDimensions(data, 1, 3, 4, 4)
	exec := graph.MustNewExec(backend.MustNew(), func(x *graph.Node) (*graph.Node, *graph.Node) {
		y := op.Apply(x)
		loss := graph.MulScalar(graph.ReduceAllSum(graph.Square(y)), 0.5)
		return y, graph.Gradient(loss, x)[0]
	})
	out, err := exec.Exec(x)
	if err != nil {
		fmt.Println(err)
		return
	}
	shape, _ := op.OutputShape([]int{1, 3, 4, 4})
	grad := tensors.MustCopyFlatData[float32](out[1])
	fmt.Println("A(x) shape:", shape)
	fmt.Printf("A(x): %.4f\n", tensors.MustCopyFlatData[float32](out[0]))
	fmt.Printf("gradient at the first pixel of each channel: %.4f %.4f %.4f\n", grad[0], grad[16], grad[32])
	// Output:
	// A(x) shape: [1 1 2 2]
	// A(x): [-0.6875 -0.4375 0.3125 0.5625]
	// gradient at the first pixel of each channel: -0.0514 -0.1009 -0.0196
}
