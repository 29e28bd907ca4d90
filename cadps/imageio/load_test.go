package imageio

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/cadps/toolkit/internal/fixtures"
)

// sharedData returns a path under the shared test-data folder.
func sharedData(t *testing.T, elem ...string) string {
	t.Helper()
	p, err := fixtures.SharedPath(append([]string{"data"}, elem...)...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// writeFile encodes m with enc into a file named name in a temporary folder.
func writeFile(t *testing.T, name string, m image.Image, enc func(*bytes.Buffer, image.Image) error) string {
	t.Helper()
	var buf bytes.Buffer
	if err := enc(&buf, m); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func encPNG(b *bytes.Buffer, m image.Image) error { return png.Encode(b, m) }
func encJPEG(b *bytes.Buffer, m image.Image) error {
	return jpeg.Encode(b, m, &jpeg.Options{Quality: 100})
}

// rgbPix is the expected straight colour of one pixel, in [0,1].
type rgbPix struct{ r, g, b float64 }

// checkRGB compares a loaded 1×len(want) RGB image with want, within tol
// but at least float32 precision (1e-7, far below an 8-bit step).
func checkRGB(t *testing.T, im *Image, want []rgbPix, tol float64) {
	t.Helper()
	tol = max(tol, 1e-7)
	if im.C != 3 || im.H != 1 || im.W != len(want) {
		t.Fatalf("got %s image, want 1×%d RGB", im.Size(), len(want))
	}
	for x, w := range want {
		got := []float64{float64(im.At(0, 0, x)), float64(im.At(1, 0, x)), float64(im.At(2, 0, x))}
		for c, wv := range []float64{w.r, w.g, w.b} {
			if math.Abs(got[c]-wv) > tol {
				t.Errorf("pixel %d channel %d = %.7f, want %.7f (±%g)", x, c, got[c], wv, tol)
			}
		}
	}
}

// TestLoadModes writes one-row images of every colour model the PNG and
// JPEG encoders produce and checks what Load returns as RGB.
func TestLoadModes(t *testing.T) {
	const u8, u16 = 1.0 / 255, 1.0 / 65535
	gray := image.NewGray(image.Rect(0, 0, 3, 1))
	gray.Pix = []uint8{0, 77, 255}
	gray16 := image.NewGray16(image.Rect(0, 0, 2, 1))
	gray16.SetGray16(0, 0, color.Gray16{Y: 0x1234}) // not a multiple of 0x101: 16 bits must survive
	gray16.SetGray16(1, 0, color.Gray16{Y: 0xffff})
	rgb := image.NewRGBA(image.Rect(0, 0, 2, 1))
	rgb.Pix = []uint8{10, 20, 30, 255, 200, 100, 0, 255}
	nrgba := image.NewNRGBA(image.Rect(0, 0, 3, 1))
	nrgba.Pix = []uint8{10, 20, 30, 0, 200, 100, 50, 128, 1, 2, 3, 255} // alpha dropped, colour kept
	rgb16 := image.NewRGBA64(image.Rect(0, 0, 1, 1))
	rgb16.SetRGBA64(0, 0, color.RGBA64{R: 0x1234, G: 0x8001, B: 0xfffe, A: 0xffff})
	nrgba16 := image.NewNRGBA64(image.Rect(0, 0, 1, 1))
	nrgba16.SetNRGBA64(0, 0, color.NRGBA64{R: 0x1234, G: 0x8001, B: 0xfffe, A: 0x0100})
	pal := image.NewPaletted(image.Rect(0, 0, 3, 1), color.Palette{
		color.NRGBA{200, 100, 50, 0}, color.RGBA{0, 0, 255, 255}, color.NRGBA{9, 8, 7, 100},
	})
	pal.Pix = []uint8{2, 0, 1}

	tests := []struct {
		name string
		m    image.Image
		enc  func(*bytes.Buffer, image.Image) error
		want []rgbPix
		tol  float64
	}{
		{"gray8", gray, encPNG, []rgbPix{{0, 0, 0}, {77 * u8, 77 * u8, 77 * u8}, {1, 1, 1}}, 0},
		{"gray16", gray16, encPNG, []rgbPix{{0x1234 * u16, 0x1234 * u16, 0x1234 * u16}, {1, 1, 1}}, 1e-7},
		{"rgb8", rgb, encPNG, []rgbPix{{10 * u8, 20 * u8, 30 * u8}, {200 * u8, 100 * u8, 0}}, 0},
		{"rgba8", nrgba, encPNG, []rgbPix{{10 * u8, 20 * u8, 30 * u8}, {200 * u8, 100 * u8, 50 * u8}, {1 * u8, 2 * u8, 3 * u8}}, 0},
		{"rgb16", rgb16, encPNG, []rgbPix{{0x1234 * u16, 0x8001 * u16, 0xfffe * u16}}, 1e-7},
		{"rgba16", nrgba16, encPNG, []rgbPix{{0x1234 * u16, 0x8001 * u16, 0xfffe * u16}}, 1e-7},
		{"paletted", pal, encPNG, []rgbPix{{9 * u8, 8 * u8, 7 * u8}, {200 * u8, 100 * u8, 50 * u8}, {0, 0, 1}}, 0},
		{"jpeg-gray", gray, encJPEG, []rgbPix{{0, 0, 0}, {77 * u8, 77 * u8, 77 * u8}, {1, 1, 1}}, 1.5 * u8},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, tc.name+".img", tc.m, tc.enc)
			im, err := Load(p)
			if err != nil {
				t.Fatal(err)
			}
			checkRGB(t, im, tc.want, tc.tol)
		})
	}
}

