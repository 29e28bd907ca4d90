package imageio

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoad feeds arbitrary files to Load and ReadHeader: neither may
// panic, an image Load returns is valid and of the size ReadHeader reads,
// and a file ReadHeader refuses Load refuses with the same error.
// Headers claiming more than 2¹⁶ pixels are skipped: Load decodes images up
// to maxPixels, which would make each run slow.
func FuzzLoad(f *testing.F) {
	m := image.NewNRGBA(image.Rect(0, 0, 7, 5))
	for x := range 7 {
		m.Set(x, 2, color.NRGBA{R: uint8(30 * x), G: 200, B: 9, A: uint8(255 - 20*x)})
	}
	for _, enc := range []func(*bytes.Buffer) error{
		func(b *bytes.Buffer) error { return png.Encode(b, m) },
		func(b *bytes.Buffer) error { return jpeg.Encode(b, m, nil) },
		func(b *bytes.Buffer) error { return png.Encode(b, image.NewGray16(image.Rect(0, 0, 3, 2))) },
	} {
		var b bytes.Buffer
		if err := enc(&b); err != nil {
			f.Fatal(err)
		}
		f.Add(b.Bytes(), uint8(0))
		f.Add(b.Bytes(), uint8(3))
	}
	f.Add([]byte{}, uint8(1))
	f.Add([]byte("GIF89a"), uint8(0))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte, opt uint8) {
		path := filepath.Join(dir, "x.img")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		h, herr := ReadHeader(path)
		if herr == nil && h.Width*h.Height > 1<<16 {
			t.Skip("large image")
		}
		mode := RGB
		if opt&1 != 0 {
			mode = Gray
		}
		var opts []LoadOption
		opts = append(opts, WithMode(mode))
		if opt&2 != 0 {
			opts = append(opts, WithResize(int(opt>>2)%9+1, Bicubic), WithCenterCrop(int(opt>>5)+1))
		}
		im, err := Load(path, opts...)
		if herr != nil {
			if err == nil || err.Error() != herr.Error() {
				t.Fatalf("ReadHeader refused the file (%v), Load gave %v", herr, err)
			}
			return
		}
		if err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		if err := im.Validate(); err != nil {
			t.Fatalf("Load returned an invalid image: %v", err)
		}
		if opt&2 == 0 && (im.W != h.Width || im.H != h.Height) {
			t.Fatalf("Load gave %d×%d, ReadHeader %d×%d", im.W, im.H, h.Width, h.Height)
		}
	})
}
