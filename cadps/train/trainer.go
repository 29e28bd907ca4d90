// Package train trains guided-diffusion UNets as DDPMs with learned
// variance, with improved DDPM's and guided-diffusion's objective: the
// hybrid loss L_simple + λ·L_vlb (λ = 0.001) at uniform timesteps, AdamW
// and an exponential moving average (EMA) of the weights. Unlike their
// training loop, it ramps the learning rate up linearly ([Config]'s
// WarmupSteps), warms the EMA's decay up (min(EMARate, (1+n)/(10+n)) after
// step n, where guided-diffusion uses its rate from the first step) and can
// clip the gradient's norm (ClipNorm; guided-diffusion does not clip).
// L_simple's terms may be weighted per timestep ([LossWeight]), and
// [NoiseLevelErrors] measures a trained network at each noise level.
//
// A run is exactly resumable: the data order and every random draw (the
// timesteps and the noise) are functions of the seed and the step number
// only, and the checkpoint holds the weights, the EMA, the optimizer's
// moments and step counters, the seed and the configuration, so a run that
// stops and resumes reaches the same weights as one that never stopped.
package train

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"

	"github.com/cadps/toolkit/cadps/diffusion"
	"github.com/cadps/toolkit/cadps/unet"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"
)

// Config describes a training run.
type Config struct {
	// UNet is the network; it must have learn_sigma (2C outputs).
	UNet unet.Config `json:"unet"`
	// Diffusion is the training process: no respacing, epsilon prediction
	// and learned_range (or learned) variance.
	Diffusion diffusion.Config `json:"diffusion"`
	// BatchSize is the number of images per step.
	BatchSize int `json:"batch_size"`
	// LearningRate is AdamW's learning rate after warm-up.
	LearningRate float64 `json:"lr"`
	// WarmupSteps ramps the learning rate linearly from 0 over this many
	// steps (0: none).
	WarmupSteps int `json:"warmup_steps"`
	// WeightDecay is AdamW's decoupled weight decay (guided-diffusion: 0).
	WeightDecay float64 `json:"weight_decay"`
	// EMARate is the decay of the weights' moving average, in [0, 1);
	// the decay used after step n is min(EMARate, (1+n)/(10+n)).
	EMARate float64 `json:"ema_rate"`
	// ClipNorm clips the gradient to this global L2 norm (0: no clipping).
	ClipNorm float64 `json:"clip_norm"`
	// Seed determines the initial weights, the data order and every draw.
	Seed uint64 `json:"seed"`
	// LossWeight weights L_simple's per-timestep terms (see [LossWeight]
	// for the forms); "" is improved DDPM's uniform weight.
	LossWeight string `json:"loss_weight,omitempty"`
	// History lists the settings a resumed run changed ([Trainer.SetLossWeight],
	// [Trainer.SetLearningRate]), oldest first; the fields above hold the
	// current values. A run started from scratch with this configuration
	// uses the current values at every step.
	History []Change `json:"history,omitempty"`
}

// Change records a setting that a resumed run changed.
type Change struct {
	// Step is the number of steps taken before the change: step Step+1,
	// as losses.csv numbers steps from 1, is the first with the new value.
	Step int64 `json:"step"`
	// Setting is the configuration's JSON name of the setting ("lr",
	// "loss_weight").
	Setting string `json:"setting"`
	// From and To are the old and the new value.
	From string `json:"from"`
	To   string `json:"to"`
}

// Validate reports the first inconsistent setting.
func (c Config) Validate() error {
	_, err := c.validate()
	return err
}