// TestLoadGrayLuma checks WithMode(Gray) against the values PIL's
// convert("L") gives for 8-bit colours.
func TestLoadGrayLuma(t *testing.T) {
	tests := []struct {
		r, g, b uint8
		want    uint8 // PIL convert("L")
	}{
		{255, 0, 0, 76},
		{0, 255, 0, 150},
		{0, 0, 255, 29},
		{255, 255, 255, 255},
		{128, 128, 128, 128},
		{10, 20, 30, 18},
		{0, 0, 0, 0},
	}
	m := image.NewRGBA(image.Rect(0, 0, len(tests), 1))
	for x, tc := range tests {
		m.SetRGBA(x, 0, color.RGBA{tc.r, tc.g, tc.b, 255})
	}
	im, err := Load(writeFile(t, "c.png", m, encPNG), WithMode(Gray))
	if err != nil {
		t.Fatal(err)
	}
	if im.C != 1 || im.W != len(tests) {
		t.Fatalf("got %s, want 1×%d gray", im.Size(), len(tests))
	}
	for x, tc := range tests {
		if got, want := im.At(0, 0, x), float32(tc.want)/255; got != want {
			t.Errorf("luma of (%d,%d,%d) = %v·255, want %d", tc.r, tc.g, tc.b, got*255, tc.want)
		}
	}

	// 16-bit sources keep their precision: float luma of the 16-bit values.
	m16 := image.NewRGBA64(image.Rect(0, 0, 1, 1))
	m16.SetRGBA64(0, 0, color.RGBA64{0x1234, 0x5678, 0x9abc, 0xffff})
	im, err = Load(writeFile(t, "c16.png", m16, encPNG), WithMode(Gray))
	if err != nil {
		t.Fatal(err)
	}
	want := (0.299*0x1234 + 0.587*0x5678 + 0.114*0x9abc) / 65535
	if got := float64(im.Pix[0]); math.Abs(got-want) > 1e-7 {
		t.Errorf("16-bit luma = %v, want %v", got, want)
	}

	// A gray file stays as it is.
	g := image.NewGray(image.Rect(0, 0, 1, 1))
	g.Pix[0] = 201
	im, err = Load(writeFile(t, "g.png", g, encPNG), WithMode(Gray))
	if err != nil {
		t.Fatal(err)
	}
	if im.C != 1 || im.Pix[0] != float32(201)/255 {
		t.Errorf("gray file as gray: %s %v, want 201/255", im.Size(), im.Pix)
	}
}

