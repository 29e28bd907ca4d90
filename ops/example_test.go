package ops_test

import (
	"fmt"
	"math/rand/v2"

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

// An operator from a spec, as the command line's -task takes it: ×2
// super-resolution (bicubic, as the DPS configurations use) for a batch of
// one 4×4 grey image, applied to a ramp in [-1, 1], then the measurement
// noise of the DPS configurations (Gaussian, σ_y = 0.05 on that scale)
// drawn on the host from a seeded generator.
func ExampleParse() {
	op, err := ops.Parse("super_resolution:factor=2", []int{1, 1, 4, 4}, 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	shape, err := op.OutputShape([]int{1, 1, 4, 4})
	if err != nil {
		fmt.Println(err)
		return
	}
	data := make([]float32, 16)
	for i := range data {
		data[i] = float32(i)/7.5 - 1 // row-major: -1 at the top left, 1 at the bottom right
	}
	out, err := graph.MustNewExec(backend.MustNew(), op.Apply).Exec(tensors.FromFlatDataAndDimensions(data, 1, 1, 4, 4))
	if err != nil {
		fmt.Println(err)
		return
	}
	y := tensors.MustCopyFlatData[float32](out[0])
	noise, err := ops.ParseNoise("gaussian:sigma=0.05")
	if err != nil {
		fmt.Println(err)
		return
	}
	noisy := noise.Apply(y, rand.New(rand.NewPCG(1, 2)))
	fmt.Printf("%s (%s): %v → %v\n", op.Name(), ops.KindOf(op), []int{1, 1, 4, 4}, shape)
	fmt.Printf("A(x): %.4f\n", y)
	fmt.Printf("%s noise, σ_y %g: %.4f\n", noise.Name(), noise.Sigma(), noisy)
	if _, err := ops.Parse("super_resolution:factor=3", []int{1, 1, 4, 4}, 0); err != nil {
		fmt.Println(err) // a spec that does not fit the image is refused, naming why
	}
	// Output:
	// super_resolution (super_resolution): [1 1 4 4] → [1 1 2 2]
	// A(x): [-0.6927 -0.4156 0.4156 0.6927]
	// gaussian noise, σ_y 0.05: [-0.6737 -0.4119 0.4256 0.6364]
	// operator spec "super_resolution:factor=3": super_resolution: factor 3 does not divide the image size 4x4
}
