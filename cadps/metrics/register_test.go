package metrics

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps/imageio"
)

// object returns a 1×h×w image, black but for random values in the block of
// rows and columns [m, h−m) × [m, w−m).
func object(h, w, m int) *imageio.Image {
	r := rand.New(rand.NewPCG(1, 2))
	im := &imageio.Image{C: 1, H: h, W: w, Pix: make([]float32, h*w)}
	for y := m; y < h-m; y++ {
		for x := m; x < w-m; x++ {
			im.Pix[y*w+x] = float32(r.Float64())
		}
	}
	return im
}

func TestRegisteredPSNR(t *testing.T) {
	ref := object(20, 24, 5)
	moved := func(dy, dx int, rot bool) *imageio.Image {
		out := &imageio.Image{C: 1, H: ref.H, W: ref.W, Pix: make([]float32, len(ref.Pix))}
		shift(out, ref, dy, dx, rot)
		return out
	}
	tests := []struct {
		name     string
		img      *imageio.Image
		maxShift int
		want     Registration // PSNR: +Inf for an exact match, else checked below
		exact    bool
	}{
		{"aligned", ref, 4, Registration{PSNR: math.Inf(1)}, true},
		{"shifted", moved(2, -3, false), 4, Registration{PSNR: math.Inf(1), DY: -2, DX: 3}, true},
		{"rotated", moved(0, 0, true), 4, Registration{PSNR: math.Inf(1), Rot180: true}, true},
		{"rotated and shifted", moved(-4, 1, true), 4, Registration{PSNR: math.Inf(1), DY: -4, DX: 1, Rot180: true}, true},
		{"shift beyond the search", moved(3, 0, false), 2, Registration{}, false},
		{"largest search", moved(2, -3, false), 23, Registration{PSNR: math.Inf(1), DY: -2, DX: 3}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := RegisteredPSNR(ref, tc.img, 1, tc.maxShift)
			if err != nil {
				t.Fatal(err)
			}
			plain, err := PSNR(ref, tc.img, 1)
			if err != nil {
				t.Fatal(err)
			}
			if got.PSNR < plain {
				t.Errorf("registered PSNR %.3f below the plain one %.3f", got.PSNR, plain)
			}
			if tc.exact {
				if got != tc.want {
					t.Errorf("got %+v, want %+v", got, tc.want)
				}
				return
			}
			if math.IsInf(got.PSNR, 1) {
				t.Errorf("got an exact match %+v beyond the search range", got)
			}
		})
	}
}

func TestRegisteredPSNRErrors(t *testing.T) {
	ref := object(8, 8, 2)
	tests := []struct {
		name     string
		img      *imageio.Image
		maxShift int
		want     string
	}{
		{"negative shift", ref, -1, "maximum shift -1 is negative"},
		{"size mismatch", object(8, 9, 2), 1, "reference is"},
		{"shift of the image size", ref, 8, "maximum shift 8 is not less than the image size 8×8"},
		{"huge shift", ref, 1000, "at most 7"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := RegisteredPSNR(ref, tc.img, 1, tc.maxShift)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	// CheckMaxShift, which callers run before the work, refuses a missing
	// or malformed image instead of reading its size.
	for _, tc := range []struct {
		name string
		img  *imageio.Image
		want string
	}{
		{"nil image", nil, "metrics: image: imageio: nil image"},
		{"no pixels", &imageio.Image{C: 1, H: 8, W: 8}, "metrics: image: imageio: 8×8 gray image has 0 values"},
	} {
		t.Run("CheckMaxShift/"+tc.name, func(t *testing.T) {
			if err := CheckMaxShift(tc.img, 1); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	// A wide image's size is given as height×width, as the metrics command
	// gives sizes.
	wide := object(6, 9, 2)
	_, err := RegisteredPSNR(wide, wide, 1, 9)
	if want := "not less than the image size 6×9 (height×width; a shift of 9"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error %v, want one containing %q", err, want)
	}
}
