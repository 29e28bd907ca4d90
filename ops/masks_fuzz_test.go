package ops

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/png"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// pngClaiming returns a PNG file whose header claims a w×h 8-bit gray
// image followed by a few bytes of pixel data, far fewer than the header
// promises.
func pngClaiming(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(data)))
		b.Write(n[:])
		crc := crc32.NewIEEE()
		crc.Write([]byte(typ))
		crc.Write(data)
		b.WriteString(typ)
		b.Write(data)
		binary.BigEndian.PutUint32(n[:], crc.Sum32())
		b.Write(n[:])
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8] = 8 // bit depth
	ihdr[9] = 0 // gray
	chunk("IHDR", ihdr)
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(make([]byte, 16))
	zw.Close()
	chunk("IDAT", z.Bytes())
	chunk("IEND", nil)
	return b.Bytes()
}

// TestLoadMaskBadFiles checks that LoadMask refuses malformed mask files
// as the toolkit's image reader does (a GIF, a PNG cut short, with its
// hint), with an error naming the file and the problem, and that a header
// claiming a size other than the image's is refused before the decoder
// allocates its pixels.
func TestLoadMaskBadFiles(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name string
		data []byte
		err  string
	}{
		{"empty.png", nil, "empty file, not an image"},
		{"text.png", []byte("not an image"), "not a PNG or JPEG file"},
		{"mask.gif", gifMask(t), "unsupported format GIF (want PNG or JPEG)"},
		{"huge.png", pngClaiming(20000, 20000), "size 20000×20000 (width×height) is larger than"},
		{"truncated.png", pngClaiming(8, 4), "truncated.png"},
		{"cut.png", cutPNG(t), "does not end with the IEND chunk, so it may be cut short"},
	}
	for _, c := range cases {
		path := filepath.Join(dir, c.name)
		if err := os.WriteFile(path, c.data, 0o644); err != nil {
			t.Fatal(err)
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := LoadMask(path, 4, 8)
		runtime.ReadMemStats(&after)
		if err == nil || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %v, want one naming %s and %q", c.name, err, path, c.err)
		}
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
			t.Errorf("%s: LoadMask allocated %d bytes for a refused file", c.name, grew)
		}
	}
}

// FuzzLoadMask feeds arbitrary files to LoadMask for a 4×8 image: it may
// not panic, and a mask it returns holds 4×8 values, each 0 or 1.
func FuzzLoadMask(f *testing.F) {
	img := image.NewGray(image.Rect(0, 0, 8, 4))
	for x := range 8 {
		img.SetGray(x, 1, color.Gray{Y: uint8(32 * x)})
	}
	var good bytes.Buffer
	if err := png.Encode(&good, img); err != nil {
		f.Fatal(err)
	}
	f.Add(good.Bytes())
	f.Add(pngClaiming(8, 4))
	f.Add(pngClaiming(1<<20, 1<<20))
	f.Add([]byte{})
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "mask.png")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		m, err := LoadMask(path, 4, 8)
		if err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		if len(m) != 32 {
			t.Fatalf("mask has %d values, want 32", len(m))
		}
		for i, v := range m {
			if v != 0 && v != 1 {
				t.Fatalf("mask value %d is %v", i, v)
			}
		}
	})
}

// gifMask returns a 4×8 GIF file, a format the toolkit does not read.
func gifMask(t *testing.T) []byte {
	var b bytes.Buffer
	if err := gif.Encode(&b, image.NewGray(image.Rect(0, 0, 8, 4)), nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// cutPNG returns a 4×8 PNG file without its last chunk (IEND), as a copy
// cut short leaves it.
func cutPNG(t *testing.T) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, 8, 4))); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()[:b.Len()-12]
}
