package imageio

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/jpeg"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// progressiveJPEG returns a gray progressive JPEG of w×h pixels, all
// mid-grey: a DC scan coding every block in one bit (when dcScan is set)
// and an AC scan of end-of-band runs of up to 32767 blocks in 15 bits.
// Without the DC scan the file is a few hundred bytes whatever its size.
func progressiveJPEG(w, h int, dcScan bool) []byte {
	var b bytes.Buffer
	b.Write([]byte{0xff, 0xd8})
	b.Write([]byte{0xff, 0xdb, 0, 67, 0}) // DQT 0: all ones
	b.Write(bytes.Repeat([]byte{1}, 64))
	b.Write([]byte{0xff, 0xc2, 0, 11, 8}) // SOF2, 8 bits
	_ = binary.Write(&b, binary.BigEndian, [2]uint16{uint16(h), uint16(w)})
	b.Write([]byte{1, 1, 0x11, 0}) // one component, id 1, 1×1, table 0
	// Huffman tables holding one 1-bit code each: DC 0 for category 0,
	// AC 0 for an end-of-band run of 2¹⁴ + 14 extra bits.
	for _, class := range []byte{0x00, 0x10} {
		sym := byte(0)
		if class == 0x10 {
			sym = 0xe0
		}
		b.Write([]byte{0xff, 0xc4, 0, 20, class, 1})
		b.Write(make([]byte, 15))
		b.WriteByte(sym)
	}
	blocks := ((w + 7) / 8) * ((h + 7) / 8)
	if dcScan {
		b.Write([]byte{0xff, 0xda, 0, 8, 1, 1, 0x00, 0, 0, 0}) // Ss = Se = 0
		b.Write(make([]byte, blocks/8))
		if blocks%8 != 0 {
			b.WriteByte(0xff >> (blocks % 8))
		}
	}
	b.Write([]byte{0xff, 0xda, 0, 8, 1, 1, 0x00, 1, 63, 0}) // Ss = 1, Se = 63
	var bits []byte
	for blocks > 0 {
		run := min(blocks, 32767)
		if rest := blocks - run; rest > 0 && rest < 1<<14 {
			run = blocks - 1<<14
		}
		blocks -= run
		bits = append(bits, 0)
		for i := 13; i >= 0; i-- {
			bits = append(bits, byte((run-1<<14)>>i&1))
		}
	}
	for len(bits)%8 != 0 {
		bits = append(bits, 1)
	}
	for i := 0; i < len(bits); i += 8 {
		var v byte
		for _, bit := range bits[i : i+8] {
			v = v<<1 | bit
		}
		b.WriteByte(v)
		if v == 0xff {
			b.WriteByte(0)
		}
	}
	b.Write([]byte{0xff, 0xd9})
	return b.Bytes()
}

// paddedJPEG returns data, a JPEG, with a comment segment after its
// start-of-image marker that makes it size bytes long.
func paddedJPEG(data []byte, size int) []byte {
	n := size - len(data) // the segment: its marker, its length, the comment
	if n < 4 || n-2 > 0xffff {
		panic("paddedJPEG: no comment segment gives that size")
	}
	out := append([]byte{0xff, 0xd8, 0xff, 0xfe, byte((n - 2) >> 8), byte(n - 2)}, make([]byte, n-4)...)
	return append(out, data[2:]...)
}

// TestLoadJPEGClaimsMore checks that a JPEG whose header claims more
// blocks than its bits can code is refused from its header, before the
// decoder allocates the pixels, while JPEGs that code every block, at one
// bit each at the least, load.
func TestLoadJPEGClaimsMore(t *testing.T) {
	var flat bytes.Buffer
	if err := jpeg.Encode(&flat, image.NewGray(image.Rect(0, 0, 2000, 1500)), &jpeg.Options{Quality: 1}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		data []byte
		want string // "" loads
	}{
		{"without DC scan", progressiveJPEG(4000, 4000, false),
			"decoding JPEG: header claims 4000×4000 pixels (width×height), 250000 blocks of 8×8, which a"},
		{"one bit a block", progressiveJPEG(4000, 4000, true), ""},
		// The bound is one bit a block, no looser: a file without a DC
		// scan, padded with a comment to exactly 10000 bits for 800×800
		// pixels, passes the check (its blocks decode as zeros), and one
		// byte less is refused.
		{"without DC scan, at one bit a block", paddedJPEG(progressiveJPEG(800, 800, false), 1250), ""},
		{"without DC scan, one byte short", paddedJPEG(progressiveJPEG(800, 800, false), 1249),
			"decoding JPEG: header claims 800×800 pixels (width×height), 10000 blocks of 8×8, which a 1249-byte file cannot hold"},
		{"baseline, flat", flat.Bytes(), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "x.jpg")
			if err := os.WriteFile(p, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			im, err := Load(p, WithMode(Gray))
			runtime.ReadMemStats(&after)
			_, herr := ReadHeader(p)
			if tc.want == "" {
				if err != nil || herr != nil {
					t.Fatalf("Load: %v; ReadHeader: %v", err, herr)
				}
				if got := im.At(0, im.H-1, im.W-1); tc.name != "baseline, flat" && (got < 0.49 || got > 0.51) {
					t.Errorf("last pixel %v, want mid-grey", got)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load: %v, want an error saying %q", err, tc.want)
			}
			if herr == nil || herr.Error() != err.Error() {
				t.Errorf("ReadHeader: %v, want Load's error", herr)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
				t.Errorf("Load allocated %d KiB of a %d-byte file before refusing it", alloc>>10, len(tc.data))
			}
		})
	}
}
