package fid_test

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/imageio"
	"github.com/cadps/toolkit/cadps/metrics/fid"
	"github.com/cadps/toolkit/checkpoints"
	"github.com/cadps/toolkit/internal/randweights"
)

func stem(t *testing.T, extra ...*checkpoints.Tensor) *checkpoints.StateDict {
	t.Helper()
	sd, err := randweights.StateDict("inception.pth", 3, 1.3, fid.Params(1))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range extra {
		if err := sd.Add(e); err != nil {
			t.Fatal(err)
		}
	}
	return sd
}

func TestNewErrors(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		sd     *checkpoints.StateDict
		blocks []int
		want   string
	}{
		{"torchvision's Inception", stem(t, checkpoints.FromFloat32("AuxLogits.fc.weight", []int{1}, []float32{0})), []int{1}, "torchvision's ImageNet Inception-v3"},
		{"1000 classes", stem(t, checkpoints.FromFloat32("fc.weight", []int{1000, 1}, make([]float32, 1000))), []int{1}, "torchvision's ImageNet Inception-v3"},
		{"missing block 2", stem(t), []int{2}, "325 missing; hint: is it the weight file of another network?; missing: Mixed_5b.branch1x1.conv.weight"},
		{"unknown key", stem(t, checkpoints.FromFloat32("head.weight", []int{1}, []float32{0})), []int{0}, "; unexpected: head.weight"},
		{"bad block", stem(t), []int{4}, "each must be 0, 1, 2 or 3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := fid.New(b, tc.sd, tc.blocks...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	// fc.* (1008 classes) and num_batches_tracked are ignored.
	nbt := &checkpoints.Tensor{Name: "Conv2d_1a_3x3.bn.num_batches_tracked", DType: checkpoints.I64, Data: make([]byte, 8)}
	m, err := fid.New(b, stem(t, checkpoints.FromFloat32("fc.bias", []int{1008}, make([]float32, 1008)), nbt), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Ignored()) != 2+len(fid.Params(1))-len(fid.Params(0)) {
		t.Errorf("ignored %v", m.Ignored())
	}
	feats, err := m.Features(make([]float32, 2*3*5*7), 2, 5, 7)
	if err != nil {
		t.Fatal(err)
	}
	if len(feats) != 1 || len(feats[0]) != 2 || len(feats[0][1]) != fid.BlockDims()[0] {
		t.Errorf("features of shape %d×%d×%d", len(feats), len(feats[0]), len(feats[0][0]))
	}
}

func TestFrechetProperties(t *testing.T) {
	a, err := fid.Statistics([][]float32{{1, 0, 2}, {0, 1, 1}, {2, 2, 0}, {1, 3, 1}})
	if err != nil {
		t.Fatal(err)
	}
	d, err := fid.FrechetDistance(a, a)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(d.FD) > 1e-12 || d.Offset {
		t.Errorf("FD(a, a) = %g (offset %v), want 0", d.FD, d.Offset)
	}
	// Shifting every vector by c adds |c|² and nothing else.
	b, _ := fid.Statistics([][]float32{{2, 0, 2}, {1, 1, 1}, {3, 2, 0}, {2, 3, 1}})
	d, _ = fid.FrechetDistance(a, b)
	if math.Abs(d.FD-1) > 1e-12 {
		t.Errorf("FD of a shift by (1,0,0) = %.15g, want 1", d.FD)
	}
	c, _ := fid.Statistics([][]float32{{1, 0}, {0, 1}, {2, 2}})
	if _, err := fid.FrechetDistance(a, c); err == nil || !strings.Contains(err.Error(), "different dimensions (3 and 2)") {
		t.Errorf("mismatched dimensions: error %v", err)
	}
	if _, err := fid.Statistics([][]float32{{1, 2}}); err == nil || !strings.Contains(err.Error(), "at least 2") {
		t.Errorf("one vector: error %v", err)
	}
}

// TestFrechetMissingStats checks that FrechetDistance and
// FrechetDistanceOffset refuse a nil *Stats with an error naming which,
// instead of panicking.
func TestFrechetMissingStats(t *testing.T) {
	a, err := fid.Statistics([][]float32{{1, 0}, {0, 1}, {2, 2}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		a, b *fid.Stats
		want string
	}{
		{"first", nil, a, "fid: the first statistics are missing (a nil *Stats)"},
		{"second", a, nil, "fid: the second statistics are missing (a nil *Stats)"},
		{"both", nil, nil, "fid: the first statistics are missing (a nil *Stats)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := fid.FrechetDistance(tc.a, tc.b); err == nil || err.Error() != tc.want {
				t.Errorf("FrechetDistance: error %v, want %q", err, tc.want)
			}
			if _, err := fid.FrechetDistanceOffset(tc.a, tc.b, fid.Eps); err == nil || err.Error() != tc.want {
				t.Errorf("FrechetDistanceOffset: error %v, want %q", err, tc.want)
			}
		})
	}
}

