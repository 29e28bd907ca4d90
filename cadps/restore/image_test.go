package restore

import (
	"bytes"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSizeErrorHint checks that the hint names only fits that would work:
// cropping needs an image at least the model's size.
func TestSizeErrorHint(t *testing.T) {
	for _, c := range []struct {
		name          string
		width, height int
		fit           Fit
		want          string
	}{
		{"larger", 40, 48, FitNone, "is 40×48, but the model takes 32×32 images (use -resize or -crop to fit it)"},
		{"smaller", 16, 16, FitNone, "is 16×16, but the model takes 32×32 images (use -resize to fit it)"},
		{"one side shorter", 40, 20, FitNone, "(use -resize to fit it)"},
		{"too small to crop", 16, 40, FitCrop, "is 16×40, too small to crop to the 32×32 images the model takes (use -resize instead of -crop)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := &SizeError{Path: "a.png", Width: c.width, Height: c.height, Size: 32, Fit: c.fit}
			if got := err.Error(); !strings.HasPrefix(got, "image a.png ") || !strings.HasSuffix(got, c.want) {
				t.Errorf("%q, want it to end in %q", got, c.want)
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
		{"gif named png", encode(func(b *bytes.Buffer) error { return gif.Encode(b, m, nil) }), "unsupported format GIF (want a PNG or JPEG file)"},
		{"empty", nil, "unknown format (want a PNG or JPEG file)"},
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
