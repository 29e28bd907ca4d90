package diffusion

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Names of the β schedules accepted by [BetaSchedule].
const (
	// ScheduleLinear is Ho et al.'s linear schedule, extended to any number
	// of steps.
	ScheduleLinear = "linear"
	// ScheduleCosine is Nichol & Dhariwal's cosine schedule.
	ScheduleCosine = "cosine"
)

// cosineMaxBeta caps the cosine schedule's β, to avoid the singularity at
// the end of the chain.
const cosineMaxBeta = 0.999

// BetaSchedule returns the β schedule called name over steps steps, in
// float64, as guided-diffusion's get_named_beta_schedule builds it:
//
//   - "linear": s = 1000/steps; β_t = linspace(s·1e-4, s·0.02, steps), i.e.
//     β_t = start + t·(end−start)/(steps−1) with β_{steps−1} = end exactly
//     (numpy's linspace).
//   - "cosine": ᾱ(u) = cos²((u+0.008)/1.008 · π/2) and
//     β_t = min(1 − ᾱ((t+1)/steps)/ᾱ(t/steps), 0.999).
func BetaSchedule(name string, steps int) ([]float64, error) {
	if steps < 1 {
		return nil, fmt.Errorf("diffusion: beta schedule needs at least 1 step, got %d", steps)
	}
	switch name {
	case ScheduleLinear:
		scale := 1000 / float64(steps)
		return linspace(scale*0.0001, scale*0.02, steps), nil
	case ScheduleCosine:
		alphaBar := func(u float64) float64 {
			c := math.Cos((u + 0.008) / 1.008 * math.Pi / 2)
			return c * c
		}
		betas := make([]float64, steps)
		for i := range betas {
			t1 := float64(i) / float64(steps)
			t2 := float64(i+1) / float64(steps)
			betas[i] = min(1-alphaBar(t2)/alphaBar(t1), cosineMaxBeta)
		}
		return betas, nil
	}
	return nil, fmt.Errorf("diffusion: unknown noise schedule %q (want %q or %q)", name, ScheduleLinear, ScheduleCosine)
}

// linspace reproduces numpy.linspace(start, stop, n) (endpoint included)
// bit for bit: y_i = i·step + start with step = (stop−start)/(n−1), and the
// last value set to stop.
func linspace(start, stop float64, n int) []float64 {
	out := make([]float64, n)
	if n == 1 {
		out[0] = start
		return out
	}
	step := (stop - start) / float64(n-1)
	for i := range out {
		out[i] = float64(float64(i)*step) + start // no fused multiply-add
	}
	out[n-1] = stop
	return out
}

// SpaceTimesteps returns the timesteps of an original steps-step process
// that a respaced process retains, sorted increasingly, as guided-diffusion's
// space_timesteps chooses them. respacing is one of:
//
//   - "" : keep every step (the same as strconv.Itoa(steps));
//   - "N" or "N1,N2,...": split the steps into len(sections) nearly equal
//     sections (the first steps%len ones one step longer) and take Nk
//     timesteps from section k at positions start + round(j·(size−1)/(Nk−1)),
//     j = 0..Nk−1, where the fractional position is accumulated by repeated
//     float64 addition and rounded half to even (Python's round);
//   - "ddimN": the DDIM paper's fixed striding, range(0, steps, s) for the
//     smallest stride s ≥ 1 that yields exactly N timesteps.
//
// It fails when a section is asked for more timesteps than it has, when a
// count is not a positive integer, or when no stride gives exactly N.
func SpaceTimesteps(steps int, respacing string) ([]int, error) {
	if steps < 1 {
		return nil, fmt.Errorf("diffusion: respacing needs at least 1 step, got %d", steps)
	}
	respacing = strings.TrimSpace(respacing)
	if respacing == "" {
		return spaceSections(steps, []int{steps})
	}
	if rest, ok := strings.CutPrefix(respacing, "ddim"); ok {
		want, err := strconv.Atoi(strings.TrimSpace(rest))
		if err != nil {
			return nil, fmt.Errorf("diffusion: respacing %q: bad DDIM step count: %w", respacing, err)
		}
		return spaceDDIM(steps, want)
	}
	parts := strings.Split(respacing, ",")
	counts := make([]int, len(parts))
	for k, p := range parts {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil {
			return nil, fmt.Errorf("diffusion: respacing %q: section %d: %w", respacing, k, err)
		}
		counts[k] = n
	}
	out, err := spaceSections(steps, counts)
	if err != nil {
		return nil, fmt.Errorf("diffusion: respacing %q: %w", respacing, err)
	}
	return out, nil
}

