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
	e, preset, err := lookupTask(name)
	if err != nil {
		return nil, fmt.Errorf("operator config: %w", err)
	}
	op, err := FromConfig(cfg, imageShape, 0)
	if err != nil {
		return nil, err
	}
	if rec.Mask != nil && e.Name != "inpainting" {
		return nil, fmt.Errorf("operator config: a mask is recorded, but %s takes none", e.Name)
	}
	if rec.Kernel != nil && e.Name != "gaussian_blur" && e.Name != "motion_blur" {
		return nil, fmt.Errorf("operator config: a kernel is recorded, but %s takes none", e.Name)
	}
	switch e.Name {
	case "inpainting":
		maskType := fmt.Sprint(values["mask_type"])
		if v, ok := preset["mask_type"]; ok {
			maskType = fmt.Sprint(v)
		} else if _, ok := values["mask_type"]; !ok {
			maskType = MaskBox
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
	case "gaussian_blur", "motion_blur":
		if rec.Kernel == nil {
			if _, file := values["file"]; e.Name == "motion_blur" && !file {
				return nil, fmt.Errorf("motion_blur: the kernel is drawn at random, and none is recorded")
			}
			return op, nil
		}
		return recordedBlur(e.Name, op.(*Blur), rec)
	}
	return op, nil
}

// recordedBlur checks a recorded kernel against the configured blur and
// returns the blur with the recorded kernel.
func recordedBlur(name string, configured *Blur, rec Recorded) (Operator, error) {
	if len(rec.KernelShape) != 2 || rec.KernelShape[0] != rec.KernelShape[1] || len(rec.Kernel) != rec.KernelShape[0]*rec.KernelShape[1] {
		return nil, fmt.Errorf("%s: recorded kernel of shape %v (%d values), want [K,K]", name, rec.KernelShape, len(rec.Kernel))
	}
	size := rec.KernelShape[0]
	if size != configured.Size() {
		return nil, fmt.Errorf("%s: recorded kernel is %dx%d, the configuration's %dx%d", name, size, size, configured.Size(), configured.Size())
	}
	if name == "gaussian_blur" {
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
	return NewBlur(name, rec.Kernel, size)
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
