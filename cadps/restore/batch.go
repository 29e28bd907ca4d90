package restore

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/cadps/toolkit/cadps"
	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/cadps/imageio"
	"github.com/cadps/toolkit/cadps/metrics"
	"github.com/cadps/toolkit/ops"
)

// BatchItem is one image's outcome in [Restorer.RestoreBatch].
type BatchItem struct {
	// Truth, Reconstruction and Measurement are as in [Result]; Baseline
	// is the measurement's own estimate of the image (see [Baseline]), nil
	// when the measurement has none (phase retrieval).
	Truth, Reconstruction, Measurement, Baseline *imageio.Image
	// Metrics compares the reconstruction with the truth, BaselineMetrics
	// the baseline with the truth; both on 8-bit quantised images.
	// BaselineMetrics is NaN when there is no baseline.
	Metrics, BaselineMetrics Metrics
	// Residual is ‖y − A(x0)‖₂ of the reconstruction x0 (before it is
	// clamped and rounded), and Draw the draw it came from (0 … Draws−1;
	// see Options.Draws).
	Residual float64
	Draw     int
}

// BatchResult is the outcome of [Restorer.RestoreBatch].
type BatchResult struct {
	// Items holds one entry per input image, in order.
	Items []BatchItem
	// Operator describes the operator the batch shared.
	Operator string
	// Sample is the wall time of the sampling runs (all images at once;
	// every draw).
	Sample time.Duration
}

// RestoreBatch restores the images together, as one batch through one
// sampler run: the operator (with its random parts, such as a box's
// position) is drawn once from seed and shared by the batch, each image's
// measurement noise is drawn from seed, and the sampler's draws come from
// seed for the whole batch. Batching is several times faster per image than
// [Restorer.Restore] on the pure-Go backend. It is Restore's pipeline: a
// batch of one gives Restore's result for the same seed, while in a larger
// batch the random draws cover the whole batch, so that each image's
// result is not the one Restore gives it. With Options.Draws > 1 the batch
// is sampled that many times and each image keeps its best-fitting draw.
//
// cb, when not nil, sees every step of the run as the sampler reports it
// (of each draw in turn): the residual of each image and the method's
// diagnostics (such as CA-DPS's multiplier) for the whole batch. An error
// from cb stops the run and is returned.
func (r *Restorer) RestoreBatch(truths []*imageio.Image, seed uint64, cb cadps.Callback) (*BatchResult, error) {
	if len(truths) == 0 {
		return nil, errors.New("restore: no images to restore")
	}
	if !guidance.UsesMeasurement(r.method) {
		return nil, errors.New("restore: a batch restoration needs a measurement; unconditional sampling has none")
	}
	if err := r.checkImages(truths, true); err != nil {
		return nil, err
	}
	var obs observer
	if cb != nil {
		obs.step = func(_ int, info cadps.StepInfo, _ time.Duration) error { return cb(info) }
	}
	out, err := r.run(truths, nil, seed, true, obs)
	if err != nil {
		return nil, err
	}
	res := &BatchResult{Operator: out.operator, Sample: out.sample}
	for k, truth := range truths {
		it := BatchItem{Truth: truth, Reconstruction: out.recons[k], Measurement: out.measurements[k], Metrics: out.metrics[k],
			BaselineMetrics: Metrics{PSNR: math.NaN(), SSIM: math.NaN()}, Residual: out.fit[k], Draw: out.draw[k]}
		if out.baselines != nil {
			it.Baseline = out.baselines[k].Quantize8()
			if it.BaselineMetrics, err = imageMetrics(truth.Quantize8(), it.Baseline); err != nil {
				return nil, err
			}
		}
		res.Items = append(res.Items, it)
	}
	return res, nil
}

func imageMetrics(truth, im *imageio.Image) (Metrics, error) {
	var m Metrics
	var err error
	if m.PSNR, err = metrics.PSNR(truth, im, 1); err != nil {
		return m, fmt.Errorf("restore: %w", err)
	}
	if m.SSIM, err = metrics.SSIM(truth, im, 1); err != nil {
		return m, fmt.Errorf("restore: %w", err)
	}
	return m, nil
}

// ErrNoBaseline is wrapped by [Baseline]'s error when a measurement has no
// image baseline.
var ErrNoBaseline = errors.New("restore: no image baseline")

// Baseline returns the measurement's own estimate of each image, the
// reference point a restoration must beat: the measurement itself when it
// is an image of the input's size (inpainting: the masked image, missing
// pixels at 0, mid-grey; blurs: the blurred image), and for
// super-resolution the bicubic upsampling of the low-resolution image
// (Keys' cubic with a = −0.5, DPS's resizer kernel, without antialiasing).
// y is NCHW with shape yShape; imageShape is the images' NCHW shape. A
// measurement that is no image of the input's shape (phase retrieval's
// magnitudes, an operator of your own with vector outputs) has no baseline:
// the error then wraps [ErrNoBaseline].
func Baseline(op ops.Operator, y []float32, yShape, imageShape []int) ([]*imageio.Image, error) {
	x, ok, err := ops.ImageBaseline(op, y, yShape, imageShape)
	switch {
	case err != nil:
		return nil, fmt.Errorf("restore: %w", err)
	case !ok:
		return nil, fmt.Errorf("%w: the %s measurement %v is not an image of shape %v", ErrNoBaseline, op.Name(), yShape, imageShape)
	}
	return imageio.FromNCHW(x, imageShape...)
}

// baselines returns the measurement's image-space estimates of the images
// (see [Baseline]), or nil when it has none.
func baselines(op ops.Operator, y []float32, yShape, imageShape []int) ([]*imageio.Image, error) {
	ims, err := Baseline(op, y, yShape, imageShape)
	if errors.Is(err, ErrNoBaseline) {
		return nil, nil
	}
	return ims, err
}
