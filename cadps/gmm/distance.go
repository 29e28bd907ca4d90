package gmm

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/cadps/toolkit/internal/linalg"
)

// checkSets checks that a and b are non-empty sets of finite points of one
// dimension and returns it.
func checkSets(a, b [][]float64) (int, error) {
	if len(a) == 0 || len(b) == 0 {
		return 0, fmt.Errorf("gmm: empty sample set (%d and %d points)", len(a), len(b))
	}
	d := len(a[0])
	for s, set := range [][][]float64{a, b} {
		for i, x := range set {
			if len(x) != d {
				return 0, fmt.Errorf("gmm: point %d has dimension %d, want %d", i, len(x), d)
			}
			if err := checkFinite(x); err != nil {
				return 0, fmt.Errorf("gmm: point %d of set %d: %w", i, s+1, err)
			}
		}
	}
	return d, nil
}

// checkFinite returns an error naming the first NaN or infinite coordinate
// of x.
func checkFinite(x []float64) error {
	for j, v := range x {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("coordinate %d is %g; the distances need finite samples", j, v)
		}
	}
	return nil
}

// SlicedWasserstein returns the sliced 2-Wasserstein distance between the
// empirical distributions of a and b,
//
//	SW₂ = ( (1/P) Σ_p W₂²(θ_pᵀa, θ_pᵀb) )^{1/2},
//
// over P = projections directions θ_p drawn uniformly on the sphere from
// seed (the same seed gives the same directions). Each one-dimensional W₂²
// is exact for any sizes of a and b (their quantile functions compared on
// the merged breakpoints). A NaN or infinite coordinate is an error.
func SlicedWasserstein(a, b [][]float64, projections int, seed uint64) (float64, error) {
	d, err := checkSets(a, b)
	if err != nil {
		return 0, err
	}
	if projections < 1 {
		return 0, fmt.Errorf("gmm: %d projections; want at least 1", projections)
	}
	r := rand.New(rand.NewPCG(seed, 0x51ced))
	theta := make([]float64, d)
	pa, pb := make([]float64, len(a)), make([]float64, len(b))
	total := 0.0
	for range projections {
		norm := 0.0
		for j := range theta {
			theta[j] = r.NormFloat64()
			norm += theta[j] * theta[j]
		}
		norm = math.Sqrt(norm)
		for j := range theta {
			theta[j] /= norm
		}
		for i, x := range a {
			pa[i] = linalg.Dot(theta, x)
		}
		for i, x := range b {
			pb[i] = linalg.Dot(theta, x)
		}
		total += wasserstein1D(pa, pb)
	}
	return math.Sqrt(total / float64(projections)), nil
}

// wasserstein1D returns W₂² between the empirical distributions of a and b
// (sorted in place): ∫₀¹ (F_a⁻¹(u) − F_b⁻¹(u))² du.
func wasserstein1D(a, b []float64) float64 {
	slices.Sort(a)
	slices.Sort(b)
	n, m := float64(len(a)), float64(len(b))
	i, j := 0, 0
	u, s := 0.0, 0.0
	for i < len(a) && j < len(b) {
		ea, eb := float64(i+1)/n, float64(j+1)/m
		next := math.Min(ea, eb)
		diff := a[i] - b[j]
		s += (next - u) * diff * diff
		u = next
		if ea <= next {
			i++
		}
		if eb <= next {
			j++
		}
	}
	return s
}

// EnergyDistance returns the energy distance between the distributions of a
// and b,
//
//	D² = 2 E‖X−Y‖ − E‖X−X'‖ − E‖Y−Y'‖,
//
// with the within-set terms as U-statistics (pairs of distinct points), so
// that it is unbiased: its expectation is 0 for two samples of one
// distribution, and a small negative value is possible. It costs
// O((|a|+|b|)² d). A NaN or infinite coordinate is an error.
func EnergyDistance(a, b [][]float64) (float64, error) {
	if _, err := checkSets(a, b); err != nil {
		return 0, err
	}
	if len(a) < 2 || len(b) < 2 {
		return 0, errors.New("gmm: the energy distance needs at least 2 points in each set")
	}
	cross := 0.0
	for _, x := range a {
		for _, y := range b {
			cross += dist(x, y)
		}
	}
	cross /= float64(len(a) * len(b))
	within := func(s [][]float64) float64 {
		t := 0.0
		for i := range s {
			for j := i + 1; j < len(s); j++ {
				t += dist(s[i], s[j])
			}
		}
		return 2 * t / float64(len(s)*(len(s)-1))
	}
	return 2*cross - within(a) - within(b), nil
}

// dist returns ‖x − y‖₂.
func dist(x, y []float64) float64 {
	s := 0.0
	for i, v := range x {
		e := v - y[i]
		s += e * e
	}
	return math.Sqrt(s)
}

// WeightError assigns each sample to the posterior component with the
// highest responsibility and returns the total variation distance between
// the fractions so assigned and the posterior weights,
// TV = ½ Σ_k |n_k/N − w'_k|, with the fractions themselves. It measures
// whether a sampler finds the modes in the right proportions (0 is perfect,
// 1 the worst). A NaN or infinite coordinate is an error.
func WeightError(p *Posterior, samples [][]float64) (tv float64, fractions []float64, err error) {
	if len(samples) == 0 {
		return 0, nil, errors.New("gmm: no samples")
	}
	fractions = make([]float64, p.K())
	for i, x := range samples {
		if len(x) != p.Dim() {
			return 0, nil, fmt.Errorf("gmm: sample %d has dimension %d, the posterior %d", i, len(x), p.Dim())
		}
		if err := checkFinite(x); err != nil {
			return 0, nil, fmt.Errorf("gmm: sample %d: %w", i, err)
		}
		fractions[p.Assign(x)]++
	}
	for k := range fractions {
		fractions[k] /= float64(len(samples))
		tv += math.Abs(fractions[k] - p.weights[k])
	}
	return tv / 2, fractions, nil
}
