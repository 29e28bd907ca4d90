package ops

import (
	"fmt"
	"maps"
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
	e, preset, err := lookupTask(name)
	if err != nil {
		return nil, fmt.Errorf("operator config: %w", err)
	}
	op, err := FromConfig(cfg, imageShape, 0)
	if err != nil {
		return nil, err
	}
	if e.recorded == nil {
		if rec.Mask != nil || rec.Kernel != nil {
			return nil, fmt.Errorf("operator config: a %s is recorded, but %s takes none", rec.what(), e.Name)
		}
		return op, nil
	}
	return e.recorded(op, withPreset(values, preset), rec, imageShape)
}

// recordedBuilder returns a task's operator op (built from its
// configuration values, an alias's presets included) with the recorded
// parts in place of its random ones, or an error naming what is missing or
// does not fit.
type recordedBuilder func(op Operator, values map[string]any, rec Recorded, imageShape []int) (Operator, error)

// what names what rec holds, for errors.
func (rec Recorded) what() string {
	if rec.Mask != nil {
		return "mask"
	}
	return "kernel"
}

// withPreset returns values with an alias's presets added.
func withPreset(values, preset map[string]any) map[string]any {
	out := maps.Clone(values)
	if out == nil {
		out = map[string]any{}
	}
	maps.Copy(out, preset)
	return out
}

// recordedInpainting is inpainting's recordedBuilder: a box, random or
// extreme mask is drawn at random and must be recorded.
func recordedInpainting(op Operator, values map[string]any, rec Recorded, imageShape []int) (Operator, error) {
	if rec.Kernel != nil {
		return nil, fmt.Errorf("operator config: a kernel is recorded, but inpainting takes none")
	}
	maskType := MaskBox
	if v, ok := values["mask_type"]; ok {
		maskType = fmt.Sprint(v)
	}
	if rec.Mask == nil {
		if maskType == MaskBox || maskType == MaskRandom || maskType == MaskExtreme {
			return nil, fmt.Errorf("inpainting: a %s mask is drawn at random, and none is recorded", maskType)
		}
		return op, nil
	}
	mask, err := planeOf("mask", rec.Mask, rec.MaskShape, imageShape[2], imageShape[3])
	if err != nil {
		return nil, fmt.Errorf("inpainting: %w", err)
	}
	return NewInpainting(mask, imageShape[2], imageShape[3])
}

// recordedGaussianBlur is gaussian_blur's recordedBuilder: a recorded
// kernel must agree with the configured one.
func recordedGaussianBlur(op Operator, _ map[string]any, rec Recorded, _ []int) (Operator, error) {
	return recordedBlur(op.(*Blur), rec, true)
}

// recordedMotionBlur is motion_blur's recordedBuilder: a kernel not read
// from a file is drawn at random and must be recorded.
func recordedMotionBlur(op Operator, values map[string]any, rec Recorded, _ []int) (Operator, error) {
	if _, file := values["file"]; rec.Kernel == nil && rec.Mask == nil && !file {
		return nil, fmt.Errorf("motion_blur: the kernel is drawn at random, and none is recorded")
	}
	return recordedBlur(op.(*Blur), rec, false)
}

// recordedBlur returns the configured blur, or the blur with the recorded
// kernel when there is one; with check, the recorded kernel must agree
// with the configured one to float32 rounding.
func recordedBlur(configured *Blur, rec Recorded, check bool) (Operator, error) {
	name := configured.Name()
	if rec.Mask != nil {
		return nil, fmt.Errorf("operator config: a mask is recorded, but %s takes none", name)
	}
	if rec.Kernel == nil {
		return configured, nil
	}
	if len(rec.KernelShape) != 2 || rec.KernelShape[0] != rec.KernelShape[1] || len(rec.Kernel) != rec.KernelShape[0]*rec.KernelShape[1] {
		return nil, fmt.Errorf("%s: recorded kernel of shape %v (%d values), want [K,K]", name, rec.KernelShape, len(rec.Kernel))
	}
	size := rec.KernelShape[0]
	if size != configured.Size() {
		return nil, fmt.Errorf("%s: recorded kernel is %dx%d, the configuration's %dx%d", name, size, size, configured.Size(), configured.Size())
	}
	if check {
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
	}
	b, err := NewBlur(name, rec.Kernel, size)
	if err != nil {
		return nil, err
	}
	b.motion = configured.motion
	if check {
		// The recorded kernel is the configured one: so is its description.
		b.spec = configured.spec
	}
	return b, nil
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
