// Package restore is the toolkit's restoration pipeline, shared by the
// cadps command and notebooks: load a prior and an image, synthesise a
// measurement y = A(x) + n from the clean image with a seeded noise draw,
// run a guidance method over the reverse diffusion (as many draws as asked,
// keeping for each image the one that fits y best), and return the
// reconstruction with the measurement as an image, the x̂0 estimates along
// the way, the residual curve, timings and PSNR/SSIM against the clean
// image. A single image is a batch of one. Whole reproductions (folders of
// images × tasks × methods, resumable and sharded) are package runs'.
//
// To start: [LoadPrior] loads a prior (SmallPriorName for the shipped one),
// [LoadImage] an image for it, [New] makes a [Restorer] for a task, method
// and options, and [Restorer.Restore] returns a [Result]; [Result.Save]
// writes its images. Package cadps's Sampler is the layer below, for runs
// this pipeline does not make.
//
// A measurement one already has, with no clean image behind it (a
// low-resolution scan, a photograph blurred by a known kernel, an image
// with a known mask of missing pixels), goes through the same pipeline by
// [Restorer.RestoreMeasurement], which takes y as an image of the
// operator's output size; the operator must not draw random parts from the
// seed (give a mask or kernel as a file), and the result has no metrics.
package restore

import (
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/cadps/toolkit/cadps"
	"github.com/cadps/toolkit/cadps/diffusion"
	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/cadps/imageio"
	"github.com/cadps/toolkit/ops"
	"github.com/gomlx/gomlx/backends"
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
	// Custom, when not nil, is the method itself, one of one's own (any
	// guidance.Method with a Name of its own): it is used instead of
	// Method, which must then be empty, and Guidance does not apply;
	// settings and records name it by its Name. Its defaults come from the
	// interfaces it implements (guidance.Scaler, guidance.StepDefaulter,
	// …), as a toolkit method's do, and New runs its guidance.Validator. A
	// toolkit method goes in Method, as a spec with its options (the
	// toolkit's zero values are not its defaults), so that settings record
	// them; a Custom value named like one is refused unless it is that
	// method with its defaults.
	Custom guidance.Method
	// Steps is the number of respaced sampling steps; 0 takes the method's
	// own count for the task (guidance.DefaultSteps: DDRM 20, DiffPIR 100 or
	// 20 for inpainting, DAPS 200) and, for the other methods, keeps the
	// prior's diffusion respacing. Respacing, when set, is used instead.
	// A negative count is an error.
	Steps int
	// Respacing is a timestep respacing such as "100" or "ddim50" (see
	// diffusion.SpaceTimesteps); empty (the default) derives it from
	// Steps, or keeps the prior's as Steps says.
	Respacing string
	// DDIM selects DDIM updates with Eta (default false: the ancestral
	// DDPM updates, unless the prior's process is configured for DDIM).
	DDIM bool
	// Eta is DDIM's η, in [0, 1] (0, the default, is deterministic DDIM);
	// a non-zero Eta without DDIM updates is an error.
	Eta float64
	// Scale is the step size ζ, finite and non-negative; nil selects the
	// method's default for the task's kind, and is an error for a method
	// or operator kind that has none.
	Scale *float64
	// Ramp schedules ζ over the steps (guidance.Ramp); the zero Ramp keeps
	// it constant, as the reference does.
	Ramp guidance.Ramp
	// SigmaY is the σ_y the likelihood assumes, finite and non-negative,
	// on the images' [−1, 1] scale; nil takes the noise model's.
	// For a measurement one gives (Restorer.RestoreMeasurement) it is how
	// much the method trusts y, whose own noise is whatever it is.
	SigmaY *float64
	// Noise is the measurement noise model; nil is Gaussian with σ = 0.05,
	// as in the DPS configs. A given measurement draws no noise: the model
	// then only sets σ_y, unless SigmaY does.
	Noise ops.Noise
	// ProgressEvery keeps x̂0 every that many steps (and at the last step);
	// 0 or less (the default) keeps about ten.
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
	// truth; it costs Draws sampling runs. 0 or 1: one draw; a negative
	// count is an error.
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

// network returns the prior network the options ask for, conditioned on
// the class label New saw.
func (r *Restorer) network() guidance.Network {
	m := r.prior.Model
	if r.opts.BFloat16 {
		m = m.BFloat16()
	}
	return network(m, r.class)
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
	class   *int // the prior's Class as New saw it

	// fixedOp is the operator when it does not depend on the seed (no
	// random mask or kernel), and fixedSampler its sampler (or, without a
	// measurement, the sampler), compiled on the first restoration and
	// reused by the later ones; last is the last other sampler compiled
	// for reuse, random the last sampler of an operator with random
	// parts, whose compiled graphs the next one may share, and spare a
	// sampler compiled for the last batch alone (see samplerFor).
	fixedOp      ops.Operator
	fixedSampler *cadps.Sampler
	last         *compiled
	random       *cadps.Sampler
	spare        *cadps.Sampler
	// applier computes A(x) to measure the images and score the draws.
	applier applier
}

// New checks the options against the prior (the method exists, the task
// builds for the prior's image size, the respacing is valid) and returns a
// restorer.
func New(b backends.Backend, prior *Prior, o Options) (*Restorer, error) {
	if b == nil || prior == nil {
		return nil, errors.New("restore: no backend or no prior")
	}
	if err := prior.Check(); err != nil {
		return nil, err
	}
	method, spec, err := resolveMethod(o)
	if err != nil {
		return nil, err
	}
	if err := guidance.Validate(method); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	// The operator's kind chooses the defaults; without a measurement, the
	// task's name does.
	kind := ops.TaskKind(o.Task.Name())
	var fixedOp ops.Operator
	if guidance.UsesMeasurement(method) {
		var op ops.Operator
		if op, fixedOp, err = seedIndependent(b, o.Task, prior.ImageShape()); err != nil {
			return nil, err
		}
		if err := guidance.CheckOperator(method, op); err != nil {
			return nil, fmt.Errorf("restore: %w", err)
		}
		kind = ops.KindOf(op)
	}
	steps := o.Steps
	if steps == 0 {
		steps = guidance.DefaultSteps(method, kind)
	}
	cfg := prior.Diffusion
	switch {
	case o.Respacing != "":
		cfg.Respacing = o.Respacing
	case steps > 0:
		if err := checkSteps(steps, cfg.Steps); err != nil {
			return nil, err
		}
		cfg.Respacing = diffusion.StepRespacing(cfg.Steps, steps, o.DDIM)
	case o.Steps < 0:
		return nil, fmt.Errorf("restore: steps %d is negative", o.Steps)
	case steps < 0:
		return nil, fmt.Errorf("restore: method %s gives a negative default step count (%d) for an operator of kind %q", method.Name(), steps, kind)
	}
	if o.DDIM {
		cfg.Sampler = diffusion.SamplerDDIM
	}
	process, err := diffusion.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	if err := guidance.CheckProcess(method, process); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	r := &Restorer{backend: b, prior: prior, process: process, method: method, spec: spec, opts: o, noise: o.Noise, fixedOp: fixedOp, applier: applier{b: b}}
	r.class = cloneInt(prior.Class)
	if r.noise == nil {
		if r.noise, err = ops.NewGaussianNoise(0.05); err != nil {
			return nil, fmt.Errorf("restore: %w", err)
		}
	}
	r.scale = guidance.DefaultScale(method, kind)
	switch {
	case o.Scale != nil:
		r.scale = *o.Scale
	case r.scale == 0 && guidance.UsesMeasurement(method):
		return nil, fmt.Errorf("restore: method %s has no default step size ζ for an operator of kind %q: set Options.Scale", method.Name(), kind)
	}
	switch {
	case o.Draws < 0:
		return nil, fmt.Errorf("restore: draws %d is negative", o.Draws)
	case o.Draws > 1 && !guidance.UsesMeasurement(method):
		return nil, fmt.Errorf("restore: draws %d: the best draw is the one that fits the measurement, and unconditional sampling has none", o.Draws)
	}
	r.sigmaY = r.noise.Sigma()
	if o.SigmaY != nil {
		r.sigmaY = *o.SigmaY
	}
	if err := (cadps.Problem{Process: process, Scale: r.scale, SigmaY: r.sigmaY, Ramp: o.Ramp, Eta: o.Eta}).CheckParams(); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	r.every = o.ProgressEvery
	if r.every <= 0 {
		r.every = max(1, process.NumSteps()/10)
	}
	return r, nil
}

// resolveMethod returns the method the options name, and its spec as
// settings record it.
func resolveMethod(o Options) (guidance.Method, string, error) {
	if m := o.Custom; m != nil {
		name := m.Name()
		switch {
		case o.Method != "":
			return nil, "", fmt.Errorf("restore: both a method spec (%q) and a method value (%s): set one", o.Method, name)
		case name == "":
			return nil, "", fmt.Errorf("restore: the method value %T has an empty Name: settings and records name a method by it", m)
		case guidance.Has(name):
			// The toolkit's method with its defaults is recorded by its
			// name; anything else under that name would be misnamed.
			if def, err := guidance.New(name, guidance.Options{}); err != nil || !reflect.DeepEqual(m, def) {
				return nil, "", fmt.Errorf("restore: the method value %T is named %q like the toolkit's method, but is not its default: give a toolkit method with options as a Method spec (e.g. %q), whose options settings record, or name a method of one's own otherwise", m, name, name+":key=value")
			}
		}
		return m, name, nil
	}
	method, err := guidance.ParseSpec(o.Method, o.Guidance)
	if err != nil {
		return nil, "", fmt.Errorf("restore: %w", err)
	}
	spec, err := guidance.CanonicalSpec(o.Method)
	if err != nil {
		return nil, "", fmt.Errorf("restore: %w", err)
	}
	return method, spec, nil
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
		GraphNoise: r.opts.GraphNoise, BFloat16: r.opts.BFloat16, Class: cloneInt(r.class),
	}
	if r.opts.Task.Config != nil {
		s.TaskConfig = r.opts.Task.Config
	}
	if cfg.Sampler == diffusion.SamplerDDIM { // asked for, or the prior's configured sampler
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

// cloneInt returns a pointer to a copy of *p (nil for nil), so that a
// value handed in or out is not shared.
func cloneInt(p *int) *int {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// describeNoise returns a noise model's spec as ops.ParseNoise reads it
// (its name when it has no String method).
func describeNoise(n ops.Noise) string {
	if s, ok := n.(fmt.Stringer); ok {
		return s.String()
	}
	return n.Name()
}

// Restore synthesises the measurement of truth and reconstructs it: the
// pipeline of [Restorer.RestoreBatch] on a batch of one, keeping the x̂0
// strip and the residual curve of the draw kept. seed draws the operator's
// random parts, the measurement noise and every draw of the sampler. cb,
// when not nil, is called after every step. A NaN or Inf during sampling
// returns an error wrapping cadps.ErrDiverged.
func (r *Restorer) Restore(truth *imageio.Image, seed uint64, cb func(Progress)) (*Result, error) {
	if err := r.checkImages([]*imageio.Image{truth}, false); err != nil {
		return nil, err
	}
	return r.restoreOne(truth, nil, seed, cb)
}

// restoreOne runs the pipeline on one image, from its clean image truth or
// from the given measurement (truth nil), and returns its result.
func (r *Restorer) restoreOne(truth *imageio.Image, given *measurement, seed uint64, cb func(Progress)) (*Result, error) {
	var truths []*imageio.Image
	if truth != nil {
		truths = []*imageio.Image{truth}
	}
	tr := &tracker{r: r, cb: cb}
	out, err := r.run(truths, given, seed, false, observer{step: tr.step, kept: tr.kept})
	if err != nil {
		return nil, err
	}
	res := &Result{
		Truth: truth, Reconstruction: out.recons[0], Measurement: out.measurements[0], Operator: out.operator,
		Progress: tr.best.progress, Residuals: tr.best.residuals, Residual: out.fit[0], Draw: out.draw[0],
		Metrics: out.metrics[0], Seed: seed,
		Timings: Timings{Measure: out.measure, FirstStep: tr.firstStep, Sample: out.sample},
	}
	if res.Measurement != nil {
		res.MeasurementView = out.view
	}
	if n := r.draws() * r.process.NumSteps(); n > 1 {
		res.Timings.PerStep = (res.Timings.Sample - res.Timings.FirstStep) / time.Duration(n-1)
	}
	return res, nil
}

// checkImages reports an invalid image or one of another size than the
// prior's, naming it by its index when numbered.
func (r *Restorer) checkImages(truths []*imageio.Image, numbered bool) error {
	want := r.prior.ImageShape()
	for k, im := range truths {
		which := "image"
		if numbered {
			which = fmt.Sprintf("image %d", k)
		}
		if err := im.Validate(); err != nil {
			return fmt.Errorf("restore: %s: %w", which, err)
		}
		if im.C != want[1] || im.H != want[2] || im.W != want[3] {
			return fmt.Errorf("restore: %s is %s, the model takes %d-channel %d×%d images", which, im.Size(), want[1], want[2], want[3])
		}
	}
	return nil
}

// tracker keeps, for a single image, each draw's residual curve and x̂0
// strip, and those of the draw kept; it passes every step on to cb.
type tracker struct {
	r         *Restorer
	cb        func(Progress)
	cur, best trace
	firstStep time.Duration
}

// trace is one draw's residual curve and x̂0 snapshots.
type trace struct {
	progress  []Snapshot
	residuals []float64
}

// step records a step of draw d: its residual, x̂0 every r.every steps
// (and at the last), and the first step's time.
func (t *tracker) step(d int, info cadps.StepInfo, elapsed time.Duration) error {
	if d == 0 && info.Step == 1 {
		t.firstStep = elapsed
	}
	var resid float64
	if len(info.Residual) > 0 {
		resid = float64(info.Residual[0])
	}
	t.cur.residuals = append(t.cur.residuals, resid)
	if info.Step%t.r.every == 0 || info.Step == info.Steps {
		shape := info.PredXStart.Shape().Dimensions
		ims, err := imageio.FromNCHW(tensors.MustCopyFlatData[float32](info.PredXStart), shape...)
		if err != nil {
			return fmt.Errorf("restore: x̂0 at step %d: %w", info.Step, err)
		}
		t.cur.progress = append(t.cur.progress, Snapshot{Step: info.Step, Image: ims[0].Clamp()})
	}
	if t.cb != nil {
		t.cb(Progress{Step: info.Step, Steps: info.Steps, Draw: d, Draws: t.r.draws(), Residual: resid, PredXStart: info.PredXStart, Elapsed: elapsed, Extra: info.Extra})
	}
	return nil
}

// kept ends a draw, keeping its curve and strip when the image keeps the
// draw.
func (t *tracker) kept(_ int, kept []bool) {
	if kept[0] {
		t.best = t.cur
	}
	t.cur = trace{}
}
