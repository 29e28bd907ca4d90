package ops

import (
	"math"
	"math/cmplx"
)

// motionDiagonal is the diagonal of the generator's side×side canvas,
// computed as the reference computes it ((x² + y²)^0.5): it sets the
// path's length, the line width and the blur radius.
func motionDiagonal(side int) float64 {
	return math.Sqrt(float64(side*side + side*side))
}

// renderMotionKernel turns a camera path (x = column, y = row, on a canvas
// of twice the kernel's side) into a size×size kernel summing to 1, as the
// "motionblur" package renders it with Pillow (8-bit RGB images, every
// channel alike): the path is drawn as a white polyline of width
// int(diagonal/150), the canvas is blurred by Pillow's GaussianBlur of
// radius int(diagonal·0.01) and resized to size×size with Pillow's
// Lanczos filter, and the 8-bit levels are normalised to sum 1 in float32.
// For kernels up to 106 pixels a side (line width 1, the reference's 61
// included) every step is Pillow's, integer arithmetic included, so the
// same path gives the same kernel (see [motionKernelLevels]); wider lines
// are drawn as every pixel whose centre lies within half the width of the
// path. It returns nil when the path leaves the canvas blank.
func renderMotionKernel(path []complex128, size int) []float32 {
	levels := motionKernelLevels(path, size)
	// numpy's float32 sum of the levels is exact (below 2²⁴), and so the
	// division rounds once, as in float32(v) / float32(sum).
	var sum int
	for _, v := range levels {
		sum += int(v)
	}
	if sum == 0 {
		return nil
	}
	out := make([]float32, len(levels))
	for i, v := range levels {
		out[i] = float32(v) / float32(sum)
	}
	return out
}

// motionKernelLevels returns the size×size 8-bit kernel image (row-major)
// that renderMotionKernel normalises.
func motionKernelLevels(path []complex128, size int) []uint8 {
	big := 2 * size
	diagonal := motionDiagonal(big)
	canvas := make([]uint8, big*big)
	drawPath(canvas, big, path, int(diagonal/150))
	pillowGaussianBlur(canvas, big, big, float32(int(diagonal*0.01)))
	return pillowLanczosResize(canvas, big, size)
}

// drawPath sets to 255 the pixels of the side×side canvas that Pillow's
// ImageDraw.line sets for the polyline through pts: for a width up to 1,
// each segment from its truncated (toward zero) start to its truncated end
// by Bresenham's algorithm; for wider lines every pixel whose
// centre lies within width/2 of a segment.
func drawPath(canvas []uint8, side int, pts []complex128, width int) {
	set := func(x, y int) {
		if x >= 0 && y >= 0 && x < side && y < side {
			canvas[y*side+x] = 255
		}
	}
	for i := 1; i < len(pts); i++ {
		a, b := pts[i-1], pts[i]
		if width <= 1 {
			bresenham(int(real(a)), int(imag(a)), int(real(b)), int(imag(b)), set)
			continue
		}
		half := float64(width) / 2
		x0 := int(math.Floor(min(real(a), real(b)) - half))
		x1 := int(math.Ceil(max(real(a), real(b)) + half))
		y0 := int(math.Floor(min(imag(a), imag(b)) - half))
		y1 := int(math.Ceil(max(imag(a), imag(b)) + half))
		for y := y0; y <= y1; y++ {
			for x := x0; x <= x1; x++ {
				if segmentDistance(complex(float64(x), float64(y)), a, b) <= half {
					set(x, y)
				}
			}
		}
	}
}

// bresenham calls set for the pixels of Pillow's one-pixel line from
// (x0,y0) to (x1,y1), both ends included: max(|dx|,|dy|)+1 pixels stepping
// along the major axis.
func bresenham(x0, y0, x1, y1 int, set func(x, y int)) {
	dx, xs := x1-x0, 1
	if dx < 0 {
		dx, xs = -dx, -1
	}
	dy, ys := y1-y0, 1
	if dy < 0 {
		dy, ys = -dy, -1
	}
	if dx > dy {
		e := 2*dy - dx
		for range dx + 1 {
			set(x0, y0)
			if e >= 0 {
				y0 += ys
				e -= 2 * dx
			}
			e += 2 * dy
			x0 += xs
		}
		return
	}
	e := 2*dx - dy
	for range dy + 1 {
		set(x0, y0)
		if e >= 0 {
			x0 += xs
			e -= 2 * dy
		}
		e += 2 * dx
		y0 += ys
	}
}

// segmentDistance returns the distance from p to the segment ab.
func segmentDistance(p, a, b complex128) float64 {
	d := b - a
	l2 := real(d)*real(d) + imag(d)*imag(d)
	if l2 == 0 {
		return cmplx.Abs(p - a)
	}
	t := (real(p-a)*real(d) + imag(p-a)*imag(d)) / l2
	t = max(0, min(1, t))
	return cmplx.Abs(p - (a + d*complex(t, 0)))
}

// gaussianBlurPasses is the number of box blurs Pillow's GaussianBlur
// chains per axis.
const gaussianBlurPasses = 3

