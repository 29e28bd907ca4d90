package ops

import (
	"fmt"
	"math"
	"math/cmplx"
	"slices"
	"testing"

	"github.com/cadps/toolkit/internal/num"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// linearCases returns small instances of every linear operator, with the
// image shape each is tested on.
func linearCases(t *testing.T) []struct {
	name  string
	op    Linear
	shape []int
} {
	t.Helper()
	must := func(op Linear, err error) Linear {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return op
	}
	kernels, err := kernelsPath()
	if err != nil {
		t.Fatal(err)
	}
	boxMask, err := DefaultMaskOptions(MaskBox, 24, 20).Mask(24, 20, 3)
	if err != nil {
		t.Fatal(err)
	}
	randomMask, err := DefaultMaskOptions(MaskRandom, 24, 20).Mask(24, 20, 4)
	if err != nil {
		t.Fatal(err)
	}
	extremeMask, err := DefaultMaskOptions(MaskExtreme, 21, 19).Mask(21, 19, 5)
	if err != nil {
		t.Fatal(err)
	}
	double, err := NewLinearFunc("double", nil,
		func(x *graph.Node) *graph.Node { return graph.MulScalar(x, 2) },
		func(y *graph.Node) *graph.Node { return graph.MulScalar(y, 2) })
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		name  string
		op    Linear
		shape []int
	}
	add := func(name string, op Linear, shape ...int) {
		cases = append(cases, struct {
			name  string
			op    Linear
			shape []int
		}{name, op, shape})
	}
	for _, k := range []string{"cubic", "lanczos2", "lanczos3", "box", "linear"} {
		add("sr2-"+k, must(NewSuperResolution(2, k)), 2, 3, 32, 24)
	}
	add("sr4", must(NewSuperResolution(4, "")), 2, 3, 32, 48)
	add("sr8", must(NewSuperResolution(8, "")), 1, 2, 64, 64)
	add("sr1", must(NewSuperResolution(1, "")), 1, 1, 8, 8)
	add("gaussian", must(NewGaussianBlur(15, 2)), 2, 3, 24, 20)
	add("motion", must(NewMotionBlur(31, 0.5, 11)), 1, 3, 40, 36)
	add("levin", must(NewMotionBlurFile(kernels, "levin09/4")), 2, 2, 20, 24)
	add("asymmetric-1x1", must(NewBlur("blur", []float32{0.5}, 1)), 1, 3, 5, 4)
	add("asymmetric-3x3", must(NewBlur("blur", []float32{1, 2, 0, -1, 0.5, 3, 0, 0, 4}, 3)), 2, 1, 6, 7)
	// Odd and non-square sides, one channel, the largest reflection
	// padding (the kernel's half one below a side), the correlation path of
	// a separable kernel, and the USRNet-model operator.
	add("sr3-lanczos3-odd", must(NewSuperResolution(3, "lanczos3")), 2, 1, 21, 15)
	add("gaussian-3x3-correlation", must(NewGaussianBlur(3, 0.8)), 3, 1, 7, 5)
	add("gaussian-9x9-largest-pad", must(NewGaussianBlur(9, 3)), 2, 3, 5, 6)
	add("asymmetric-3x3-largest-pad", must(NewBlur("blur", []float32{1, 2, 0, -1, 0.5, 3, 0, 0, 4}, 3)), 2, 3, 2, 2)
	add("inpaint-extreme-odd", must(NewInpainting(extremeMask, 21, 19)), 2, 1, 21, 19)
	add("decimated-x3", must(NewDecimatedConv([]float64{1, -2, 0.5, 3, 0, 1, 2, -1, 0.25, 1, 1, 0, -0.5, 2, 0, 1}, 4, 4, 3)), 2, 3, 9, 15)
	add("inpaint-box", must(NewInpainting(boxMask, 24, 20)), 2, 3, 24, 20)
	add("inpaint-random", must(NewInpainting(randomMask, 24, 20)), 1, 3, 24, 20)
	add("func", double, 1, 2, 4, 4)
	return cases
}

