package ops

import (
	"fmt"
	"math"
	"slices"
)

// Recorded holds what a reference run recorded about its operator besides
// its configuration: the parts drawn at random (an inpainting box or
// pattern, a motion-blur kernel), or computed by another library (a
// Gaussian kernel), which the configuration alone does not reproduce.
type Recorded struct {
	// Mask is an inpainting mask (1 = observed, 0 = missing) of shape
	// MaskShape: [H,W], or [...,H,W] with every leading slice equal (the
	// reference's [1,1,H,W] mask broadcasts over channels).
	Mask      []float32
	MaskShape []int
	// Kernel is a blur kernel of shape KernelShape [K,K] (odd K): the
	// cross-correlation weights of the reference's Conv2d.
	Kernel      []float32
	KernelShape []int
}

// FromRecorded builds the operator a reference run used, for images of
// imageShape [N,C,H,W]: from its configuration (as [FromConfig] reads it,
// which also checks it) with the recorded mask or kernel in place of a
// random draw. Inpainting with a randomly drawn mask (box, random, extreme)
// and motion blur without a kernel file need the recorded mask or kernel;
// a recorded Gaussian kernel must agree with the configuration's to float32
// rounding; a mask or kernel recorded for an operator that takes none is an
// error.
func FromRecorded(cfg map[string]any, imageShape []int, rec Recorded) (Operator, error) {
	name, values, err := configValues(cfg)
	if err != nil {
		return nil, err
	}
	op, err := buildWith(name, values, true, imageShape, false, func(e taskEntry, p *params) (Operator, error) {
		if e.recorded != nil {
			return e.recorded(p, rec, imageShape)
		}
		if rec.Mask != nil || rec.Kernel != nil {
			return nil, fmt.Errorf("a %s is recorded, but %s takes none", rec.what(), e.Name)
		}
		// Without random parts, the seed draws nothing.
		return e.build(p, imageShape, 0)
	})
	if err != nil {
		return nil, fmt.Errorf("operator config: %w", err)
	}
	return op, nil
}

// recordedBuilder builds a task's operator from its configuration's
// parameters (an alias's presets included) with the recorded parts in
// place of its random ones, drawing nothing, or returns an error naming
// what is missing or does not fit.
type recordedBuilder func(p *params, rec Recorded, imageShape []int) (Operator, error)

// what names what rec holds, for errors.
func (rec Recorded) what() string {
	if rec.Mask != nil {
		return "mask"
	}
	return "kernel"
}

// recordedInpainting is inpainting's recordedBuilder: a box, random or
// extreme mask is drawn at random and must be recorded.
func recordedInpainting(p *params, rec Recorded, imageShape []int) (Operator, error) {
	if rec.Kernel != nil {
		return nil, fmt.Errorf("a kernel is recorded, but inpainting takes none")
	}
	o, err := inpaintingOptions(p, imageShape)
	if err != nil {
		return nil, err
	}
	h, w := imageShape[2], imageShape[3]
	mask := rec.Mask
	if mask == nil {
		if t, err := lookupMaskType(o.Type); err != nil || t.random {
			return nil, fmt.Errorf("inpainting: a %s mask is drawn at random, and none is recorded", o.Type)
		}
		// The other types draw nothing from the seed.
		if mask, err = o.Mask(h, w, 0); err != nil {
			return nil, fmt.Errorf("inpainting: %w", err)
		}
	} else if mask, err = planeOf("mask", rec.Mask, rec.MaskShape, h, w); err != nil {
		return nil, fmt.Errorf("inpainting: %w", err)
	}
	return NewInpainting(mask, h, w)
}

// recordedGaussianBlur is gaussian_blur's recordedBuilder: a recorded
// kernel must agree with the configured one to float32 rounding.
func recordedGaussianBlur(p *params, rec Recorded, imageShape []int) (Operator, error) {
	configured, err := gaussianBlurOf(p, imageShape)
	if err != nil {
		return nil, err
	}
	if err := checkRecordedKernel(configured.Name(), configured.Size(), rec); err != nil || rec.Kernel == nil {
		return configured, err
	}
	mine := configured.Kernel()
	var worst, peak float64
	for i, v := range rec.Kernel {
		worst = max(worst, math.Abs(float64(v)-float64(mine[i])))
		peak = max(peak, math.Abs(float64(mine[i])))
	}
	// float32 rounding of the same float64 values, with a few ulps of
	// slack for a different summation order.
	if !(worst <= 1e-6*peak) {
		return nil, fmt.Errorf("gaussian_blur: recorded kernel differs from the configuration's by %.3g (peak %.3g)", worst, peak)
	}
	b, err := NewBlur(configured.Name(), rec.Kernel, configured.Size())
	if err != nil {
		return nil, err
	}
	// The recorded kernel is the configured one: so is its description.
	b.spec = configured.spec
	return b, nil
}

// recordedMotionBlur is motion_blur's recordedBuilder: a kernel not read
// from a file is drawn at random and must be recorded.
func recordedMotionBlur(p *params, rec Recorded, imageShape []int) (Operator, error) {
	m, err := readMotionParams(p, imageShape)
	if err != nil {
		return nil, err
	}
	if rec.Kernel == nil && rec.Mask == nil {
		if m.file == "" {
			return nil, fmt.Errorf("motion_blur: the kernel is drawn at random, and none is recorded")
		}
		return m.blur(0) // the stored kernel: nothing is drawn
	}
	size := m.size
	if m.file != "" {
		stored, err := m.blur(0)
		if err != nil {
			return nil, err
		}
		size = stored.Size()
	}
	if err := checkRecordedKernel("motion_blur", size, rec); err != nil {
		return nil, err
	}
	return NewMotionBlurKernel(rec.Kernel, size)
}

// checkRecordedKernel refuses a recorded mask, and a recorded kernel that
// is not size×size, for the blur task name.
func checkRecordedKernel(name string, size int, rec Recorded) error {
	if rec.Mask != nil {
		return fmt.Errorf("a mask is recorded, but %s takes none", name)
	}
	if rec.Kernel == nil {
		return nil
	}
	if len(rec.KernelShape) != 2 || rec.KernelShape[0] != rec.KernelShape[1] || len(rec.Kernel) != rec.KernelShape[0]*rec.KernelShape[1] {
		return fmt.Errorf("%s: recorded kernel of shape %v (%d values), want [K,K]", name, rec.KernelShape, len(rec.Kernel))
	}
	if k := rec.KernelShape[0]; k != size {
		return fmt.Errorf("%s: recorded kernel is %dx%d, the configuration's %dx%d", name, k, k, size, size)
	}
	return nil
}

// planeOf returns the h×w plane of a tensor of shape [...,h,w] whose
// leading slices are all equal.
func planeOf(what string, v []float32, shape []int, h, w int) ([]float32, error) {
	n := 1
	for _, d := range shape {
		n *= d
	}
	if len(shape) < 2 || shape[len(shape)-2] != h || shape[len(shape)-1] != w || n != len(v) {
		return nil, fmt.Errorf("recorded %s of shape %v (%d values), want [...,%d,%d]", what, shape, len(v), h, w)
	}
	plane := v[:h*w]
	for k := h * w; k < len(v); k += h * w {
		if !slices.Equal(v[k:k+h*w], plane) {
			return nil, fmt.Errorf("recorded %s of shape %v differs between channels", what, shape)
		}
	}
	return slices.Clone(plane), nil
}
