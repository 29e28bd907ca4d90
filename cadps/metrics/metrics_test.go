package metrics

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps/imageio"
	"github.com/cadps/toolkit/internal/fixtures"
)

// fixturePair is one entry of shared/fixtures/metrics/metrics.json.
type fixturePair struct {
	Reference    string  `json:"reference"`
	Degraded     string  `json:"degraded"`
	DegradedFile string  `json:"degraded_file"`
	PSNR         float64 `json:"psnr"`
	SSIMUniform7 float64 `json:"ssim_uniform7"`
	SSIMGaussian float64 `json:"ssim_gaussian"`
}

// loadPairs reads metrics.json and resolves each pair's files: the
// reference lies in one of the shared data folders, the degraded image
// beside metrics.json.
func loadPairs(t *testing.T) (pairs []fixturePair, refPaths, imgPaths []string) {
	t.Helper()
	dir, err := fixtures.SharedPath("fixtures", "metrics")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "metrics.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Pairs []fixturePair `json:"pairs"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("metrics.json: %v", err)
	}
	if len(doc.Pairs) == 0 {
		t.Fatal("metrics.json lists no pairs")
	}
	for _, p := range doc.Pairs {
		var found []string
		for _, sub := range []string{"ffhq", "natural"} {
			cand, err := fixtures.SharedPath("data", sub, p.Reference)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(cand); err == nil {
				found = append(found, cand)
			} else if !errors.Is(err, os.ErrNotExist) {
				t.Fatal(err)
			}
		}
		if len(found) != 1 {
			t.Fatalf("reference %s found in %d shared data folders, want 1: %v", p.Reference, len(found), found)
		}
		refPaths = append(refPaths, found[0])
		imgPaths = append(imgPaths, filepath.Join(dir, p.DegradedFile))
	}
	return doc.Pairs, refPaths, imgPaths
}

// TestFixtures reproduces every value of metrics.json (scikit-image 0.19.3
// on 8-bit RGB images scaled to [0,1]) to 1e-6.
func TestFixtures(t *testing.T) {
	pairs, refs, imgs := loadPairs(t)
	for i, p := range pairs {
		t.Run(p.Reference+"/"+p.Degraded, func(t *testing.T) {
			ref, err := imageio.Load(refs[i])
			if err != nil {
				t.Fatal(err)
			}
			img, err := imageio.Load(imgs[i])
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range []struct {
				name string
				fn   func(a, b *imageio.Image, r float64) (float64, error)
				want float64
			}{
				{"psnr", PSNR, p.PSNR},
				{"ssim_gaussian", SSIM, p.SSIMGaussian},
				{"ssim_uniform7", SSIMUniform7, p.SSIMUniform7},
			} {
				got, err := m.fn(ref, img, 1)
				if err != nil {
					t.Fatal(err)
				}
				if d := math.Abs(got - m.want); d > 1e-6 || math.IsNaN(got) {
					t.Errorf("%s = %.12f, want %.12f (diff %.2g)", m.name, got, m.want, d)
				} else {
					t.Logf("%s = %.12f, diff %.2g", m.name, got, d)
				}
			}
		})
	}
}

// randomImage returns an image with uniform random values in [0,1).
func randomImage(t *testing.T, rng *rand.Rand, c, h, w int) *imageio.Image {
	t.Helper()
	im, err := imageio.New(c, h, w)
	if err != nil {
		t.Fatal(err)
	}
	for i := range im.Pix {
		im.Pix[i] = rng.Float32()
	}
	return im
}

