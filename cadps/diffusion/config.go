package diffusion

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/cadps/toolkit/internal/num"
)

// MeanType says what the network's (first C channels of) output predicts.
type MeanType string

// The mean types of guided-diffusion's ModelMeanType.
const (
	// MeanEpsilon: the network predicts the noise ε.
	MeanEpsilon MeanType = "epsilon"
	// MeanStartX: the network predicts x_0.
	MeanStartX MeanType = "start_x"
	// MeanPreviousX: the network predicts the posterior mean of x_{t−1}.
	MeanPreviousX MeanType = "previous_x"
)

// VarType says how the reverse-step variance is obtained.
type VarType string

// The variance types of guided-diffusion's ModelVarType.
const (
	// VarLearned: the network's extra C channels are the log variance.
	VarLearned VarType = "learned"
	// VarLearnedRange: the extra C channels v ∈ [−1, 1] interpolate the log
	// variance between log β̃_t (v = −1) and log β_t (v = 1).
	VarLearnedRange VarType = "learned_range"
	// VarFixedSmall: the posterior variance β̃_t.
	VarFixedSmall VarType = "fixed_small"
	// VarFixedLarge: β_t, with β̃_1 at t = 0.
	VarFixedLarge VarType = "fixed_large"
)

// Sampler names accepted in [Config.Sampler].
const (
	// SamplerDDPM is ancestral sampling ([Process.PSample]).
	SamplerDDPM = "ddpm"
	// SamplerDDIM is DDIM sampling ([Process.DDIMStep]).
	SamplerDDIM = "ddim"
)

// Config describes a diffusion process as the reference's YAML diffusion
// configuration does.
type Config struct {
	// Sampler is "ddpm" (the default when empty) or "ddim". The process
	// itself does not depend on it; samplers read it to choose their step.
	Sampler string
	// Steps is the number of diffusion steps T of the original process
	// (1000 for the DPS models), from 2 to 2²⁰.
	Steps int
	// NoiseSchedule is "linear" or "cosine" ([BetaSchedule]); required
	// unless Betas is given (an empty or other name is an error).
	NoiseSchedule string
	// Betas, when not empty, is the base schedule itself instead of a named
	// one (NoiseSchedule must then be empty): β_t, the variance of the
	// noise added at original step t = 0 … Steps−1, one value per step
	// (len(Betas) = Steps), each in (0, 1). They need not increase: ᾱ_t =
	// Π(1 − β_s) decreases for any such values. A checkpoint trained with
	// its own β gives them here; respacing applies as for a named schedule.
	Betas []float64 `json:",omitempty"`
	// Respacing is the timestep respacing (see [SpaceTimesteps]); empty
	// keeps all Steps.
	Respacing string
	// MeanType is what the network predicts; required (its zero value is
	// an error).
	MeanType MeanType
	// VarType is how the variance is obtained; required (its zero value
	// is an error).
	VarType VarType
	// ClipDenoised clamps the predicted x_0 to [−1, 1] (default false).
	ClipDenoised bool
	// RescaleTimesteps feeds the network timestep_map[i]·1000/Steps instead
	// of timestep_map[i].
	RescaleTimesteps bool
}

// Process is a respaced Gaussian diffusion process (guided-diffusion's
// SpacedDiffusion). It is immutable and safe for concurrent use.
type Process struct {
	cfg         Config
	timestepMap []int
	// betas is the base schedule's β, one per original step.
	betas []float64
	sched *Schedule
	// f32 holds the Schedule arrays cast to float32, keyed by
	// [Schedule.Array] names, for the in-graph lookups.
	f32 map[string][]float32
	// modelT is the float32 timestep the network receives at each index.
	modelT []float32
}

// maxSteps bounds a process's step count, which sizes every schedule array
// New allocates (a config asking for 1e15 steps panicked in makeslice);
// guided-diffusion's processes have 1000 to 4000.
const maxSteps = 1 << 20

