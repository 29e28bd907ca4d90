package ops

import (
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cadps/toolkit/checkpoints"
	"github.com/cadps/toolkit/internal/fixtures"
)

// kernelMoments returns a kernel's sum, its centre of mass (row, column)
// and its radius of gyration.
func kernelMoments(k []float32, n int) (sum, cy, cx, rg float64) {
	for i := range n {
		for j := range n {
			v := float64(k[i*n+j])
			sum += v
			cy += v * float64(i)
			cx += v * float64(j)
		}
	}
	cy, cx = cy/sum, cx/sum
	for i := range n {
		for j := range n {
			dy, dx := float64(i)-cy, float64(j)-cx
			rg += float64(k[i*n+j]) * (dy*dy + dx*dx)
		}
	}
	return sum, cy, cx, math.Sqrt(rg / sum)
}

func TestMotionKernelStatistics(t *testing.T) {
	const size, seeds = 61, 32
	var kernels [][]float32
	var meanRg float64
	for seed := range uint64(seeds) {
		k, err := MotionKernel(size, 0.5, seed)
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range k {
			if v < 0 || math.IsNaN(float64(v)) {
				t.Fatalf("seed %d: value %d is %v", seed, i, v)
			}
		}
		sum, cy, cx, rg := kernelMoments(k, size)
		if math.Abs(sum-1) > 1e-5 {
			t.Errorf("seed %d: sum %v, want 1", seed, sum)
		}
		if math.Hypot(cy-size/2, cx-size/2) > 5 {
			t.Errorf("seed %d: centre of mass (%.1f, %.1f) is far from the middle %d", seed, cy, cx, size/2)
		}
		for j, prev := range kernels {
			if slices.Equal(prev, k) {
				t.Errorf("seeds %d and %d gave the same kernel", j, seed)
			}
		}
		again, _ := MotionKernel(size, 0.5, seed)
		if !slices.Equal(again, k) {
			t.Errorf("seed %d: a second draw differs", seed)
		}
		kernels = append(kernels, k)
		meanRg += rg / seeds
	}

	// The shipped kernels drawn by the reference generator (numpy seeds
	// 0-7) have the same spread, within sampling variation.
	path, err := fixtures.SharedPath("data", "kernels", "blur_kernels.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	var refRg float64
	for i := range 8 {
		k, n, err := LoadKernel(path, fmt.Sprintf("dps_motion61/%d", i))
		if err != nil {
			t.Fatal(err)
		}
		_, _, _, rg := kernelMoments(k, n)
		refRg += rg / 8
	}
	t.Logf("mean radius of gyration: %.2f px (reference generator's kernels: %.2f px)", meanRg, refRg)
	if meanRg < refRg/2 || meanRg > refRg*2 {
		t.Errorf("mean radius of gyration %.2f px, the reference generator's kernels %.2f px", meanRg, refRg)
	}
}

func TestMotionKernelIntensityZeroIsStraight(t *testing.T) {
	// Intensity 0: no turns, so the path is a segment through the centre.
	k, err := MotionKernel(31, 0, 3)
	if err != nil {
		t.Fatal(err)
	}
	sum, cy, cx, _ := kernelMoments(k, 31)
	if math.Abs(sum-1) > 1e-5 || math.Hypot(cy-15, cx-15) > 3 {
		t.Errorf("sum %v, centre (%.1f, %.1f)", sum, cy, cx)
	}
	// Second moments of a segment: one principal axis carries almost all.
	var syy, sxx, sxy float64
	for i := range 31 {
		for j := range 31 {
			v := float64(k[i*31+j])
			syy += v * (float64(i) - cy) * (float64(i) - cy)
			sxx += v * (float64(j) - cx) * (float64(j) - cx)
			sxy += v * (float64(i) - cy) * (float64(j) - cx)
		}
	}
	tr, det := sxx+syy, sxx*syy-sxy*sxy
	small := tr/2 - math.Sqrt(tr*tr/4-det)
	if small > 0.25*tr {
		t.Errorf("intensity 0 kernel is not elongated: eigenvalues %.2f of %.2f", small, tr)
	}
}

func TestGaussianKernel(t *testing.T) {
	for _, c := range []struct {
		size  int
		sigma float64
	}{{61, 3}, {9, 1}, {61, 1.5}, {15, 3}, {7, 10}} {
		t.Run(fmt.Sprintf("%d-%g", c.size, c.sigma), func(t *testing.T) {
			k, err := GaussianKernel(c.size, c.sigma)
			if err != nil {
				t.Fatal(err)
			}
			n, mid := c.size, c.size/2
			radius := int(4*c.sigma + 0.5)
			var sum float64
			for i := range n {
				for j := range n {
					v := k[i*n+j]
					sum += float64(v)
					if v != k[j*n+i] || v != k[(n-1-i)*n+j] {
						t.Fatalf("not symmetric at (%d,%d)", i, j)
					}
					if radius < mid && (abs(i-mid) > radius || abs(j-mid) > radius) && v != 0 {
						t.Fatalf("tap (%d,%d) beyond the truncation radius %d is %v", i, j, radius, v)
					}
				}
			}
			// Reflection keeps the whole mass inside the kernel.
			if math.Abs(sum-1) > 1e-5 {
				t.Errorf("sum %v, want 1", sum)
			}
			if k[mid*n+mid] < k[mid*n+mid+1] {
				t.Errorf("the centre is not the maximum")
			}
		})
	}
}

// TestGaussianKernelScipy compares kernels whose truncation radius int(4σ+0.5)
// exceeds their half size, so that scipy's "reflect" mode folds the tails
// back in, with scipy.ndimage.gaussian_filter's (scipy 1.10; float32 of
// its float64 result, as DPS's Blurkernel builds the kernel).
func TestGaussianKernelScipy(t *testing.T) {
	const a, b, c = 0.11108007282018661, 0.1111266240477562, 0.11117319762706757
	const p, q, r, u, v, w = 0.0034132455475628376, 0.014144513756036758, 0.023307470604777336,
		0.05861496552824974, 0.09658631682395935, 0.15915589034557343
	for _, tc := range []struct {
		size  int
		sigma float64
		want  []float32
	}{
		{3, 2, []float32{a, b, a, b, c, b, a, b, a}},
		{5, 1, []float32{p, q, r, q, p, q, u, v, u, q, r, v, w, v, r, q, u, v, u, q, p, q, r, q, p}},
		// σ ≤ 1e-15: scipy skips the axis, leaving the impulse (σ² of
		// 1e-200 underflows to 0, whose taps would be NaN); below 1/8 the
		// radius is 0 and the single tap 1.
		{3, 1e-200, []float32{0, 0, 0, 0, 1, 0, 0, 0, 0}},
		{3, 1e-15, []float32{0, 0, 0, 0, 1, 0, 0, 0, 0}},
		{3, 0.1, []float32{0, 0, 0, 0, 1, 0, 0, 0, 0}},
	} {
		t.Run(fmt.Sprintf("%d-%g", tc.size, tc.sigma), func(t *testing.T) {
			got, err := GaussianKernel(tc.size, tc.sigma)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("kernel %v, scipy's %v", got, tc.want)
			}
		})
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func TestBoxMaskGenerator(t *testing.T) {
	for _, c := range []struct{ h, w, side, margin int }{{256, 256, 128, 16}, {64, 64, 32, 4}, {128, 96, 48, 6}} {
		t.Run(fmt.Sprintf("%dx%d", c.h, c.w), func(t *testing.T) {
			opts := DefaultMaskOptions(MaskBox, c.h, c.w)
			tops := map[int]bool{}
			for seed := range uint64(40) {
				m, err := opts.Mask(c.h, c.w, seed)
				if err != nil {
					t.Fatal(err)
				}
				top, left, bottom, right := c.h, c.w, -1, -1
				missing := 0
				for y := range c.h {
					for x := range c.w {
						if m[y*c.w+x] == 0 {
							missing++
							top, left = min(top, y), min(left, x)
							bottom, right = max(bottom, y), max(right, x)
						}
					}
				}
				if h, w := bottom-top+1, right-left+1; h != c.side || w != c.side || missing != h*w {
					t.Fatalf("seed %d: missing region %dx%d with %d pixels, want a %dx%d box", seed, h, w, missing, c.side, c.side)
				}
				// numpy randint(margin, size-margin-side) excludes its upper bound.
				if top < c.margin || left < c.margin || top >= c.h-c.margin-c.side || left >= c.w-c.margin-c.side {
					t.Fatalf("seed %d: box at (%d,%d) outside the margin %d", seed, top, left, c.margin)
				}
				again, _ := opts.Mask(c.h, c.w, seed)
				if !slices.Equal(again, m) {
					t.Fatalf("seed %d: not deterministic", seed)
				}
				tops[top] = true
			}
			if len(tops) < 10 {
				t.Errorf("40 seeds gave only %d box rows", len(tops))
			}
		})
	}
}

func TestDrawBoxSideRange(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	seen := map[int]bool{}
	for range 200 {
		b, err := DrawBox(256, 256, [2]int{32, 128}, [2]int{16, 16}, r)
		if err != nil {
			t.Fatal(err)
		}
		if b.Height < 32 || b.Height >= 128 || b.Width < 32 || b.Width >= 128 {
			t.Fatalf("box %+v outside the side range [32,128)", b)
		}
		seen[b.Height] = true
	}
	if len(seen) < 40 {
		t.Errorf("only %d distinct heights in 200 draws", len(seen))
	}
}

func TestExtremeMask(t *testing.T) {
	opts := DefaultMaskOptions(MaskExtreme, 64, 64)
	m, err := opts.Mask(64, 64, 5)
	if err != nil {
		t.Fatal(err)
	}
	observed := 0
	for _, v := range m {
		if v == 1 {
			observed++
		}
	}
	if observed != 32*32 {
		t.Errorf("%d observed pixels, want the 32x32 box only", observed)
	}
}

func TestRandomMaskFraction(t *testing.T) {
	const h, w = 64, 48
	opts := DefaultMaskOptions(MaskRandom, h, w)
	fractions := map[float64]bool{}
	for seed := range uint64(30) {
		m, err := opts.Mask(h, w, seed)
		if err != nil {
			t.Fatal(err)
		}
		op, err := NewInpainting(m, h, w)
		if err != nil {
			t.Fatal(err)
		}
		f := op.MissingFraction()
		if f < 0.3-1.0/(h*w) || f > 0.7 {
			t.Errorf("seed %d: missing fraction %.4f outside [0.3, 0.7]", seed, f)
		}
		fractions[f] = true
	}
	if len(fractions) < 25 {
		t.Errorf("30 seeds gave only %d distinct fractions", len(fractions))
	}
	// A fixed fraction hides exactly int(H·W·f) pixels, spread over the image.
	r := rand.New(rand.NewPCG(9, 9))
	m, err := RandomMask(h, w, [2]float64{0.5, 0.5}, r)
	if err != nil {
		t.Fatal(err)
	}
	var top, missing int
	for i, v := range m {
		if v == 0 {
			missing++
			if i < h*w/2 {
				top++
			}
		}
	}
	if missing != h*w/2 || top < missing/2-100 || top > missing/2+100 {
		t.Errorf("%d missing (%d in the top half), want %d spread evenly", missing, top, h*w/2)
	}
}

func TestHalfMask(t *testing.T) {
	for _, c := range []struct {
		side       string
		y, x       int // a missing pixel
		oy, ox     int // an observed pixel
		numMissing int
	}{
		{"right", 0, 7, 0, 3, 5 * 4},
		{"left", 4, 0, 4, 4, 5 * 4},
		{"top", 1, 6, 2, 6, 2 * 8},
		{"bottom", 4, 0, 2, 0, 2 * 8},
	} {
		m, err := HalfMask(5, 8, c.side)
		if err != nil {
			t.Fatal(err)
		}
		var missing int
		for _, v := range m {
			if v == 0 {
				missing++
			}
		}
		if m[c.y*8+c.x] != 0 || m[c.oy*8+c.ox] != 1 || missing != c.numMissing {
			t.Errorf("%s: mask %v", c.side, m)
		}
	}
}

func TestLoadMask(t *testing.T) {
	img := image.NewGray(image.Rect(0, 0, 6, 4))
	for y := range 4 {
		for x := range 6 {
			if x >= 3 {
				img.SetGray(x, y, color.Gray{Y: 255})
			} else if x == 2 {
				img.SetGray(x, y, color.Gray{Y: 100})
			}
		}
	}
	path := filepath.Join(t.TempDir(), "mask.png")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	m, err := LoadMask(path, 4, 6)
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{0, 0, 0, 1, 1, 1}
	for y := range 4 {
		if !slices.Equal(m[y*6:(y+1)*6], want) {
			t.Fatalf("row %d: %v, want %v", y, m[y*6:(y+1)*6], want)
		}
	}
	if _, err := LoadMask(path, 6, 4); err == nil {
		t.Error("a mask of the wrong size was accepted")
	}
	op, err := Parse("inpaint_file:path="+path, []int{1, 3, 4, 6}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := op.(*Inpainting).Mask(); !slices.Equal(got, m) {
		t.Errorf("Parse(inpaint_file) mask %v", got)
	}
}

func TestNoiseStatistics(t *testing.T) {
	const n = 200000
	y := make([]float32, n)
	for i := range y {
		y[i] = 0.2
	}
	r := rand.New(rand.NewPCG(4, 5))
	for _, c := range []struct {
		spec      string
		mean, std float64
	}{
		{"gaussian:sigma=0.05", 0.2, 0.05},
		{"gaussian", 0.2, 0.05},
		// u = 0.6 in [0,1]: std 2·sqrt(u/(255·rate)) on [-1,1].
		{"poisson:rate=1", 0.2, 2 * math.Sqrt(0.6/255)},
		{"poisson:rate=0.5", 0.2, 2 * math.Sqrt(0.6/(255*0.5))},
		{"clean", 0.2, 0},
	} {
		t.Run(c.spec, func(t *testing.T) {
			noise, err := ParseNoise(c.spec)
			if err != nil {
				t.Fatal(err)
			}
			out := noise.Apply(y, r)
			var s, s2 float64
			for _, v := range out {
				s += float64(v)
				s2 += float64(v) * float64(v)
			}
			mean := s / n
			std := math.Sqrt(max(0, s2/n-mean*mean))
			if math.Abs(mean-c.mean) > 0.003 || math.Abs(std-c.std) > 0.02*c.std+1e-6 {
				t.Errorf("mean %.4f std %.4f, want %.4f and %.4f", mean, std, c.mean, c.std)
			}
			if y[0] != 0.2 {
				t.Fatal("Apply changed its input")
			}
		})
	}
}

func TestPoissonSampler(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, lambda := range []float64{0.5, 3, 9.9, 10, 50, 255} {
		const n = 100000
		var s, s2 float64
		for range n {
			k := poissonSample(r, lambda)
			if k < 0 || k != math.Trunc(k) {
				t.Fatalf("λ=%g: drew %v", lambda, k)
			}
			s += k
			s2 += k * k
		}
		mean, variance := s/n, s2/n-(s/n)*(s/n)
		if math.Abs(mean-lambda) > 5*math.Sqrt(lambda/n) || math.Abs(variance-lambda) > 0.03*lambda+0.01 {
			t.Errorf("λ=%g: mean %.4f variance %.4f", lambda, mean, variance)
		}
	}
}

// TestMotionKernelRender renders the recorded camera paths and compares the
// 8-bit kernels with those Pillow renders from them as the reference's
// motionblur package does (ops/testdata/motion-render.json, made by
// scripts/fixtures/make_motion_render.py): line, Gaussian blur, Lanczos
// resize and grey levels must agree exactly, and the kernel is the levels
// divided by their sum in float32.
func TestMotionKernelRender(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "motion-render.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Cases []struct {
			Seed, Size int
			Intensity  float64
			Path       [][2]float64
			Levels     []int
		}
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Cases) == 0 {
		t.Fatal("no cases")
	}
	for _, c := range doc.Cases {
		t.Run(fmt.Sprintf("seed%d-%dx%d-intensity%g", c.Seed, c.Size, c.Size, c.Intensity), func(t *testing.T) {
			path := make([]complex128, len(c.Path))
			for i, p := range c.Path {
				path[i] = complex(p[0], p[1])
			}
			got := motionKernelLevels(path, c.Size)
			if len(got) != len(c.Levels) {
				t.Fatalf("%d levels, Pillow's %d", len(got), len(c.Levels))
			}
			var differ, dist, sum int
			for i, v := range got {
				if d := int(v) - c.Levels[i]; d != 0 {
					differ++
					dist += abs(d)
				}
				sum += c.Levels[i]
			}
			if differ > 0 {
				t.Fatalf("%d of %d levels differ from Pillow's, by %.1f %% of the kernel's sum", differ, len(got), 100*float64(dist)/float64(sum))
			}
			k := renderMotionKernel(path, c.Size)
			for i, v := range k {
				if want := float32(c.Levels[i]) / float32(sum); v != want {
					t.Fatalf("kernel value %d is %v, want %v", i, v, want)
				}
			}
		})
	}
}

// TestKernelBuildersRefuseSizes checks that the kernel builders and
// NewBlur refuse an even side and a side above MaxKernelSize themselves,
// naming the size, before drawing or allocating the kernel.
func TestKernelBuildersRefuseSizes(t *testing.T) {
	builders := []struct {
		name  string
		build func(size int) error
	}{
		{"GaussianKernel", func(size int) error { _, err := GaussianKernel(size, 1); return err }},
		{"MotionKernel", func(size int) error { _, err := MotionKernel(size, 0.5, 1); return err }},
		{"NewGaussianBlur", func(size int) error { _, err := NewGaussianBlur(size, 1); return err }},
		{"NewMotionBlur", func(size int) error { _, err := NewMotionBlur(size, 0.5, 1); return err }},
		{"NewBlur", func(size int) error { _, err := NewBlur("blur", nil, size); return err }},
	}
	sizes := []struct {
		size int
		want string
	}{
		{0, "kernel size must be a positive odd integer (reflection padding by size/2 on each side), got 0"},
		{-3, "kernel size must be a positive odd integer (reflection padding by size/2 on each side), got -3"},
		{4, "kernel size must be a positive odd integer (reflection padding by size/2 on each side), got 4"},
		{MaxKernelSize + 2, fmt.Sprintf("kernel size must be at most %d, got %d", MaxKernelSize, MaxKernelSize+2)},
		{1<<40 + 1, fmt.Sprintf("kernel size must be at most %d, got %d", MaxKernelSize, 1<<40+1)},
	}
	for _, b := range builders {
		for _, s := range sizes {
			t.Run(fmt.Sprintf("%s/%d", b.name, s.size), func(t *testing.T) {
				if err := b.build(s.size); err == nil || !strings.Contains(err.Error(), s.want) {
					t.Errorf("%s(%d) = %v, want an error containing %q", b.name, s.size, err, s.want)
				}
			})
		}
	}
}

// TestMaskTypesRandom checks the mask table's random flag against the
// masks: a random type's mask changes with the seed, another's does not.
func TestMaskTypesRandom(t *testing.T) {
	const h, w = 32, 32
	path := filepath.Join(t.TempDir(), "mask.png")
	img := image.NewGray(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = uint8(255 * (i % 2))
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	for _, mt := range maskTypes() {
		t.Run(mt.name, func(t *testing.T) {
			o := DefaultMaskOptions(mt.name, h, w)
			o.Path = path
			a, err := o.Mask(h, w, 1)
			if err != nil {
				t.Fatal(err)
			}
			b, err := o.Mask(h, w, 2)
			if err != nil {
				t.Fatal(err)
			}
			if differ := !slices.Equal(a, b); differ != mt.random {
				t.Errorf("masks of seeds 1 and 2 differ: %v, but the table says random: %v", differ, mt.random)
			}
		})
	}
}

// TestMaskGeneratorsRefuseBadInput checks that the mask generators return
// an error naming the problem, rather than panicking or returning an empty
// mask, for an image without pixels and for no random generator.
func TestMaskGeneratorsRefuseBadInput(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, c := range []struct {
		name string
		make func() error
		want string
	}{
		{"half mask of negative height", func() error { _, err := HalfMask(-2, 4, "left"); return err }, "mask size must be positive, got -2x4"},
		{"half mask of no pixels", func() error { _, err := HalfMask(0, 0, "left"); return err }, "mask size must be positive, got 0x0"},
		{"half mask of no pixels, bad side", func() error { _, err := HalfMask(0, 4, "middle"); return err }, "mask size must be positive"},
		{"random mask of negative height", func() error { _, err := RandomMask(-4, 4, [2]float64{0.3, 0.7}, r); return err }, "mask size must be positive, got -4x4"},
		{"random mask of no width", func() error { _, err := RandomMask(4, 0, [2]float64{0.3, 0.7}, r); return err }, "mask size must be positive, got 4x0"},
		{"random mask without a generator", func() error { _, err := RandomMask(4, 4, [2]float64{0.3, 0.7}, nil); return err }, "random mask: no random generator"},
		{"box without a generator", func() error { _, err := DrawBox(32, 32, [2]int{4, 8}, [2]int{1, 1}, nil); return err }, "box: no random generator"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var err error
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Fatalf("panicked: %v", p)
					}
				}()
				err = c.make()
			}()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}

// TestLoadKernelShapes checks that LoadKernel reads a square kernel of any
// side and refuses another shape, naming it: a 0×0 tensor gave an empty
// kernel of side 0 with no error.
func TestLoadKernelShapes(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name  string
		shape []int
		want  string // error substring; "" to accept
	}{
		{"3x3", []int{3, 3}, ""},
		{"4x4 (NewBlur checks oddness)", []int{4, 4}, ""},
		{"0x0", []int{0, 0}, "has shape [0 0], want a square 2-D kernel of side at least 1"},
		{"3x5", []int{3, 5}, "has shape [3 5], want a square 2-D kernel"},
		{"1-D", []int{9}, "has shape [9], want a square 2-D kernel"},
	} {
		t.Run(c.name, func(t *testing.T) {
			n := 1
			for _, d := range c.shape {
				n *= d
			}
			sd := checkpoints.NewStateDict("k")
			if err := sd.Add(checkpoints.FromFloat32("k", c.shape, make([]float32, n))); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".safetensors")
			if err := checkpoints.SaveSafetensors(path, sd); err != nil {
				t.Fatal(err)
			}
			k, side, err := LoadKernel(path, "k")
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("LoadKernel: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("LoadKernel = %d values of side %d, error %v; want an error containing %q", len(k), side, err, c.want)
			case c.want == "" && (side != c.shape[0] || len(k) != n):
				t.Fatalf("LoadKernel = %d values of side %d, want side %d", len(k), side, c.shape[0])
			}
		})
	}
}

// TestNoiseNilGenerator checks that the noise models that draw panic,
// naming their Apply method and the generator, when given a nil one (a nil
// dereference inside math/rand panicked instead), and that clean noise,
// which draws nothing, takes it.
func TestNoiseNilGenerator(t *testing.T) {
	for _, c := range []struct {
		spec string
		want string // the panic's message; "" for none
	}{
		{"gaussian", "ops: GaussianNoise.Apply: generator r is nil (make one with rand.New)"},
		{"poisson", "ops: PoissonNoise.Apply: generator r is nil (make one with rand.New)"},
		{"clean", ""},
	} {
		t.Run(c.spec, func(t *testing.T) {
			noise, err := ParseNoise(c.spec)
			if err != nil {
				t.Fatal(err)
			}
			var got any
			func() {
				defer func() { got = recover() }()
				noise.Apply([]float32{0.5, -0.5}, nil)
			}()
			if c.want == "" && got != nil || c.want != "" && got != c.want {
				t.Fatalf("Apply with a nil generator panicked with %v, want %q", got, c.want)
			}
		})
	}
}
