package ops

import (
	"fmt"
	"math"
	"slices"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	timage "github.com/gomlx/gomlx/pkg/core/tensors/images"
)

// Blur is a convolution with a fixed square kernel, applied to every channel
// as DPS's Blurkernel module does: ReflectionPad2d(K/2) followed by a
// depthwise Conv2d (groups = channels, no bias), i.e. a cross-correlation
// with the kernel over the reflection-padded image, so A(x) has x's shape.
//
// [NewGaussianBlur] and [NewMotionBlur] build the reference's kernels;
// [NewBlur] takes any kernel, e.g. one read by [LoadKernel].
type Blur struct {
	name   string
	size   int
	kernel []float32
	// col and row factor the kernel as col·rowᵀ when it is separable (rank
	// one, as Gaussian kernels are); nil otherwise.
	col, row []float32
	// spec holds the spec parameters that made the kernel besides its size
	// ("intensity=3"), for String; empty for a kernel given as it is.
	spec string
	// motion is set by the motion-blur constructors: the kernel follows a
	// camera's motion (MotionBlur).
	motion bool
}

// NewBlur returns the blur operator named name (its task name, e.g.
// "motion_blur") with the size×size kernel given row-major. The kernel acts
// as the reference's Conv2d weight (cross-correlation); its size must be odd.
// The blur reports no motion (MotionBlur is false) whatever its name: a
// motion blur comes from [NewMotionBlur], [NewMotionBlurKernel] or
// [NewMotionBlurFile].
func NewBlur(name string, kernel []float32, size int) (*Blur, error) {
	if err := checkKernelSize(name, size); err != nil {
		return nil, err
	}
	switch {
	case len(kernel) != size*size:
		return nil, fmt.Errorf("%s: kernel has %d values, want %d×%d", name, len(kernel), size, size)
	}
	for i, v := range kernel {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("%s: kernel value %d is %v", name, i, v)
		}
	}
	b := &Blur{name: name, size: size, kernel: slices.Clone(kernel)}
	b.col, b.row = separate(kernel, size)
	return b, nil
}

// MaxKernelSize is the largest kernel side of a blur: the kernel builders
// ([GaussianKernel], [MotionKernel]) refuse a larger one before allocating
// it, and so do [NewBlur] and [Parse]. A kernel that large spans a
// 1024×1024 image and costs about a million multiply-adds per pixel; the
// reference's are 61.
const MaxKernelSize = 1023

// checkKernelSize refuses a kernel side that is not a positive odd integer
// of at most MaxKernelSize, naming task.
func checkKernelSize(task string, size int) error {
	switch {
	case size <= 0 || size%2 == 0:
		return fmt.Errorf("%s: kernel size must be a positive odd integer (reflection padding by size/2 on each side), got %d", task, size)
	case size > MaxKernelSize:
		return fmt.Errorf("%s: kernel size must be at most %d, got %d", task, MaxKernelSize, size)
	}
	return nil
}

// separableTolerance is the largest |k − col·rowᵀ|, relative to max |k|, at
// which a kernel is treated as separable: float32 rounding of a rank-one
// kernel built in float64 is ≈ 6e-8 relative.
const separableTolerance = 1e-6

// separate returns col and row with kernel = col·rowᵀ (size×size,
// row-major) within separableTolerance, or nils when the kernel is not of
// rank one. The factors are taken through the kernel's largest entry
// k[i][j]: col = k[·][j], row = k[i][·]/k[i][j].
func separate(kernel []float32, size int) (col, row []float32) {
	best, bi, bj := 0.0, 0, 0
	for i := range size {
		for j := range size {
			if v := math.Abs(float64(kernel[i*size+j])); v > best {
				best, bi, bj = v, i, j
			}
		}
	}
	if best == 0 {
		return nil, nil
	}
	pivot := float64(kernel[bi*size+bj])
	c := make([]float64, size)
	r := make([]float64, size)
	for k := range size {
		c[k] = float64(kernel[k*size+bj])
		r[k] = float64(kernel[bi*size+k]) / pivot
	}
	for i := range size {
		for j := range size {
			if math.Abs(float64(kernel[i*size+j])-c[i]*r[j]) > separableTolerance*best {
				return nil, nil
			}
		}
	}
	col, row = make([]float32, size), make([]float32, size)
	for k := range size {
		col[k], row[k] = float32(c[k]), float32(r[k])
	}
	return col, row
}

