package train

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps/imageio"
)

// idxBytes encodes images as an IDX file of unsigned bytes.
func idxBytes(dims []uint32, pix []byte) []byte {
	var b bytes.Buffer
	b.Write([]byte{0, 0, 0x08, byte(len(dims))})
	for _, d := range dims {
		binary.Write(&b, binary.BigEndian, d)
	}
	b.Write(pix)
	return b.Bytes()
}

func gzipBytes(t *testing.T, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func writeFile(t *testing.T, path string, data []byte) string {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// checkPadded verifies that d holds the 2×3 images (values v/255) centred
// in 4×4 with a −1 border.
func checkPadded(t *testing.T, d *Dataset, pix []byte) {
	t.Helper()
	if d.N != 2 || d.C != 1 || d.H != 4 || d.W != 4 || len(d.Pix) != 2*16 {
		t.Fatalf("dataset %d×%d×%d×%d with %d values, want 2×1×4×4", d.N, d.C, d.H, d.W, len(d.Pix))
	}
	// 2 rows, 3 columns in 4×4: top = 1, left = 0.
	for k := range 2 {
		for y := range 4 {
			for x := range 4 {
				got := d.Pix[k*16+y*4+x]
				want := float32(Background)
				if y >= 1 && y < 3 && x < 3 {
					want = float32(pix[k*6+(y-1)*3+x])/255*2 - 1
				}
				if got != want {
					t.Fatalf("image %d (%d,%d) = %v, want %v", k, y, x, got, want)
				}
			}
		}
	}
}

func TestLoadDatasetIDX(t *testing.T) {
	pix := []byte{0, 255, 128, 1, 2, 3, 10, 20, 30, 40, 50, 60}
	raw := idxBytes([]uint32{2, 2, 3}, pix)
	dir := t.TempDir()
	folder := filepath.Join(dir, "mnist")
	if err := os.Mkdir(folder, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(folder, "train-images-idx3-ubyte.gz"), gzipBytes(t, raw))
	for name, path := range map[string]string{
		"raw":    writeFile(t, filepath.Join(dir, "a-idx3-ubyte"), raw),
		"gzip":   writeFile(t, filepath.Join(dir, "b-idx3-ubyte.gz"), gzipBytes(t, raw)),
		"folder": folder,
	} {
		t.Run(name, func(t *testing.T) {
			d, err := LoadDataset(path, 4, 1)
			if err != nil {
				t.Fatal(err)
			}
			checkPadded(t, d, pix)
		})
	}
}

func TestLoadDatasetImageFolder(t *testing.T) {
	dir := t.TempDir()
	pix := []byte{0, 255, 128, 1, 2, 3, 10, 20, 30, 40, 50, 60}
	for k := range 2 {
		im := image.NewGray(image.Rect(0, 0, 3, 2))
		for y := range 2 {
			for x := range 3 {
				im.SetGray(x, y, color.Gray{Y: pix[k*6+y*3+x]})
			}
		}
		var b bytes.Buffer
		if err := png.Encode(&b, im); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, []string{"a.png", "b.png"}[k]), b.Bytes())
	}
	writeFile(t, filepath.Join(dir, "notes.txt"), []byte("not an image"))
	d, err := LoadDataset(dir, 4, 1)
	if err != nil {
		t.Fatal(err)
	}
	checkPadded(t, d, pix)
	// The same gray files for a colour network: three equal channels.
	rgb, err := LoadDataset(dir, 4, 3)
	if err != nil {
		t.Fatal(err)
	}
	if rgb.C != 3 || rgb.N != 2 {
		t.Fatalf("read %d images of %d channels, want 2 of 3", rgb.N, rgb.C)
	}
	for k := range 2 {
		for c := range 3 {
			plane := rgb.Pix[(k*3+c)*16 : (k*3+c+1)*16]
			if want := d.Pix[k*16 : (k+1)*16]; !slices.Equal(plane, want) {
				t.Errorf("image %d, channel %d: %v, want the gray image %v", k, c, plane, want)
			}
		}
	}
}