// TestLoadRealImages loads the shared 256×256 RGB test images and checks
// them against the standard library's decoding.
func TestLoadRealImages(t *testing.T) {
	for _, p := range []string{
		sharedData(t, "ffhq", "00000.png"),
		sharedData(t, "natural", "chelsea.png"),
	} {
		t.Run(filepath.Base(p), func(t *testing.T) {
			im, err := Load(p)
			if err != nil {
				t.Fatal(err)
			}
			if im.C != 3 || im.H != 256 || im.W != 256 {
				t.Fatalf("got %s, want 256×256 RGB", im.Size())
			}
			f, err := os.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			m, err := png.Decode(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, xy := range [][2]int{{0, 0}, {17, 200}, {255, 255}, {128, 3}} {
				r, g, b, _ := m.At(xy[0], xy[1]).RGBA()
				for c, v := range []uint32{r >> 8, g >> 8, b >> 8} {
					if got, want := im.At(c, xy[1], xy[0]), float32(v)/255; got != want {
						t.Errorf("(%d,%d) channel %d = %v, want %v", xy[0], xy[1], c, got, want)
					}
				}
			}
		})
	}
}

// TestLoadJPEG checks colour JPEGs: a quality-100 encoding of a real image
// decodes close to it, and a CMYK JPEG matches its RGB rendering.
func TestLoadJPEG(t *testing.T) {
	src := sharedData(t, "natural", "astronaut.png")
	ref, err := Load(src)
	if err != nil {
		t.Fatal(err)
	}
	m, err := ref.ToImage()
	if err != nil {
		t.Fatal(err)
	}
	im, err := Load(writeFile(t, "a.jpg", m, encJPEG))
	if err != nil {
		t.Fatal(err)
	}
	if mae := meanAbsDiff(t, ref, im); mae > 0.01 {
		t.Errorf("quality-100 JPEG differs from the PNG by %v on average, want < 0.01", mae)
	}

	// The Go distribution ships a CMYK (Adobe) JPEG with its RGB rendering.
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Skipf("no go command to find GOROOT: %v", err)
	}
	dir := filepath.Join(strings.TrimSpace(string(goroot)), "src", "image", "testdata")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("no CMYK JPEG to test with: %v", err)
	}
	cmyk, err := Load(filepath.Join(dir, "video-001.cmyk.jpeg"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := Load(filepath.Join(dir, "video-001.cmyk.png"))
	if err != nil {
		t.Fatal(err)
	}
	if mae := meanAbsDiff(t, want, cmyk); mae > 2.0/255 {
		t.Errorf("CMYK JPEG differs from its RGB rendering by %v on average", mae)
	}
}

// TestFromImageCMYK checks the CMYK conversion against PIL's
// convert("RGB"), (255−k) − round(c·(255−k)/255), for every (c, k) pair,
// and the channels' order on one image.
func TestFromImageCMYK(t *testing.T) {
	m := image.NewCMYK(image.Rect(0, 0, 256, 256))
	for k := range 256 {
		for c := range 256 {
			// c in C, M and Y alike: 255−c in Y too.
			copy(m.Pix[m.PixOffset(c, k):], []uint8{uint8(c), uint8(c), uint8(255 - c), uint8(k)})
		}
	}
	im, err := FromImage(m, RGB)
	if err != nil {
		t.Fatal(err)
	}
	pil := func(v, k int) float32 {
		nk := 255 - k
		return float32(nk-int(math.Round(float64(v*nk)/255))) / 255
	}
	bad := 0
	for k := range 256 {
		for c := range 256 {
			for ch, v := range []int{c, c, 255 - c} {
				if got, want := im.At(ch, k, c), pil(v, k); got != want && bad < 5 {
					bad++
					t.Errorf("CMYK channel %d = %d, K = %d: got %v·255, want %v·255 (PIL)", ch, v, k, got*255, want*255)
				}
			}
		}
	}

	m = image.NewCMYK(image.Rect(0, 0, 4, 1))
	m.Pix = []uint8{0, 0, 0, 0, 255, 0, 0, 0, 0, 128, 255, 128, 1, 0, 0, 128}
	if im, err = FromImage(m, RGB); err != nil {
		t.Fatal(err)
	}
	const u8 = 1.0 / 255
	// The last pixel's red is 127 − round(127/255) = 127, where
	// color.CMYKToRGB gives 126.
	checkRGB(t, im, []rgbPix{{1, 1, 1}, {0, 1, 1}, {127 * u8, 63 * u8, 0}, {127 * u8, 127 * u8, 127 * u8}}, 0)
}

func meanAbsDiff(t *testing.T, a, b *Image) float64 {
	t.Helper()
	if a.C != b.C || a.H != b.H || a.W != b.W {
		t.Fatalf("sizes differ: %s and %s", a.Size(), b.Size())
	}
	var s float64
	for i := range a.Pix {
		s += math.Abs(float64(a.Pix[i] - b.Pix[i]))
	}
	return s / float64(len(a.Pix))
}

// TestLoadErrors checks that bad files give clear errors naming the path.
func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var gifBuf bytes.Buffer
	if err := gif.Encode(&gifBuf, image.NewPaletted(image.Rect(0, 0, 2, 2), color.Palette{color.Black}), nil); err != nil {
		t.Fatal(err)
	}
	var pngBuf bytes.Buffer
	if err := png.Encode(&pngBuf, image.NewGray(image.Rect(0, 0, 64, 64))); err != nil {
		t.Fatal(err)
	}
	good := write("good.png", pngBuf.Bytes())
	// A PNG whose header gives 100000×50000 pixels (width×height), over
	// the limit, and a JPEG of 65535×30000.
	huge := append([]byte(nil), pngBuf.Bytes()...)
	binary.BigEndian.PutUint32(huge[16:], 100000) // IHDR width
	binary.BigEndian.PutUint32(huge[20:], 50000)  // IHDR height
	binary.BigEndian.PutUint32(huge[29:], crc32.ChecksumIEEE(huge[12:29]))
	var jpegBuf bytes.Buffer
	if err := jpeg.Encode(&jpegBuf, image.NewGray(image.Rect(0, 0, 8, 8)), nil); err != nil {
		t.Fatal(err)
	}
	hugeJPEG := jpegBuf.Bytes()
	sof := bytes.Index(hugeJPEG, []byte{0xff, 0xc0})
	if sof < 0 {
		t.Fatal("no SOF0 marker in the encoded JPEG")
	}
	binary.BigEndian.PutUint16(hugeJPEG[sof+5:], 30000) // height
	binary.BigEndian.PutUint16(hugeJPEG[sof+7:], 65535) // width
	pngBuf.Reset()
	if err := png.Encode(&pngBuf, image.NewGray(image.Rect(0, 0, 100000, 1))); err != nil {
		t.Fatal(err)
	}
	line := write("line.png", pngBuf.Bytes())

	tests := []struct {
		name string
		path string
		opts []LoadOption
		want string
	}{
		{"missing", filepath.Join(dir, "missing.png"), nil, "no such file"},
		{"directory", dir, nil, "is a directory"},
		{"empty", write("empty.png", nil), nil, "empty file"},
		{"text", write("notes.png", []byte("hello, world")), nil, "not a PNG or JPEG"},
		{"gif", write("anim.gif", gifBuf.Bytes()), nil, "unsupported format GIF"},
		{"truncated png", write("cut.png", pngBuf.Bytes()[:len(pngBuf.Bytes())/2]), nil, "decoding PNG"},
		{"truncated jpeg", write("cut.jpg", []byte("\xff\xd8\xff\xe0\x00\x10JFIF")), nil, "decoding JPEG"},
		{"bad mode", good, []LoadOption{WithMode(Mode(7))}, "unknown mode"},
		{"bad resample", good, []LoadOption{WithResize(32, Resample(0))}, "invalid resize"},
		{"crop too large", good, []LoadOption{WithCenterCrop(65)}, "cannot crop 65×65 from a 64×64 (width×height) image"},
		{"crop too large, wide", line, []LoadOption{WithResize(2, Area), WithCenterCrop(3)}, "cannot crop 3×3 from a 200000×2 (width×height) image"},
		{"negative crop", good, []LoadOption{WithCenterCrop(-1)}, "invalid centre-crop"},
		{"huge header", write("huge.png", huge), nil, "decoding PNG: size 100000×50000 (width×height) is larger than the 134217728-pixel limit"},
		{"huge jpeg header", write("huge.jpg", hugeJPEG), nil, "decoding JPEG: size 65535×30000 (width×height) is larger than the 134217728-pixel limit"},
		{"resized too large", line, []LoadOption{WithResize(2000, Bicubic)}, "resizing the shorter side to 2000: size 200000000×2000 (width×height) is larger than the"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			im, err := Load(tc.path, tc.opts...)
			if err == nil {
				t.Fatalf("Load(%s) = %s, want an error", tc.path, im.Size())
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.path) || !strings.Contains(msg, tc.want) {
				t.Errorf("error %q should name %s and say %q", msg, tc.path, tc.want)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error %q spans several lines", msg)
			}
			if n := strings.Count(msg, "imageio:"); n != 1 {
				t.Errorf("error %q says imageio: %d times, want once", msg, n)
			}
		})
	}
}

