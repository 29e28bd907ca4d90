package ops

import (
	"math"
	"strings"
	"testing"
)

// TestImageBaseline: super-resolution offers its upsampling (a constant
// image stays constant), an image-shaped measurement is its own baseline,
// and phase retrieval's magnitudes have none.
func TestImageBaseline(t *testing.T) {
	sr, err := NewSuperResolution(2, "cubic")
	if err != nil {
		t.Fatal(err)
	}
	blur, err := NewGaussianBlur(5, 1)
	if err != nil {
		t.Fatal(err)
	}
	pr, err := Parse("phase_retrieval", []int{1, 1, 8, 8}, 0)
	if err != nil {
		t.Fatal(err)
	}
	constant := func(n int, v float32) []float32 {
		y := make([]float32, n)
		for k := range y {
			y[k] = v
		}
		return y
	}
	for _, c := range []struct {
		name          string
		op            Operator
		y             []float32
		yShape, shape []int
		ok            bool
		want          float32 // every value of the baseline
		err           string
	}{
		{name: "sr", op: sr, y: constant(2*3*4*4, 0.25), yShape: []int{2, 3, 4, 4}, shape: []int{2, 3, 8, 8}, ok: true, want: 0.25},
		{name: "blur", op: blur, y: constant(16, -0.5), yShape: []int{1, 1, 4, 4}, shape: []int{1, 1, 4, 4}, ok: true, want: -0.5},
		{name: "phase retrieval", op: pr, y: make([]float32, 144), yShape: []int{1, 1, 12, 12}, shape: []int{1, 1, 8, 8}},
		{name: "sr short y", op: sr, y: make([]float32, 3), yShape: []int{1, 1, 4, 4}, shape: []int{1, 1, 8, 8}, err: "(3 values)"},
		{name: "vector measurement", op: blur, y: make([]float32, 6), yShape: []int{2, 3}, shape: []int{2, 1, 4, 4}},
		{name: "image rank", op: blur, y: []float32{0}, yShape: []int{1, 1, 1, 1}, shape: []int{1, 1}, err: "NCHW"},
		{name: "blur short y", op: blur, y: make([]float32, 3), yShape: []int{1, 1, 4, 4}, shape: []int{1, 1, 4, 4}, err: "(3 values), want 16 values"},
		{name: "blur other batch", op: blur, y: make([]float32, 32), yShape: []int{2, 1, 4, 4}, shape: []int{1, 1, 4, 4}, err: "the batch sizes differ"},
		{name: "sr other batch", op: sr, y: make([]float32, 32), yShape: []int{2, 1, 4, 4}, shape: []int{1, 1, 8, 8}, err: "the batch sizes differ"},
		{name: "sr other channels", op: sr, y: make([]float32, 48), yShape: []int{1, 3, 4, 4}, shape: []int{1, 1, 8, 8}, err: "the channels differ"},
		{name: "measurement dimension not positive", op: blur, y: nil, yShape: []int{1, 1, 0, 4}, shape: []int{1, 1, 4, 4}, err: "not positive"},
		{name: "no operator", op: nil, y: make([]float32, 16), yShape: []int{1, 1, 4, 4}, shape: []int{1, 1, 4, 4}, err: "no operator"},
	} {
		t.Run(c.name, func(t *testing.T) {
			x, ok, err := ImageBaseline(c.op, c.y, c.yShape, c.shape)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one containing %q", err, c.err)
				}
				return
			}
			if err != nil || ok != c.ok {
				t.Fatalf("ok %v, error %v; want ok %v", ok, err, c.ok)
			}
			if !ok {
				return
			}
			if len(x) != c.shape[0]*c.shape[1]*c.shape[2]*c.shape[3] {
				t.Fatalf("%d values for shape %v", len(x), c.shape)
			}
			for k, v := range x {
				if math.Abs(float64(v-c.want)) > 1e-6 {
					t.Fatalf("value %d = %v, want %v", k, v, c.want)
				}
			}
		})
	}
}

// TestSuperResolutionImageBaselineShapes checks that the operator's own
// ImageBaseline, which a caller may use without the package's function,
// refuses shapes that are not NCHW with an error instead of panicking.
func TestSuperResolutionImageBaselineShapes(t *testing.T) {
	sr, err := NewSuperResolution(2, "cubic")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name          string
		yShape, shape []int
	}{
		{"no shapes", nil, nil},
		{"measurement not NCHW", []int{4, 4}, []int{1, 1, 8, 8}},
		{"images not NCHW", []int{1, 1, 4, 4}, []int{8, 8}},
	} {
		t.Run(c.name, func(t *testing.T) {
			defer func() {
				if p := recover(); p != nil {
					t.Fatalf("panicked: %v", p)
				}
			}()
			if _, err := sr.ImageBaseline(make([]float32, 16), c.yShape, c.shape); err == nil || !strings.Contains(err.Error(), "want both NCHW") {
				t.Fatalf("error %v, want one saying both shapes must be NCHW", err)
			}
		})
	}
}
