package gmm

import (
	"fmt"
	"strconv"

	"github.com/cadps/toolkit/cadps"
	"github.com/cadps/toolkit/cadps/diffusion"
	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// RunOptions configure a guidance method's run on a problem.
type RunOptions struct {
	// Method is a guidance method spec: a name (guidance.Names) with
	// optional options (guidance.ParseSpec).
	Method string
	// Samples is the number of samples (at least 1), drawn as one batch.
	Samples int
	// Steps is the number of respaced diffusion steps (of 1000).
	Steps int
	// Seed seeds the sampler's noise.
	Seed uint64
	// Scale is the step size ζ.
	Scale float64
	// Schedule is the β schedule ("linear" or "cosine").
	Schedule string
	// VarType is the reverse variance ("fixed_small" or "fixed_large").
	VarType string
}

// SampleMethod draws samples [Samples][d] with a guidance method running on
// the prior's exact ε network, the problem's matrix operator and measurement.
func (p *Problem) SampleMethod(b backends.Backend, r RunOptions) ([][]float64, error) {
	if r.Samples < 1 {
		return nil, fmt.Errorf("gmm: %d samples; want at least 1", r.Samples)
	}
	m, err := guidance.ParseSpec(r.Method, guidance.Options{})
	if err != nil {
		return nil, err
	}
	op, err := p.Operator()
	if err != nil {
		return nil, err
	}
	if err := guidance.CheckOperator(m, op); err != nil {
		return nil, err
	}
	proc, err := diffusion.New(diffusion.Config{
		Steps: 1000, NoiseSchedule: r.Schedule, Respacing: strconv.Itoa(r.Steps),
		MeanType: diffusion.MeanEpsilon, VarType: diffusion.VarType(r.VarType),
	})
	if err != nil {
		return nil, fmt.Errorf("gmm: %w", err)
	}
	ac, err := AlphasCumprod(proc)
	if err != nil {
		return nil, err
	}
	s, err := cadps.NewSampler(cadps.Problem{
		Backend: b, Ctx: context.New(), Net: p.Prior.Network(ac), Process: proc,
		Op: op, Method: m, Scale: r.Scale, SigmaY: p.SigmaY,
	})
	if err != nil {
		return nil, err
	}
	d, n := p.Prior.Dim(), r.Samples
	y := make([]float32, 0, n*len(p.Y))
	for range n {
		for _, v := range p.Y {
			y = append(y, float32(v))
		}
	}
	x, err := s.Run(nil, []int{n, d}, tensors.FromFlatDataAndDimensions(y, n, len(p.Y)), cadps.NewSeededNoise(r.Seed), nil)
	if err != nil {
		return nil, err
	}
	flat := tensors.MustCopyFlatData[float32](x)
	out := make([][]float64, n)
	for i := range out {
		out[i] = make([]float64, d)
		for j := range d {
			out[i][j] = float64(flat[i*d+j])
		}
	}
	return out, nil
}
