package imageio

import (
	"math"
	"strings"
	"testing"
)

// TestNCHW checks the [0,1] ↔ [-1,1] conversion and the batch layout.
func TestNCHW(t *testing.T) {
	a := mustNew(t, 3, 2, 3, func(c, y, x int) float32 { return float32(c*6+y*3+x) / 17 })
	b := mustNew(t, 3, 2, 3, func(c, y, x int) float32 { return 1 - float32(c*6+y*3+x)/17 })
	data, dims, err := ToNCHW(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if dims != [4]int{2, 3, 2, 3} || len(data) != 36 {
		t.Fatalf("dims %v, %d values", dims, len(data))
	}
	// Batch 1, channel 2, row 1, column 0.
	if got, want := data[((1*3+2)*2+1)*3+0], 2*b.At(2, 1, 0)-1; got != want {
		t.Errorf("x[1,2,1,0] = %v, want %v", got, want)
	}
	back, err := FromNCHW(data, dims[:]...)
	if err != nil {
		t.Fatal(err)
	}
	for i, im := range []*Image{a, b} {
		for j := range im.Pix {
			if d := back[i].Pix[j] - im.Pix[j]; d > 1e-7 || d < -1e-7 {
				t.Fatalf("image %d value %d: %v after the round trip, want %v", i, j, back[i].Pix[j], im.Pix[j])
			}
		}
	}
	one, err := FromNCHW([]float32{-1, 0, 1, 3}, 1, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	if got := one[0].Pix; got[0] != 0 || got[1] != 0.5 || got[2] != 1 || got[3] != 2 {
		t.Errorf("FromNCHW([-1 0 1 3]) = %v, want [0 0.5 1 2] (unclamped)", got)
	}
}

func TestNCHWErrors(t *testing.T) {
	a := mustNew(t, 3, 2, 2, func(int, int, int) float32 { return 0 })
	g := mustNew(t, 1, 2, 2, func(int, int, int) float32 { return 0 })
	tests := []struct {
		name string
		call func() error
		want string
	}{
		{"no images", func() error { _, _, err := ToNCHW(); return err }, "at least one"},
		{"mixed", func() error { _, _, err := ToNCHW(a, g); return err }, "image 1 is 2×2 gray, image 0 is 2×2 RGB"},
		{"nil", func() error { _, _, err := ToNCHW(a, nil); return err }, "nil image"},
		{"dims rank", func() error { _, err := FromNCHW(make([]float32, 4), 2, 2); return err }, "want [N C H W]"},
		{"length", func() error { _, err := FromNCHW(make([]float32, 5), 1, 1, 2, 2); return err }, "5 values"},
		{"channels", func() error { _, err := FromNCHW(make([]float32, 8), 1, 2, 2, 2); return err }, "2 channels"},
		{"batch", func() error { _, err := FromNCHW(nil, 0, 1, 2, 2); return err }, "batch size"},
		{"new", func() error { _, err := New(3, 0, 4); return err }, "invalid size 0×4"},
		{"huge", func() error { _, err := FromNCHW(nil, 1, 1, 1<<20, 1<<20); return err }, "is larger than the"},
		{"resize", func() error { _, err := Resize(a, 0, 2, Area); return err }, "resize to 0×2: invalid size"},
		{"mode", func() error { _, err := a.ToMode(Mode(4)); return err }, "unknown mode 4"},
		{"invalid", func() error { return (&Image{C: 3, H: 1, W: 1}).Validate() }, "has 0 values"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if n := strings.Count(err.Error(), "imageio:"); n != 1 {
				t.Errorf("error %q says imageio: %d times, want once", err, n)
			}
		})
	}
}

// TestModes checks gray/RGB conversions of in-memory images.
func TestModes(t *testing.T) {
	rgb := mustNew(t, 3, 1, 2, func(c, _, x int) float32 { return [][]float32{{1, 0}, {0, 1}, {0, 0}}[c][x] })
	g, err := rgb.ToMode(Gray)
	if err != nil {
		t.Fatal(err)
	}
	if g.C != 1 || g.Pix[0] != 0.299 || g.Pix[1] != 0.587 {
		t.Errorf("luma of red, green = %v, want [0.299 0.587]", g.Pix)
	}
	back, err := g.ToMode(RGB)
	if err != nil {
		t.Fatal(err)
	}
	if back.C != 3 || back.At(2, 0, 1) != 0.587 {
		t.Errorf("gray to RGB = %s %v", back.Size(), back.Pix)
	}
	if _, err := g.ToMode(Mode(3)); err == nil {
		t.Error("ToMode(Mode(3)) succeeded, want an error")
	}
}

// TestResize checks both filters on images with known results.
func TestResize(t *testing.T) {
	grad := mustNew(t, 1, 4, 6, func(_, y, x int) float32 { return float32(x) / 5 })
	flat := mustNew(t, 3, 5, 7, func(c, _, _ int) float32 { return 0.2 + 0.3*float32(c) })
	tests := []struct {
		name   string
		im     *Image
		h, w   int
		method Resample
		want   func(c, y, x int) float64
		tol    float64
	}{
		{"area halves", grad, 2, 3, Area, func(_, _, x int) float64 { return (2*float64(x) + 0.5) / 5 }, 1e-7},
		{"area thirds", grad, 4, 2, Area, func(_, _, x int) float64 { return (3*float64(x) + 1) / 5 }, 1e-7},
		{"bicubic flat down", flat, 2, 3, Bicubic, func(c, _, _ int) float64 { return 0.2 + 0.3*float64(c) }, 1e-6},
		{"bicubic flat up", flat, 11, 13, Bicubic, func(c, _, _ int) float64 { return 0.2 + 0.3*float64(c) }, 1e-6},
		{"area flat up", flat, 8, 9, Area, func(c, _, _ int) float64 { return 0.2 + 0.3*float64(c) }, 1e-6},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := Resize(tc.im, tc.h, tc.w, tc.method)
			if err != nil {
				t.Fatal(err)
			}
			if out.C != tc.im.C || out.H != tc.h || out.W != tc.w {
				t.Fatalf("got %s, want %d×%d", out.Size(), tc.h, tc.w)
			}
			for c := range out.C {
				for y := range out.H {
					for x := range out.W {
						if got, want := float64(out.At(c, y, x)), tc.want(c, y, x); got-want > tc.tol || want-got > tc.tol {
							t.Fatalf("(%d,%d,%d) = %v, want %v", c, y, x, got, want)
						}
					}
				}
			}
		})
	}
	// Bicubic 2× upsampling of a ramp at PIL's sample positions: output
	// pixel 5 of 12 sits at input 2.25, between the ramp's values.
	up, err := Resize(grad, 4, 12, Bicubic)
	if err != nil {
		t.Fatal(err)
	}
	if got := float64(up.At(0, 0, 5)); got < 2.2/5 || got > 2.3/5 {
		t.Errorf("bicubic ramp at 2.25 = %v, want about 0.45", got)
	}
	if _, err := Resize(grad, 4, 4, Resample(9)); err == nil {
		t.Error("unknown resample method accepted")
	}
}

