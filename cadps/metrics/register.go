package metrics

import (
	"fmt"
	"math"

	"github.com/cadps/toolkit/cadps/imageio"
)

// Registration is the best alignment [RegisteredPSNR] found: the image is
// rotated by 180° if Rot180, then shifted by DY rows and DX columns (down and
// right for positive values, vacated pixels black) before PSNR is taken.
type Registration struct {
	// PSNR is the PSNR of the aligned image against the reference, in dB.
	PSNR float64
	// DY and DX are the shift in pixels.
	DY, DX int
	// Rot180 tells whether the image was rotated by 180° first.
	Rot180 bool
}

// CheckMaxShift returns RegisteredPSNR's error for a maximum shift that
// img does not allow (negative, or not less than its longer side), so
// that a caller can refuse it before any work; a nil or malformed img is an
// error too (see imageio.Image.Validate).
func CheckMaxShift(img *imageio.Image, maxShift int) error {
	if maxShift < 0 {
		return fmt.Errorf("metrics: maximum shift %d is negative", maxShift)
	}
	if err := img.Validate(); err != nil {
		return fmt.Errorf("metrics: image: %w", err)
	}
	if side := max(img.H, img.W); maxShift >= side {
		return fmt.Errorf("metrics: maximum shift %d is not less than the image size %d×%d (height×width; a shift of %d moves every pixel out; at most %d)",
			maxShift, img.H, img.W, side, side-1)
	}
	return nil
}

// RegisteredPSNR returns the largest PSNR of img against ref over every
// integer shift of at most maxShift pixels in each direction, with and
// without a 180° rotation. These are the ambiguities of Fourier phase
// retrieval: an image on a black background, moved within its frame or
// rotated by 180°, has the same Fourier magnitudes, so a reconstruction
// that fits its measurement may be any of them. Ties keep the smallest
// change (no rotation, then the shift met first from the centre outwards),
// so an already aligned image reports a zero shift. maxShift must be less
// than the image's longer side: a larger shift only adds black images.
func RegisteredPSNR(ref, img *imageio.Image, dataRange float64, maxShift int) (Registration, error) {
	if err := checkPair(ref, img, dataRange, 1); err != nil {
		return Registration{}, err
	}
	if err := CheckMaxShift(img, maxShift); err != nil {
		return Registration{}, err
	}
	best := Registration{PSNR: math.Inf(-1)}
	moved := &imageio.Image{C: img.C, H: img.H, W: img.W, Pix: make([]float32, len(img.Pix))}
	for _, rot := range []bool{false, true} {
		for r := 0; r <= maxShift; r++ {
			for dy := -r; dy <= r; dy++ {
				for dx := -r; dx <= r; dx++ {
					if max(abs(dy), abs(dx)) != r {
						continue // this ring's shifts only
					}
					shift(moved, img, dy, dx, rot)
					p, err := PSNR(ref, moved, dataRange)
					if err != nil {
						return Registration{}, err
					}
					if p > best.PSNR {
						best = Registration{PSNR: p, DY: dy, DX: dx, Rot180: rot}
					}
				}
			}
		}
	}
	return best, nil
}

// shift writes into dst the image src, rotated by 180° if rot, then moved
// by (dy, dx) with black fill.
func shift(dst, src *imageio.Image, dy, dx int, rot bool) {
	h, w := src.H, src.W
	for c := range src.C {
		plane, out := src.Pix[c*h*w:(c+1)*h*w], dst.Pix[c*h*w:(c+1)*h*w]
		for y := range h {
			for x := range w {
				sy, sx := y-dy, x-dx
				if sy < 0 || sx < 0 || sy >= h || sx >= w {
					out[y*w+x] = 0
					continue
				}
				if rot {
					sy, sx = h-1-sy, w-1-sx
				}
				out[y*w+x] = plane[sy*w+sx]
			}
		}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
