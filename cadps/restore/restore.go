// Package restore is the toolkit's restoration pipeline, shared by the
// cadps command and notebooks: load a prior and an image, synthesise a
// measurement y = A(x) + n from the clean image with a seeded noise draw,
// run a guidance method over the reverse diffusion, and return the
// reconstruction with the measurement as an image, the x̂0 estimates along
// the way, the residual curve, timings and PSNR/SSIM against the clean
// image. It also runs whole reproductions (folders of images × tasks ×
// methods) resumably and in shards; see [Reproduction].
package restore

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/cadps/toolkit/cadps"
	"github.com/cadps/toolkit/cadps/diffusion"
	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/cadps/imageio"
	"github.com/cadps/toolkit/cadps/metrics"
	"github.com/cadps/toolkit/ops"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// Options configure a restoration.
type Options struct {
	// Task is the measurement task.
	Task Task
	// Method is the guidance method's spec: its name (see guidance.Names),
	// optionally with options (see guidance.ParseSpec), which override
	// Guidance's.
	Method string
	// Guidance holds the method's options.
	Guidance guidance.Options
	// Steps is the number of respaced sampling steps (0 keeps the prior's
	// diffusion respacing). Respacing, when set, is used instead.
	Steps int
	// Respacing is a timestep respacing such as "100" or "ddim50".
	Respacing string
	// DDIM selects DDIM updates with Eta.
	DDIM bool
	// Eta is DDIM's η.
	Eta float64
	// Scale is the step size ζ; nil selects the task's default.
	Scale *float64
	// Ramp schedules ζ over the steps (guidance.Ramp); the zero Ramp keeps
	// it constant, as the reference does.
	Ramp guidance.Ramp
	// SigmaY is the σ_y the likelihood assumes; nil takes the noise model's.
	SigmaY *float64
	// Noise is the measurement noise model; nil is Gaussian with σ = 0.05,
	// as in the DPS configs.
	Noise ops.Noise
	// ProgressEvery keeps x̂0 every that many steps (and at the last step);
	// 0 keeps about ten.
	ProgressEvery int
	// GraphNoise draws the sampler's per-step noise inside the step graph
	// (cadps.NewGraphNoise), keeping the run on the device; the same seed
	// then gives another (equally seeded) run than the host draws do.
	GraphNoise bool
	// BFloat16 runs the network's torso in bfloat16 (unet.Model.BFloat16).
	BFloat16 bool
	// Draws samples each measurement that many times, with independent
	// sampler draws (the first is the seed's single run), and keeps for
	// each image the draw that fits the measurement best: the smallest
	// ‖y − A(x0)‖₂. The selection sees only the measurement, never the
	// truth; it costs Draws sampling runs. 0 or 1: one draw.
	Draws int
}

// draws returns the number of sampling runs per measurement.
func (r *Restorer) draws() int { return max(1, r.opts.Draws) }

// drawLabel names draw d in an error when there are several.
func (r *Restorer) drawLabel(d int) string {
	if r.draws() == 1 {
		return ""
	}
	return fmt.Sprintf("draw %d of %d: ", d+1, r.draws())
}

// network returns the prior network the options ask for.
func (r *Restorer) network() guidance.Network {
	if r.opts.BFloat16 {
		return cadps.UNetNetwork(r.prior.Model.BFloat16())
	}
	return cadps.UNetNetwork(r.prior.Model)
}

// noiseSource returns the sampler's noise source for seed.
func (r *Restorer) noiseSource(seed uint64) cadps.NoiseSource {
	if r.opts.GraphNoise {
		return cadps.NewGraphNoise(seed)
	}
	return cadps.NewSeededNoise(seed)
}

// Restorer restores images with one prior, task and method. It is not
// safe for concurrent use.
type Restorer struct {
	backend backends.Backend
	prior   *Prior
	process *diffusion.Process
	method  guidance.Method
	spec    string // method's canonical spec
	opts    Options
	scale   float64
	sigmaY  float64
	noise   ops.Noise
	every   int

	// fixedOp is the operator when it does not depend on the seed (no
	// random mask or kernel), and sampler its sampler, compiled on the
	// first restoration and reused by the later ones.
	fixedOp ops.Operator
	sampler *cadps.Sampler
}