// Separable reports whether the kernel is of rank one, in which case A and
// its adjoint can run as two matrix products per image (see reflectMatrix)
// instead of a size×size correlation.
func (b *Blur) Separable() bool { return b.col != nil }

// useMatrices reports whether A on images shaped in runs as the two
// matrix products: when the kernel is separable and they cost fewer
// multiply-adds per pixel (H + W) than the correlation (size²), as for a
// 61×61 kernel on 256×256 images but not a 9×9 one.
func (b *Blur) useMatrices(in []int) bool {
	return b.Separable() && in[2]+in[3] < b.size*b.size
}

// Name implements [Operator].
func (b *Blur) Name() string { return b.name }

// Size returns the kernel's side length.
func (b *Blur) Size() int { return b.size }

// Kernel returns a copy of the size×size kernel, row-major.
func (b *Blur) Kernel() []float32 { return slices.Clone(b.kernel) }

// String describes the operator as a spec: its name, kernel size and the
// parameters that made its kernel (the Gaussian's intensity, the drawn
// motion kernel's intensity and seed, a stored kernel's file and tensor),
// which [Parse] turns back into the same operator whatever seed it is
// given. A kernel given as it is ([NewBlur], [NewMotionBlurKernel], a
// recorded motion kernel) has no such parameters: String is then the name
// and size alone, from which Parse builds another kernel.
func (b *Blur) String() string {
	s := fmt.Sprintf("%s:kernel_size=%d", b.name, b.size)
	if b.spec != "" {
		s += "," + b.spec
	}
	return s
}

// OutputShape implements [Operator]: A(x) has x's shape. Reflection padding
// needs the kernel's half size below the image's height and width.
func (b *Blur) OutputShape(in []int) ([]int, error) {
	if err := checkImageShape(in); err != nil {
		return nil, err
	}
	if err := kernelFits(b.size, in); err != nil {
		return nil, err
	}
	return slices.Clone(in), nil
}

// kernelFits checks that a size×size kernel fits an NCHW image of shape
// in: reflection padding needs its half size below the image's height and
// width. The builders check it before they allocate a kernel.
func kernelFits(size int, in []int) error {
	if p := size / 2; p >= in[2] || p >= in[3] {
		return fmt.Errorf("kernel %dx%d is too large for the image %dx%d (reflection padding %d must be smaller than both sides)",
			size, size, in[2], in[3], p)
	}
	return nil
}

// Apply implements [Operator].
func (b *Blur) Apply(x *graph.Node) *graph.Node {
	in := mustShape(b, x)
	if b.useMatrices(in) {
		return separable(x, b.reflectMatrix(b.col, in[2]), b.reflectMatrix(b.row, in[3]))
	}
	p := b.size / 2
	padded := reflectPad(reflectPad(x, 2, p), 3, p)
	return b.correlate(padded, false, 0, in)
}

// Adjoint implements [Linear]: the transposed convolution (a full
// correlation with the flipped kernel) gives the gradient on the padded
// image, whose reflected borders are then folded back onto the pixels they
// copied.
func (b *Blur) Adjoint(y *graph.Node) *graph.Node {
	in := mustShape(b, y)
	if b.useMatrices(in) {
		return separable(y, transpose(b.reflectMatrix(b.col, in[2])), transpose(b.reflectMatrix(b.row, in[3])))
	}
	g := b.correlate(y, true, b.size-1, in)
	p := b.size / 2
	return foldReflect(foldReflect(g, 2, p), 3, p)
}

// correlate correlates every channel of the [N,C,H',W'] x with the kernel
// (flipped in both axes when flip is set), zero-padding pad pixels on
// every side (see the function correlate).
func (b *Blur) correlate(x *graph.Node, flip bool, pad int, in []int) *graph.Node {
	k := b.kernel
	if flip {
		k = slices.Clone(k)
		slices.Reverse(k) // reversing row-major data flips both axes
	}
	return correlate(x, constOf(x, k, 1, 1, b.size, b.size), pad, in)
}