// New builds the process described by cfg: the base β schedule over
// cfg.Steps steps (named, or cfg.Betas), the retained timesteps, and the
// respaced process's coefficient arrays. It refuses a base schedule with a
// β of 1 or more (the linear one over 20 steps or fewer), whose ᾱ reaches
// 0 and whose x̂0 is then infinite.
func New(cfg Config) (*Process, error) {
	switch cfg.Sampler {
	case "":
		cfg.Sampler = SamplerDDPM
	case SamplerDDPM, SamplerDDIM:
	default:
		return nil, fmt.Errorf("diffusion: unknown sampler %q (want %q or %q)", cfg.Sampler, SamplerDDPM, SamplerDDIM)
	}
	switch cfg.MeanType {
	case MeanEpsilon, MeanStartX, MeanPreviousX:
	default:
		return nil, fmt.Errorf("diffusion: unknown model mean type %q (want %q, %q or %q)",
			cfg.MeanType, MeanEpsilon, MeanStartX, MeanPreviousX)
	}
	switch cfg.VarType {
	case VarLearned, VarLearnedRange, VarFixedSmall, VarFixedLarge:
	default:
		return nil, fmt.Errorf("diffusion: unknown model variance type %q (want %q, %q, %q or %q)",
			cfg.VarType, VarLearned, VarLearnedRange, VarFixedSmall, VarFixedLarge)
	}
	if cfg.Steps < 2 || cfg.Steps > maxSteps {
		return nil, fmt.Errorf("diffusion: steps must be at least 2 and at most %d, got %d", maxSteps, cfg.Steps)
	}
	base, err := cfg.baseBetas()
	if err != nil {
		return nil, err
	}
	cfg.Betas = slices.Clone(cfg.Betas)
	baseSched, err := NewSchedule(base)
	if err != nil {
		return nil, fmt.Errorf("diffusion: base schedule: %w", err)
	}
	kept, err := SpaceTimesteps(cfg.Steps, cfg.Respacing)
	if err != nil {
		return nil, err
	}
	if len(kept) < 2 {
		return nil, fmt.Errorf("diffusion: respacing %q keeps %d timestep(s); at least 2 are needed", cfg.Respacing, len(kept))
	}
	sched, err := NewSchedule(respace(baseSched.AlphasCumprod, kept))
	if err != nil {
		return nil, fmt.Errorf("diffusion: respaced schedule %q: %w", cfg.Respacing, err)
	}
	p := &Process{cfg: cfg, timestepMap: kept, betas: base, sched: sched, f32: map[string][]float32{}}
	for name, a := range sched.named() {
		p.f32[name] = toFloat32(a)
	}
	// previous_x's inverse posterior-mean coefficients, in float64 first
	// as the reference's PreviousXMeanProcessor computes them.
	recip, ratio := make([]float64, len(kept)), make([]float64, len(kept))
	for k, c1 := range sched.PosteriorMeanCoef1 {
		recip[k] = 1.0 / c1
		ratio[k] = sched.PosteriorMeanCoef2[k] / c1
	}
	p.f32[recipCoef1Name] = toFloat32(recip)
	p.f32[coef2OverCoef1Name] = toFloat32(ratio)
	// The reference rescales in float32: the float32 timestep times
	// 1000/Steps rounded to float32, a product rounded once more. Rounding
	// the float64 product instead differs by an ulp for Steps such as 3000.
	p.modelT = make([]float32, len(kept))
	scale := float32(1000 / float64(cfg.Steps))
	for i, t := range kept {
		p.modelT[i] = float32(t)
		if cfg.RescaleTimesteps {
			p.modelT[i] *= scale
		}
	}
	return p, nil
}

// baseBetas returns the base schedule's β over cfg.Steps steps: cfg.Betas
// (a copy) when given, the named schedule otherwise. Every β must be
// below 1 and the given ones above 0.
func (cfg Config) baseBetas() ([]float64, error) {
	if len(cfg.Betas) == 0 {
		return namedBetas(cfg.NoiseSchedule, cfg.Steps)
	}
	switch {
	case cfg.NoiseSchedule != "":
		return nil, fmt.Errorf("diffusion: both the noise schedule %q and %d betas are given; give one of them", cfg.NoiseSchedule, len(cfg.Betas))
	case len(cfg.Betas) != cfg.Steps:
		return nil, fmt.Errorf("diffusion: %d betas for %d steps; give one β per step", len(cfg.Betas), cfg.Steps)
	}
	for t, b := range cfg.Betas {
		if !(b > 0 && b < 1) {
			return nil, fmt.Errorf("diffusion: β_%d = %v, want a value in (0, 1) (0 adds no noise; 1 or more makes ᾱ reach 0, where x̂0 is infinite)", t, b)
		}
	}
	return slices.Clone(cfg.Betas), nil
}

// namedBetas returns the schedule called name over steps steps
// ([BetaSchedule]), refusing one with a β of 1 or more.
func namedBetas(name string, steps int) ([]float64, error) {
	betas, err := BetaSchedule(name, steps)
	if err != nil {
		return nil, err
	}
	for t, b := range betas {
		if !(b < 1) {
			// β_t = 1 makes ᾱ_t = 0, where x̂0 = x_t/√ᾱ_t − … is infinite;
			// β_t > 1 is not a variance. Only the linear schedule gets
			// there: it scales its end 0.02 by 1000/steps.
			return nil, fmt.Errorf("diffusion: the %s schedule over %d steps has β_%d = %v: every β must be below 1 so that ᾱ stays positive (the linear schedule needs more than 20 steps)",
				name, steps, t, b)
		}
	}
	return betas, nil
}

