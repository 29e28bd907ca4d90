package ops

import (
	"fmt"
	"math"
)

// gaussianTruncate is scipy.ndimage.gaussian_filter's default truncate: the
// filter's radius is int(truncate·σ + 0.5).
const gaussianTruncate = 4.0

// NewGaussianBlur returns the Gaussian blur operator of DPS ("gaussian_blur",
// 61×61 with σ = 3.0 in its configs) with the kernel of [GaussianKernel].
func NewGaussianBlur(size int, sigma float64) (*Blur, error) {
	k, err := GaussianKernel(size, sigma)
	if err != nil {
		return nil, err
	}
	b, err := NewBlur("gaussian_blur", k, size)
	if err != nil {
		return nil, err
	}
	b.spec = fmt.Sprintf("intensity=%g", sigma)
	return b, nil
}

// scipyMinSigma is the σ at or below which scipy.ndimage.gaussian_filter
// leaves an axis unfiltered.
const scipyMinSigma = 1e-15

// maxGaussianSigma bounds the Gaussian blur's σ: the taps span ±4σ, so σ
// sets the work and memory of building the kernel (a σ of 1e18 asked for
// 8e18 taps). Blurs of use are far below it (DPS's σ is 3).
const maxGaussianSigma = 1000

// GaussianKernel returns the size×size kernel that DPS builds for Gaussian
// blur: scipy.ndimage.gaussian_filter(delta, sigma) of a unit impulse at the
// centre (size/2, size/2), with scipy's defaults (truncate 4.0, so taps
// beyond int(4σ+0.5) are zero; mode "reflect", which folds the tails back
// when that radius exceeds the kernel), in float64 then rounded to float32.
// size must be odd and at most [MaxKernelSize], σ in (0, 1000]. As scipy's gaussian_filter skips an axis whose σ
// is at most 1e-15 (leaving the impulse as it is), such a σ gives the delta
// kernel, the limit of the blur as σ → 0, rather than the NaN taps that σ²
// underflowing to zero would give.
func GaussianKernel(size int, sigma float64) ([]float32, error) {
	if err := checkKernelSize("gaussian_blur", size); err != nil {
		return nil, err
	}
	switch {
	case !(sigma > 0) || math.IsInf(sigma, 0):
		return nil, fmt.Errorf("gaussian_blur: intensity (σ) must be positive and finite, got %g", sigma)
	case sigma > maxGaussianSigma:
		return nil, fmt.Errorf("gaussian_blur: intensity (σ) must be at most %d, got %g", maxGaussianSigma, sigma)
	}
	w := []float64{1} // scipy's identity for a σ it skips
	if sigma > scipyMinSigma {
		w = scipyGaussian1D(sigma, int(gaussianTruncate*sigma+0.5))
	}
	delta := make([]float64, size)
	delta[size/2] = 1
	// The filter is separable and so is the impulse: the first pass (axis 0)
	// turns row i into p[i]·e, the second filters each row again.
	p := correlateReflect(delta, w)
	out := make([]float32, size*size)
	row := make([]float64, size)
	for i := range size {
		for j := range row {
			row[j] = 0
		}
		row[size/2] = p[i]
		for j, v := range correlateReflect(row, w) {
			out[i*size+j] = float32(v)
		}
	}
	return out, nil
}

// scipyGaussian1D returns the normalised Gaussian taps exp(-x²/(2σ²)) for
// x = -radius..radius, as scipy's _gaussian_kernel1d computes them.
func scipyGaussian1D(sigma float64, radius int) []float64 {
	phi := make([]float64, 2*radius+1)
	c := -0.5 / (sigma * sigma)
	for i := range phi {
		x := float64(i - radius)
		phi[i] = math.Exp(c * (x * x))
	}
	s := pairwiseSum(phi)
	for i := range phi {
		phi[i] /= s
	}
	return phi
}

// pairwiseSum sums a the way numpy's float64 sum does (eight-way unrolled
// blocks, halved recursively above 128 values), so normalisations round as
// the reference's do.
func pairwiseSum(a []float64) float64 {
	n := len(a)
	switch {
	case n < 8:
		var s float64
		for _, v := range a {
			s += v
		}
		return s
	case n <= 128:
		var r [8]float64
		copy(r[:], a[:8])
		i := 8
		for ; i < n-n%8; i += 8 {
			for j := range r {
				r[j] += a[i+j]
			}
		}
		s := (r[0] + r[1]) + (r[2] + r[3]) + ((r[4] + r[5]) + (r[6] + r[7]))
		for ; i < n; i++ {
			s += a[i]
		}
		return s
	}
	n2 := n / 2
	n2 -= n2 % 8
	return pairwiseSum(a[:n2]) + pairwiseSum(a[n2:])
}

// correlateReflect correlates line with the symmetric taps w (odd length)
// under scipy.ndimage's "reflect" boundary (d c b a | a b c d | d c b a),
// summing as scipy's symmetric-filter loop does.
func correlateReflect(line, w []float64) []float64 {
	n, r := len(line), len(w)/2
	at := func(i int) float64 {
		m := i % (2 * n)
		if m < 0 {
			m += 2 * n
		}
		if m >= n {
			m = 2*n - 1 - m
		}
		return line[m]
	}
	out := make([]float64, n)
	for i := range out {
		s := line[i] * w[r]
		for j := r; j > 0; j-- {
			s += (at(i-j) + at(i+j)) * w[r+j]
		}
		out[i] = s
	}
	return out
}