// correlate correlates every channel of the [N,C,H',W'] x with the
// [1,1,K,K] kernel, zero-padding pad pixels on every side, and returns the
// result shaped [in[0],in[1],·,·]. The channels are folded into the batch,
// so this is one single-channel convolution whose gradient is again one
// convolution (a grouped convolution's gradient is split into one per
// group).
func correlate(x, kernel *graph.Node, pad int, in []int) *graph.Node {
	d := x.Shape().Dimensions
	// Strides are always given: GoMLX's own pure-Go backend refuses a
	// convolution whose strides are left unset.
	conv := graph.Convolve(graph.Reshape(x, d[0]*d[1], 1, d[2], d[3]), kernel).ChannelsAxis(timage.ChannelsFirst).StridePerAxis(1, 1)
	if pad > 0 {
		conv = conv.PaddingPerDim([][2]int{{pad, pad}, {pad, pad}})
	}
	out := conv.Done()
	od := out.Shape().Dimensions
	return graph.Reshape(out, in[0], in[1], od[2], od[3])
}

// reflectMatrix returns the n×n matrix M of one axis of a separable blur
// with the taps w: (M x)_i = Σ_a w_a · x[reflect(i + a − size/2)], the
// reflection padding folded in (reflect(q) = −q below 0 and 2(n−1) − q
// above n−1, as torch.nn.ReflectionPad2d). A separable blur is then
// Mh · X · Mwᵀ per channel, and its adjoint Mhᵀ · Y · Mw: two n×n products
// per image instead of size² taps per pixel.
func (b *Blur) reflectMatrix(w []float32, n int) [][]float64 {
	p := b.size / 2
	m := make([][]float64, n)
	for i := range m {
		m[i] = make([]float64, n)
		for a, v := range w {
			q := i + a - p
			if q < 0 {
				q = -q
			} else if q > n-1 {
				q = 2*(n-1) - q
			}
			m[i][q] += float64(v)
		}
	}
	return m
}

// reflectPad pads axis of x by p on both sides by reflection without
// repeating the edge (…, 2, 1 | 0, 1, 2, … n-1 | n-2, n-3, …), as
// torch.nn.ReflectionPad2d; p must be smaller than the axis.
func reflectPad(x *graph.Node, axis, p int) *graph.Node {
	if p == 0 {
		return x
	}
	n := x.Shape().Dimensions[axis]
	left := reverseAxis(graph.SliceAxis(x, axis, graph.AxisRange(1, p+1)), axis)
	right := reverseAxis(graph.SliceAxis(x, axis, graph.AxisRange(n-1-p, n-1)), axis)
	return graph.Concatenate([]*graph.Node{left, x, right}, axis)
}

// foldReflect is the adjoint of reflectPad: it takes a gradient g on the
// padded axis (n+2p long) and returns the gradient on the n original pixels,
// adding the border entries to the pixels they reflected.
func foldReflect(g *graph.Node, axis, p int) *graph.Node {
	if p == 0 {
		return g
	}
	n := g.Shape().Dimensions[axis] - 2*p
	center := graph.SliceAxis(g, axis, graph.AxisRange(p, p+n))
	// Padded index i < p copied pixel p-i: reversed, the border lands on 1..p.
	left := reverseAxis(graph.SliceAxis(g, axis, graph.AxisRange(0, p)), axis)
	// Padded index p+n+j copied pixel n-2-j: reversed, it lands on n-1-p..n-2.
	right := reverseAxis(graph.SliceAxis(g, axis, graph.AxisRange(p+n, n+2*p)), axis)
	return graph.Add(center, graph.Add(zeroExtend(left, axis, 1, n-1-p), zeroExtend(right, axis, n-1-p, 1)))
}

// reverseAxis reverses x along axis by concatenating its unit slices in
// reverse order (GoMLX's Reverse has no gradient).
func reverseAxis(x *graph.Node, axis int) *graph.Node {
	n := x.Shape().Dimensions[axis]
	if n <= 1 {
		return x
	}
	parts := make([]*graph.Node, n)
	for i := range n {
		parts[n-1-i] = graph.SliceAxis(x, axis, graph.AxisRange(i, i+1))
	}
	return graph.Concatenate(parts, axis)
}

// zeroExtend pads axis of x with before and after zeros.
func zeroExtend(x *graph.Node, axis, before, after int) *graph.Node {
	parts := make([]*graph.Node, 0, 3)
	zeros := func(k int) *graph.Node {
		dims := slices.Clone(x.Shape().Dimensions)
		dims[axis] = k
		return graph.Zeros(x.Graph(), shapes.Make(x.DType(), dims...))
	}
	if before > 0 {
		parts = append(parts, zeros(before))
	}
	parts = append(parts, x)
	if after > 0 {
		parts = append(parts, zeros(after))
	}
	return graph.Concatenate(parts, axis)
}