func TestCenterCropOffsets(t *testing.T) {
	tests := []struct{ a, b, want int }{{0, 2, 0}, {1, 2, 0}, {3, 2, 2}, {5, 2, 2}, {4, 2, 2}, {156, 2, 78}}
	for _, tc := range tests {
		if got := roundHalfEven(tc.a, tc.b); got != tc.want {
			t.Errorf("round(%d/%d) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
	im := mustNew(t, 1, 5, 5, func(_, y, x int) float32 { return float32(y*5 + x) })
	c, err := CenterCrop(im, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	// top = round(1.5) = 2, left = round(1.0) = 1.
	if c.At(0, 0, 0) != 11 || c.At(0, 1, 2) != 18 {
		t.Errorf("crop = %v, want rows 2–3, columns 1–3", c.Pix)
	}
}

// TestResizeBicubicByHand checks Bicubic on one row against PIL's
// resampling worked out by hand: output i of n from m inputs is centred on
// input (i + 0.5)·m/n, input x sits at x + 0.5, the cubic (a = −0.5) is
// stretched by max(m/n, 1), and the weights are normalised to sum to 1.
func TestResizeBicubicByHand(t *testing.T) {
	// Keys' cubic at the offsets that occur: 0.25, 0.75 and 1.25.
	const c025, c075, c125 = 0.8671875, 0.2265625, -0.0703125
	tests := []struct {
		name string
		in   []float32
		want []float64
	}{
		// 4 → 2: centres 1 and 3, kernel stretched by 2; offsets
		// (x − c + 0.5)/2 are −0.25, 0.25, 0.75, 1.25 for output 0.
		{"shrink", []float32{0, 0.2, 0.6, 1}, []float64{
			(c025*0.2 + c075*0.6 + c125*1) / (2*c025 + c075 + c125),
			(c125*0 + c075*0.2 + c025*0.6 + c025*1) / (2*c025 + c075 + c125),
		}},
		// 2 → 4: centres 0.25, 0.75, 1.25, 1.75; the outer outputs fall
		// below 0 and above 1 and are clamped.
		{"enlarge", []float32{0, 1}, []float64{
			0,
			c075 / (c025 + c075),
			c025 / (c025 + c075),
			1,
		}},
		// 3 → 2: centres 0.75 and 2.25, kernel stretched by 1.5; the
		// offsets are ±0.25/1.5, ±0.75/1.5 and ±1.75/1.5 (the cubic is
		// checked at 0.25, 0.75 and 1.25 above).
		{"shrink 1.5", []float32{1, 0.5, 0}, []float64{
			(cubic(0.25/1.5) + cubic(0.75/1.5)*0.5) / (cubic(0.25/1.5) + cubic(0.75/1.5) + cubic(1.75/1.5)),
			(cubic(1.75/1.5) + cubic(0.75/1.5)*0.5) / (cubic(0.25/1.5) + cubic(0.75/1.5) + cubic(1.75/1.5)),
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			im := &Image{C: 1, H: 1, W: len(tc.in), Pix: tc.in}
			out, err := Resize(im, 1, len(tc.want), Bicubic)
			if err != nil {
				t.Fatal(err)
			}
			for x, want := range tc.want {
				if got := float64(out.Pix[x]); math.Abs(got-want) > 1e-6 {
					t.Errorf("output %d = %.7f, want %.7f", x, got, want)
				}
			}
		})
	}
}