// Settings describes a restorer's resolved settings, for records.
type Settings struct {
	// Model names the prior and Weights its weights file.
	Model   string `json:"model"`
	Weights string `json:"weights,omitempty"`
	// ImageShape is the NCHW shape of one image.
	ImageShape []int `json:"image_shape"`
	// Task is the task's label, TaskSpec its spec or TaskConfig its
	// reference configuration.
	Task       string `json:"task"`
	TaskSpec   string `json:"task_spec,omitempty"`
	TaskConfig any    `json:"task_config,omitempty"`
	// Method is the guidance method's spec in canonical form (see
	// guidance.CanonicalSpec) and MethodRevision its guidance.Revision.
	Method         string `json:"method"`
	MethodRevision int    `json:"method_revision,omitempty"`
	// Steps is the number of sampling steps, Respacing the respacing that
	// gave them, Sampler "ddpm" or "ddim" and Eta DDIM's η.
	Steps     int     `json:"steps"`
	Respacing string  `json:"respacing"`
	Sampler   string  `json:"sampler"`
	Eta       float64 `json:"eta,omitempty"`
	// Scale is the step size ζ and SigmaY the σ_y of the likelihood.
	Scale  float64 `json:"scale"`
	SigmaY float64 `json:"sigma_y"`
	// Ramp is the step-size schedule as guidance.ParseRamp reads it (empty
	// for the constant ζ).
	Ramp string `json:"ramp,omitempty"`
	// Noise describes the measurement noise.
	Noise string `json:"noise"`
	// Backend names the backend.
	Backend string `json:"backend"`
	// GraphNoise and BFloat16 record the options of the same names.
	GraphNoise bool `json:"graph_noise,omitempty"`
	BFloat16   bool `json:"bfloat16,omitempty"`
	// Draws is Options.Draws when above 1 (best of Draws by residual).
	Draws int `json:"draws,omitempty"`
}

// New checks the options against the prior (the method exists, the task
// builds for the prior's image size, the respacing is valid) and returns a
// restorer.
func New(b backends.Backend, prior *Prior, o Options) (*Restorer, error) {
	if b == nil || prior == nil {
		return nil, errors.New("restore: no backend or no prior")
	}
	method, err := guidance.ParseSpec(o.Method, o.Guidance)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	spec, err := guidance.CanonicalSpec(o.Method)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	var fixedOp ops.Operator
	if method.Name() != "unconditional" {
		var op ops.Operator
		if op, fixedOp, err = seedIndependent(b, o.Task, prior.ImageShape()); err != nil {
			return nil, err
		}
		if err := guidance.CheckOperator(method, op); err != nil {
			return nil, fmt.Errorf("restore: %w", err)
		}
	}
	cfg := prior.Diffusion
	switch {
	case o.Respacing != "":
		cfg.Respacing = o.Respacing
	case o.Steps > 0 && o.DDIM:
		cfg.Respacing = "ddim" + strconv.Itoa(o.Steps)
	case o.Steps > 0:
		cfg.Respacing = strconv.Itoa(o.Steps)
	case o.Steps < 0:
		return nil, fmt.Errorf("restore: steps %d is negative", o.Steps)
	}
	if o.DDIM {
		cfg.Sampler = diffusion.SamplerDDIM
	}
	process, err := diffusion.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	r := &Restorer{backend: b, prior: prior, process: process, method: method, spec: spec, opts: o, noise: o.Noise, fixedOp: fixedOp}
	if r.noise == nil {
		if r.noise, err = ops.NewGaussianNoise(0.05); err != nil {
			return nil, fmt.Errorf("restore: %w", err)
		}
	}
	r.scale = guidance.DefaultScale(method, o.Task.Name())
	if o.Scale != nil {
		r.scale = *o.Scale
	}
	if math.IsNaN(r.scale) || math.IsInf(r.scale, 0) || r.scale < 0 {
		return nil, fmt.Errorf("restore: step size ζ = %v must be finite and non-negative", r.scale)
	}
	if err := o.Ramp.Validate(); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	switch {
	case o.Draws < 0:
		return nil, fmt.Errorf("restore: draws %d is negative", o.Draws)
	case o.Draws > 1 && method.Name() == "unconditional":
		return nil, fmt.Errorf("restore: draws %d: the best draw is the one that fits the measurement, and unconditional sampling has none", o.Draws)
	}
	r.sigmaY = r.noise.Sigma()
	if o.SigmaY != nil {
		r.sigmaY = *o.SigmaY
	}
	r.every = o.ProgressEvery
	if r.every <= 0 {
		r.every = max(1, process.NumSteps()/10)
	}
	return r, nil
}

// Prior returns the restorer's prior.
func (r *Restorer) Prior() *Prior { return r.prior }