// naiveSSIM computes SSIM straight from its definition, with a 2-D window
// and explicit mirror padding, to check the separable running filters.
func naiveSSIM(ref, img *imageio.Image, taps []float64, sample bool, dataRange float64) float64 {
	r := (len(taps) - 1) / 2
	mirror := func(i, n int) int { // d c b a | a b c d | d c b a, one reflection
		if i < 0 {
			return -i - 1
		}
		if i >= n {
			return 2*n - 1 - i
		}
		return i
	}
	c1, c2 := math.Pow(0.01*dataRange, 2), math.Pow(0.03*dataRange, 2)
	norm := 1.0
	if sample {
		np := float64(len(taps) * len(taps))
		norm = np / (np - 1)
	}
	var total float64
	for c := range ref.C {
		var sum float64
		for y := r; y < ref.H-r; y++ {
			for x := r; x < ref.W-r; x++ {
				var mx, my, mxx, myy, mxy float64
				for dy := -r; dy <= r; dy++ {
					for dx := -r; dx <= r; dx++ {
						wt := taps[dy+r] * taps[dx+r]
						a := float64(ref.At(c, mirror(y+dy, ref.H), mirror(x+dx, ref.W)))
						b := float64(img.At(c, mirror(y+dy, ref.H), mirror(x+dx, ref.W)))
						mx, my = mx+wt*a, my+wt*b
						mxx, myy, mxy = mxx+wt*a*a, myy+wt*b*b, mxy+wt*a*b
					}
				}
				vx, vy, vxy := norm*(mxx-mx*mx), norm*(myy-my*my), norm*(mxy-mx*my)
				sum += (2*mx*my + c1) * (2*vxy + c2) / ((mx*mx + my*my + c1) * (vx + vy + c2))
			}
		}
		total += sum / float64((ref.H-2*r)*(ref.W-2*r))
	}
	return total / float64(ref.C)
}

// TestSSIMAgainstNaive compares both SSIM variants with the direct
// definition on small non-square images. (The averaged region ends where
// the window would reach past the edge, so the boundary rule does not
// show here; TestFilterBoundary checks it.)
func TestSSIMAgainstNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	uniform := make([]float64, 7)
	for i := range uniform {
		uniform[i] = 1.0 / 7
	}
	tests := []struct {
		name      string
		c, h, w   int
		dataRange float64
	}{
		{"gray 13×21", 1, 13, 21, 1},
		{"rgb 12×11", 3, 12, 11, 1},
		{"gray range 2", 1, 16, 14, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := randomImage(t, rng, tc.c, tc.h, tc.w)
			b := randomImage(t, rng, tc.c, tc.h, tc.w)
			for i := range b.Pix { // correlate b with a, so SSIM is far from 0
				b.Pix[i] = 0.7*a.Pix[i] + 0.3*b.Pix[i]
			}
			got, err := SSIM(a, b, tc.dataRange)
			if err != nil {
				t.Fatal(err)
			}
			if want := naiveSSIM(a, b, gaussianTaps(1.5, 5), false, tc.dataRange); math.Abs(got-want) > 1e-12 {
				t.Errorf("SSIM = %.15f, direct definition %.15f", got, want)
			}
			got, err = SSIMUniform7(a, b, tc.dataRange)
			if err != nil {
				t.Fatal(err)
			}
			if want := naiveSSIM(a, b, uniform, true, tc.dataRange); math.Abs(got-want) > 1e-12 {
				t.Errorf("SSIMUniform7 = %.15f, direct definition %.15f", got, want)
			}
		})
	}
}

// TestFilterBoundary checks the filters near the edges against values
// worked out by hand with scipy's 'reflect' rule.
func TestFilterBoundary(t *testing.T) {
	tests := []struct{ i, n, want int }{
		{-1, 5, 0}, {-2, 5, 1}, {-5, 5, 4}, {-6, 5, 4}, {5, 5, 4}, {6, 5, 3}, {10, 5, 0}, {11, 5, 1}, {2, 5, 2},
	}
	for _, tc := range tests {
		if got := reflect(tc.i, tc.n); got != tc.want {
			t.Errorf("reflect(%d, %d) = %d, want %d", tc.i, tc.n, got, tc.want)
		}
	}
	// A 3-tap window over a 3×1 image holding the column [1 2 4]: reflect
	// extends it to 1 | 1 2 4 | 4, so the means are 4/3, 7/3, 10/3 (the row
	// pass, over rows of one pixel, changes nothing).
	taps := []float64{1.0 / 3, 1.0 / 3, 1.0 / 3}
	for _, uniform := range []bool{true, false} {
		f := newFilter2D(3, 1, taps, uniform)
		out := make([]float64, 3)
		f.apply([]float64{1, 2, 4}, out)
		for i, want := range []float64{4.0 / 3, 7.0 / 3, 10.0 / 3} {
			if math.Abs(out[i]-want) > 1e-15 {
				t.Errorf("uniform=%v: filtered %v, want [4/3 7/3 10/3]", uniform, out)
				break
			}
		}
	}
	g := gaussianTaps(1.5, 5) // int(3.5·1.5 + 0.5) = 5
	var sum float64
	for _, v := range g {
		sum += v
	}
	if len(g) != 11 || math.Abs(sum-1) > 1e-15 || g[0] != g[10] || g[5] <= g[4] {
		t.Errorf("Gaussian window %v: want 11 symmetric taps summing to 1", g)
	}
}