// TestLoadRefusesBeforeReading checks that a large file whose header Load
// refuses is refused without being read into memory.
func TestLoadRefusesBeforeReading(t *testing.T) {
	const size = 200 << 20
	dir := t.TempDir()
	for _, tc := range []struct {
		name, head, want string
	}{
		{"x.png", "", "not a PNG or JPEG"},
		{"anim.png", "GIF89a", "unsupported format GIF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name)
			f, err := os.Create(p)
			if err != nil {
				t.Fatal(err)
			}
			_, err = f.WriteString(tc.head)
			if err == nil {
				err = f.Truncate(size) // zeros to size, without writing them
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				t.Fatal(err)
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err = Load(p)
			runtime.ReadMemStats(&after)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Load: %v, want an error saying %q", err, tc.want)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
				t.Errorf("Load allocated %d KiB of a %d MiB file before refusing it", alloc>>10, size>>20)
			}
		})
	}
}

// TestLoadResizeCrop checks the optional resize and centre crop.
func TestLoadResizeCrop(t *testing.T) {
	p := sharedData(t, "ffhq", "00001.png")
	full, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	half, err := Load(p, WithResize(128, Area))
	if err != nil {
		t.Fatal(err)
	}
	if half.H != 128 || half.W != 128 {
		t.Fatalf("area resize gave %s, want 128×128", half.Size())
	}
	for _, pos := range [][3]int{{0, 0, 0}, {1, 64, 100}, {2, 127, 127}} {
		c, y, x := pos[0], pos[1], pos[2]
		mean := (full.At(c, 2*y, 2*x) + full.At(c, 2*y, 2*x+1) + full.At(c, 2*y+1, 2*x) + full.At(c, 2*y+1, 2*x+1)) / 4
		if got := half.At(c, y, x); math.Abs(float64(got-mean)) > 1e-6 {
			t.Errorf("area resize at %v = %v, want the 2×2 block mean %v", pos, got, mean)
		}
	}
	crop, err := Load(p, WithCenterCrop(100))
	if err != nil {
		t.Fatal(err)
	}
	// (256−100)/2 = 78.
	if crop.H != 100 || crop.W != 100 || crop.At(1, 0, 0) != full.At(1, 78, 78) || crop.At(2, 99, 99) != full.At(2, 177, 177) {
		t.Errorf("centre crop %s does not start at (78,78) of the full image", crop.Size())
	}
	both, err := Load(p, WithResize(64, Bicubic), WithCenterCrop(32), WithMode(Gray))
	if err != nil {
		t.Fatal(err)
	}
	if both.C != 1 || both.H != 32 || both.W != 32 {
		t.Errorf("resize+crop+gray gave %s, want 32×32 gray", both.Size())
	}
}