// toFloat32 casts every value to float32 (round to nearest, as torch's
// .float() does).
func toFloat32(a []float64) []float32 {
	out := make([]float32, len(a))
	for i, v := range a {
		out[i] = float32(v)
	}
	return out
}

// Config returns the configuration the process was built from (with the
// default sampler filled in; its Betas a copy).
func (p *Process) Config() Config {
	cfg := p.cfg
	cfg.Betas = slices.Clone(cfg.Betas)
	return cfg
}

// NetworkTimestep returns the timestep the network receives for the
// original (possibly fractional) timestep t: t·1000/Steps when
// RescaleTimesteps is set, t otherwise. Methods that run their own time
// grids over the original process (DDRM, DiffPIR, DAPS) call the network
// through it. The product is taken in float32, as for [Process.ModelTimesteps],
// so that the network sees the same timestep whichever method asks:
// NetworkTimestep(TimestepMap()[i]) is ModelTimesteps()[i].
func (p *Process) NetworkTimestep(t float64) float64 {
	if p.cfg.RescaleTimesteps {
		return float64(float32(t) * float32(1000/float64(p.cfg.Steps)))
	}
	return t
}

// Betas returns a copy of the base schedule's β, one per original step
// (OriginalSteps values, t = 0 … T−1, before respacing): the named
// schedule's or Config.Betas. Methods that run their own time grids over
// the original process (DDRM, DiffPIR, DAPS) read it.
func (p *Process) Betas() []float64 { return slices.Clone(p.betas) }

// NumSteps returns the number of respaced steps (the length of every
// coefficient array); sampling runs i = NumSteps()−1 down to 0.
func (p *Process) NumSteps() int { return len(p.timestepMap) }

// OriginalSteps returns the number of steps T of the original process.
func (p *Process) OriginalSteps() int { return p.cfg.Steps }

// TimestepMap returns a copy of the original timesteps the respaced indices
// stand for, increasing: index i is original timestep TimestepMap()[i].
func (p *Process) TimestepMap() []int { return append([]int(nil), p.timestepMap...) }

// Schedule returns a copy of the respaced process's float64 coefficient
// arrays.
func (p *Process) Schedule() *Schedule { return p.sched.clone() }

// ModelTimesteps returns a copy of the float32 timestep the network receives
// at each respaced index: timestep_map[i], times 1000/Steps when
// RescaleTimesteps is set, multiplied in float32 as the reference does.
func (p *Process) ModelTimesteps() []float32 { return append([]float32(nil), p.modelT...) }

// configKeys returns the keys of the reference's YAML diffusion
// configuration.
func configKeys() []string {
	return []string{
		"sampler", "steps", "noise_schedule", "model_mean_type", "model_var_type",
		"dynamic_threshold", "clip_denoised", "rescale_timesteps", "timestep_respacing", "betas",
	}
}