// Settings returns the resolved settings.
func (r *Restorer) Settings() Settings {
	cfg := r.process.Config()
	s := Settings{
		Model: r.prior.Name, Weights: r.prior.Weights, ImageShape: r.prior.ImageShape(),
		Task: r.opts.Task.Label, TaskSpec: r.opts.Task.Spec,
		Method: r.spec, MethodRevision: guidance.Revision(r.method),
		Steps: r.process.NumSteps(), Respacing: cfg.Respacing, Sampler: cfg.Sampler,
		Scale: r.scale, SigmaY: r.sigmaY, Noise: describeNoise(r.noise), Backend: r.backend.Name(),
		GraphNoise: r.opts.GraphNoise, BFloat16: r.opts.BFloat16,
	}
	if r.opts.Task.Config != nil {
		s.TaskConfig = r.opts.Task.Config
	}
	if r.opts.DDIM {
		s.Eta = r.opts.Eta
	}
	if !r.opts.Ramp.Off() {
		s.Ramp = r.opts.Ramp.String()
	}
	if r.draws() > 1 {
		s.Draws = r.draws()
	}
	return s
}

func describeNoise(n ops.Noise) string {
	switch x := n.(type) {
	case *ops.GaussianNoise:
		return fmt.Sprintf("gaussian:sigma=%g", x.Sigma())
	case *ops.PoissonNoise:
		return fmt.Sprintf("poisson:rate=%g", x.Rate())
	}
	return n.Name()
}

// Progress is what a progress callback sees after each step.
type Progress struct {
	// Step counts from 1 to Steps, in each draw (Options.Draws) in turn.
	Step, Steps int
	// Draw is the draw being sampled, from 0, of Draws.
	Draw, Draws int
	// Residual is ‖y − A(x̂0)‖₂ at this step (0 without a measurement).
	Residual float64
	// Elapsed is the sampling time so far.
	Elapsed time.Duration
	// Extra holds the method's per-step diagnostics by name (e.g. CA-DPS's
	// "multiplier" 1+d), as the sampler reports them.
	Extra map[string]*tensors.Tensor
}

// Snapshot is the estimate x̂0 after a step.
type Snapshot struct {
	// Step is the step (1 … Steps) after which x̂0 was taken.
	Step int
	// Image is x̂0, clamped to [0,1].
	Image *imageio.Image
}

// Timings are the wall times of a restoration.
type Timings struct {
	// Measure is the time to build the operator and synthesise y.
	Measure time.Duration `json:"measure_ns"`
	// FirstStep is the first step's time, which includes compiling the step.
	FirstStep time.Duration `json:"first_step_ns"`
	// Sample is the whole sampling loop (of every draw).
	Sample time.Duration `json:"sample_ns"`
	// PerStep is the mean time of the steps after the first.
	PerStep time.Duration `json:"per_step_ns"`
}

// Metrics are the reconstruction's quality against the clean image, both
// as 8-bit images (as saved), with a data range of 1.
type Metrics struct {
	PSNR float64 `json:"psnr"`
	SSIM float64 `json:"ssim"`
}

// Result is a restoration's output.
type Result struct {
	// Truth is the clean image.
	Truth *imageio.Image
	// Reconstruction is x_0, clamped to [0,1] and rounded to 8 bits.
	Reconstruction *imageio.Image
	// Measurement is y as an image: the low-resolution image, the blurred
	// or masked image, or for phase retrieval a log-magnitude view; nil
	// when y is not image-shaped.
	Measurement *imageio.Image
	// MeasurementView says what Measurement shows: "image",
	// "log-magnitude" or "" (none).
	MeasurementView string
	// Operator describes the operator.
	Operator string
	// Progress holds x̂0 every ProgressEvery steps and at the last step.
	Progress []Snapshot
	// Residuals is ‖y − A(x̂0)‖₂ per step.
	Residuals []float64
	// Residual is ‖y − A(x0)‖₂ of the reconstruction x0 (before it is
	// clamped and rounded; 0 without a measurement), and Draw the draw it
	// came from (0 … Draws−1; Progress and Residuals are that draw's).
	Residual float64
	Draw     int
	// Timings are the wall times.
	Timings Timings
	// Metrics compare Reconstruction with Truth.
	Metrics Metrics
	// Seed is the seed of the measurement noise, random operator parts and
	// the sampler's noise.
	Seed uint64
}

// measurementStream separates the measurement noise's random stream from
// the sampler's for the same seed.
const measurementStream = 0x6d65_6173_7572_65