// StepRespacing returns the respacing of a run of n steps over a process of
// total steps: with ddim, guided-diffusion's DDIM striding "ddimN" when a
// whole-number stride gives exactly n steps, and otherwise (and without
// ddim) the even spacing "N" of the DPS configurations.
func StepRespacing(total, n int, ddim bool) string {
	if ddim {
		if _, err := spaceDDIM(total, n); err == nil {
			return "ddim" + strconv.Itoa(n)
		}
	}
	return strconv.Itoa(n)
}

// spaceDDIM is space_timesteps' "ddimN" form.
func spaceDDIM(steps, want int) ([]int, error) {
	if want < 1 {
		return nil, fmt.Errorf("diffusion: respacing ddim%d: the step count must be positive", want)
	}
	for stride := 1; stride < steps; stride++ {
		if (steps+stride-1)/stride == want { // len(range(0, steps, stride))
			out := make([]int, 0, want)
			for t := 0; t < steps; t += stride {
				out = append(out, t)
			}
			return out, nil
		}
	}
	return nil, fmt.Errorf("diffusion: respacing ddim%d: no integer stride gives exactly %d of %d steps", want, want, steps)
}

// spaceSections is space_timesteps' section-count form.
func spaceSections(steps int, counts []int) ([]int, error) {
	if len(counts) > steps {
		return nil, fmt.Errorf("%d sections is more than the %d steps", len(counts), steps)
	}
	sizePer, extra := steps/len(counts), steps%len(counts)
	seen := make(map[int]bool)
	start := 0
	for k, count := range counts {
		size := sizePer
		if k < extra {
			size++
		}
		if count < 1 {
			return nil, fmt.Errorf("section %d: step count %d is not positive", k, count)
		}
		if size < count {
			return nil, fmt.Errorf("cannot divide section %d of %d steps into %d", k, size, count)
		}
		stride := 1.0
		if count > 1 {
			stride = float64(size-1) / float64(count-1)
		}
		cur := 0.0
		for range count {
			seen[start+int(math.RoundToEven(cur))] = true
			cur += stride
		}
		start += size
	}
	out := make([]int, 0, len(seen))
	for t := range seen {
		out = append(out, t)
	}
	sort.Ints(out)
	return out, nil
}