// TestAdjoint checks <A x, y> = <x, Aᵀ y> on random inputs, the explicit
// adjoint against the autodiff VJP, and that images of a batch are
// measured independently.
func TestAdjoint(t *testing.T) {
	b := newBackend(t)
	for i, c := range linearCases(t) {
		t.Run(c.name, func(t *testing.T) {
			x := randomVector(uint64(2*i), num.Prod(c.shape))
			yShape, err := c.op.OutputShape(c.shape)
			if err != nil {
				t.Fatal(err)
			}
			v := randomVector(uint64(2*i+1), num.Prod(yShape))
			e := evaluate(t, b, c.op, x, c.shape, v)
			lhs, rhs := dot(e.y, v), dot(x, e.adjoint)
			var scale float64
			for j := range v {
				scale += math.Abs(float64(e.y[j]) * float64(v[j]))
			}
			if d := math.Abs(lhs - rhs); d > 1e-5*scale {
				t.Errorf("<Ax,y> = %.7g, <x,Aᵀy> = %.7g (difference %.3g, scale %.3g)", lhs, rhs, d, scale)
			}
			if d := maxRelDiff(t, e.adjoint, e.vjp); d > 1e-5 {
				t.Errorf("explicit adjoint and autodiff VJP differ by %.3g", d)
			}
			if c.shape[0] > 1 {
				one := slices.Clone(c.shape)
				one[0] = 1
				n := num.Prod(one)
				last := evaluate(t, b, c.op, x[len(x)-n:], one, nil)
				if d := maxRelDiff(t, last.y, e.y[len(e.y)-len(last.y):]); d > 1e-6 {
					t.Errorf("the last image measured alone differs by %.3g", d)
				}
			}
		})
	}
}

func TestSuperResolutionPseudoInverse(t *testing.T) {
	b := newBackend(t)
	for _, c := range []struct {
		factor int
		kernel string
		shape  []int
	}{{4, "cubic", []int{1, 3, 64, 48}}, {2, "lanczos3", []int{2, 1, 32, 32}}, {8, "box", []int{1, 1, 64, 64}}} {
		t.Run(fmt.Sprintf("x%d-%s", c.factor, c.kernel), func(t *testing.T) {
			op, err := NewSuperResolution(c.factor, c.kernel)
			if err != nil {
				t.Fatal(err)
			}
			yShape, _ := op.OutputShape(c.shape)
			y := randomVector(5, num.Prod(yShape))
			exec := graph.MustNewExec(b, func(y *graph.Node) (*graph.Node, *graph.Node) {
				xp := op.PseudoInverse(y)
				return xp, op.Apply(xp)
			})
			out, err := exec.Exec(tensors.FromFlatDataAndDimensions(y, yShape...))
			if err != nil {
				t.Fatal(err)
			}
			if got := out[0].Shape().Dimensions; !slices.Equal(got, c.shape) {
				t.Fatalf("A⁺y has shape %v, want %v", got, c.shape)
			}
			if d := maxRelDiff(t, tensors.MustCopyFlatData[float32](out[1]), y); d > 1e-4 {
				t.Errorf("A(A⁺y) differs from y by %.3g", d)
			}
		})
	}
}

// naivePhaseRetrieval computes |fftshift(fft2(ifftshift(pad(x)), "ortho"))|
// of one h×w image in float64 by the definitions: numpy's shifts roll by
// n/2 (fftshift) and -(n/2) (ifftshift).
func naivePhaseRetrieval(x []float64, h, w, pad int) []float64 {
	nh, nw := h+2*pad, w+2*pad
	padded := make([]float64, nh*nw)
	for i := range h {
		copy(padded[(i+pad)*nw+pad:], x[i*w:(i+1)*w])
	}
	roll := func(n, shift, i int) int { return ((i-shift)%n + n) % n }
	shifted := make([]float64, nh*nw) // ifftshift: out[i] = in[(i + n/2) mod n]
	for i := range nh {
		for j := range nw {
			shifted[i*nw+j] = padded[roll(nh, -(nh/2), i)*nw+roll(nw, -(nw/2), j)]
		}
	}
	out := make([]float64, nh*nw)
	for k := range nh {
		for l := range nw {
			var s complex128
			for i := range nh {
				for j := range nw {
					angle := -2 * math.Pi * (float64(k*i)/float64(nh) + float64(l*j)/float64(nw))
					s += complex(shifted[i*nw+j], 0) * cmplx.Rect(1, angle)
				}
			}
			// fftshift: out[k] = X[(k - n/2) mod n], so X[m] lands at (m + n/2) mod n.
			out[roll(nh, -(nh/2), k)*nw+roll(nw, -(nw/2), l)] = cmplx.Abs(s) / math.Sqrt(float64(nh*nw))
		}
	}
	return out
}