// TestFromImageTypes covers in-memory image types the decoders do not
// produce: premultiplied colour with partial alpha, a type without a fast
// path, and a sub-image whose bounds do not start at the origin.
func TestFromImageTypes(t *testing.T) {
	const u8 = 1.0 / 255
	rgba := image.NewRGBA(image.Rect(0, 0, 2, 1))
	rgba.Pix = []uint8{100, 50, 0, 128, 7, 7, 7, 0}
	rgba64 := image.NewRGBA64(image.Rect(0, 0, 1, 1))
	rgba64.SetRGBA64(0, 0, color.RGBA64{R: 0x4000, G: 0x2000, B: 0, A: 0x8000})
	nycc := image.NewNYCbCrA(image.Rect(0, 0, 1, 1), image.YCbCrSubsampleRatio444)
	nycc.Y[0], nycc.Cb[0], nycc.Cr[0], nycc.A[0] = 120, 90, 200, 255
	r, g, b := color.YCbCrToRGB(120, 90, 200)
	// Straight YCbCr with alpha (as WebP decoders give it): the colour is
	// kept under any alpha, 0 included.
	nyccA := image.NewNYCbCrA(image.Rect(0, 0, 3, 1), image.YCbCrSubsampleRatio444)
	copy(nyccA.Y, []uint8{86, 15, 120})
	copy(nyccA.Cb, []uint8{90, 90, 90})
	copy(nyccA.Cr, []uint8{200, 200, 200})
	copy(nyccA.A, []uint8{128, 200, 0})
	var straight []rgbPix
	for _, y := range nyccA.Y {
		r, g, b := color.YCbCrToRGB(y, 90, 200)
		straight = append(straight, rgbPix{float64(r) / 255, float64(g) / 255, float64(b) / 255})
	}
	gray := image.NewGray(image.Rect(0, 0, 4, 2))
	gray.Pix = []uint8{1, 2, 3, 4, 5, 6, 7, 8}
	tests := []struct {
		name string
		m    image.Image
		want []rgbPix
		tol  float64
	}{
		{"premultiplied", rgba, []rgbPix{{199 * u8, 100 * u8, 0}, {0, 0, 0}}, 0},
		{"premultiplied 16-bit", rgba64, []rgbPix{{0x7fff / 65535.0, 0x4000 / 65535.0, 0}}, 2e-5},
		{"generic", nycc, []rgbPix{{float64(r) * u8, float64(g) * u8, float64(b) * u8}}, 0},
		{"straight alpha", nyccA, straight, 0},
		{"sub-image", gray.SubImage(image.Rect(1, 1, 3, 2)), []rgbPix{{6 * u8, 6 * u8, 6 * u8}, {7 * u8, 7 * u8, 7 * u8}}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			im, err := FromImage(tc.m, RGB)
			if err != nil {
				t.Fatal(err)
			}
			checkRGB(t, im, tc.want, tc.tol)
		})
	}
	if _, err := FromImage(nil, RGB); err == nil {
		t.Error("FromImage(nil) succeeded")
	}
	if _, err := FromImage(image.NewUniform(color.Black), RGB); err == nil {
		t.Error("FromImage of an unbounded image succeeded")
	}
}

