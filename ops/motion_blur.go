package ops

import (
	"fmt"
	"math"
	"math/cmplx"
	"math/rand/v2"
	"sort"
	"strings"

	"github.com/cadps/toolkit/checkpoints"
)

// NewMotionBlur returns the motion blur operator of DPS ("motion_blur",
// 61×61 with intensity 0.5 in its configs) with a kernel drawn by
// [MotionKernel] from seed.
func NewMotionBlur(size int, intensity float64, seed uint64) (*Blur, error) {
	k, err := MotionKernel(size, intensity, seed)
	if err != nil {
		return nil, err
	}
	b, err := NewMotionBlurKernel(k, size)
	if err != nil {
		return nil, err
	}
	b.spec = fmt.Sprintf("intensity=%g,seed=%d", intensity, seed)
	return b, nil
}

// NewMotionBlurKernel returns the motion blur operator ("motion_blur") with
// the given size×size kernel, row-major (a recorded or stored one): a
// [Blur] whose MotionBlur reports true.
func NewMotionBlurKernel(kernel []float32, size int) (*Blur, error) {
	b, err := NewBlur("motion_blur", kernel, size)
	if err != nil {
		return nil, err
	}
	b.motion = true
	return b, nil
}

// NewMotionBlurFile returns the motion blur operator ("motion_blur") with
// the square kernel stored under tensor in the safetensors file at path
// (e.g. shared/data/kernels/blur_kernels.safetensors, tensor "levin09/0").
// The kernel is used as stored; tensor may be empty when the file holds
// one tensor.
func NewMotionBlurFile(path, tensor string) (*Blur, error) {
	k, size, err := LoadKernel(path, tensor)
	if err != nil {
		return nil, fmt.Errorf("motion_blur: %w", err)
	}
	b, err := NewMotionBlurKernel(k, size)
	if err != nil {
		return nil, err
	}
	b.spec = "file=" + path
	if tensor != "" {
		b.spec += ",kernel=" + tensor
	}
	return b, nil
}

// LoadKernel reads a square 2-D kernel from a safetensors file and returns
// it row-major with its side length, at least 1 (a 0×0 tensor is an
// error).
func LoadKernel(path, tensor string) ([]float32, int, error) {
	sd, err := checkpoints.LoadSafetensors(path)
	if err != nil {
		return nil, 0, fmt.Errorf("reading kernel file: %w", err)
	}
	if tensor == "" {
		if len(sd.Names) != 1 {
			names := append([]string(nil), sd.Names...)
			sort.Strings(names)
			return nil, 0, fmt.Errorf("kernel file %s holds %d tensors; name one (%s)", path, len(names), strings.Join(names, ", "))
		}
		tensor = sd.Names[0]
	}
	t, ok := sd.Tensors[tensor]
	if !ok {
		return nil, 0, fmt.Errorf("kernel file %s has no tensor %q", path, tensor)
	}
	if len(t.Shape) != 2 || t.Shape[0] != t.Shape[1] || t.Shape[0] < 1 {
		return nil, 0, fmt.Errorf("kernel %q in %s has shape %v, want a square 2-D kernel of side at least 1", tensor, path, t.Shape)
	}
	k, err := t.Float32()
	if err != nil {
		return nil, 0, fmt.Errorf("kernel %q in %s: %w", tensor, path, err)
	}
	return k, t.Shape[0], nil
}

// MotionKernel draws a size×size motion-blur kernel of the given intensity
// in [0,1] with the random-trajectory generator that DPS uses (the
// "motionblur" package's Kernel): a camera path of random steps and turns,
// longer and more curved as the intensity grows, is centred on its centre
// of mass, randomly rotated, and rendered as that package renders it with
// Pillow (see [renderMotionKernel]). The same seed gives the same kernel;
// the random draws are not numpy's, so no seed gives the reference's
// kernels, only kernels of the same distribution. size must be odd and at
// most [MaxKernelSize] (the path is drawn on a canvas of twice its side).
func MotionKernel(size int, intensity float64, seed uint64) ([]float32, error) {
	if err := checkKernelSize("motion_blur", size); err != nil {
		return nil, err
	}
	switch {
	case !(intensity >= 0 && intensity <= 1):
		return nil, fmt.Errorf("motion_blur: intensity must lie in [0,1], got %g", intensity)
	}
	r := rand.New(rand.NewPCG(seed, 0x6d6f74696f6e)) // "motion"
	// A draw fails only if the path misses the canvas entirely, which its
	// centring makes practically impossible; draw again then.
	for range 100 {
		if k := drawMotionKernel(r, size, intensity); k != nil {
			return k, nil
		}
	}
	return nil, fmt.Errorf("motion_blur: no %dx%d kernel drawn in 100 attempts (seed %d)", size, size, seed)
}