// pillowBoxRadius is the fractional box radius whose gaussianBlurPasses
// passes Pillow uses for a Gaussian of standard deviation radius, in
// Pillow's single-precision arithmetic (explicit float32 conversions keep
// Go from fusing the products).
func pillowBoxRadius(radius float32) float32 {
	sigma2 := float32(radius*radius) / gaussianBlurPasses
	l := float32(math.Floor((float64(float32(math.Sqrt(12*float64(sigma2)+1))) - 1) / 2))
	a := float32(2*l+1) * float32(float32(l*(l+1))-float32(3*sigma2))
	a /= float32(6 * float32(sigma2-float32((l+1)*(l+1))))
	return l + a
}

// pillowGaussianBlur blurs the w×h 8-bit image in place as Pillow's
// GaussianBlur(radius) does: gaussianBlurPasses extended box blurs along
// the rows, then as many along the columns, each rounded to 8 bits in
// Pillow's 24-bit fixed point, with the edge pixels repeated outwards.
func pillowGaussianBlur(img []uint8, w, h int, radius float32) {
	box := pillowBoxRadius(radius)
	if box == 0 {
		return // Pillow's box blur of radius 0 leaves the image as it is
	}
	r := int(box)
	ww := uint32(float32(1<<24) / (box*2 + 1))
	fw := ((1 << 24) - uint32(2*r+1)*ww) / 2
	blur := func(in []uint8, out []uint8) {
		n := len(in)
		at := func(i int) uint32 { return uint32(in[max(0, min(n-1, i))]) }
		for x := range out {
			var acc uint32
			for k := -r; k <= r; k++ {
				acc += at(x + k)
			}
			bulk := acc*ww + (at(x-r-1)+at(x+r+1))*fw
			out[x] = uint8((bulk + 1<<23) >> 24)
		}
	}
	line, res := make([]uint8, max(w, h)), make([]uint8, max(w, h))
	for range gaussianBlurPasses {
		for y := range h {
			row := img[y*w : (y+1)*w]
			copy(line, row)
			blur(line[:w], row)
		}
	}
	for range gaussianBlurPasses {
		for x := range w {
			for y := range h {
				line[y] = img[y*w+x]
			}
			blur(line[:h], res[:h])
			for y := range h {
				img[y*w+x] = res[y]
			}
		}
	}
}

// pillowPrecisionBits is the fixed-point precision of Pillow's 8-bit
// resampling coefficients.
const pillowPrecisionBits = 22

// pillowLanczosResize resizes the n×n 8-bit image to out×out as Pillow's
// resize with its Lanczos filter: a pass along the rows, rounded to 8
// bits, then along the columns, each output pixel a weighted sum of the
// input pixels within 3 pixels of it at the output's scale (taps beyond the
// image dropped, the rest renormalised), the weights rounded to 22-bit
// fixed point.
func pillowLanczosResize(img []uint8, n, out int) []uint8 {
	bounds, coeffs := pillowLanczosCoeffs(n, out)
	filter := func(get func(i int) uint8, o int) uint8 {
		ss := int32(1) << (pillowPrecisionBits - 1)
		for j, k := range coeffs[o] {
			ss += int32(get(bounds[o]+j)) * k
		}
		return uint8(max(0, min(255, ss>>pillowPrecisionBits)))
	}
	tmp := make([]uint8, n*out) // n rows, out columns
	for y := range n {
		for o := range out {
			tmp[y*out+o] = filter(func(i int) uint8 { return img[y*n+i] }, o)
		}
	}
	res := make([]uint8, out*out)
	for o := range out {
		for x := range out {
			res[o*out+x] = filter(func(i int) uint8 { return tmp[i*out+x] }, o)
		}
	}
	return res
}

// pillowLanczosCoeffs returns, for each of the out outputs of an axis of
// n inputs, its first input and its fixed-point weights.
func pillowLanczosCoeffs(n, out int) ([]int, [][]int32) {
	const support = 3.0
	scale := float64(n) / float64(out)
	filterScale := max(scale, 1)
	reach, step := support*filterScale, 1/filterScale
	bounds := make([]int, out)
	coeffs := make([][]int32, out)
	for o := range out {
		centre := (float64(o) + 0.5) * scale
		lo := max(int(centre-reach+0.5), 0)
		hi := min(int(centre+reach+0.5), n)
		w := make([]float64, hi-lo)
		var sum float64
		for j := range w {
			w[j] = pillowLanczos((float64(j+lo) - centre + 0.5) * step)
			sum += w[j]
		}
		k := make([]int32, len(w))
		for j, v := range w {
			if sum != 0 {
				v /= sum
			}
			if v < 0 {
				k[j] = int32(-0.5 + v*(1<<pillowPrecisionBits))
			} else {
				k[j] = int32(0.5 + v*(1<<pillowPrecisionBits))
			}
		}
		bounds[o], coeffs[o] = lo, k
	}
	return bounds, coeffs
}

// pillowLanczos is Pillow's Lanczos-3 filter sinc(x)·sinc(x/3) on [-3, 3).
func pillowLanczos(x float64) float64 {
	if x < -3 || x >= 3 {
		return 0
	}
	sinc := func(x float64) float64 {
		if x == 0 {
			return 1
		}
		x *= math.Pi
		return math.Sin(x) / x
	}
	return sinc(x) * sinc(x/3)
}
