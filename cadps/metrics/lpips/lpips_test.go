package lpips_test

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/imageio"
	"github.com/cadps/toolkit/cadps/metrics/lpips"
	"github.com/cadps/toolkit/checkpoints"
	"github.com/cadps/toolkit/internal/randweights"
)

func randomBackbone(t *testing.T, net lpips.Net, extra ...string) *checkpoints.StateDict {
	t.Helper()
	sd, err := randweights.StateDict(string(net)+".pth", 1, math.Sqrt2, net.BackboneParams())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range extra {
		if err := sd.Add(checkpoints.FromFloat32(name, []int{2}, []float32{1, 2})); err != nil {
			t.Fatal(err)
		}
	}
	return sd
}

func shipped(t *testing.T, net lpips.Net) *checkpoints.StateDict {
	t.Helper()
	sd, err := lpips.ShippedLinear(net)
	if err != nil {
		t.Fatal(err)
	}
	return sd
}

func TestStrictLoading(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	renamed := randomBackbone(t, lpips.Alex)
	renamed.Names[0] = "model." + renamed.Names[0]
	renamed.Tensors[renamed.Names[0]] = renamed.Tensors["features.0.weight"]
	delete(renamed.Tensors, "features.0.weight")
	tests := []struct {
		name     string
		net      lpips.Net
		backbone *checkpoints.StateDict
		lin      *checkpoints.StateDict
		want     string
	}{
		{"squeeze backbone as alex", lpips.Alex, randomBackbone(t, lpips.Squeeze), shipped(t, lpips.Alex), `file [64 3 3 3], wanted [64 3 11 11]`},
		{"vgg backbone as alex", lpips.Alex, randomBackbone(t, lpips.VGG), shipped(t, lpips.Alex), `features.0.weight (file [64 3 3 3], wanted [64 3 11 11])`},
		{"alex backbone as squeeze", lpips.Squeeze, randomBackbone(t, lpips.Alex), shipped(t, lpips.Squeeze), "features.0.weight"},
		{"vgg linear layers with alex", lpips.Alex, randomBackbone(t, lpips.Alex), shipped(t, lpips.VGG), `lin1.model.1.weight (file [1 128 1 1], wanted [1 192 1 1])`},
		{"squeeze linear layers with vgg", lpips.VGG, randomBackbone(t, lpips.VGG), shipped(t, lpips.Squeeze), `lin3.model.1.weight (file [1 384 1 1], wanted [1 512 1 1])`},
		{"unknown backbone key", lpips.Alex, randomBackbone(t, lpips.Alex, "extra.weight"), shipped(t, lpips.Alex), "; unexpected: extra.weight"},
		{"prefixed keys", lpips.Alex, renamed, shipped(t, lpips.Alex), "; missing: features.0.weight; unexpected: model.features.0.weight"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := lpips.New(b, tc.net, tc.backbone, tc.lin)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	// torchvision's classifier and the features past the last tap are
	// named and ignored.
	m, err := lpips.New(b, lpips.Alex, randomBackbone(t, lpips.Alex, "classifier.1.weight", "classifier.1.bias"), shipped(t, lpips.Alex))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(m.Ignored(), ","); got != "classifier.1.weight,classifier.1.bias" {
		t.Errorf("ignored %q", got)
	}
}

func TestImageSizes(t *testing.T) {
	tests := []struct {
		net  lpips.Net
		h, w int
		ok   bool
	}{
		{lpips.Alex, 64, 64, true},
		{lpips.Alex, 31, 64, true},
		{lpips.Alex, 30, 64, false},
		{lpips.VGG, 16, 16, true},
		{lpips.VGG, 15, 16, false},
		{lpips.Squeeze, 17, 17, true},
		{lpips.Squeeze, 16, 17, false},
	}
	for _, tc := range tests {
		_, err := tc.net.FeatureSizes(tc.h, tc.w)
		if (err == nil) != tc.ok {
			t.Errorf("%s %dx%d: error %v, want ok=%v", tc.net, tc.h, tc.w, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "too small") {
			t.Errorf("%s %dx%d: error %v does not say the image is too small", tc.net, tc.h, tc.w, err)
		}
	}
}

// TestIdenticalAndSymmetric checks what holds for any weights: d(x, x) = 0,
// d(x, y) = d(y, x), and a batch gives the distances of its pairs; an
// infinite value is refused by name.
func TestIdenticalAndSymmetric(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	m, err := lpips.New(b, lpips.Squeeze, randomBackbone(t, lpips.Squeeze), shipped(t, lpips.Squeeze))
	if err != nil {
		t.Fatal(err)
	}
	const n, h, w = 2, 24, 24
	x := make([]float32, n*3*h*w)
	y := make([]float32, len(x))
	for i := range x {
		x[i] = float32(math.Sin(float64(i) * 0.37))
		y[i] = float32(math.Cos(float64(i) * 0.11))
	}
	same, err := m.Distance(x, x, n, h, w)
	if err != nil {
		t.Fatal(err)
	}
	nan := slices.Clone(y)
	nan[3*h*w+2*h*w+5*w+7] = float32(math.Inf(-1))
	if _, err := m.Distance(x, nan, n, h, w); err == nil || !strings.Contains(err.Error(), "x1: image 1 has -Inf at channel 2, row 5, column 7") {
		t.Errorf("an infinite value: error %v, want one naming it", err)
	}
	xy, err := m.Distance(x, y, n, h, w)
	if err != nil {
		t.Fatal(err)
	}
	yx, err := m.Distance(y, x, n, h, w)
	if err != nil {
		t.Fatal(err)
	}
	one, err := m.Distance(x[3*h*w:], y[3*h*w:], 1, h, w)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if same.Dist[i] != 0 {
			t.Errorf("d(x%d, x%d) = %g, want 0", i, i, same.Dist[i])
		}
		if xy.Dist[i] <= 0 || math.Abs(float64(xy.Dist[i]-yx.Dist[i])) > 1e-7 {
			t.Errorf("pair %d: d(x,y) = %g, d(y,x) = %g", i, xy.Dist[i], yx.Dist[i])
		}
	}
	if math.Abs(float64(one.Dist[0]-xy.Dist[1])) > 1e-6 {
		t.Errorf("pair 1 alone: %g, in the batch: %g", one.Dist[0], xy.Dist[1])
	}
	if _, err := m.Distance(x, y, n, 15, 16); err == nil || !strings.Contains(err.Error(), "values for shape") {
		t.Errorf("wrong length: error %v", err)
	}
}

// TestManySizes scores and takes the features of images of more sizes
// than graph.Exec's default cache of 32 graphs holds, then the first size
// again (its graph dropped meanwhile): each must work, and the first pair
// must score the same both times.
func TestManySizes(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	m, err := lpips.New(b, lpips.Squeeze, randomBackbone(t, lpips.Squeeze), shipped(t, lpips.Squeeze))
	if err != nil {
		t.Fatal(err)
	}
	const sizes = 34
	var refs, imgs []*imageio.Image
	for k := range sizes + 1 {
		w := 17 + k%sizes // the last is the first size again
		ref, err := imageio.New(3, 17, w)
		if err != nil {
			t.Fatal(err)
		}
		img, err := imageio.New(3, 17, w)
		if err != nil {
			t.Fatal(err)
		}
		for i := range ref.Pix {
			ref.Pix[i] = float32(math.Sin(float64(i)*0.37)+1) / 2
			img.Pix[i] = float32(math.Cos(float64(i)*0.11)+1) / 2
		}
		refs, imgs = append(refs, ref), append(imgs, img)
	}
	tests := []struct {
		name string
		run  func() error
	}{
		{"ImageDistances", func() error {
			d, err := m.ImageDistances(refs, imgs, 4)
			if err == nil && (d[0] <= 0 || d[0] != d[sizes]) {
				t.Errorf("first size: %g, again after %d others: %g", d[0], sizes-1, d[sizes])
			}
			return err
		}},
		{"Features", func() error {
			for _, im := range refs {
				x, err := lpips.PlusMinusOne(im)
				if err != nil {
					return err
				}
				if _, _, err := m.Features(x, 1, im.H, im.W); err != nil {
					return fmt.Errorf("%s: %w", im.Size(), err)
				}
			}
			return nil
		}},
	}
	for _, tc := range tests {
		if err := tc.run(); err != nil {
			t.Errorf("%s on %d sizes: %v", tc.name, sizes, err)
		}
	}
}

// TestImageDistancesBadImage checks that an image that cannot be read as
// RGB is refused with its pair's index and its side, before any distance
// is computed.
func TestImageDistancesBadImage(t *testing.T) {
	good := func() *imageio.Image {
		im, err := imageio.New(3, 32, 32)
		if err != nil {
			t.Fatal(err)
		}
		return im
	}
	bad := &imageio.Image{C: 3, H: 32, W: 32, Pix: make([]float32, 10)}
	for _, tc := range []struct {
		name       string
		refs, imgs []*imageio.Image
		want       string
	}{
		{"reference", []*imageio.Image{good(), bad}, []*imageio.Image{good(), good()}, "lpips: pair 1: the reference: imageio: 32×32 RGB image has 10 values"},
		{"image", []*imageio.Image{good(), good(), good()}, []*imageio.Image{good(), good(), bad}, "lpips: pair 2: the image: imageio: 32×32 RGB image has 10 values"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := new(lpips.Model).ImageDistances(tc.refs, tc.imgs, 4)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error %v, want one starting %q", err, tc.want)
			}
		})
	}
}