// validate is Validate that also returns the parsed LossWeight.
func (c Config) validate() (LossWeight, error) {
	switch {
	case c.BatchSize <= 0:
		return LossWeight{}, fmt.Errorf("train: batch size must be positive, got %d", c.BatchSize)
	case !(c.LearningRate > 0) || math.IsInf(c.LearningRate, 0):
		return LossWeight{}, fmt.Errorf("train: learning rate must be positive and finite, got %v", c.LearningRate)
	case c.WarmupSteps < 0:
		return LossWeight{}, fmt.Errorf("train: warm-up steps must be non-negative, got %d", c.WarmupSteps)
	case !(c.WeightDecay >= 0) || math.IsInf(c.WeightDecay, 0):
		return LossWeight{}, fmt.Errorf("train: weight decay must be non-negative and finite, got %v", c.WeightDecay)
	case !(c.EMARate >= 0 && c.EMARate < 1):
		return LossWeight{}, fmt.Errorf("train: EMA rate must be in [0, 1), got %v", c.EMARate)
	case !(c.ClipNorm >= 0) || math.IsInf(c.ClipNorm, 0):
		return LossWeight{}, fmt.Errorf("train: gradient clip norm must be non-negative and finite, got %v", c.ClipNorm)
	case !c.UNet.LearnSigma:
		return LossWeight{}, errors.New("train: the hybrid loss needs a UNet with learn_sigma")
	case c.UNet.ClassCond:
		return LossWeight{}, errors.New("train: class-conditional training is not supported")
	case c.UNet.Dropout != 0:
		return LossWeight{}, fmt.Errorf("train: the network's dropout is %v: training applies no dropout, so set it to 0", c.UNet.Dropout)
	case c.UNet.UseFP16:
		// Refused rather than reset: the weights file records the network's
		// configuration, which would claim a precision the run did not use.
		return LossWeight{}, errors.New("train: the network has use_fp16: training computes in float32 (no mixed precision), so set it to false")
	case c.Diffusion.Respacing != "":
		return LossWeight{}, fmt.Errorf("train: the training process must not be respaced (got %q)", c.Diffusion.Respacing)
	case c.Diffusion.MeanType != diffusion.MeanEpsilon:
		return LossWeight{}, fmt.Errorf("train: only the epsilon mean type is supported, got %q", c.Diffusion.MeanType)
	case c.Diffusion.VarType != diffusion.VarLearnedRange && c.Diffusion.VarType != diffusion.VarLearned:
		return LossWeight{}, fmt.Errorf("train: the variance type must be learned_range or learned, got %q", c.Diffusion.VarType)
	}
	for _, ch := range c.History {
		if ch.Step < 0 {
			return LossWeight{}, fmt.Errorf("train: history: change of %s at negative step %d", ch.Setting, ch.Step)
		}
	}
	return ParseLossWeight(c.LossWeight)
}

// StepLosses are the batch means of one step's losses.
type StepLosses struct {
	// Loss is the hybrid loss that was minimised.
	Loss float64
	// MSE is L_simple.
	MSE float64
	// VB is the VB term L_t in bits/dim.
	VB float64
	// GradNorm is the global L2 norm of the gradient before clipping.
	GradNorm float64
}

// gradientOptimizer is an optimizer that applies given gradients (GoMLX's
// Adam does), so that they can be clipped first.
type gradientOptimizer interface {
	UpdateGraphWithGradients(ctx *context.Context, grads []*graph.Node, lossDType dtypes.DType)
}

// Scopes of the non-model state in the context.
const (
	emaScope = "/ema"
)

// Trainer runs the training steps of one model on one data set.
type Trainer struct {
	cfg Config
	// weight is cfg.LossWeight parsed.
	weight  LossWeight
	backend backends.Backend
	model   *unet.Model
	process *diffusion.Process
	data    *Dataset
	ctx     *context.Context
	exec    *context.Exec
	step    int64
	// perm caches the data order of epoch permEpoch.
	perm      []int
	permEpoch int64
	// digest caches data.Digest(), which every checkpoint records.
	digest string
}

// dataDigest returns the data set's digest, computed once.
func (t *Trainer) dataDigest() string {
	if t.digest == "" {
		t.digest = t.data.Digest()
	}
	return t.digest
}

