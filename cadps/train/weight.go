package train

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/cadps/toolkit/cadps/diffusion"
	"github.com/gomlx/gomlx/pkg/core/graph"
)

// LossWeight is a per-timestep weight w(t) on the L_simple term of the
// hybrid loss, which becomes w(t)·L_simple(t) + λ·L_vlb(t). Every positive
// weight has the same minimiser, the true ε, so a weight does not change
// what the network should learn. It changes where a finite network and a
// finite number of steps spend their effort: the per-timestep terms of
// L_simple differ by orders of magnitude, and uniform weights leave the
// noisiest timesteps, whose ε-errors are tiny but whose x̂0-errors are
// not, almost untrained (docs/results.md, "The prior as a denoiser").
//
// Its text form, as Config.LossWeight and `cadps train --loss-weight` take
// it:
//
//   - "" or "uniform": w = 1, improved DDPM's L_simple.
//   - "trunc-snr:Γ": w = clip(1/SNR(t), 1, Γ) with SNR = ᾱ/(1−ᾱ) and Γ ≥ 1.
//     Where noise dominates (SNR < 1) the term becomes the squared error of
//     x̂0 rather than of ε, the truncated-SNR weighting of Salimans & Ho
//     (2022). The cap Γ keeps it bounded: on the linear schedule 1/SNR
//     reaches 2.5·10⁴ at t = 999, where an ε-network cannot be that precise.
//   - "min-snr:γ": w = min(SNR(t), γ)/SNR(t) with γ > 0, the Min-SNR-γ
//     weighting of Hang et al. (2023) for ε-prediction: L_simple with the
//     nearly noise-free timesteps (SNR > γ) down-weighted.
type LossWeight struct {
	kind  string
	param float64
}

// Names of the weightings.
const (
	weightUniform  = "uniform"
	weightTruncSNR = "trunc-snr"
	weightMinSNR   = "min-snr"
)

// ParseLossWeight parses the text form of a weighting (see [LossWeight]).
func ParseLossWeight(s string) (LossWeight, error) {
	if s == "" || s == weightUniform {
		return LossWeight{kind: weightUniform}, nil
	}
	kind, arg, ok := strings.Cut(s, ":")
	if !ok || (kind != weightTruncSNR && kind != weightMinSNR) {
		return LossWeight{}, fmt.Errorf("train: unknown loss weight %q (want uniform, trunc-snr:Γ or min-snr:γ)", s)
	}
	v, err := strconv.ParseFloat(arg, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return LossWeight{}, fmt.Errorf("train: loss weight %q: %q is not a finite number", s, arg)
	}
	switch {
	case kind == weightTruncSNR && v < 1:
		return LossWeight{}, fmt.Errorf("train: loss weight %q: the cap Γ must be at least 1", s)
	case kind == weightMinSNR && v <= 0:
		return LossWeight{}, fmt.Errorf("train: loss weight %q: γ must be positive", s)
	}
	return LossWeight{kind: kind, param: v}, nil
}

// String returns the text form that [ParseLossWeight] reads back.
func (w LossWeight) String() string {
	if w.Uniform() {
		return weightUniform
	}
	return w.kind + ":" + strconv.FormatFloat(w.param, 'g', -1, 64)
}

// Uniform reports whether w is L_simple's constant weight.
func (w LossWeight) Uniform() bool { return w.kind == "" || w.kind == weightUniform }

// At returns w at a timestep whose cumulative signal fraction is ᾱ, in
// (0, 1).
func (w LossWeight) At(alphaBar float64) float64 {
	snr := alphaBar / (1 - alphaBar)
	switch w.kind {
	case weightTruncSNR:
		return min(max(1/snr, 1), w.param)
	case weightMinSNR:
		return min(snr, w.param) / snr
	}
	return 1
}

// Graph returns w at the timestep indices i [N] of p as an [N] float32
// node; nil for the uniform weight.
func (w LossWeight) Graph(p *diffusion.Process, i *graph.Node) *graph.Node {
	if w.Uniform() {
		return nil
	}
	// 1/SNR = 1/ᾱ − 1, from the table computed in float64: forming 1 − ᾱ in
	// float32 would lose digits where ᾱ is close to 1.
	invSNR := graph.Square(p.Lookup("sqrt_recipm1_alphas_cumprod", i))
	switch w.kind {
	case weightTruncSNR:
		return graph.ClipScalar(invSNR, 1, w.param)
	default: // weightMinSNR: min(SNR, γ)/SNR = min(1, γ/SNR)
		return graph.MinScalar(graph.MulScalar(invSNR, w.param), 1)
	}
}
