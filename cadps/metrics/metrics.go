// Package metrics computes full-reference image quality metrics, PSNR and
// SSIM, exactly as scikit-image 0.19 computes them (peak_signal_noise_ratio
// and structural_similarity), so that numbers can be compared with the
// published tables of DPS and CA-DPS.
//
// All arithmetic is float64. Images are [imageio.Image] values, usually in
// [0,1] with a data range of 1. RGB images are handled as scikit-image's
// channel_axis does: SSIM is computed per channel and averaged.
//
// Images hold float32, while scikit-image works on 8-bit images scaled to
// float64 k/255. So that 8-bit images (every PNG the toolkit reads or
// writes) give scikit-image's numbers to the last digits, a value that is
// exactly float32(k/255) for an integer k in [0,255] is taken as the
// float64 k/255; every other value is used as it is. The two differ by less
// than 3e-8, so nothing else changes.
package metrics

import (
	"fmt"
	"math"

	"github.com/cadps/toolkit/cadps/imageio"
)

// PSNR returns the peak signal-to-noise ratio of img against ref in dB,
// 10·log10(dataRange² / MSE), with the MSE over every value of every
// channel. Identical images give +Inf.
func PSNR(ref, img *imageio.Image, dataRange float64) (float64, error) {
	if err := checkPair(ref, img, dataRange, 1); err != nil {
		return 0, err
	}
	// Neumaier's compensated sum: the MSE is as exact as float64 allows,
	// whatever the summation order of the reference implementation.
	var sum, comp float64
	for i, r := range ref.Pix {
		d := widen(r) - widen(img.Pix[i])
		sq := d * d
		t := sum + sq
		if math.Abs(sum) >= sq {
			comp += (sum - t) + sq
		} else {
			comp += (sq - t) + sum
		}
		sum = t
	}
	mse := (sum + comp) / float64(len(ref.Pix))
	if mse == 0 {
		return math.Inf(1), nil
	}
	return 10 * math.Log10(dataRange*dataRange/mse), nil
}

// SSIMOptions selects the variant of SSIM that [SSIMWith] computes; the
// fields mirror scikit-image's structural_similarity arguments.
type SSIMOptions struct {
	// Gaussian selects a Gaussian window of standard deviation Sigma,
	// truncated at Truncate·Sigma (gaussian_weights=True); otherwise the
	// window is WinSize×WinSize uniform.
	Gaussian bool
	// Sigma is the Gaussian window's standard deviation.
	Sigma float64
	// Truncate is where the Gaussian window is cut, in standard
	// deviations; the window has 2·int(Truncate·Sigma + 0.5) + 1 taps.
	Truncate float64
	// WinSize is the side of the uniform window, odd and at least 3.
	WinSize int
	// SampleCovariance scales variances and covariance by NP/(NP−1), NP
	// being the number of window taps (use_sample_covariance=True).
	SampleCovariance bool
	// K1 and K2 set the stabilising constants C1 = (K1·L)², C2 = (K2·L)².
	K1, K2 float64
	// DataRange is L, the range of the values (1 for images in [0,1]).
	DataRange float64
}

// GaussianSSIM returns the options of Wang et al. (2004): an 11×11
// Gaussian window with σ = 1.5 (truncated at 3.5σ), population covariance,
// K1 = 0.01, K2 = 0.03.
func GaussianSSIM(dataRange float64) SSIMOptions {
	return SSIMOptions{Gaussian: true, Sigma: 1.5, Truncate: 3.5, K1: 0.01, K2: 0.03, DataRange: dataRange}
}

// Uniform7SSIM returns scikit-image's default options: a 7×7 uniform
// window with sample covariance, K1 = 0.01, K2 = 0.03.
func Uniform7SSIM(dataRange float64) SSIMOptions {
	return SSIMOptions{WinSize: 7, SampleCovariance: true, K1: 0.01, K2: 0.03, DataRange: dataRange}
}

// SSIM returns the structural similarity of img to ref with the Gaussian
// window of Wang et al. ([GaussianSSIM]), as scikit-image's
// structural_similarity(gaussian_weights=True, sigma=1.5,
// use_sample_covariance=False) computes it.
func SSIM(ref, img *imageio.Image, dataRange float64) (float64, error) {
	return SSIMWith(ref, img, GaussianSSIM(dataRange))
}

// SSIMUniform7 returns the structural similarity with scikit-image's
// default settings ([Uniform7SSIM]).
func SSIMUniform7(ref, img *imageio.Image, dataRange float64) (float64, error) {
	return SSIMWith(ref, img, Uniform7SSIM(dataRange))
}