// ParseConfig reads the reference's YAML diffusion configuration, decoded
// into a map (by a YAML or JSON decoder: numbers may be int, int64 or
// integral float64):
//
//	sampler: ddpm               # or ddim
//	steps: 1000
//	noise_schedule: linear      # or cosine
//	model_mean_type: epsilon    # start_x, previous_x
//	model_var_type: learned_range
//	dynamic_threshold: False    # True is not supported
//	clip_denoised: True
//	rescale_timesteps: False
//	timestep_respacing: 1000    # an int, or a string such as "ddim50" or "50,40,30"
//
// steps, noise_schedule, model_mean_type and model_var_type are required;
// the others default to ddpm, false and no respacing. Unknown keys are an
// error, as they are for the reference's create_sampler. One key is the
// toolkit's own: betas, a list of steps numbers (β_0 … β_{steps−1}, each in
// (0, 1)), gives the schedule in place of noise_schedule ([Config.Betas]):
//
//	steps: 4
//	betas: [0.01, 0.02, 0.05, 0.1]
func ParseConfig(m map[string]any) (Config, error) {
	var cfg Config
	known := map[string]bool{}
	for _, k := range configKeys() {
		known[k] = true
	}
	var unknown []string
	for k := range m {
		if !known[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return cfg, fmt.Errorf("diffusion: unknown diffusion config key(s) %s (known: %s)",
			strings.Join(unknown, ", "), strings.Join(configKeys(), ", "))
	}
	required := []string{"steps", "noise_schedule", "model_mean_type", "model_var_type"}
	if _, ok := m["betas"]; ok {
		required = slices.DeleteFunc(required, func(k string) bool { return k == "noise_schedule" })
	}
	for _, k := range required {
		if _, ok := m[k]; !ok {
			return cfg, fmt.Errorf("diffusion: diffusion config lacks %q", k)
		}
	}
	var err error
	if cfg.Sampler, err = optString(m, "sampler"); err != nil {
		return cfg, err
	}
	if cfg.Steps, err = num.Int(m["steps"]); err != nil {
		return cfg, fmt.Errorf("diffusion: diffusion config steps: %w", err)
	}
	if cfg.NoiseSchedule, err = optString(m, "noise_schedule"); err != nil {
		return cfg, err
	}
	if cfg.Betas, err = optFloats(m, "betas"); err != nil {
		return cfg, err
	}
	s, err := optString(m, "model_mean_type")
	if err != nil {
		return cfg, err
	}
	cfg.MeanType = MeanType(s)
	if s, err = optString(m, "model_var_type"); err != nil {
		return cfg, err
	}
	cfg.VarType = VarType(s)
	dyn, err := optBool(m, "dynamic_threshold")
	if err != nil {
		return cfg, err
	}
	if dyn {
		return cfg, fmt.Errorf("diffusion: dynamic_threshold: True is not supported")
	}
	if cfg.ClipDenoised, err = optBool(m, "clip_denoised"); err != nil {
		return cfg, err
	}
	if cfg.RescaleTimesteps, err = optBool(m, "rescale_timesteps"); err != nil {
		return cfg, err
	}
	if cfg.Respacing, err = respacingString(m["timestep_respacing"]); err != nil {
		return cfg, fmt.Errorf("diffusion: diffusion config timestep_respacing: %w", err)
	}
	return cfg, nil
}

// FromConfig is [ParseConfig] followed by [New].
func FromConfig(m map[string]any) (*Process, error) {
	cfg, err := ParseConfig(m)
	if err != nil {
		return nil, err
	}
	return New(cfg)
}

// optString returns m[key] as a string ("" when absent or nil).
func optString(m map[string]any, key string) (string, error) {
	switch v := m[key].(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	default:
		return "", fmt.Errorf("diffusion: diffusion config %s: want a string, got %T (%v)", key, v, v)
	}
}

// optFloats returns m[key], a list of numbers (num.Float's: a quoted
// number is one), as float64 values (nil when absent).
func optFloats(m map[string]any, key string) ([]float64, error) {
	switch v := m[key].(type) {
	case nil:
		return nil, nil
	case []float64:
		return slices.Clone(v), nil
	case []any:
		out := make([]float64, len(v))
		for k, e := range v {
			x, err := num.Float(e)
			if err != nil {
				return nil, fmt.Errorf("diffusion: diffusion config %s[%d]: %w", key, k, err)
			}
			out[k] = x
		}
		return out, nil
	default:
		return nil, fmt.Errorf("diffusion: diffusion config %s: want a list of numbers, got %T", key, v)
	}
}

// optBool returns m[key] as a bool (false when absent or nil).
func optBool(m map[string]any, key string) (bool, error) {
	switch v := m[key].(type) {
	case nil:
		return false, nil
	case bool:
		return v, nil
	default:
		return false, fmt.Errorf("diffusion: diffusion config %s: want a boolean, got %T (%v)", key, v, v)
	}
}

// respacingString converts timestep_respacing (absent, an int, a string or
// a list of ints) to the string form [SpaceTimesteps] reads.
func respacingString(v any) (string, error) {
	switch r := v.(type) {
	case nil:
		return "", nil
	case string:
		return r, nil
	case []any:
		parts := make([]string, len(r))
		for k, e := range r {
			n, err := num.Int(e)
			if err != nil {
				return "", fmt.Errorf("section %d: %w", k, err)
			}
			parts[k] = strconv.Itoa(n)
		}
		return strings.Join(parts, ","), nil
	case []int:
		parts := make([]string, len(r))
		for k, n := range r {
			parts[k] = strconv.Itoa(n)
		}
		return strings.Join(parts, ","), nil
	}
	n, err := num.Int(v)
	if err != nil {
		return "", err
	}
	if n == 0 { // Python's `if not timestep_respacing`: keep every step.
		return "", nil
	}
	return strconv.Itoa(n), nil
}