func TestPhaseRetrievalAgainstDefinition(t *testing.T) {
	b := newBackend(t)
	for _, c := range []struct {
		h, w       int
		oversample float64
	}{{8, 8, 2}, {7, 5, 4}, {6, 9, 3}, {5, 5, 0}} {
		t.Run(fmt.Sprintf("%dx%d-%g", c.h, c.w, c.oversample), func(t *testing.T) {
			op, err := NewPhaseRetrieval(c.oversample)
			if err != nil {
				t.Fatal(err)
			}
			x := randomVector(3, 2*c.h*c.w)
			got := evaluate(t, b, op, x, []int{1, 2, c.h, c.w}, nil)
			pad := op.Pad(c.h)
			n := (c.h + 2*pad) * (c.w + 2*pad)
			for ch := range 2 {
				img := make([]float64, c.h*c.w)
				for i := range img {
					img[i] = float64(x[ch*c.h*c.w+i])
				}
				want := naivePhaseRetrieval(img, c.h, c.w, pad)
				for i, v := range want {
					if g := float64(got.y[ch*n+i]); math.Abs(g-v) > 1e-5*max(1, v) {
						t.Fatalf("channel %d value %d: %v, want %v", ch, i, g, v)
					}
				}
			}
		})
	}
}

// TestPhaseRetrievalPad checks Pad's padding, and that it panics, naming
// itself and the height, for a height that is not positive (it returned 0,
// or a negative padding).
func TestPhaseRetrievalPad(t *testing.T) {
	op, err := NewPhaseRetrieval(2)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		h    int
		want int    // the padding, when no panic
		fail string // the panic's message; "" for none
	}{
		{256, 64, ""},
		{7, 1, ""},
		{1, 0, ""},
		{0, 0, "ops: PhaseRetrieval.Pad: height h 0 is not positive"},
		{-256, 0, "ops: PhaseRetrieval.Pad: height h -256 is not positive"},
	} {
		t.Run(fmt.Sprint(c.h), func(t *testing.T) {
			var got any
			pad := -1
			func() {
				defer func() { got = recover() }()
				pad = op.Pad(c.h)
			}()
			if c.fail != "" {
				if got != c.fail {
					t.Fatalf("Pad(%d) = %d, panic %v; want the panic %q", c.h, pad, got, c.fail)
				}
				return
			}
			if got != nil || pad != c.want {
				t.Fatalf("Pad(%d) = %d, panic %v; want %d", c.h, pad, got, c.want)
			}
		})
	}
}

// TestPhaseRetrievalOutputShape checks that OutputShape refuses an image
// side above 2^61, naming the shape, where the padded side overflowed into
// a negative one, and takes 2^61 itself.
func TestPhaseRetrievalOutputShape(t *testing.T) {
	op, err := NewPhaseRetrieval(MaxOversample)
	if err != nil {
		t.Fatal(err)
	}
	const side = 1 << 61
	for _, c := range []struct {
		in   []int
		want []int // nil: an error
	}{
		{[]int{1, 3, 8, 8}, []int{1, 3, 24, 24}},
		{[]int{1, 1, side, side}, []int{1, 1, 3 * side, 3 * side}},
		{[]int{1, 1, side + 1, 1}, nil},
		{[]int{1, 1, 1, math.MaxInt}, nil},
		{[]int{1, 1, math.MaxInt, math.MaxInt}, nil},
	} {
		t.Run(fmt.Sprint(c.in), func(t *testing.T) {
			got, err := op.OutputShape(c.in)
			if c.want != nil {
				if err != nil || !slices.Equal(got, c.want) {
					t.Fatalf("OutputShape = %v, %v; want %v", got, err, c.want)
				}
				return
			}
			if want := fmt.Sprintf("image shape %v has a side above 2^61, whose padded side would overflow an int", c.in); err == nil || err.Error() != want {
				t.Fatalf("OutputShape = %v, %v; want the error %q", got, err, want)
			}
		})
	}
}

