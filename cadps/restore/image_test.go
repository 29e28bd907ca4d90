package restore

import (
	"bytes"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps/imageio"
	"github.com/cadps/toolkit/internal/fixtures"
)

// cliFlag matches a command-line flag (-name or --name) in a message: the
// package's messages name the fields and options of its Go API instead.
var cliFlag = regexp.MustCompile(`(^|[\s(,;])--?[a-z]`)

// TestSizeError checks that the message states the sizes in the
// package's terms, naming no command-line flag, and that Fits names only
// fits that would work: cropping needs an image at least the model's size.
func TestSizeError(t *testing.T) {
	for _, c := range []struct {
		name          string
		width, height int
		fit           Fit
		want          string
		fits          []Fit
	}{
		{"larger", 40, 48, FitNone, "image a.png is 40×48, but the model takes 32×32 images", []Fit{FitResize, FitCrop}},
		{"smaller", 16, 16, FitNone, "image a.png is 16×16, but the model takes 32×32 images", []Fit{FitResize}},
		{"one side shorter", 40, 20, FitNone, "image a.png is 40×20, but the model takes 32×32 images", []Fit{FitResize}},
		{"too small to crop", 16, 40, FitCrop, "image a.png is 16×40, too small to crop to the 32×32 images the model takes", []Fit{FitResize}},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := &SizeError{Path: "a.png", Width: c.width, Height: c.height, Size: 32, Fit: c.fit}
			if got := err.Error(); got != c.want {
				t.Errorf("%q, want %q", got, c.want)
			}
			if f := cliFlag.FindString(err.Error()); f != "" {
				t.Errorf("%q names a command-line flag (%q)", err, f)
			}
			if got := err.Fits(); !slices.Equal(got, c.fits) {
				t.Errorf("Fits() = %v, want %v", got, c.fits)
			}
		})
	}
}

// TestCheckImageFormat checks that CheckImage, the check reproduce runs
// on every image before its first restoration, refuses what LoadImage
// refuses by format: a GIF (named .png here) has a header the image package
// reads, and passed the check only to fail once its turn came.
func TestCheckImageFormat(t *testing.T) {
	m := image.NewGray(image.Rect(0, 0, 32, 32))
	encode := func(enc func(*bytes.Buffer) error) []byte {
		var b bytes.Buffer
		if err := enc(&b); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	for _, tc := range []struct {
		name    string
		data    []byte
		wantErr string // "" for none
	}{
		{"png", encode(func(b *bytes.Buffer) error { return png.Encode(b, m) }), ""},
		{"jpeg named png", encode(func(b *bytes.Buffer) error { return jpeg.Encode(b, m, nil) }), ""},
		{"gif named png", encode(func(b *bytes.Buffer) error { return gif.Encode(b, m, nil) }), "unsupported format GIF (want PNG or JPEG)"},
		{"empty", nil, "empty file, not an image"},
		{"text", []byte("not an image at all"), "not a PNG or JPEG file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "a.png")
			if err := os.WriteFile(p, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			err := CheckImage(p, 32, FitNone)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("CheckImage: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), p)):
				t.Errorf("CheckImage error %v, want one naming %s and %q", err, p, tc.wantErr)
			}
			if _, lerr := LoadImage(p, []int{1, 1, 32, 32}, FitNone); (lerr == nil) != (tc.wantErr == "") {
				t.Errorf("LoadImage error %v, but CheckImage's %v", lerr, err)
			}
		})
	}
}

// TestFitResizeReference compares LoadImage with FitResize (-resize) on
// crops of the first FFHQ image against the fixtures of testdata/fit.py:
// torchvision's Resize(size, BICUBIC) and CenterCrop(size) on a PIL image,
// which it follows (within 2 of 255 levels: PIL rounds to 8 bits after
// each of its two passes, LoadImage keeps floats), and guided-diffusion's
// center_crop_arr, which it does not follow (box halvings first, the
// longer side rounded rather than truncated, the crop offset rounded
// down); those differences are logged, as docs/cli.md quotes them.
func TestFitResizeReference(t *testing.T) {
	src, err := fixtures.SharedPath("data", "ffhq", "00000.png")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	full, err := png.Decode(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	sub, ok := full.(interface {
		SubImage(image.Rectangle) image.Image
	})
	if !ok {
		t.Fatalf("decoded %T has no SubImage", full)
	}
	const maxLevels = 2 // against torchvision
	for _, tc := range []struct{ height, size int }{{256, 64}, {201, 64}, {117, 100}} {
		name := fmt.Sprintf("256x%d-%d", tc.height, tc.size)
		t.Run(name, func(t *testing.T) {
			in := filepath.Join(t.TempDir(), "in.png")
			out, err := os.Create(in)
			if err != nil {
				t.Fatal(err)
			}
			if err := png.Encode(out, sub.SubImage(image.Rect(0, 0, 256, tc.height))); err != nil {
				t.Fatal(err)
			}
			if err := out.Close(); err != nil {
				t.Fatal(err)
			}
			got, err := LoadImage(in, []int{1, 3, tc.size, tc.size}, FitResize)
			if err != nil {
				t.Fatal(err)
			}
			for _, ref := range []string{"torchvision", "guided"} {
				want, err := imageio.Load(filepath.Join("testdata", "fit-"+name+"-"+ref+".png"))
				if err != nil {
					t.Fatal(err)
				}
				if want.H != got.H || want.W != got.W {
					t.Fatalf("got %s, %s fixture is %s", got.Size(), ref, want.Size())
				}
				var maxd, sum, sq float64
				for i, v := range got.Pix {
					d := math.Abs(float64(v) - float64(want.Pix[i]))
					maxd, sum, sq = max(maxd, d), sum+d, sq+d*d
				}
				n := float64(len(got.Pix))
				t.Logf("against %s: max %.2f, mean %.2f levels of 255, PSNR %.1f dB", ref, 255*maxd, 255*sum/n, -10*math.Log10(sq/n))
				if ref == "torchvision" && 255*maxd > maxLevels {
					t.Errorf("differs from torchvision's Resize and CenterCrop by up to %.2f levels, want at most %d", 255*maxd, maxLevels)
				}
			}
		})
	}
}