// TestOffsetPath checks that FrechetDistance adds pytorch-fid's offset
// exactly where scipy 1.10's sqrtm of Σ1Σ2 fails, which each case's
// wantOffset gives (as numpy and scipy 1.10.1 gave on sets drawn alike):
// a feature constant over one set only, or over both, keeps the plain
// path, so that identical sets give 0, not −2·d·Eps.
func TestOffsetPath(t *testing.T) {
	tests := []struct {
		name          string
		d, n          int
		first, second []int // the features constant over each set
		identical     bool  // the second set is the first
		wantOffset    bool
	}{
		{"identical sets with a constant feature", 64, 100, []int{5}, []int{5}, true, false},
		{"constant over the first set only", 64, 100, []int{5}, nil, false, false},
		{"constant over the second set only", 64, 100, nil, []int{5}, false, false},
		{"constant over both sets", 64, 100, []int{5}, []int{5}, false, false},
		{"one over each set, 16 dims", 16, 40, []int{2}, []int{7}, false, true},
		{"one over each set, 64 dims, n < d", 64, 20, []int{5}, []int{9}, false, true},
		{"one over each set, 192 dims: other blocks", 192, 300, []int{5}, []int{9}, false, false},
		{"130 over the first set, 192 dims: one block", 192, 300, seq(10, 140), []int{3}, false, true},
	}
	r := rand.New(rand.NewPCG(7, 8))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set := func(constant []int, value float64) *fid.Stats {
				x := make([]float64, tc.n*tc.d)
				for i := range x {
					x[i] = r.Float64()
				}
				for _, j := range constant {
					for i := range tc.n {
						x[i*tc.d+j] = value
					}
				}
				s, err := fid.Statistics64(x, tc.n, tc.d)
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
			a := set(tc.first, 0.5)
			b := a
			if !tc.identical {
				b = set(tc.second, 0.25)
			}
			d, err := fid.FrechetDistance(a, b)
			if err != nil {
				t.Fatal(err)
			}
			if d.Offset != tc.wantOffset {
				t.Errorf("offset %v, want %v (FD %.10g)", d.Offset, tc.wantOffset, d.FD)
			}
			if tc.identical && math.Abs(d.FD) > 1e-9 {
				t.Errorf("FD of a set with itself %.3g, want 0", d.FD)
			}
		})
	}
}

// seq returns lo, lo+1, …, hi−1.
func seq(lo, hi int) []int {
	s := make([]int, 0, hi-lo)
	for i := lo; i < hi; i++ {
		s = append(s, i)
	}
	return s
}

// TestImageFeaturesManySizes runs images of more sizes than graph.Exec's
// default cache of 32 graphs holds, in batches that mix sizes: each image
// must get the features it gets alone, in order.
func TestImageFeaturesManySizes(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	m, err := fid.New(b, stem(t), 0)
	if err != nil {
		t.Fatal(err)
	}
	const sizes = 34
	var imgs []*imageio.Image
	for k := range sizes {
		c := 3
		if k%5 == 0 {
			c = 1 // grey, repeated over the channels
		}
		im, err := imageio.New(c, 4+k, 3+2*k)
		if err != nil {
			t.Fatal(err)
		}
		for i := range im.Pix {
			im.Pix[i] = float32(math.Sin(float64(i*(k+1))*0.37)+1) / 2
		}
		imgs = append(imgs, im)
	}
	var done []int
	feats, err := m.ImageFeatures(imgs, 8, func(n int) { done = append(done, n) })
	if err != nil {
		t.Fatalf("%d sizes: %v", sizes, err)
	}
	if !slices.Equal(done, []int{8, 16, 24, 32, 34}) {
		t.Errorf("progress %v, want 8, 16, 24, 32, 34", done)
	}
	if len(feats) != 1 || len(feats[0]) != sizes {
		t.Fatalf("features of shape %d×%d, want 1×%d", len(feats), len(feats[0]), sizes)
	}
	for _, k := range []int{0, 9, 17, sizes - 1} {
		rgb, err := imgs[k].ToRGB()
		if err != nil {
			t.Fatal(err)
		}
		alone, err := m.Features(rgb.Pix, 1, rgb.H, rgb.W)
		if err != nil {
			t.Fatal(err)
		}
		for j, want := range alone[0][0] {
			if got := feats[0][k][j]; math.Abs(float64(got-want)) > 1e-6*(1+math.Abs(float64(want))) {
				t.Fatalf("image %d (%s), feature %d: %g in a batch, %g alone", k, imgs[k].Size(), j, got, want)
			}
		}
	}
}