// motionEps is the generator's small constant added to step lengths and
// angles.
const motionEps = 0.1

// drawMotionKernel draws one kernel, or returns nil when nothing was drawn.
func drawMotionKernel(r *rand.Rand, size int, intensity float64) []float32 {
	big := 2 * size
	return renderMotionKernel(motionPath(r, float64(big), motionDiagonal(big), intensity), size)
}

// motionPath returns the trajectory's points (x = column, y = row) on a
// side×side canvas.
func motionPath(r *rand.Rand, side, diagonal, intensity float64) []complex128 {
	// Step lengths: a total length 0.75·diag·(U(0,1)+U(0,intensity²)), made
	// of steps Beta(1,30)·(1-intensity+eps)·diag shorter than the total.
	maxLen := 0.75 * diagonal * (r.Float64() + intensity*intensity*r.Float64())
	var steps []float64
	for total := 0.0; total < maxLen; {
		s := betaSample(r, 1, 30) * (1 - intensity + motionEps) * diagonal
		if s < maxLen {
			steps = append(steps, s)
			total += s
		}
	}
	// Turning angles: a maximum U(0, intensity·π), a sign-flip probability
	// Beta(2,20), magnitudes Triangular(0, intensity·max, max+eps).
	maxAngle := intensity * math.Pi * r.Float64()
	jitter := betaSample(r, 2, 20)
	angles := []float64{-maxAngle + 2*maxAngle*r.Float64()}
	for len(angles) < len(steps) {
		a := triangularSample(r, 0, intensity*maxAngle, maxAngle+motionEps)
		prev := sign(angles[len(angles)-1])
		if r.Float64() < jitter {
			a *= -prev
		} else {
			a *= prev
		}
		angles = append(angles, a)
	}
	// Integrate, centre the centre of mass, rotate by U(0,π), move to the
	// canvas centre.
	path := make([]complex128, len(steps))
	var pos, com complex128
	for i, s := range steps {
		pos += cmplx.Rect(s, angles[i])
		path[i] = pos
		com += pos
	}
	com /= complex(float64(len(steps)), 0)
	rot := cmplx.Rect(1, math.Pi*r.Float64())
	centre := complex(side/2, side/2)
	for i := range path {
		path[i] = (path[i]-com)*rot + centre
	}
	return path
}

// sign is numpy's sign: -1, 0 or 1.
func sign(x float64) float64 {
	switch {
	case x > 0:
		return 1
	case x < 0:
		return -1
	}
	return 0
}

// betaSample draws from Beta(a, b) as X/(X+Y) with X ~ Gamma(a), Y ~ Gamma(b).
func betaSample(r *rand.Rand, a, b float64) float64 {
	x, y := gammaSample(r, a), gammaSample(r, b)
	return x / (x + y)
}

// gammaSample draws from Gamma(shape, 1) by Marsaglia and Tsang's method
// (boosted by U^(1/shape) for shape < 1).
func gammaSample(r *rand.Rand, shape float64) float64 {
	if shape < 1 {
		return gammaSample(r, shape+1) * math.Pow(1-r.Float64(), 1/shape)
	}
	d := shape - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := r.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := 1 - r.Float64()
		if math.Log(u) < 0.5*x*x+d*(1-v+math.Log(v)) {
			return d * v
		}
	}
}

// triangularSample draws from the triangular distribution on [lo, hi] with
// the given mode, by inverting its distribution function.
func triangularSample(r *rand.Rand, lo, mode, hi float64) float64 {
	u := r.Float64()
	if hi <= lo {
		return lo
	}
	c := (mode - lo) / (hi - lo)
	if u <= c {
		return lo + math.Sqrt(u*(hi-lo)*(mode-lo))
	}
	return hi - math.Sqrt((1-u)*(hi-lo)*(hi-mode))
}