// TestPhaseRetrievalGradient compares the autodiff gradient with central
// differences in float64, and checks that the gradient at a vanishing
// spectrum is 0 rather than NaN.
func TestPhaseRetrievalGradient(t *testing.T) {
	b := newBackend(t)
	op, err := NewPhaseRetrieval(2)
	if err != nil {
		t.Fatal(err)
	}
	const h, w = 6, 8
	dims := []int{1, 1, h, w}
	yShape, _ := op.OutputShape(dims)
	x32, v32 := randomVector(8, h*w), randomVector(9, num.Prod(yShape))
	x, v := make([]float64, len(x32)), make([]float64, len(v32))
	for i := range x {
		x[i] = float64(x32[i])
	}
	for i := range v {
		v[i] = float64(v32[i])
	}
	loss := graph.MustNewExec(b, func(x, v *graph.Node) *graph.Node { return graph.ReduceAllSum(graph.Mul(op.Apply(x), v)) })
	grad := graph.MustNewExec(b, func(x, v *graph.Node) *graph.Node {
		return graph.Gradient(graph.ReduceAllSum(graph.Mul(op.Apply(x), v)), x)[0]
	})
	vt := tensors.FromFlatDataAndDimensions(v, yShape...)
	at := func(x []float64) float64 {
		out, err := loss.Exec(tensors.FromFlatDataAndDimensions(x, dims...), vt)
		if err != nil {
			t.Fatal(err)
		}
		return tensors.MustCopyFlatData[float64](out[0])[0]
	}
	out, err := grad.Exec(tensors.FromFlatDataAndDimensions(x, dims...), vt)
	if err != nil {
		t.Fatal(err)
	}
	g := tensors.MustCopyFlatData[float64](out[0])
	const eps = 1e-6
	for _, i := range []int{0, 7, 20, 33, 47} {
		xp, xm := slices.Clone(x), slices.Clone(x)
		xp[i] += eps
		xm[i] -= eps
		fd := (at(xp) - at(xm)) / (2 * eps)
		if math.Abs(fd-g[i]) > 1e-6*max(1, math.Abs(fd)) {
			t.Errorf("pixel %d: gradient %.9g, central difference %.9g", i, g[i], fd)
		}
	}
	out, err = grad.Exec(tensors.FromFlatDataAndDimensions(make([]float64, h*w), dims...), vt)
	if err != nil {
		t.Fatal(err)
	}
	for i, gz := range tensors.MustCopyFlatData[float64](out[0]) {
		if gz != 0 {
			t.Fatalf("gradient at the zero image: value %d is %v, want 0", i, gz)
		}
	}
}

func TestResizeMatrixRows(t *testing.T) {
	// Every output's weights sum to 1 (normalised, reflection keeps them).
	for _, k := range resizeKernels() {
		for _, c := range []struct {
			in, out int
			scale   float64
		}{{256, 64, 0.25}, {17, 17, 1}, {10, 20, 2}, {31, 10, 10.0 / 31}} {
			m, err := ResizeMatrix(c.in, c.out, c.scale, k, true)
			if err != nil {
				t.Fatal(err)
			}
			for o, row := range m {
				var s float64
				for _, v := range row {
					s += v
				}
				if math.Abs(s-1) > 1e-12 {
					t.Fatalf("%s %d->%d: row %d sums to %v", k.Name, c.in, c.out, o, s)
				}
			}
		}
	}
	if _, err := ResizeMatrix(0, 4, 1, resizeKernels()[0], true); err == nil {
		t.Error("length 0 accepted")
	}
	if _, err := ResizeMatrix(4, 4, 0, resizeKernels()[0], true); err == nil {
		t.Error("scale 0 accepted")
	}
}

func TestConstructorErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
	}{
		{"blur empty kernel", second(NewBlur("b", nil, 3))},
		{"blur NaN", second(NewBlur("b", []float32{float32(math.NaN())}, 1))},
		{"blur even", second(NewBlur("b", make([]float32, 4), 2))},
		{"inpainting size", second(NewInpainting(make([]float32, 5), 2, 2))},
		{"inpainting value", second(NewInpainting([]float32{0, 1, 0.5, 1}, 2, 2))},
		{"inpainting zero", second(NewInpainting(nil, 0, 2))},
		{"box outside", second(BoxMask(8, 8, Box{Top: 6, Left: 0, Height: 4, Width: 2}))},
		{"func name", second(NewFunc("", nil, func(x *graph.Node) *graph.Node { return x }))},
		{"func nil", second(NewFunc("f", nil, nil))},
		{"linear func adjoint", second(NewLinearFunc("f", nil, func(x *graph.Node) *graph.Node { return x }, nil))},
		{"gaussian noise", second(NewGaussianNoise(math.Inf(1)))},
		{"poisson noise", second(NewPoissonNoise(-1))},
		{"kernel file", func() error { _, _, err := LoadKernel("/nonexistent", ""); return err }()},
	} {
		if c.err == nil {
			t.Errorf("%s: accepted", c.name)
		}
	}
}

func second[T any](_ T, err error) error { return err }

func TestOutputShapeMismatch(t *testing.T) {
	b := newBackend(t)
	mask, _ := HalfMask(8, 8, "left")
	inpaint, _ := NewInpainting(mask, 8, 8)
	sr, _ := NewSuperResolution(3, "")
	wrongShape, _ := NewFunc("wrong", func(in []int) ([]int, error) { return []int{1}, nil },
		func(x *graph.Node) *graph.Node { return x })
	for _, op := range []Operator{inpaint, sr, wrongShape} {
		exec := graph.MustNewExec(b, func(x *graph.Node) *graph.Node { return op.Apply(x) })
		if _, err := exec.Exec(tensors.FromFlatDataAndDimensions(make([]float32, 16*16), 1, 1, 16, 16)); err == nil {
			t.Errorf("%s applied to a 16x16 image without error", op.Name())
		}
	}
}
