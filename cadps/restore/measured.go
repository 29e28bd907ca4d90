package restore

import (
	"errors"
	"fmt"

	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/cadps/imageio"
	"github.com/cadps/toolkit/ops"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// RestoreMeasurement reconstructs an image from a measurement y one
// already has, with no clean image behind it: the pipeline of
// [Restorer.Restore] with y in place of the measurement Restore
// synthesises. y is an image of the operator's output shape for the
// prior's images (for super-resolution by 4 with a 256×256 prior, a
// 64×64 image), read as the other images are (pixel values p in [0,1],
// x = 2p − 1 for the model; [LoadMeasurement] reads it from a file); [Restorer.CheckMeasurement] says what it
// refuses. seed draws every draw of the sampler, as in Restore: restoring
// the measurement that Restore synthesised, with its seed, gives Restore's
// reconstruction. cb is as for Restore.
//
// The noise model (Options.Noise) draws nothing here: y's noise is what it
// is, and σ_y (Options.SigmaY, or the noise model's σ) tells the method how
// much to trust y. Where an inpainting mask observes nothing, y is 0, as
// A(x) is, whatever the image holds there (Restore's synthesised y holds
// noise there, as DPS's does: restoring it gives Restore's reconstruction
// when it was made without noise). The result has no clean image: Truth is nil and both
// Metrics are NaN; Timings.Measure is the time to take y in.
func (r *Restorer) RestoreMeasurement(y *imageio.Image, seed uint64, cb func(Progress)) (*Result, error) {
	m, err := r.given(y)
	if err != nil {
		return nil, err
	}
	return r.restoreOne(nil, m, seed, cb)
}

// CheckMeasurement reports why [Restorer.RestoreMeasurement] would refuse
// y: a method that samples unconditionally and takes no measurement; a
// task whose operator draws random parts from the seed (a random mask or
// motion-blur kernel), which is not the operator that made y (give the
// mask or kernel as a file; an operator of one's own must be marked
// Task.Fixed); an operator whose measurement is not an image (phase
// retrieval's Fourier magnitudes); an invalid image, or one of another
// shape than the operator's output for the prior's images.
func (r *Restorer) CheckMeasurement(y *imageio.Image) error {
	_, err := r.given(y)
	return err
}

// given checks the measurement y (see [Restorer.CheckMeasurement]) and
// returns it as the pipeline's measurement of a single image.
func (r *Restorer) given(y *imageio.Image) (*measurement, error) {
	if !guidance.UsesMeasurement(r.method) {
		return nil, fmt.Errorf("restore: method %s samples unconditionally: it takes no measurement", r.method.Name())
	}
	task := r.opts.Task
	op := r.fixedOp
	if op == nil {
		return nil, r.randomOperatorError()
	}
	if !ops.MeasuresImage(op) {
		return nil, fmt.Errorf("restore: task %s (operator %s) measures values that are not an image (for phase retrieval, Fourier magnitudes): its measurement cannot be given as an image", task.Label, describeOperator(op))
	}
	if y == nil {
		return nil, errors.New("restore: no measurement image")
	}
	if err := y.Validate(); err != nil {
		return nil, fmt.Errorf("restore: measurement: %w", err)
	}
	shape := r.prior.ImageShape()
	yShape, err := op.OutputShape(shape)
	if err != nil {
		return nil, fmt.Errorf("restore: operator %s: %w", op.Name(), err)
	}
	if len(yShape) != 4 || y.C != yShape[1] || y.H != yShape[2] || y.W != yShape[3] {
		return nil, fmt.Errorf("restore: the measurement is %s, but task %s measures the model's %d×%d images as %s",
			y.Size(), task.Label, shape[2], shape[3], shapeSize(yShape))
	}
	noisy, _, err := imageio.ToNCHW(y)
	if err != nil {
		return nil, fmt.Errorf("restore: measurement: %w", err)
	}
	// An operator that observes only the pixels of a mask measures nothing
	// at the others: whatever the given image holds there (a hole painted
	// black, say) is not part of y, and would only add a constant to the
	// residual ‖y − A(x̂0)‖ that scales the methods' steps.
	if mk, ok := op.(interface{ Mask() []float32 }); ok {
		mask := mk.Mask()
		if len(mask) != yShape[2]*yShape[3] {
			return nil, fmt.Errorf("restore: operator %s: a mask of %d pixels for a %s measurement", op.Name(), len(mask), y.Size())
		}
		for i := range noisy {
			noisy[i] *= mask[i%len(mask)]
		}
	}
	return &measurement{op: op, fixed: true, shaped: true, y: tensors.FromFlatDataAndDimensions(noisy, yShape...), noisy: noisy, yShape: yShape}, nil
}

// shapeSize describes an NCHW measurement shape as imageio.Image.Size
// describes an image ("8×8 RGB"), any other shape as it is.
func shapeSize(shape []int) string {
	if len(shape) != 4 {
		return fmt.Sprint(shape)
	}
	return (&imageio.Image{C: shape[1], H: shape[2], W: shape[3]}).Size()
}

// randomOperatorError refuses a given measurement for a task whose
// operator draws random parts from the seed, saying how to fix them.
func (r *Restorer) randomOperatorError() error {
	task := r.opts.Task
	fix := "give its random parts as files"
	switch {
	case task.Build != nil:
		fix = "if its operator does not depend on the seed, mark the task Fixed"
	case ops.TaskKind(task.Name()) == ops.KindInpainting:
		fix = "give the mask as a file (inpaint_file:path=MASK.png, white observed, black missing) or take a fixed one (inpaint_half)"
	case ops.TaskKind(task.Name()) == ops.KindBlur:
		fix = "give the kernel as a file (motion_blur:file=KERNELS.safetensors,kernel=NAME)"
	}
	return fmt.Errorf("restore: task %s draws its operator's random parts (a mask, a kernel) from the seed, so its operator is not the one that made a given measurement: %s", task.Label, fix)
}