// Restore synthesises the measurement of truth and reconstructs it. seed
// draws the operator's random parts, the measurement noise and every draw
// of the sampler. cb, when not nil, is called after every step. A NaN or
// Inf during sampling returns an error wrapping cadps.ErrDiverged.
func (r *Restorer) Restore(truth *imageio.Image, seed uint64, cb func(Progress)) (*Result, error) {
	want := r.prior.ImageShape()
	if err := truth.Validate(); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	if truth.C != want[1] || truth.H != want[2] || truth.W != want[3] {
		return nil, fmt.Errorf("restore: image is %s, the model takes %d-channel %d×%d images", truth.Size(), want[1], want[2], want[3])
	}
	res := &Result{Truth: truth, Seed: seed}
	t0 := time.Now()
	x, dims, err := imageio.ToNCHW(truth)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	shape := dims[:]
	var op ops.Operator
	var y *tensors.Tensor
	var noisy []float32 // y's values
	if r.method.Name() != "unconditional" {
		if op = r.fixedOp; op == nil {
			if op, err = r.opts.Task.Operator(shape, seed); err != nil {
				return nil, err
			}
		}
		res.Operator = describeOperator(op)
		clean, yShape, err := applyOperator(r.backend, op, x, shape)
		if err != nil {
			return nil, err
		}
		noisy = r.noise.Apply(clean, rand.New(rand.NewPCG(seed, measurementStream)))
		y = tensors.FromFlatDataAndDimensions(noisy, yShape...)
		res.Measurement, res.MeasurementView = measurementImage(op, noisy, yShape, truth.C)
	}
	res.Timings.Measure = time.Since(t0)

	sampler := r.sampler
	if sampler == nil {
		sampler, err = cadps.NewSampler(cadps.Problem{
			Backend: r.backend, Ctx: r.prior.Ctx, Net: r.network(), Process: r.process,
			Op: op, Method: r.method, Scale: r.scale, Ramp: r.opts.Ramp, SigmaY: r.sigmaY,
			DDIM: r.process.Config().Sampler == diffusion.SamplerDDIM, Eta: r.opts.Eta,
		})
		if err != nil {
			return nil, fmt.Errorf("restore: %w", err)
		}
		if op == r.fixedOp { // the same operator for every seed: keep the compiled step
			r.sampler = sampler
		}
	}
	// One run per draw; each keeps its own residual curve and x̂0 strip,
	// and the result is the draw that fits y best.
	type run struct {
		progress  []Snapshot
		residuals []float64
		out       []float32
	}
	start := time.Now()
	last := start
	steps := r.process.NumSteps()
	var best *run
	for d := range r.draws() {
		cur := &run{}
		callback := func(info cadps.StepInfo) error {
			now := time.Now()
			if d == 0 && info.Step == 1 {
				res.Timings.FirstStep = now.Sub(last)
			}
			last = now
			var resid float64
			if len(info.Residual) > 0 {
				resid = float64(info.Residual[0])
			}
			cur.residuals = append(cur.residuals, resid)
			if info.Step%r.every == 0 || info.Step == info.Steps {
				ims, err := imageio.FromNCHW(tensors.MustCopyFlatData[float32](info.PredXStart), shape...)
				if err != nil {
					return fmt.Errorf("restore: x̂0 at step %d: %w", info.Step, err)
				}
				cur.progress = append(cur.progress, Snapshot{Step: info.Step, Image: ims[0].Clamp()})
			}
			if cb != nil {
				cb(Progress{Step: info.Step, Steps: info.Steps, Draw: d, Draws: r.draws(), Residual: resid, Elapsed: now.Sub(start), Extra: info.Extra})
			}
			return nil
		}
		out, err := sampler.Run(nil, shape, y, r.noiseSource(drawSeed(seed, d)), callback)
		if err != nil {
			return nil, fmt.Errorf("restore: %s%w", r.drawLabel(d), err)
		}
		cur.out = tensors.MustCopyFlatData[float32](out)
		var fit float64
		if op != nil {
			f, err := fits(r.backend, op, cur.out, shape, noisy)
			if err != nil {
				return nil, err
			}
			fit = f[0]
		}
		if best == nil || fit < res.Residual {
			best, res.Residual, res.Draw = cur, fit, d
		}
	}
	res.Progress, res.Residuals = best.progress, best.residuals
	res.Timings.Sample = time.Since(start)
	if n := r.draws() * steps; n > 1 {
		res.Timings.PerStep = (res.Timings.Sample - res.Timings.FirstStep) / time.Duration(n-1)
	}
	ims, err := imageio.FromNCHW(best.out, shape...)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	res.Reconstruction = quantize8(ims[0])
	if res.Metrics.PSNR, err = metrics.PSNR(quantize8(truth), res.Reconstruction, 1); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	if res.Metrics.SSIM, err = metrics.SSIM(quantize8(truth), res.Reconstruction, 1); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	return res, nil
}