func TestShorterSideTo(t *testing.T) {
	tests := []struct{ h, w, size, wantH, wantW int }{
		{256, 256, 128, 128, 128},
		{300, 400, 256, 256, 341}, // 341.33 truncated
		{400, 300, 256, 341, 256},
		{10, 1000, 5, 5, 500},
	}
	for _, tc := range tests {
		if h, w := shorterSideTo(tc.h, tc.w, tc.size); h != tc.wantH || w != tc.wantW {
			t.Errorf("shorterSideTo(%d, %d, %d) = %d×%d, want %d×%d", tc.h, tc.w, tc.size, h, w, tc.wantH, tc.wantW)
		}
	}
}

// TestDecode reads from a reader and resizes a non-square image.
func TestDecode(t *testing.T) {
	m := image.NewGray(image.Rect(0, 0, 40, 20))
	var buf bytes.Buffer
	if err := png.Encode(&buf, m); err != nil {
		t.Fatal(err)
	}
	im, err := Decode(&buf, WithResize(10, Area), WithMode(Gray))
	if err != nil {
		t.Fatal(err)
	}
	if im.C != 1 || im.H != 10 || im.W != 20 {
		t.Errorf("decoded %s, want 10×20 gray", im.Size())
	}
	if _, err := Decode(strings.NewReader("GIF89a")); err == nil || !strings.Contains(err.Error(), "unsupported format GIF") {
		t.Errorf("Decode of a GIF header: %v", err)
	}
}

