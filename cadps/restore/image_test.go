package restore

import (
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