// TestKnownValues checks identities and hand-computed values.
func TestKnownValues(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	a := randomImage(t, rng, 3, 16, 16)
	for i, v := range a.Pix {
		a.Pix[i] = float32(math.Floor(float64(v)*256)) / 512 // multiples of 2⁻⁹: the shift below is exact
	}
	shifted := a.Clone()
	for i := range shifted.Pix {
		shifted.Pix[i] += 0.125 // MSE = 1/64
	}
	tests := []struct {
		name string
		fn   func(a, b *imageio.Image, r float64) (float64, error)
		b    *imageio.Image
		r    float64
		want float64
	}{
		{"psnr identical", PSNR, a, 1, math.Inf(1)},
		{"psnr shift", PSNR, shifted, 1, 10 * math.Log10(64)},
		{"psnr shift range 255", PSNR, shifted, 255, 10 * math.Log10(255*255*64)},
		{"ssim identical", SSIM, a, 1, 1},
		{"ssim7 identical", SSIMUniform7, a, 1, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.fn(a, tc.b, tc.r)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want && math.Abs(got-tc.want) > 1e-12 {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	a := randomImage(t, rng, 3, 16, 16)
	gray := randomImage(t, rng, 1, 16, 16)
	small := randomImage(t, rng, 3, 16, 10)
	nan := a.Clone()
	nan.Pix[16*16+3] = float32(math.NaN())
	tests := []struct {
		name string
		call func() (float64, error)
		want string
	}{
		{"channels", func() (float64, error) { return PSNR(a, gray, 1) }, "reference is 16×16 RGB but image is 16×16 gray"},
		{"size", func() (float64, error) { return SSIM(a, small, 1) }, "reference is 16×16 RGB but image is 16×10 RGB"},
		{"too small", func() (float64, error) { return SSIM(small, small, 1) }, "smaller than the 11×11 SSIM window"},
		{"nan", func() (float64, error) { return SSIMUniform7(a, nan, 1) }, "image has NaN at channel 1, row 0, column 3"},
		{"range", func() (float64, error) { return PSNR(a, a, 0) }, "data range 0"},
		{"nan range", func() (float64, error) { return SSIM(a, a, math.NaN()) }, "data range NaN"},
		{"nil", func() (float64, error) { return PSNR(nil, a, 1) }, "reference: imageio: nil image"},
		{"even window", func() (float64, error) {
			o := Uniform7SSIM(1)
			o.WinSize = 4
			return SSIMWith(a, a, o)
		}, "odd"},
		{"bad sigma", func() (float64, error) {
			o := GaussianSSIM(1)
			o.Sigma = -1
			return SSIMWith(a, a, o)
		}, "σ = -1"},
		{"bad K", func() (float64, error) {
			o := GaussianSSIM(1)
			o.K2 = 0
			return SSIMWith(a, a, o)
		}, "K2 = 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := tc.call()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, %v; want an error saying %q", v, err, tc.want)
			}
		})
	}
}

func TestWiden(t *testing.T) {
	tests := []struct {
		v    float32
		want float64
	}{
		{float32(100.0 / 255), 100.0 / 255},
		{float32(1.0 / 255), 1.0 / 255},
		{0, 0},
		{1, 1},
		{0.3, float64(float32(0.3))},
		{float32(100.0/255) + 1e-6, float64(float32(100.0/255) + 1e-6)},
		{1.5, 1.5},
		{-0.25, -0.25},
	}
	for _, tc := range tests {
		if got := widen(tc.v); got != tc.want {
			t.Errorf("widen(%v) = %.17g, want %.17g", tc.v, got, tc.want)
		}
	}
}
