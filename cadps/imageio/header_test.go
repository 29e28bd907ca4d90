package imageio

import (
	"bytes"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

// TestReadHeader checks that ReadHeader gives a file's format and size,
// and refuses by its header exactly what Load refuses by it, with the
// same error.
func TestReadHeader(t *testing.T) {
	m := image.NewGray(image.Rect(0, 0, 7, 5))
	encode := func(enc func(*bytes.Buffer) error) []byte {
		var b bytes.Buffer
		if err := enc(&b); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	pngData := encode(func(b *bytes.Buffer) error { return png.Encode(b, m) })
	for _, tc := range []struct {
		name string
		data []byte
		want Header // zero: refused
	}{
		{"png", pngData, Header{"PNG", 7, 5}},
		{"jpeg", encode(func(b *bytes.Buffer) error { return jpeg.Encode(b, m, nil) }), Header{"JPEG", 7, 5}},
		{"gif", encode(func(b *bytes.Buffer) error { return gif.Encode(b, m, nil) }), Header{}},
		{"empty", nil, Header{}},
		{"short text", []byte("hi"), Header{}},
		{"cut png header", pngData[:20], Header{}},
		{"png claiming more than it holds", craftPNG(16384, 8192, 16, 6, 0, zlibZeros(t, 1)), Header{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "x.png")
			if err := os.WriteFile(p, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			h, err := ReadHeader(p)
			_, lerr := Load(p)
			switch {
			case tc.want != Header{}:
				if err != nil || h != tc.want {
					t.Errorf("ReadHeader = %+v, %v; want %+v", h, err, tc.want)
				}
			case err == nil:
				t.Errorf("ReadHeader = %+v, want an error", h)
			case lerr == nil || lerr.Error() != err.Error():
				t.Errorf("ReadHeader's error %q, Load's %v: want the same", err, lerr)
			}
		})
	}
}
