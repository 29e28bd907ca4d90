package imageio

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// craftPNG returns a PNG whose IHDR claims w×h pixels of the given bit
// depth, colour type and interlace method (a palette image gets a
// one-colour PLTE) and whose IDAT holds idat.
func craftPNG(w, h int, depth, colourType, interlace byte, idat []byte) []byte {
	var b bytes.Buffer
	chunk := func(typ string, data []byte) {
		b.Write(binary.BigEndian.AppendUint32(nil, uint32(len(data))))
		b.WriteString(typ)
		b.Write(data)
		b.Write(binary.BigEndian.AppendUint32(nil, crc32.ChecksumIEEE(append([]byte(typ), data...))))
	}
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := binary.BigEndian.AppendUint32(nil, uint32(w))
	ihdr = binary.BigEndian.AppendUint32(ihdr, uint32(h))
	chunk("IHDR", append(ihdr, depth, colourType, 0, 0, interlace))
	if colourType == 3 {
		chunk("PLTE", []byte{0, 0, 0})
	}
	chunk("IDAT", idat)
	chunk("IEND", nil)
	return b.Bytes()
}

// zlibZeros returns n zero bytes compressed with zlib.
func zlibZeros(t *testing.T, n int) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zlib.NewWriter(&b)
	if _, err := zw.Write(make([]byte, n)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestPNGScanlineBytes checks the scanline bytes computed from a header
// against those the encoder writes (without interlace) and against a
// pixel-by-pixel count of the Adam7 passes.
func TestPNGScanlineBytes(t *testing.T) {
	t.Run("encoder", func(t *testing.T) {
		for _, m := range []image.Image{
			image.NewGray(image.Rect(0, 0, 13, 5)),
			image.NewGray16(image.Rect(0, 0, 13, 5)),
			image.NewRGBA(image.Rect(0, 0, 13, 5)),
			image.NewNRGBA(image.Rect(0, 0, 13, 5)),
			image.NewNRGBA64(image.Rect(0, 0, 13, 5)),
			image.NewPaletted(image.Rect(0, 0, 13, 5), color.Palette{color.Black, color.White}),
			image.NewPaletted(image.Rect(0, 0, 13, 5), color.Palette{color.Black, color.White, color.Black, color.White, color.Black}), // 4-bit
		} {
			var b bytes.Buffer
			if err := png.Encode(&b, m); err != nil {
				t.Fatal(err)
			}
			h, err := parsePNGHeader(b.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			if got, want := h.scanlineBytes(), int64(len(idatInflated(t, b.Bytes()))); got != want {
				t.Errorf("%s: scanlineBytes = %d, the encoder wrote %d", h, got, want)
			}
		}
	})
	t.Run("adam7", func(t *testing.T) {
		for w := 1; w <= 17; w++ {
			for hh := 1; hh <= 17; hh++ {
				for _, bits := range []int{1, 3, 8, 64} { // depth × samples
					h := pngHeader{width: w, height: hh, bitDepth: bits, samplesOfPixel: 1, interlaced: true}
					if got, want := h.scanlineBytes(), adam7Count(w, hh, bits); got != want {
						t.Fatalf("%d×%d, %d bits: scanlineBytes = %d, counted %d", w, hh, bits, got, want)
					}
				}
			}
		}
	})
}

// adam7Count counts the scanline bytes of an interlaced w×h image of the
// given bits per pixel by visiting each pixel: the pass of pixel (x, y)
// is found from x and y modulo 8, as the PNG specification tabulates it.
func adam7Count(w, h, bits int) int64 {
	pass := [8]string{"16462646", "77777777", "56565656", "77777777", "36463646", "77777777", "56565656", "77777777"}
	var rowPixels [8][]int // [pass][y] = pixels of row y in that pass
	for p := range rowPixels {
		rowPixels[p] = make([]int, h)
	}
	for y := range h {
		for x := range w {
			rowPixels[pass[y%8][x%8]-'1'][y]++
		}
	}
	var n int64
	for _, rows := range rowPixels {
		for _, px := range rows {
			if px > 0 {
				n += 1 + int64(px*bits+7)/8
			}
		}
	}
	return n
}

// idatInflated returns the inflated IDAT data of a PNG.
func idatInflated(t *testing.T, data []byte) []byte {
	t.Helper()
	var z []byte
	for rest := data[8:]; len(rest) >= 12; {
		n := binary.BigEndian.Uint32(rest)
		if string(rest[4:8]) == "IDAT" {
			z = append(z, rest[8:8+n]...)
		}
		rest = rest[12+n:]
	}
	zr, err := zlib.NewReader(bytes.NewReader(z))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestCheckPNGDataBound checks the refusal's threshold: a file is refused
// exactly when its size times maxInflateRatio is below the scanline bytes
// that its header claims.
func TestCheckPNGDataBound(t *testing.T) {
	head := craftPNG(1000, 1000, 8, 2, 0, nil)
	need := int64(1000 * (1 + 3000))
	least := (need + maxInflateRatio - 1) / maxInflateRatio
	if err := checkPNGData(head, least); err != nil {
		t.Errorf("%d bytes: %v, want no error", least, err)
	}
	if err := checkPNGData(head, least-1); err == nil {
		t.Errorf("%d bytes: no error, want one", least-1)
	}
}

// TestLoadPNGClaimsMore checks that a PNG whose header claims more pixels
// than its bytes can hold is refused, with an error naming the file and
// the size claimed, before the image it claims is allocated.
func TestLoadPNGClaimsMore(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name                  string
		w, h                  int
		depth, colour, interl byte
		rows                  int // rows of zero data in the IDAT
		want                  string
	}{
		{"rgba64", 16384, 8192, 16, 6, 0, 1, "16384×8192 pixels of 16-bit RGBA, 1073750016 bytes of scanlines"},
		{"rgba64 quarter", 16384, 8192, 16, 6, 0, 2048, "16384×8192 pixels of 16-bit RGBA"},
		{"gray16 interlaced", 8192, 16384, 16, 0, 1, 0, "8192×16384 pixels of 16-bit gray, interlaced"},
		{"palette", 16384, 8192, 8, 3, 0, 1, "16384×8192 pixels of 8-bit palette"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bits := map[byte]int{0: 1, 3: 1, 6: 4}[tc.colour] * int(tc.depth)
			data := craftPNG(tc.w, tc.h, tc.depth, tc.colour, tc.interl, zlibZeros(t, tc.rows*(1+(tc.w*bits+7)/8)))
			p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".png")
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := Load(p)
			runtime.ReadMemStats(&after)
			want := fmt.Sprintf("%s: decoding PNG: header claims %s", p, tc.want)
			if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), fmt.Sprintf("a %d-byte file cannot hold", len(data))) {
				t.Errorf("Load: %v, want an error saying %q", err, want)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
				t.Errorf("Load allocated %d MiB before refusing the file", alloc>>20)
			}
		})
	}
}

// TestLoadPNGHighlyCompressed checks that a real PNG compressed close to
// deflate's limit is read: testdata/black-4096-zlib9.png is a 4096×4096
// black RGB image whose scanlines were compressed by zlib at level 9
// (Python's zlib.compress), 1027 bytes of scanlines per byte of file.
func TestLoadPNGHighlyCompressed(t *testing.T) {
	p := filepath.Join("testdata", "black-4096-zlib9.png")
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	h, err := parsePNGHeader(data)
	if err != nil {
		t.Fatal(err)
	}
	if ratio := float64(h.scanlineBytes()) / float64(len(data)); ratio < 1000 {
		t.Fatalf("%s holds %.0f bytes of scanlines per byte, want a file near the limit", p, ratio)
	}
	im, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if im.C != 3 || im.H != 4096 || im.W != 4096 {
		t.Errorf("Load gave %s, want 4096×4096 RGB", im.Size())
	}
}