// Schedule holds every coefficient array guided-diffusion's GaussianDiffusion
// builds from its β (float64, one value per respaced index i), plus the few
// arrays its variance processors derive. With ᾱ_i = Π_{j≤i}(1−β_j):
type Schedule struct {
	// Betas is β_i.
	Betas []float64
	// AlphasCumprod is ᾱ_i.
	AlphasCumprod []float64
	// AlphasCumprodPrev is ᾱ_{i−1}, with ᾱ_{−1} = 1.
	AlphasCumprodPrev []float64
	// AlphasCumprodNext is ᾱ_{i+1}, with ᾱ_{N} = 0.
	AlphasCumprodNext []float64
	// SqrtAlphasCumprod is √ᾱ_i.
	SqrtAlphasCumprod []float64
	// SqrtOneMinusAlphasCumprod is √(1−ᾱ_i).
	SqrtOneMinusAlphasCumprod []float64
	// LogOneMinusAlphasCumprod is log(1−ᾱ_i).
	LogOneMinusAlphasCumprod []float64
	// SqrtRecipAlphasCumprod is √(1/ᾱ_i).
	SqrtRecipAlphasCumprod []float64
	// SqrtRecipm1AlphasCumprod is √(1/ᾱ_i − 1).
	SqrtRecipm1AlphasCumprod []float64
	// PosteriorVariance is β̃_i = β_i(1−ᾱ_{i−1})/(1−ᾱ_i), the variance of
	// q(x_{i−1} | x_i, x_0); it is 0 at i = 0.
	PosteriorVariance []float64
	// PosteriorLogVarianceClipped is log β̃_i with β̃_0 replaced by β̃_1.
	PosteriorLogVarianceClipped []float64
	// PosteriorMeanCoef1 is β_i√ᾱ_{i−1}/(1−ᾱ_i), the x_0 weight of the
	// posterior mean.
	PosteriorMeanCoef1 []float64
	// PosteriorMeanCoef2 is (1−ᾱ_{i−1})√(1−β_i)/(1−ᾱ_i), the x_i weight of
	// the posterior mean.
	PosteriorMeanCoef2 []float64
	// LogBetas is log β_i (learned_range's maximum log variance).
	LogBetas []float64
	// FixedLargeVariance is (β̃_1, β_1, β_2, ...), fixed_large's variance.
	FixedLargeVariance []float64
	// FixedLargeLogVariance is log of FixedLargeVariance.
	FixedLargeLogVariance []float64
}

// NewSchedule computes every coefficient array from β, in float64 and in
// the order of operations of guided-diffusion's GaussianDiffusion.__init__.
// Every β must lie in (0, 1]; at least two are needed (the clipped
// posterior log variance reads β̃_1).
func NewSchedule(betas []float64) (*Schedule, error) {
	n := len(betas)
	if n < 2 {
		return nil, fmt.Errorf("diffusion: a schedule needs at least 2 betas, got %d", n)
	}
	for i, b := range betas {
		if !(b > 0 && b <= 1) {
			return nil, fmt.Errorf("diffusion: beta[%d] = %v is not in (0, 1]", i, b)
		}
	}
	s := &Schedule{Betas: append([]float64(nil), betas...)}
	mk := func() []float64 { return make([]float64, n) }
	s.AlphasCumprod, s.AlphasCumprodPrev, s.AlphasCumprodNext = mk(), mk(), mk()
	s.SqrtAlphasCumprod, s.SqrtOneMinusAlphasCumprod, s.LogOneMinusAlphasCumprod = mk(), mk(), mk()
	s.SqrtRecipAlphasCumprod, s.SqrtRecipm1AlphasCumprod = mk(), mk()
	s.PosteriorVariance, s.PosteriorLogVarianceClipped = mk(), mk()
	s.PosteriorMeanCoef1, s.PosteriorMeanCoef2 = mk(), mk()
	s.LogBetas, s.FixedLargeVariance, s.FixedLargeLogVariance = mk(), mk(), mk()

	prod := 1.0
	for i, b := range betas {
		prod *= 1.0 - b
		s.AlphasCumprod[i] = prod
	}
	for i := range n {
		ac := s.AlphasCumprod[i]
		acPrev := 1.0
		if i > 0 {
			acPrev = s.AlphasCumprod[i-1]
		}
		acNext := 0.0
		if i < n-1 {
			acNext = s.AlphasCumprod[i+1]
		}
		b := betas[i]
		s.AlphasCumprodPrev[i] = acPrev
		s.AlphasCumprodNext[i] = acNext
		s.SqrtAlphasCumprod[i] = math.Sqrt(ac)
		s.SqrtOneMinusAlphasCumprod[i] = math.Sqrt(1.0 - ac)
		s.LogOneMinusAlphasCumprod[i] = math.Log(1.0 - ac)
		s.SqrtRecipAlphasCumprod[i] = math.Sqrt(1.0 / ac)
		s.SqrtRecipm1AlphasCumprod[i] = math.Sqrt(1.0/ac - 1)
		s.PosteriorVariance[i] = b * (1.0 - acPrev) / (1.0 - ac)
		s.PosteriorMeanCoef1[i] = b * math.Sqrt(acPrev) / (1.0 - ac)
		s.PosteriorMeanCoef2[i] = (1.0 - acPrev) * math.Sqrt(1.0-b) / (1.0 - ac)
		s.LogBetas[i] = math.Log(b)
	}
	for i := range n {
		v := s.PosteriorVariance[i]
		if i == 0 {
			v = s.PosteriorVariance[1]
		}
		s.PosteriorLogVarianceClipped[i] = math.Log(v)
		large := betas[i]
		if i == 0 {
			large = s.PosteriorVariance[1]
		}
		s.FixedLargeVariance[i] = large
		s.FixedLargeLogVariance[i] = math.Log(large)
	}
	return s, nil
}

