package restore

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/cadps/toolkit/cadps"
	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/cadps/imageio"
	"github.com/cadps/toolkit/ops"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// measurementStream separates the measurement noise's random stream from
// the sampler's for the same seed.
const measurementStream = 0x6d65_6173_7572_65

// observer watches the sampling of a batch: step sees every step of every
// draw with the time since sampling began, and kept, after each draw, which
// images keep that draw as their best so far. Either may be nil.
type observer struct {
	step func(draw int, info cadps.StepInfo, elapsed time.Duration) error
	kept func(draw int, kept []bool)
}

// outcome is what the pipeline gives for a batch of images.
type outcome struct {
	operator string
	// view says what the measurement images show (see
	// Result.MeasurementView).
	view string
	// recons are the reconstructions and measurements the measurements as
	// images (nil entries when y is no image), one per input image;
	// baselines are the measurement's own estimates (nil when not asked
	// for or when the measurement has none).
	recons, measurements, baselines []*imageio.Image
	// metrics compare each reconstruction with its truth.
	metrics []Metrics
	// fit is ‖y − A(x0)‖₂ of each image's reconstruction and draw the draw
	// it came from.
	fit  []float64
	draw []int
	// measure is the time to build the operator and synthesise y, sample
	// that of every draw.
	measure, sample time.Duration
}

// run is the one restoration pipeline, for a single image as for a batch:
// measure the images (one operator, with its random parts drawn from
// seed, shared by the batch), sample every draw, keep for each image the
// draw that fits its measurement best, and score the reconstructions.
// given, when not nil, is the measurement of a single image (see
// [Restorer.RestoreMeasurement]), taken as it is: truths is then nil and
// the metrics are NaN. withBaselines also returns the measurement's
// image-space estimates, computed before sampling so that a measurement
// they cannot read fails early.
func (r *Restorer) run(truths []*imageio.Image, given *measurement, seed uint64, withBaselines bool, obs observer) (*outcome, error) {
	t0 := time.Now()
	shape, m := r.prior.ImageShape(), given
	if m == nil {
		x, dims, err := imageio.ToNCHW(truths...)
		if err != nil {
			return nil, fmt.Errorf("restore: %w", err)
		}
		shape = dims[:]
		if m, err = r.measure(x, shape, seed); err != nil {
			return nil, err
		}
	}
	n := shape[0]
	res := &outcome{measurements: make([]*imageio.Image, n)}
	if m.op != nil {
		res.operator = describeOperator(m.op)
		per := len(m.noisy) / n
		one := append([]int{1}, m.yShape[1:]...)
		for k := range n {
			res.measurements[k], res.view = measurementImage(m.op, m.noisy[k*per:(k+1)*per], one, shape[1])
		}
		if withBaselines {
			var err error
			if res.baselines, err = baselines(m.op, m.noisy, m.yShape, shape); err != nil {
				return nil, err
			}
		}
	}
	res.measure = time.Since(t0)
	sampler, err := r.samplerFor(m, shape)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	best, err := r.sample(sampler, m, shape, seed, res, obs)
	if err != nil {
		return nil, err
	}
	res.sample = time.Since(start)
	recons, err := imageio.FromNCHW(best, shape...)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	for k := range n {
		recon := recons[k].Quantize8()
		mt := Metrics{PSNR: math.NaN(), SSIM: math.NaN()}
		if truths != nil {
			if mt, err = imageMetrics(truths[k].Quantize8(), recon); err != nil {
				return nil, err
			}
		}
		res.recons, res.metrics = append(res.recons, recon), append(res.metrics, mt)
	}
	return res, nil
}

// measurement is a batch's synthesised measurement; op is nil for
// unconditional sampling, which has none.
type measurement struct {
	op ops.Operator
	// fixed is set when the sampler does not depend on the seed: op is
	// the seed-independent operator New found (for a single image), or
	// there is none.
	fixed bool
	// shaped is set when op is a seed-independent task's, which depends
	// on the batch's shape alone.
	shaped bool
	y      *tensors.Tensor
	noisy  []float32 // y's values
	yShape []int
}

// measure builds the task's operator for the batch's NCHW shape (the
// seed-independent one New found, for a single image) and synthesises
// y = A(x) + n with noise drawn from seed.
func (r *Restorer) measure(x []float32, shape []int, seed uint64) (*measurement, error) {
	if !guidance.UsesMeasurement(r.method) {
		return &measurement{fixed: true}, nil
	}
	m := &measurement{op: r.fixedOp, fixed: r.fixedOp != nil && shape[0] == 1, shaped: r.fixedOp != nil}
	if !m.fixed {
		var err error
		if m.op, err = r.opts.Task.Operator(shape, seed); err != nil {
			return nil, err
		}
	}
	clean, yShape, err := r.applier.apply(m.op, m.shaped, x, shape)
	if err != nil {
		return nil, err
	}
	m.noisy = r.noise.Apply(clean, rand.New(rand.NewPCG(seed, measurementStream)))
	m.y, m.yShape = tensors.FromFlatDataAndDimensions(m.noisy, yShape...), yShape
	return m, nil
}

