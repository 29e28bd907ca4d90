package ops

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
)

// GaussianNoise adds independent N(0, σ²) noise to every value, as DPS's
// "gaussian" noiser (σ = 0.05 in its configs).
type GaussianNoise struct {
	sigma float64
}

// NewGaussianNoise returns Gaussian noise of standard deviation sigma ≥ 0.
func NewGaussianNoise(sigma float64) (*GaussianNoise, error) {
	if !(sigma >= 0) || math.IsInf(sigma, 0) {
		return nil, fmt.Errorf("gaussian noise: sigma must be finite and not negative, got %g", sigma)
	}
	return &GaussianNoise{sigma: sigma}, nil
}

// Name implements [Noise].
func (g *GaussianNoise) Name() string { return "gaussian" }

// String returns the noise as [ParseNoise] reads it: "gaussian:sigma=σ".
func (g *GaussianNoise) String() string { return fmt.Sprintf("gaussian:sigma=%g", g.sigma) }

// Sigma implements [Noise].
func (g *GaussianNoise) Sigma() float64 { return g.sigma }

// Apply implements [Noise]: y + σ·n with n standard normal. It panics,
// naming itself, when r is nil.
func (g *GaussianNoise) Apply(y []float32, r *rand.Rand) []float32 {
	checkGenerator("GaussianNoise", r)
	out := make([]float32, len(y))
	for i, v := range y {
		out[i] = float32(float64(v) + g.sigma*r.NormFloat64())
	}
	return out
}

// PoissonNoise is DPS's "poisson" noiser: the measurement, mapped from
// [-1,1] to [0,1] and clipped there, becomes Poisson(255·rate·u)/(255·rate),
// mapped back to [-1,1] and clipped (rate = 1.0 in its phase retrieval
// config; larger rates mean less noise).
type PoissonNoise struct {
	rate float64
}

// NewPoissonNoise returns Poisson noise with the given positive rate.
func NewPoissonNoise(rate float64) (*PoissonNoise, error) {
	if !(rate > 0) || math.IsInf(rate, 0) {
		return nil, fmt.Errorf("poisson noise: rate must be positive and finite, got %g", rate)
	}
	return &PoissonNoise{rate: rate}, nil
}

// Name implements [Noise].
func (p *PoissonNoise) Name() string { return "poisson" }

// String returns the noise as [ParseNoise] reads it: "poisson:rate=r".
func (p *PoissonNoise) String() string { return fmt.Sprintf("poisson:rate=%g", p.rate) }

// Rate returns the photon-count scale.
func (p *PoissonNoise) Rate() float64 { return p.rate }

// Sigma implements [Noise]: the noise is signal-dependent; this is its
// standard deviation on [-1,1] at mid-grey (u = 1/2), 2·sqrt(u/(255·rate)).
func (p *PoissonNoise) Sigma() float64 { return 2 * math.Sqrt(0.5/(255*p.rate)) }

// Apply implements [Noise]. It panics, naming itself, when r is nil.
func (p *PoissonNoise) Apply(y []float32, r *rand.Rand) []float32 {
	checkGenerator("PoissonNoise", r)
	scale := 255 * p.rate
	out := make([]float32, len(y))
	for i, v := range y {
		u := min(1, max(0, (float64(v)+1)/2))
		n := poissonSample(r, u*scale)
		out[i] = float32(min(1, max(-1, n/scale*2-1)))
	}
	return out
}

// checkGenerator panics, naming the Apply method of the noise typ, when r
// is nil: a nil generator is a programmer error, which would otherwise
// surface as a nil dereference inside math/rand.
func checkGenerator(typ string, r *rand.Rand) {
	if r == nil {
		panic(fmt.Sprintf("ops: %s.Apply: generator r is nil (make one with rand.New)", typ))
	}
}

// CleanNoise adds no noise (DPS's "clean" noiser).
type CleanNoise struct{}

// Name implements [Noise].
func (CleanNoise) Name() string { return "clean" }

// Sigma implements [Noise]: 0.
func (CleanNoise) Sigma() float64 { return 0 }

// Apply implements [Noise]: a copy of y. It draws nothing, so r may be
// nil.
func (CleanNoise) Apply(y []float32, _ *rand.Rand) []float32 { return append([]float32(nil), y...) }

// ParseNoise builds a noise model from a spec: "gaussian[:sigma=0.05]",
// "poisson[:rate=1.0]" or "clean".
func ParseNoise(spec string) (Noise, error) {
	name, rest, _ := strings.Cut(spec, ":")
	name = strings.TrimSpace(name)
	values, err := parseSpecParams(rest)
	if err != nil {
		return nil, fmt.Errorf("noise spec %q: %w", spec, err)
	}
	n, err := buildNoise(name, values)
	if err != nil {
		return nil, fmt.Errorf("noise spec %q: %w", spec, err)
	}
	return n, nil
}

// NoiseFromConfig builds a noise model from a reference YAML config's
// measurement.noise mapping, e.g. {name: gaussian, sigma: 0.05}.
func NoiseFromConfig(cfg map[string]any) (Noise, error) {
	values := map[string]any{}
	for k, v := range cfg {
		values[k] = v
	}
	name, ok := values["name"].(string)
	if !ok {
		return nil, fmt.Errorf("noise config: name %v is missing or not a string", values["name"])
	}
	delete(values, "name")
	n, err := buildNoise(name, values)
	if err != nil {
		return nil, fmt.Errorf("noise config: %w", err)
	}
	return n, nil
}

func buildNoise(name string, values map[string]any) (Noise, error) {
	p := newParams(name+" noise", values)
	var n Noise
	var err error
	switch name {
	case "gaussian":
		var sigma float64
		if sigma, err = p.float(0.05, "sigma"); err == nil {
			n, err = NewGaussianNoise(sigma)
		}
	case "poisson":
		var rate float64
		if rate, err = p.float(1.0, "rate"); err == nil {
			n, err = NewPoissonNoise(rate)
		}
	case "clean":
		n = CleanNoise{}
	default:
		return nil, fmt.Errorf("unknown noise %q (known: gaussian, poisson, clean)", name)
	}
	if err != nil {
		return nil, err
	}
	if err := p.unknown(); err != nil {
		return nil, err
	}
	return n, nil
}

// poissonSample draws from Poisson(lambda): by inversion for small means,
// by Hörmann's transformed rejection (PTRS) otherwise.
func poissonSample(r *rand.Rand, lambda float64) float64 {
	if lambda <= 0 {
		return 0
	}
	if lambda < 10 {
		// Multiply uniforms until the product drops below e^-λ.
		limit, prod, k := math.Exp(-lambda), r.Float64(), 0
		for prod > limit {
			prod *= r.Float64()
			k++
		}
		return float64(k)
	}
	slam := math.Sqrt(lambda)
	loglam := math.Log(lambda)
	b := 0.931 + 2.53*slam
	a := -0.059 + 0.02483*b
	invalpha := 1.1239 + 1.1328/(b-3.4)
	vr := 0.9277 - 3.6224/(b-2)
	for {
		u := r.Float64() - 0.5
		v := r.Float64()
		us := 0.5 - math.Abs(u)
		k := math.Floor((2*a/us+b)*u + lambda + 0.43)
		if us >= 0.07 && v <= vr {
			return k
		}
		if k < 0 || (us < 0.013 && v > us) {
			continue
		}
		lg, _ := math.Lgamma(k + 1)
		if math.Log(v)+math.Log(invalpha)-math.Log(a/(us*us)+b) <= -lambda+k*loglam-lg {
			return k
		}
	}
}