// TestFrechetPaths compares the Fréchet distance computed from the feature
// vectors (n ≤ D) with the one computed from the covariances alone, on
// random sets: full-rank and low-rank features, sets of different sizes,
// n = D, and far-apart scales.
func TestFrechetPaths(t *testing.T) {
	tests := []struct {
		name       string
		n1, n2, d  int
		rank       int     // the features are rank-dimensional (0: d)
		scale2     float64 // the second set's scale
		wantsFeats bool    // the feature path applies
	}{
		{"n < d", 20, 30, 64, 0, 1, true},
		{"n = d", 48, 48, 48, 0, 1.5, true},
		{"low rank", 40, 40, 96, 7, 1, true},
		{"scales apart", 16, 25, 40, 0, 1e3, true},
		{"n > d", 70, 30, 32, 0, 1, false},
	}
	r := rand.New(rand.NewPCG(5, 6))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rank := tc.rank
			if rank == 0 {
				rank = tc.d
			}
			mix := make([]float64, rank*tc.d)
			for i := range mix {
				mix[i] = r.NormFloat64()
			}
			set := func(n int, scale, shift float64) *fid.Stats {
				x := make([]float64, n*tc.d)
				z := make([]float64, rank)
				for i := range n {
					for k := range z {
						z[k] = r.NormFloat64()
					}
					for j := range tc.d {
						v := shift
						for k, zk := range z {
							v += zk * mix[k*tc.d+j]
						}
						x[i*tc.d+j] = scale * max(v, 0) // non-negative like pooled features
					}
				}
				s, err := fid.Statistics64(x, n, tc.d)
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
			a, b := set(tc.n1, 1, 0.3), set(tc.n2, tc.scale2, 0.5)
			d, err := fid.FrechetDistance(a, b)
			if err != nil {
				t.Fatal(err)
			}
			if d.Features != tc.wantsFeats || d.Offset {
				t.Errorf("computed from the features: %v, want %v (offset %v)", d.Features, tc.wantsFeats, d.Offset)
			}
			cov, err := fid.FrechetDistanceOffset(covarianceOnly(a), covarianceOnly(b), 0)
			if err != nil {
				t.Fatal(err)
			}
			rel := math.Abs(d.FD-cov) / cov
			if rel > 1e-6 {
				t.Errorf("FD %.12g, from the covariances %.12g: relative difference %.2g", d.FD, cov, rel)
			}
			t.Logf("FD %.10g, relative difference %.2g", cov, rel)
		})
	}
}

// TestImageFeaturesNonFinite checks that an image holding a NaN or an
// infinite value is refused with its index and the value's place, instead
// of spreading into every feature and failing later as a NaN mean.
func TestImageFeaturesNonFinite(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	m, err := fid.New(b, stem(t), 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		v    float32
		want string
	}{
		{"NaN", float32(math.NaN()), "fid: image 2 has NaN at channel 1, row 3, column 4"},
		{"+Inf", float32(math.Inf(1)), "fid: image 2 has +Inf at channel 1, row 3, column 4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var imgs []*imageio.Image
			for range 3 {
				im, err := imageio.New(3, 8, 8)
				if err != nil {
					t.Fatal(err)
				}
				imgs = append(imgs, im)
			}
			imgs[2].Set(1, 3, 4, tc.v)
			_, err := m.ImageFeatures(imgs, 2, nil)
			if err == nil || err.Error() != tc.want {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}