// seedIndependent builds the task's operator for two seeds and returns one
// of them as op, and also as fixed when both give the same A(x) on a random
// probe image (no random mask or kernel), so that one compiled sampler
// serves every image; fixed is nil for an operator with random parts.
// Errors are the task's.
func seedIndependent(b backends.Backend, task Task, shape []int) (op, fixed ops.Operator, err error) {
	a, err := task.Operator(shape, 1)
	if err != nil {
		return nil, nil, err
	}
	c, err := task.Operator(shape, 2)
	if err != nil {
		return nil, nil, err
	}
	probe := make([]float32, shape[0]*shape[1]*shape[2]*shape[3])
	rng := rand.New(rand.NewPCG(1, 2))
	for k := range probe {
		probe[k] = float32(2*rng.Float64() - 1)
	}
	ya, _, err := applyOperator(b, a, probe, shape)
	if err != nil {
		return nil, nil, err
	}
	yc, _, err := applyOperator(b, c, probe, shape)
	if err != nil {
		return nil, nil, err
	}
	if !slices.Equal(ya, yc) {
		return a, nil, nil
	}
	return a, a, nil
}

// describeOperator returns an operator's spec-like description.
func describeOperator(op ops.Operator) string {
	if s, ok := op.(fmt.Stringer); ok {
		return s.String()
	}
	return op.Name()
}

// applyOperator computes A(x) on the backend.
func applyOperator(b backends.Backend, op ops.Operator, x []float32, shape []int) ([]float32, []int, error) {
	yShape, err := op.OutputShape(shape)
	if err != nil {
		return nil, nil, fmt.Errorf("restore: operator %s: %w", op.Name(), err)
	}
	exec, err := graph.NewExec(b, func(x *graph.Node) *graph.Node { return op.Apply(x) })
	if err != nil {
		return nil, nil, fmt.Errorf("restore: operator %s: %w", op.Name(), err)
	}
	defer exec.Finalize()
	out, err := exec.Exec1(tensors.FromFlatDataAndDimensions(x, shape...))
	if err != nil {
		return nil, nil, fmt.Errorf("restore: applying %s: %w", op.Name(), err)
	}
	if got := out.Shape().Dimensions; !slices.Equal(got, yShape) {
		return nil, nil, fmt.Errorf("restore: operator %s gave shape %v, its OutputShape says %v", op.Name(), got, yShape)
	}
	return tensors.MustCopyFlatData[float32](out), yShape, nil
}

// measurementImage renders y for viewing: image-shaped measurements as
// images, phase retrieval's magnitudes (or any measurement with other
// channels than the image) as log(1+|y|) scaled to [0,1] per channel.
func measurementImage(op ops.Operator, y []float32, shape []int, channels int) (*imageio.Image, string) {
	if len(shape) != 4 || shape[0] != 1 || (shape[1] != 1 && shape[1] != 3) {
		return nil, ""
	}
	if op.Name() != "phase_retrieval" && shape[1] == channels {
		ims, err := imageio.FromNCHW(y, shape...)
		if err != nil {
			return nil, ""
		}
		return ims[0].Clamp(), "image"
	}
	im, err := imageio.New(shape[1], shape[2], shape[3])
	if err != nil {
		return nil, ""
	}
	n := shape[2] * shape[3]
	for c := range shape[1] {
		plane := y[c*n : (c+1)*n]
		var hi float64
		for _, v := range plane {
			hi = max(hi, math.Log1p(math.Abs(float64(v))))
		}
		dst := im.Plane(c)
		for k, v := range plane {
			if hi > 0 {
				dst[k] = float32(math.Log1p(math.Abs(float64(v))) / hi)
			}
		}
	}
	return im, "log-magnitude"
}

// quantize8 clamps im to [0,1] and rounds it to 8 bits as a saved PNG
// holds it, so that metrics on a result equal metrics on its files.
func quantize8(im *imageio.Image) *imageio.Image {
	out := im.Clamp()
	for k, v := range out.Pix {
		out.Pix[k] = float32(math.Floor(float64(v)*255+0.5) / 255)
	}
	return out
}
