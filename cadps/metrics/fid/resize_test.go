package fid_test

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps/metrics/fid"
)

// TestResizeTorch compares Resize bit for bit with PyTorch's
// F.interpolate(x, (299, 299), mode='bilinear', align_corners=False) at the
// positions testdata/resize299.txt holds (written by
// testdata/resize299.py), for one upsampled and three downsampled sizes.
func TestResizeTorch(t *testing.T) {
	f, err := os.Open("testdata/resize299.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type key struct{ h, w int }
	resized := map[key][]float32{}
	checked, differ := 0, map[key]int{}
	worst := map[key]float64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		var k key
		var c, y, x int
		var bits uint32
		if _, err := fmt.Sscanf(line, "%d %d %d %d %d %x", &k.h, &k.w, &c, &y, &x, &bits); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		out, ok := resized[k]
		if !ok {
			in := make([]float32, 3*k.h*k.w)
			for i := range in {
				in[i] = float32(float64(i*7919%10007) / 10007)
			}
			if out, err = fid.Resize(in, 1, k.h, k.w); err != nil {
				t.Fatal(err)
			}
			resized[k] = out
		}
		got, want := out[(c*fid.Size+y)*fid.Size+x], math.Float32frombits(bits)
		checked++
		if got != want {
			differ[k]++
			worst[k] = max(worst[k], math.Abs(float64(got-want)))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(resized) != 4 || checked != 160 {
		t.Fatalf("read %d values of %d sizes, want 160 of 4", checked, len(resized))
	}
	for k, n := range differ {
		t.Errorf("%dx%d: %d of 40 values differ from PyTorch's, by up to %.3g", k.h, k.w, n, worst[k])
	}
}