// TestLoadTruncated checks that a PNG or JPEG cut short, in its pixel
// data, in its header or before the data its header claims, is refused
// with an error saying so and naming the file (ReadHeader's error, where
// it refuses the file, is Load's), and that a complete but corrupt file is
// not said to be cut short.
func TestLoadTruncated(t *testing.T) {
	src, err := Load(sharedData(t, "ffhq", "00000.png"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := src.ToImage()
	if err != nil {
		t.Fatal(err)
	}
	// 2000×1500 of noise: its header claims more than its first 4000
	// bytes can hold as JPEG, and more than its first 2000 as PNG.
	noise := image.NewGray(image.Rect(0, 0, 2000, 1500))
	for i := range noise.Pix {
		noise.Pix[i] = uint8(i * 7919 % 251)
	}
	files := map[string][]byte{}
	for name, enc := range map[string]func(*bytes.Buffer, image.Image) error{"png": encPNG, "jpeg": encJPEG} {
		for _, im := range []image.Image{m, noise} {
			var b bytes.Buffer
			if err := enc(&b, im); err != nil {
				t.Fatal(err)
			}
			if im == noise {
				files["large "+name] = b.Bytes()
			} else {
				files[name] = b.Bytes()
			}
		}
	}
	const cutShort = "may be cut short"
	dir := t.TempDir()
	for _, tc := range []struct {
		name     string
		data     []byte
		cutShort bool
	}{
		{"png half", files["png"][:len(files["png"])/2], true},
		{"png without IEND", files["png"][:len(files["png"])-12], true},
		{"jpeg half", files["jpeg"][:len(files["jpeg"])/2], true},
		{"jpeg without EOI", files["jpeg"][:len(files["jpeg"])-2], true},
		{"png in its header", files["png"][:20], true},
		{"jpeg in its header", files["jpeg"][:100], true},
		{"large png, cut before the data its header claims", files["large png"][:2000], true},
		{"large jpeg, cut before the data its header claims", files["large jpeg"][:4000], true},
		{"png corrupt", corruptMiddle(files["png"]), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
			if err := os.WriteFile(p, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Load(p)
			switch {
			case err == nil:
				t.Fatal("Load gave no error")
			case !strings.Contains(err.Error(), p):
				t.Errorf("error %q does not name the file", err)
			case strings.Contains(err.Error(), cutShort) != tc.cutShort:
				t.Errorf("error %q: saying %q is %v, want %v", err, cutShort, !tc.cutShort, tc.cutShort)
			}
			if _, herr := ReadHeader(p); herr != nil && herr.Error() != err.Error() {
				t.Errorf("ReadHeader: %v, want Load's error", herr)
			}
		})
	}
}

// corruptMiddle returns a copy of data with its middle bytes inverted.
func corruptMiddle(data []byte) []byte {
	c := append([]byte(nil), data...)
	for i := len(c) / 2; i < len(c)/2+16; i++ {
		c[i] ^= 0xff
	}
	return c
}
