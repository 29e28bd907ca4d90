package imageio

import (
	"fmt"
	"math"
)

// Resample selects the filter of [Resize].
type Resample int

const (
	// Bicubic is PIL's bicubic filter (Keys' cubic with a = −0.5), widened
	// by the scale factor when shrinking so that it antialiases, as
	// PIL's resize and torchvision's Resize on PIL images do. Results are
	// clamped to [0,1]. It is computed in float64 throughout, as PIL
	// resizes float images; on an 8-bit image PIL takes a fixed-point path
	// that rounds to 8 bits after each pass, so the two differ by up to
	// about one level (1/255).
	Bicubic Resample = iota + 1
	// Area makes each output pixel the mean of the input area it covers,
	// weighting partly covered pixels by their coverage; for integer
	// shrink factors it is the block mean (torch's "area" mode).
	Area
)

// String returns "bicubic" or "area".
func (r Resample) String() string {
	switch r {
	case Bicubic:
		return "bicubic"
	case Area:
		return "area"
	}
	return fmt.Sprintf("Resample(%d)", int(r))
}

func (r Resample) valid() bool { return r == Bicubic || r == Area }

// Resize returns im resampled to h×w pixels with the given filter. The
// filter is separable: rows first, then columns, in float64.
func Resize(im *Image, h, w int, method Resample) (*Image, error) {
	if err := im.Validate(); err != nil {
		return nil, err
	}
	out, err := resize(im, h, w, method)
	if err != nil {
		return nil, fmt.Errorf("imageio: %w", err)
	}
	return out, nil
}

// resize is [Resize] of a valid image; its errors carry no "imageio:"
// prefix, which the callers add.
func resize(im *Image, h, w int, method Resample) (*Image, error) {
	if !method.valid() {
		return nil, fmt.Errorf("unknown resample method %d (want imageio.Bicubic or imageio.Area)", int(method))
	}
	if err := checkDims(im.C, h, w); err != nil {
		return nil, fmt.Errorf("resize to %d×%d: %w", h, w, err)
	}
	if h == im.H && w == im.W {
		return im.Clone(), nil
	}
	cols := resampleWeights(im.W, w, method)
	rows := resampleWeights(im.H, h, method)
	out := newUnchecked(im.C, h, w)
	tmp := make([]float64, im.H*w)
	for c := range im.C {
		src := im.Plane(c)
		for y := range im.H {
			line := src[y*im.W : (y+1)*im.W]
			for x, k := range cols {
				var s float64
				for j, wt := range k.w {
					s += wt * float64(line[k.start+j])
				}
				tmp[y*w+x] = s
			}
		}
		dst := out.Plane(c)
		for y, k := range rows {
			for x := range w {
				var s float64
				for j, wt := range k.w {
					s += wt * tmp[(k.start+j)*w+x]
				}
				if method == Bicubic {
					s = min(max(s, 0), 1)
				}
				dst[y*w+x] = float32(s)
			}
		}
	}
	return out, nil
}

// kernel is the normalised weights of one output sample, applied to the
// inputs start, start+1, ...
type kernel struct {
	start int
	w     []float64
}

// resampleWeights returns, for each of the out output samples, the weights
// over the in input samples.
func resampleWeights(in, out int, method Resample) []kernel {
	scale := float64(in) / float64(out)
	ks := make([]kernel, out)
	for i := range ks {
		if method == Area {
			ks[i] = areaKernel(in, scale, i)
		} else {
			ks[i] = bicubicKernel(in, scale, i)
		}
	}
	return ks
}

// areaKernel weights each input pixel by its overlap with the output
// pixel's footprint [i·scale, (i+1)·scale).
func areaKernel(in int, scale float64, i int) kernel {
	lo, hi := float64(i)*scale, float64(i+1)*scale
	start := int(math.Floor(lo))
	end := min(int(math.Ceil(hi)), in)
	k := kernel{start: start, w: make([]float64, 0, end-start)}
	var sum float64
	for j := start; j < end; j++ {
		ov := min(hi, float64(j+1)) - max(lo, float64(j))
		k.w = append(k.w, ov)
		sum += ov
	}
	for j := range k.w {
		k.w[j] /= sum
	}
	return k
}

// bicubicKernel follows PIL's precompute_coeffs: support 2·max(scale, 1)
// around the centre (i + 0.5)·scale, weights normalised to sum to 1.
func bicubicKernel(in int, scale float64, i int) kernel {
	fscale := max(scale, 1)
	support := 2 * fscale
	center := (float64(i) + 0.5) * scale
	xmin := max(int(center-support+0.5), 0)
	xmax := min(int(center+support+0.5), in)
	k := kernel{start: xmin, w: make([]float64, 0, xmax-xmin)}
	var sum float64
	for x := xmin; x < xmax; x++ {
		v := cubic((float64(x) - center + 0.5) / fscale)
		k.w = append(k.w, v)
		sum += v
	}
	if sum != 0 {
		for j := range k.w {
			k.w[j] /= sum
		}
	}
	return k
}

// cubic is Keys' cubic convolution kernel with a = −0.5.
func cubic(x float64) float64 {
	const a = -0.5
	x = math.Abs(x)
	switch {
	case x < 1:
		return ((a+2)*x-(a+3))*x*x + 1
	case x < 2:
		return (((x-5)*x+8)*x - 4) * a
	}
	return 0
}
