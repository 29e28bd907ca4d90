package guidance

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/gomlx/gomlx/pkg/core/graph"
)

// Ramp is a schedule for the step size: at reverse step k of n (k = 1 … n)
// the method uses ζ·w_k with
//
//	w_k = From + (1 − From)·min(1, (k − 1)/(Over·n)),
//
// so ζ grows linearly from From·ζ at the first step to ζ once a fraction
// Over of the steps has run, and stays there (From > 1 makes it a decay).
// The zero Ramp (Over = 0) is the reference's constant ζ.
//
// It answers one observation on few-step runs: a ζ large enough for the
// late steps drives x̂0 to the [−1, 1] clamp during the first ones, where
// the residual has no gradient (docs/results.md, "Step size ζ and its
// ramp").
type Ramp struct {
	// From is w at the first step, ≥ 0.
	From float64
	// Over is the fraction of the steps over which w reaches 1, in [0, 1];
	// 0 switches the ramp off.
	Over float64
}

// ParseRamp parses "FROM:OVER" (such as "0.1:0.5"); "" and "none" give the
// constant schedule.
func ParseRamp(s string) (Ramp, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "none" {
		return Ramp{}, nil
	}
	from, over, ok := strings.Cut(s, ":")
	if !ok {
		return Ramp{}, fmt.Errorf("guidance: ramp %q: want FROM:OVER, such as 0.1:0.5", s)
	}
	var r Ramp
	var err error
	if r.From, err = strconv.ParseFloat(strings.TrimSpace(from), 64); err != nil {
		return Ramp{}, fmt.Errorf("guidance: ramp %q: FROM: %w", s, err)
	}
	if r.Over, err = strconv.ParseFloat(strings.TrimSpace(over), 64); err != nil {
		return Ramp{}, fmt.Errorf("guidance: ramp %q: OVER: %w", s, err)
	}
	if err := r.Validate(); err != nil {
		return Ramp{}, err
	}
	if r.Over == 0 {
		return Ramp{}, fmt.Errorf("guidance: ramp %q: OVER must be in (0, 1]; give \"none\" for the constant ζ", s)
	}
	return r, nil
}

// Validate reports whether r is a usable schedule.
func (r Ramp) Validate() error {
	switch {
	case math.IsNaN(r.From) || math.IsInf(r.From, 0) || r.From < 0:
		return fmt.Errorf("guidance: ramp FROM = %v must be finite and non-negative", r.From)
	case !(r.Over >= 0 && r.Over <= 1):
		return fmt.Errorf("guidance: ramp OVER = %v must be in [0, 1]", r.Over)
	}
	return nil
}

// Off reports whether r is the constant schedule.
func (r Ramp) Off() bool { return r.Over == 0 }

// String returns r as ParseRamp reads it ("none" when off).
func (r Ramp) String() string {
	if r.Off() {
		return "none"
	}
	return strconv.FormatFloat(r.From, 'g', -1, 64) + ":" + strconv.FormatFloat(r.Over, 'g', -1, 64)
}

// Weight returns w_k for reverse step k of n (k = 1 … n).
func (r Ramp) Weight(k, n int) float64 {
	if r.Off() {
		return 1
	}
	p := float64(k-1) / (r.Over * float64(n))
	return r.From + (1-r.From)*math.Min(1, p)
}

// Weights returns w indexed by the respaced index i = n − k of x_t, the
// order in which the step graph looks it up.
func (r Ramp) Weights(n int) []float64 {
	w := make([]float64, n)
	for i := range w {
		w[i] = r.Weight(n-i, n)
	}
	return w
}

// Scaled returns ζ_i·v: v times the step size at the step's index (the
// ramp applied; a method of your own applies ζ through it),
// MulScalar by ζ itself (the reference's graph) when the ramp is off.
// With ScaleNode set, ζ is that node instead of Scale; it panics when the
// node is not a scalar.
func (s *Step) Scaled(v *graph.Node) *graph.Node {
	zeta := s.ScaleNode
	if zeta != nil {
		if zeta.Rank() != 0 {
			panic(fmt.Errorf("guidance: Step.ScaleNode is %s, want a scalar ζ", zeta.Shape()))
		}
		zeta = graph.ConvertDType(zeta, v.DType())
	}
	if s.Ramp.Off() {
		if zeta != nil {
			return graph.Mul(v, zeta)
		}
		return graph.MulScalar(v, s.Scale)
	}
	scale := s.Scale
	if zeta != nil {
		scale = 1 // the ramp's weights alone, times the node below
	}
	w := s.Ramp.Weights(s.Process.NumSteps())
	table := make([]float32, len(w))
	for i, wi := range w {
		table[i] = float32(scale * wi)
	}
	i := s.I
	if i.Rank() == 1 {
		i = graph.Reshape(i, i.Shape().Dimensions[0], 1)
	}
	zi := graph.ConvertDType(graph.Gather(graph.Const(v.Graph(), table), i), v.DType())
	if zeta != nil {
		zi = graph.Mul(zi, zeta)
	}
	if zi.Rank() == 1 { // one ζ per image: expand against v [N,...]
		dims := make([]int, v.Rank())
		for k := range dims {
			dims[k] = 1
		}
		dims[0] = zi.Shape().Dimensions[0]
		zi = graph.Reshape(zi, dims...)
	}
	return graph.Mul(v, zi)
}