// compiled is a sampler kept for later restorations, with the batch shape
// it was compiled for.
type compiled struct {
	sampler *cadps.Sampler
	shape   []int
}

// samplerFor returns a sampler for the measurement's operator on batches
// of the NCHW shape: the one kept for the seed-independent operator (or
// for none); for a batch of a seed-independent task, whose operator
// depends on the shape alone, the last one compiled for that shape; else
// (a task with random parts) one derived from the last sampler of such a
// task (cadps.Sampler.WithOperator), which shares its compiled graphs when
// the operator's data, a mask or a kernel, can be their inputs. A sampler
// it stops keeping is finalized, unless the one kept in its place shares
// its graphs; one compiled for a single batch (an operator without a bound
// form between operators with one) is finalized on the next call.
func (r *Restorer) samplerFor(m *measurement, shape []int) (*cadps.Sampler, error) {
	if r.spare != nil { // the last batch's one-off
		r.spare.Finalize()
		r.spare = nil
	}
	if m.fixed && r.fixedSampler != nil {
		return r.fixedSampler, nil
	}
	reusable := !m.fixed && r.fixedOp != nil
	if l := r.last; reusable && l != nil && slices.Equal(l.shape, shape) {
		return l.sampler, nil
	}
	var s *cadps.Sampler
	var err error
	if random := !m.fixed && !reusable; random && r.random != nil {
		s, err = r.random.WithOperator(m.op)
	} else {
		s, err = cadps.NewSampler(cadps.Problem{
			Backend: r.backend, Ctx: r.prior.Ctx, Net: r.network(), Process: r.process,
			Op: m.op, Method: r.method, Scale: r.scale, Ramp: r.opts.Ramp, SigmaY: r.sigmaY, Eta: r.opts.Eta,
		})
	}
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	switch {
	case m.fixed:
		r.fixedSampler = s
	case reusable:
		if r.last != nil {
			r.last.sampler.Finalize()
		}
		r.last = &compiled{sampler: s, shape: slices.Clone(shape)}
	case r.random != nil && s.SharesGraphs(r.random):
		r.random = s
	case r.random != nil && r.random.OperatorInputs() && !s.OperatorInputs():
		// An operator without a bound form (a separable kernel) between
		// ones with: the next batch may share the kept graphs again.
		r.spare = s
	default:
		if r.random != nil {
			r.random.Finalize()
		}
		r.random = s
	}
	return s, nil
}

// Finalize releases the samplers and operator graphs the restorer compiled
// and keeps, without waiting for the garbage collector (on a GPU they hold
// device memory). The restorer compiles again if it is used afterwards.
func (r *Restorer) Finalize() {
	for _, s := range []*cadps.Sampler{r.fixedSampler, r.random, r.spare} {
		if s != nil {
			s.Finalize()
		}
	}
	if r.last != nil {
		r.last.sampler.Finalize()
	}
	r.fixedSampler, r.random, r.spare, r.last = nil, nil, nil, nil
	r.applier.finalize()
}

// sample runs every draw over the batch and returns, for each image, the
// reconstruction of the draw that fits its measurement best (the first
// draw on ties), recording the fits and draws in res.
func (r *Restorer) sample(s *cadps.Sampler, m *measurement, shape []int, seed uint64, res *outcome, obs observer) ([]float32, error) {
	n := shape[0]
	res.fit, res.draw = make([]float64, n), make([]int, n)
	start := time.Now()
	var best []float32
	for d := range r.draws() {
		var cb cadps.Callback
		if obs.step != nil {
			cb = func(info cadps.StepInfo) error { return obs.step(d, info, time.Since(start)) }
		}
		out, err := s.Run(nil, shape, m.y, r.noiseSource(drawSeed(seed, d)), cb)
		if err != nil {
			return nil, fmt.Errorf("restore: %s%w", r.drawLabel(d), err)
		}
		flat := tensors.MustCopyFlatData[float32](out)
		fit := make([]float64, n) // 0 without a measurement
		if m.op != nil {
			if fit, err = r.fits(m, flat, shape); err != nil {
				return nil, err
			}
		}
		kept := make([]bool, n)
		size := len(flat) / n // values per image
		for k := range n {
			if d == 0 || fit[k] < res.fit[k] {
				kept[k], res.fit[k], res.draw[k] = true, fit[k], d
				if d > 0 {
					copy(best[k*size:(k+1)*size], flat[k*size:(k+1)*size])
				}
			}
		}
		if d == 0 {
			best = flat
		}
		if obs.kept != nil {
			obs.kept(d, kept)
		}
	}
	return best, nil
}
