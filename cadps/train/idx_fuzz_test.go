package train

import (
	"bytes"
	"compress/gzip"
	"testing"
)

// FuzzReadIDX feeds arbitrary bytes to ReadIDX: it may not panic, and
// what it returns holds exactly n·h·w pixels of positive dimensions.
func FuzzReadIDX(f *testing.F) {
	good := append([]byte{0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3}, make([]byte, 12)...)
	f.Add(good)
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(good)
	zw.Close()
	f.Add(z.Bytes())
	f.Add([]byte{0, 0, 8, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0, 0, 8, 1, 0, 0, 0, 2, 1, 2})
	f.Add([]byte{0x1f, 0x8b})
	f.Fuzz(func(t *testing.T, data []byte) {
		n, h, w, pix, err := ReadIDX(bytes.NewReader(data))
		if err != nil {
			return
		}
		if n <= 0 || h <= 0 || w <= 0 || len(pix) != n*h*w {
			t.Fatalf("ReadIDX gave %d×%d×%d and %d pixels", n, h, w, len(pix))
		}
	})
}
