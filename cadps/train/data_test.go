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
	"strings"
	"testing"
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
			d, err := LoadDataset(path, 4)
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
	d, err := LoadDataset(dir, 4)
	if err != nil {
		t.Fatal(err)
	}
	checkPadded(t, d, pix)
}

func TestLoadDatasetErrors(t *testing.T) {
	dir := t.TempDir()
	labels := writeFile(t, filepath.Join(dir, "labels"), []byte{0, 0, 8, 1, 0, 0, 0, 2, 1, 2})
	truncated := writeFile(t, filepath.Join(dir, "short"), idxBytes([]uint32{2, 2, 3}, []byte{1, 2, 3}))
	floats := writeFile(t, filepath.Join(dir, "floats"), []byte{0, 0, 0x0d, 3, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0})
	notIDX := writeFile(t, filepath.Join(dir, "text"), []byte("hello, world, not idx"))
	big := writeFile(t, filepath.Join(dir, "big"), idxBytes([]uint32{1, 5, 5}, make([]byte, 25)))
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
		{"too large", big, 4, "larger than"},
		{"empty folder", empty, 4, "has no PNG or JPEG files (nor train-images-idx3-ubyte"},
		{"missing", filepath.Join(dir, "nope"), 4, "no such file"},
		{"bad size", labels, 0, "must be positive"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := LoadDataset(c.path, c.size)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}