// TestLoadDatasetColour reads a folder of colour PNGs for a colour
// network, channel by channel, and refuses an IDX file for one.
func TestLoadDatasetColour(t *testing.T) {
	dir := t.TempDir()
	im := image.NewRGBA(image.Rect(0, 0, 4, 4))
	for y := range 4 {
		for x := range 4 {
			im.Set(x, y, color.RGBA{R: 255, G: uint8(10 * x), B: uint8(20 * y), A: 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, im); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "a.png"), b.Bytes())
	d, err := LoadDataset(dir, 4, 3)
	if err != nil {
		t.Fatal(err)
	}
	if d.C != 3 || d.Pix[0] != 1 || d.Pix[16+1] != float32(2*10)/255-1 || d.Pix[32+4] != float32(2*20)/255-1 {
		t.Errorf("channels %d, R %v, G(1,0) %v, B(0,1) %v: want 3, 1, %v, %v", d.C, d.Pix[0], d.Pix[17], d.Pix[36], float32(2*10)/255-1, float32(2*20)/255-1)
	}
	idx := writeFile(t, filepath.Join(t.TempDir(), "images"), idxBytes([]uint32{1, 2, 2}, []byte{1, 2, 3, 4}))
	if _, err := LoadDataset(idx, 4, 3); err == nil {
		t.Error("an IDX file was read for a colour network")
	}
	if _, err := LoadDataset(dir, 4, 2); err == nil {
		t.Error("2 channels were accepted")
	}
}

func TestLoadDatasetErrors(t *testing.T) {
	dir := t.TempDir()
	labels := writeFile(t, filepath.Join(dir, "labels"), []byte{0, 0, 8, 1, 0, 0, 0, 2, 1, 2})
	truncated := writeFile(t, filepath.Join(dir, "short"), idxBytes([]uint32{2, 2, 3}, []byte{1, 2, 3}))
	floats := writeFile(t, filepath.Join(dir, "floats"), []byte{0, 0, 0x0d, 3, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0})
	notIDX := writeFile(t, filepath.Join(dir, "text"), []byte("hello, world, not idx"))
	big := writeFile(t, filepath.Join(dir, "big"), idxBytes([]uint32{1, 5, 5}, make([]byte, 25)))
	// Two 2×3 images in a file whose header says one: the header does not
	// describe the file.
	trailing := writeFile(t, filepath.Join(dir, "trailing"), idxBytes([]uint32{1, 2, 3}, make([]byte, 12)))
	empty := filepath.Join(dir, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, path string
		size       int
		want       string
	}{
		{"label file", labels, 4, "1 dimensions"},
		{"truncated", truncated, 4, "truncated"},
		{"float elements", floats, 4, "element type"},
		{"not IDX", notIDX, 4, "bad magic"},
		{"too large", big, 4, "the images of " + big + " are 5×5, but the model takes 4×4 images, or smaller ones, which are padded (resize or crop the images to at most 4×4 first)"},
		{"trailing data", trailing, 4, "6 bytes after the 6 bytes of data its header gives"},
		{"empty folder", empty, 4, "has no PNG or JPEG files (nor train-images-idx3-ubyte"},
		{"missing", filepath.Join(dir, "nope"), 4, "no such file"},
		{"bad size", labels, 0, "must be positive"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := LoadDataset(c.path, c.size, 1)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}

// TestLoadTestSet: a dataset folder gives its test images (gzip-compressed
// or not) and never its training images, which alone are refused, naming
// the file to give; image folders are read with the channels asked for;
// IDX images, gray, are refused for colour.
func TestLoadTestSet(t *testing.T) {
	train := []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	test := []byte{0, 255, 128, 1, 2, 3, 10, 20, 30, 40, 50, 60}
	dir := t.TempDir()
	folder := func(name string, files map[string][]byte) string {
		p := filepath.Join(dir, name)
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
		for n, data := range files {
			writeFile(t, filepath.Join(p, n), data)
		}
		return p
	}
	trainIDX, testIDX := idxBytes([]uint32{2, 2, 3}, train), idxBytes([]uint32{2, 2, 3}, test)
	both := folder("both", map[string][]byte{"train-images-idx3-ubyte.gz": gzipBytes(t, trainIDX), "t10k-images-idx3-ubyte.gz": gzipBytes(t, testIDX)})
	plain := folder("plain", map[string][]byte{"train-images-idx3-ubyte": trainIDX, "t10k-images-idx3-ubyte": testIDX})
	trainOnly := folder("train-only", map[string][]byte{"train-images-idx3-ubyte.gz": gzipBytes(t, trainIDX)})
	empty := folder("empty", nil)
	var colour bytes.Buffer
	im := image.NewRGBA(image.Rect(0, 0, 3, 2))
	for k := range 6 {
		im.Set(k%3, k/3, color.RGBA{R: test[k], G: 255 - test[k], B: 7, A: 255})
	}
	if err := png.Encode(&colour, im); err != nil {
		t.Fatal(err)
	}
	rgb := folder("rgb", map[string][]byte{"a.png": colour.Bytes()})

	for _, c := range []struct {
		name     string
		path     string
		channels int
		source   string // the Source of the set read
		want     string // the error, when refused
	}{
		{"folder with both sets", both, 1, filepath.Join(both, "t10k-images-idx3-ubyte.gz"), ""},
		{"folder with uncompressed files", plain, 1, filepath.Join(plain, "t10k-images-idx3-ubyte"), ""},
		{"the test set's file", filepath.Join(both, "t10k-images-idx3-ubyte.gz"), 1, filepath.Join(both, "t10k-images-idx3-ubyte.gz"), ""},
		{"training images only", trainOnly, 1, "", "holds the training images train-images-idx3-ubyte.gz but no test images t10k-images-idx3-ubyte[.gz]"},
		{"empty folder", empty, 1, "", "has no PNG or JPEG files (nor t10k-images-idx3-ubyte[.gz])"},
		{"IDX for colour", both, 3, "", "IDX images are gray, and the model takes 3 channels"},
		{"RGB images", rgb, 3, rgb, ""},
		{"RGB images read as gray", rgb, 1, rgb, ""},
		{"two channels", rgb, 2, "", "2 channels"},
	} {
		t.Run(c.name, func(t *testing.T) {
			d, err := LoadTestSet(c.path, 4, c.channels)
			if c.want != "" {
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("error %v, want one containing %q", err, c.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.Source != c.source {
				t.Errorf("source %s, want %s", d.Source, c.source)
			}
			if c.path != rgb {
				checkPadded(t, d, test)
				return
			}
			if d.N != 1 || d.C != c.channels || d.H != 4 || d.W != 4 {
				t.Fatalf("dataset %d×%d×%d×%d, want 1×%d×4×4", d.N, d.C, d.H, d.W, c.channels)
			}
			// Pixel (row 1, column 0) of the 2×3 image, at (2, 0) in 4×4.
			at := func(ch int) float32 { return d.Pix[ch*16+2*4+0] }
			if c.channels == 3 {
				for ch, v := range []byte{test[3], 255 - test[3], 7} {
					if want := float32(v)/255*2 - 1; at(ch) != want {
						t.Errorf("channel %d = %v, want %v", ch, at(ch), want)
					}
				}
			} else {
				g, err := imageio.Load(filepath.Join(rgb, "a.png"), imageio.WithMode(imageio.Gray))
				if err != nil {
					t.Fatal(err)
				}
				if want := 2*g.At(0, 1, 0) - 1; at(0) != want {
					t.Errorf("gray value %v, want %v", at(0), want)
				}
			}
		})
	}
}

// TestLoadDatasetLargeImages checks that a folder of images larger than
// the model takes is refused, naming the first such file, by the size its
// header gives: before the images are decoded and held.
func TestLoadDatasetLargeImages(t *testing.T) {
	dir := t.TempDir()
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, 1000, 800))); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a.png", "b.png", "c.png"} {
		writeFile(t, filepath.Join(dir, name), b.Bytes())
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := LoadDataset(dir, 32, 1)
	runtime.ReadMemStats(&after)
	want := "train: image " + filepath.Join(dir, "a.png") + " is 1000×800, but the model takes 32×32 images, or smaller ones, which are padded (resize or crop the images to at most 32×32 first)"
	if err == nil || err.Error() != want {
		t.Errorf("error %v, want one saying %q", err, want)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Errorf("%d bytes allocated to refuse the folder", grew)
	}
}

// TestLoadDatasetLevels: training images are read on the 256 levels the
// loss's decoder term assumes. Each of an 8-bit image's levels is kept as
// it is; a 16-bit image's values go to the nearest level.
func TestLoadDatasetLevels(t *testing.T) {
	for _, tc := range []struct {
		name string
		im   image.Image
		want []float32 // the levels p of the first row, as p/255
	}{
		{"8-bit", func() image.Image {
			im := image.NewGray(image.Rect(0, 0, 16, 16))
			for i := range im.Pix {
				im.Pix[i] = uint8(i)
			}
			return im
		}(), nil},
		{"16-bit", func() image.Image {
			im := image.NewGray16(image.Rect(0, 0, 16, 16))
			for x, v := range []uint16{0, 0x0080, 0x0081, 0x0101, 0x7fff, 0x8080, 0xfffe, 0xffff} {
				im.SetGray16(x, 0, color.Gray16{Y: v})
			}
			return im
		}(), []float32{0, 0, 1, 1, 127, 128, 255, 255}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			var b bytes.Buffer
			if err := png.Encode(&b, tc.im); err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(dir, "a.png"), b.Bytes())
			d, err := LoadDataset(dir, 16, 1)
			if err != nil {
				t.Fatal(err)
			}
			for i, v := range d.Pix {
				want := 2*float32(i)/255 - 1 // the 8-bit image's level i
				if tc.want != nil {
					if i >= len(tc.want) {
						break
					}
					want = 2*(tc.want[i]/255) - 1
				}
				if v != want {
					t.Errorf("pixel %d: %v, want %v", i, v, want)
				}
			}
		})
	}
}