// New starts a run from freshly initialised weights (see [InitialWeights]).
func New(b backends.Backend, cfg Config, data *Dataset) (*Trainer, error) {
	t, err := newTrainer(b, cfg, data)
	if err != nil {
		return nil, err
	}
	// Variables are created in the model's parameter order: the order of the
	// context's variables fixes the order of the gradient-norm sum, and so
	// the run's exact floating-point results.
	init := InitialWeights(t.model, cfg.Seed)
	for _, p := range t.model.Params() {
		value := init[p.Name]
		scope, name := unet.KeyScope(p.Name)
		if err := unet.SetVariable(t.ctx, scope, name, value, true); err != nil {
			return nil, err
		}
		if err := unet.SetVariable(t.ctx, emaScope+scope, name, tensors.FromFlatDataAndDimensions(tensors.MustCopyFlatData[float32](value), value.Shape().Dimensions...), false); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// newTrainer checks the configuration against the data and builds
// everything but the weights.
func newTrainer(b backends.Backend, cfg Config, data *Dataset) (*Trainer, error) {
	if b == nil {
		return nil, errors.New("train: no backend")
	}
	if data == nil || data.N == 0 {
		return nil, errors.New("train: no training images")
	}
	weight, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	m, err := unet.New(cfg.UNet)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	if data.C != m.InChannels() || data.H != m.ImageSize() || data.W != m.ImageSize() {
		return nil, fmt.Errorf("train: images are %d×%d×%d, the model wants %d×%d×%d",
			data.C, data.H, data.W, m.InChannels(), m.ImageSize(), m.ImageSize())
	}
	p, err := diffusion.New(cfg.Diffusion)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	return &Trainer{cfg: cfg, weight: weight, backend: b, model: m, process: p, data: data, ctx: context.New(), permEpoch: -1}, nil
}

// Config returns the run's configuration.
func (t *Trainer) Config() Config { return t.cfg }

// Model returns the network being trained.
func (t *Trainer) Model() *unet.Model { return t.model }

// Steps returns the number of steps taken so far.
func (t *Trainer) Steps() int64 { return t.step }

// SetLossWeight switches the run to another weighting of L_simple (see
// [LossWeight]) from the next step on, and records the change in the
// configuration's History, which the checkpoints and the EMA weights carry.
// Setting the weighting the run already uses changes nothing.
func (t *Trainer) SetLossWeight(s string) error {
	w, err := ParseLossWeight(s)
	if err != nil {
		return err
	}
	if w == t.weight {
		return nil
	}
	from := t.weight
	t.weight = w
	t.cfg.LossWeight = w.String()
	if w.Uniform() {
		t.cfg.LossWeight = ""
	}
	t.change("loss_weight", from.String(), w.String())
	return nil
}

// SetLearningRate changes AdamW's learning rate (after warm-up) from the
// next step on, the usual annealing of a long run, and records the change
// in the configuration's History. The optimizer's moments are kept.
func (t *Trainer) SetLearningRate(lr float64) error {
	if !(lr > 0) || math.IsInf(lr, 0) {
		return fmt.Errorf("train: learning rate must be positive and finite, got %v", lr)
	}
	if lr == t.cfg.LearningRate {
		return nil
	}
	from := strconv.FormatFloat(t.cfg.LearningRate, 'g', -1, 64)
	t.cfg.LearningRate = lr
	t.change("lr", from, strconv.FormatFloat(lr, 'g', -1, 64))
	return nil
}

// change records a setting's change at the current step and drops the
// compiled step, which depends on the settings.
func (t *Trainer) change(setting, from, to string) {
	t.cfg.History = append(t.cfg.History, Change{Step: t.step, Setting: setting, From: from, To: to})
	t.exec = nil
}

// stepGraph is one training step: the hybrid loss at (x0, t, noise), its
// gradient (clipped), the AdamW update and the EMA update.
func (t *Trainer) stepGraph(ctx *context.Context, x0, ti, noise *node) []*node {
	g := x0.Graph()
	xt := t.process.QSample(x0, ti, noise)
	out := t.model.Apply(ctx, xt, t.process.ModelTimestep(ti), nil)
	losses := HybridLoss(t.process, x0, ti, noise, out)
	loss := graph.ReduceAllMean(losses.Weighted(t.process, t.weight.Graph(t.process, ti)))

	grads := ctx.BuildTrainableVariablesGradientsGraph(loss)
	var sq *node
	for _, gr := range grads {
		s := graph.ReduceAllSum(graph.Square(gr))
		if sq == nil {
			sq = s
		} else {
			sq = graph.Add(sq, s)
		}
	}
	norm := graph.Sqrt(sq)
	if t.cfg.ClipNorm > 0 {
		scale := graph.Min(graph.OnesLike(norm), graph.Div(graph.Scalar(g, dtypes.Float32, t.cfg.ClipNorm), graph.AddScalar(norm, 1e-6)))
		for k := range grads {
			grads[k] = graph.Mul(grads[k], scale)
		}
	}

	// Learning rate with linear warm-up, from the step count before this step.
	lrVar := optimizers.LearningRateVar(ctx, dtypes.Float32, t.cfg.LearningRate)
	lr := graph.Scalar(g, dtypes.Float32, t.cfg.LearningRate)
	if t.cfg.WarmupSteps > 0 {
		done := graph.ConvertDType(optimizers.GetGlobalStepVar(ctx).ValueGraph(g), dtypes.Float32)
		frac := graph.MinScalar(graph.DivScalar(graph.OnePlus(done), float64(t.cfg.WarmupSteps)), 1)
		lr = graph.Mul(lr, frac)
	}
	lrVar.SetValueGraph(lr)
	opt, ok := optimizers.Adam().WeightDecay(t.cfg.WeightDecay).Epsilon(1e-8).LearningRate(t.cfg.LearningRate).Done().(gradientOptimizer)
	if !ok {
		panic(errors.New("train: internal error: GoMLX's Adam does not take gradients directly"))
	}
	opt.UpdateGraphWithGradients(ctx, grads, dtypes.Float32)

	// EMA with warm-up: the decay is min(rate, (1+n)/(10+n)) after step n,
	// so that the average forgets the initial weights early in a run.
	n := graph.ConvertDType(optimizers.GetGlobalStepVar(ctx).ValueGraph(g), dtypes.Float32)
	rate := graph.Min(graph.Scalar(g, dtypes.Float32, t.cfg.EMARate), graph.Div(graph.OnePlus(n), graph.AddScalar(n, 10)))
	keep := graph.OneMinus(rate)
	for _, p := range t.model.Params() {
		scope, name := unet.KeyScope(p.Name)
		v := ctx.GetVariableByScopeAndName(scope, name)
		e := ctx.GetVariableByScopeAndName(emaScope+scope, name)
		e.SetValueGraph(graph.Add(graph.Mul(e.ValueGraph(g), rate), graph.Mul(v.ValueGraph(g), keep)))
	}
	return []*node{loss, graph.ReduceAllMean(losses.MSE), graph.ReduceAllMean(losses.VB), norm}
}

// batch returns step s's images, timesteps and noise: the images are the
// next BatchSize of a per-epoch permutation drawn from the seed; timesteps
// and noise come from a generator seeded by (seed, s).
func (t *Trainer) batch(s int64) (x0, ti, noise *tensors.Tensor) {
	b := t.cfg.BatchSize
	per := t.data.C * t.data.H * t.data.W
	xs := make([]float32, b*per)
	for j := range b {
		k := s*int64(b) + int64(j)
		epoch, pos := k/int64(t.data.N), int(k%int64(t.data.N))
		if epoch != t.permEpoch {
			r := rand.New(rand.NewPCG(t.cfg.Seed, uint64(epoch)^0xda7a0000))
			t.perm = r.Perm(t.data.N)
			t.permEpoch = epoch
		}
		idx := t.perm[pos]
		copy(xs[j*per:(j+1)*per], t.data.Pix[idx*per:(idx+1)*per])
	}
	r := rand.New(rand.NewPCG(t.cfg.Seed^0x6e6f697365, uint64(s)))
	ts := make([]int32, b)
	for j := range ts {
		ts[j] = int32(r.IntN(t.process.NumSteps()))
	}
	ns := make([]float32, b*per)
	for j := range ns {
		ns[j] = float32(r.NormFloat64())
	}
	dims := []int{b, t.data.C, t.data.H, t.data.W}
	return tensors.FromFlatDataAndDimensions(xs, dims...), tensors.FromValue(ts), tensors.FromFlatDataAndDimensions(ns, dims...)
}

// Step runs one training step and returns its losses. A loss or a
// gradient norm that is not finite is an error naming the step; the step
// has then been applied, so the trainer's state must not be saved.
func (t *Trainer) Step() (StepLosses, error) {
	if t.exec == nil {
		exec, err := context.NewExec(t.backend, t.ctx, t.stepGraph)
		if err != nil {
			return StepLosses{}, fmt.Errorf("train: %w", err)
		}
		t.exec = exec
	}
	x0, ti, noise := t.batch(t.step)
	outs, err := t.exec.Exec(x0, ti, noise)
	if err != nil {
		return StepLosses{}, fmt.Errorf("train: step %d: %w", t.step+1, err)
	}
	t.step++
	l := StepLosses{
		Loss:     float64(tensors.ToScalar[float32](outs[0])),
		MSE:      float64(tensors.ToScalar[float32](outs[1])),
		VB:       float64(tensors.ToScalar[float32](outs[2])),
		GradNorm: float64(tensors.ToScalar[float32](outs[3])),
	}
	if math.IsNaN(l.Loss) || math.IsInf(l.Loss, 0) {
		return l, fmt.Errorf("train: step %d: the loss is %v", t.step, l.Loss)
	}
	// A finite loss can have a gradient that is not, and the step has
	// applied it: the weights, the moments and the EMA may now hold NaNs.
	if math.IsNaN(l.GradNorm) || math.IsInf(l.GradNorm, 0) {
		return l, fmt.Errorf("train: step %d: the gradient's norm is %v (the loss is %v)", t.step, l.GradNorm, l.Loss)
	}
	return l, nil
}