// SSIMWith returns the structural similarity of img to ref with the given
// options. For each channel it filters x, y, x², y² and x·y with the window
// (scipy.ndimage's filters with their default 'reflect' boundary, which
// repeats the edge sample: d c b a | a b c d | d c b a), forms the SSIM map
//
//	(2·μx·μy + C1)(2·σxy + C2) / ((μx² + μy² + C1)(σx² + σy² + C2)),
//
// drops a border of (window − 1)/2 pixels and averages the rest; the
// result is the mean over channels. The dropped border is exactly where the
// window reaches past the edge, so the boundary rule never changes the
// mean; it is reproduced all the same. Images smaller than the window are an
// error, as in scikit-image.
func SSIMWith(ref, img *imageio.Image, opt SSIMOptions) (float64, error) {
	taps, win, err := opt.window()
	if err != nil {
		return 0, err
	}
	if err := checkPair(ref, img, opt.DataRange, len(taps)); err != nil {
		return 0, err
	}
	np := float64(len(taps) * len(taps))
	covNorm := 1.0
	if opt.SampleCovariance {
		covNorm = np / (np - 1)
	}
	c1 := (opt.K1 * opt.DataRange) * (opt.K1 * opt.DataRange)
	c2 := (opt.K2 * opt.DataRange) * (opt.K2 * opt.DataRange)

	h, w := ref.H, ref.W
	n := h * w
	f := newFilter2D(h, w, taps, win)
	x, y := make([]float64, n), make([]float64, n)
	xx, yy, xy := make([]float64, n), make([]float64, n), make([]float64, n)
	ux, uy := make([]float64, n), make([]float64, n)
	uxx, uyy, uxy := make([]float64, n), make([]float64, n), make([]float64, n)
	pad := (len(taps) - 1) / 2
	var total float64
	for c := range ref.C {
		for i := range n {
			x[i] = widen(ref.Pix[c*n+i])
			y[i] = widen(img.Pix[c*n+i])
			xx[i], yy[i], xy[i] = x[i]*x[i], y[i]*y[i], x[i]*y[i]
		}
		f.apply(x, ux)
		f.apply(y, uy)
		f.apply(xx, uxx)
		f.apply(yy, uyy)
		f.apply(xy, uxy)
		var sum float64
		for r := pad; r < h-pad; r++ {
			for col := pad; col < w-pad; col++ {
				i := r*w + col
				mx, my := ux[i], uy[i]
				vx := covNorm * (uxx[i] - mx*mx)
				vy := covNorm * (uyy[i] - my*my)
				vxy := covNorm * (uxy[i] - mx*my)
				a1, a2 := 2*mx*my+c1, 2*vxy+c2
				b1, b2 := mx*mx+my*my+c1, vx+vy+c2
				sum += (a1 * a2) / (b1 * b2)
			}
		}
		total += sum / float64((h-2*pad)*(w-2*pad))
	}
	return total / float64(ref.C), nil
}

// widen converts v to float64, as the 8-bit level k/255 when v is exactly
// float32(k/255) (see the package documentation).
func widen(v float32) float64 {
	f := float64(v)
	if f < 0 || f > 1 {
		return f
	}
	k := math.Round(f * 255)
	if exact := k / 255; float32(exact) == v {
		return exact
	}
	return f
}

// window returns the 1-D window taps (nil for a uniform window, which is
// computed with running sums) and its length.
func (o SSIMOptions) window() (taps []float64, uniform bool, err error) {
	if !(o.K1 > 0) || !(o.K2 > 0) || math.IsInf(o.K1, 0) || math.IsInf(o.K2, 0) {
		return nil, false, fmt.Errorf("metrics: SSIM constants K1 = %v, K2 = %v must be positive and finite", o.K1, o.K2)
	}
	if !o.Gaussian {
		if o.WinSize < 3 || o.WinSize%2 == 0 {
			return nil, false, fmt.Errorf("metrics: SSIM window size %d must be odd and at least 3", o.WinSize)
		}
		taps = make([]float64, o.WinSize)
		for i := range taps {
			taps[i] = 1 / float64(o.WinSize)
		}
		return taps, true, nil
	}
	if !(o.Sigma > 0) || !(o.Truncate > 0) || math.IsInf(o.Sigma*o.Truncate, 0) || o.Sigma*o.Truncate > 1000 {
		return nil, false, fmt.Errorf("metrics: SSIM Gaussian window σ = %v, truncate = %v: both must be positive and σ·truncate at most 1000", o.Sigma, o.Truncate)
	}
	return gaussianTaps(o.Sigma, int(o.Truncate*o.Sigma+0.5)), false, nil
}

// gaussianTaps returns scipy.ndimage's normalised Gaussian kernel of the
// given radius: exp(−x²/(2σ²)) for x = −radius…radius, divided by its sum.
func gaussianTaps(sigma float64, radius int) []float64 {
	taps := make([]float64, 2*radius+1)
	var sum float64
	for i := range taps {
		x := float64(i - radius)
		taps[i] = math.Exp(-0.5 / (sigma * sigma) * x * x)
		sum += taps[i]
	}
	for i := range taps {
		taps[i] /= sum
	}
	return taps
}

// checkPair validates the arguments of a metric: two well-formed images of
// the same channels and size, at least minSide pixels on each side, finite
// values, and a positive finite data range.
func checkPair(ref, img *imageio.Image, dataRange float64, minSide int) error {
	if err := ref.Validate(); err != nil {
		return fmt.Errorf("metrics: reference: %w", err)
	}
	if err := img.Validate(); err != nil {
		return fmt.Errorf("metrics: image: %w", err)
	}
	if ref.C != img.C || ref.H != img.H || ref.W != img.W {
		return fmt.Errorf("metrics: reference is %s but image is %s", ref.Size(), img.Size())
	}
	if !(dataRange > 0) || math.IsInf(dataRange, 1) {
		return fmt.Errorf("metrics: data range %v must be positive and finite", dataRange)
	}
	if ref.H < minSide || ref.W < minSide {
		return fmt.Errorf("metrics: %s images are smaller than the %d×%d SSIM window", ref.Size(), minSide, minSide)
	}
	for _, im := range []struct {
		name string
		im   *imageio.Image
	}{{"reference", ref}, {"image", img}} {
		if v, c, y, x, ok := im.im.NonFinite(); ok {
			return fmt.Errorf("metrics: %s has %v at channel %d, row %d, column %d", im.name, v, c, y, x)
		}
	}
	return nil
}