// Array returns the array that guided-diffusion's GaussianDiffusion stores
// under the attribute name (for example "posterior_mean_coef1"), or false
// for an unknown name. The derived arrays are named "log_betas",
// "fixed_large_variance" and "fixed_large_log_variance".
func (s *Schedule) Array(name string) ([]float64, bool) {
	a, ok := s.named()[name]
	return a, ok
}

// named maps every [Schedule.Array] name to its array.
func (s *Schedule) named() map[string][]float64 {
	return map[string][]float64{
		"betas":                          s.Betas,
		"alphas_cumprod":                 s.AlphasCumprod,
		"alphas_cumprod_prev":            s.AlphasCumprodPrev,
		"alphas_cumprod_next":            s.AlphasCumprodNext,
		"sqrt_alphas_cumprod":            s.SqrtAlphasCumprod,
		"sqrt_one_minus_alphas_cumprod":  s.SqrtOneMinusAlphasCumprod,
		"log_one_minus_alphas_cumprod":   s.LogOneMinusAlphasCumprod,
		"sqrt_recip_alphas_cumprod":      s.SqrtRecipAlphasCumprod,
		"sqrt_recipm1_alphas_cumprod":    s.SqrtRecipm1AlphasCumprod,
		"posterior_variance":             s.PosteriorVariance,
		"posterior_log_variance_clipped": s.PosteriorLogVarianceClipped,
		"posterior_mean_coef1":           s.PosteriorMeanCoef1,
		"posterior_mean_coef2":           s.PosteriorMeanCoef2,
		"log_betas":                      s.LogBetas,
		"fixed_large_variance":           s.FixedLargeVariance,
		"fixed_large_log_variance":       s.FixedLargeLogVariance,
	}
}

// clone returns a deep copy of s.
func (s *Schedule) clone() *Schedule {
	c := *s
	for _, p := range []*[]float64{
		&c.Betas, &c.AlphasCumprod, &c.AlphasCumprodPrev, &c.AlphasCumprodNext,
		&c.SqrtAlphasCumprod, &c.SqrtOneMinusAlphasCumprod, &c.LogOneMinusAlphasCumprod,
		&c.SqrtRecipAlphasCumprod, &c.SqrtRecipm1AlphasCumprod,
		&c.PosteriorVariance, &c.PosteriorLogVarianceClipped,
		&c.PosteriorMeanCoef1, &c.PosteriorMeanCoef2,
		&c.LogBetas, &c.FixedLargeVariance, &c.FixedLargeLogVariance,
	} {
		*p = append([]float64(nil), (*p)...)
	}
	return &c
}

// respace returns the β of the process that keeps only the given timesteps
// (increasing) of a process with the given ᾱ: β'_k = 1 − ᾱ_{t_k}/ᾱ_{t_{k−1}},
// with ᾱ_{t_{−1}} = 1 (SpacedDiffusion).
func respace(alphasCumprod []float64, kept []int) []float64 {
	out := make([]float64, len(kept))
	last := 1.0
	for k, t := range kept {
		out[k] = 1 - alphasCumprod[t]/last
		last = alphasCumprod[t]
	}
	return out
}
