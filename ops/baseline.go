package ops

import (
	"errors"
	"fmt"
	"slices"

	"github.com/cadps/toolkit/internal/num"
)

// ImageBaseliner is implemented by operators whose measurement is no image
// of the input's shape but has a cheap image-space estimate of the input,
// computed on the host: super-resolution's upsampled low-resolution image.
// Such an estimate is the reference point a restoration must beat.
type ImageBaseliner interface {
	// ImageBaseline returns the estimate of the NCHW images of shape
	// imageShape from y (flat, NCHW of shape yShape).
	ImageBaseline(y []float32, yShape, imageShape []int) ([]float32, error)
}

// ImageBaseline returns the measurement's own estimate of the input images
// (flat NCHW of shape imageShape): the operator's, when it implements
// [ImageBaseliner]; y itself when it is an image of the input's shape
// ([MeasuresImage]: inpainting's masked image, a blurred image). ok is false
// when the measurement has none (phase retrieval's magnitudes, an operator
// with vector outputs). A nil op, a y of another length than yShape gives,
// and a measurement of another batch size than imageShape's are errors.
func ImageBaseline(op Operator, y []float32, yShape, imageShape []int) (x []float32, ok bool, err error) {
	if op == nil {
		return nil, false, errors.New("ops: baseline: no operator (nil)")
	}
	if len(imageShape) != 4 {
		return nil, false, fmt.Errorf("ops: baseline: image shape %v, want NCHW", imageShape)
	}
	if len(yShape) != 4 {
		return nil, false, nil // a vector measurement: no image of its own
	}
	if err := checkBaselineMeasurement(y, yShape, imageShape); err != nil {
		return nil, false, fmt.Errorf("ops: %s baseline: %w", op.Name(), err)
	}
	if b, is := op.(ImageBaseliner); is {
		x, err := b.ImageBaseline(y, yShape, imageShape)
		if err != nil {
			return nil, false, fmt.Errorf("ops: %s baseline: %w", op.Name(), err)
		}
		return x, true, nil
	}
	if !MeasuresImage(op) || yShape[1] != imageShape[1] || yShape[2] != imageShape[2] || yShape[3] != imageShape[3] {
		return nil, false, nil
	}
	return y, true, nil
}

// ImageBaseline implements [ImageBaseliner]: the bicubic upsampling of the
// low-resolution image (Keys' cubic with a = −0.5, DPS's resizer kernel,
// without antialiasing), plane by plane.
func (s *SuperResolution) ImageBaseline(y []float32, yShape, imageShape []int) ([]float32, error) {
	if len(yShape) != 4 || len(imageShape) != 4 {
		return nil, fmt.Errorf("measurement of shape %v for images of shape %v, want both NCHW", yShape, imageShape)
	}
	if err := checkBaselineMeasurement(y, yShape, imageShape); err != nil {
		return nil, err
	}
	if yShape[1] != imageShape[1] {
		return nil, fmt.Errorf("measurement of shape %v for images of shape %v: the channels differ", yShape, imageShape)
	}
	kernel, err := LookupResizeKernel("cubic")
	if err != nil {
		return nil, err
	}
	h, w, oh, ow := yShape[2], yShape[3], imageShape[2], imageShape[3]
	mh, err := ResizeMatrix(h, oh, float64(s.factor), kernel, false)
	if err != nil {
		return nil, err
	}
	mw, err := ResizeMatrix(w, ow, float64(s.factor), kernel, false)
	if err != nil {
		return nil, err
	}
	planes := yShape[0] * yShape[1]
	out := make([]float32, planes*oh*ow)
	tmp := make([]float64, oh*w)
	for p := range planes {
		in := y[p*h*w : (p+1)*h*w]
		for i := range oh { // rows: tmp = mh · in
			for j := range w {
				var sum float64
				for k := range h {
					sum += mh[i][k] * float64(in[k*w+j])
				}
				tmp[i*w+j] = sum
			}
		}
		dst := out[p*oh*ow : (p+1)*oh*ow]
		for i := range oh { // columns: dst = tmp · mwᵀ
			for j := range ow {
				var sum float64
				for k := range w {
					sum += tmp[i*w+k] * mw[j][k]
				}
				dst[i*ow+j] = float32(sum)
			}
		}
	}
	return out, nil
}

// checkBaselineMeasurement returns an error naming the shapes unless the
// NCHW measurement y of shape yShape has positive dimensions, as many
// values as yShape gives, and the batch of the NCHW imageShape.
func checkBaselineMeasurement(y []float32, yShape, imageShape []int) error {
	if slices.ContainsFunc(yShape, func(d int) bool { return d <= 0 }) {
		return fmt.Errorf("measurement shape %v has a dimension that is not positive", yShape)
	}
	if n := num.Prod(yShape); len(y) != n {
		return fmt.Errorf("measurement of shape %v (%d values), want %d values", yShape, len(y), n)
	}
	if yShape[0] != imageShape[0] {
		return fmt.Errorf("measurement of shape %v for images of shape %v: the batch sizes differ", yShape, imageShape)
	}
	return nil
}
