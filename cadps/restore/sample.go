package restore

import (
	"fmt"

	"github.com/cadps/toolkit/cadps"
	"github.com/cadps/toolkit/cadps/diffusion"
	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/cadps/imageio"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// Process returns the prior's diffusion process respaced to steps
// sampling steps, DDIM's when ddim.
func (p *Prior) Process(steps int, ddim bool) (*diffusion.Process, error) {
	cfg := p.Diffusion
	if err := checkSteps(steps, cfg.Steps); err != nil {
		return nil, err
	}
	cfg.Respacing = diffusion.StepRespacing(cfg.Steps, steps, ddim)
	if ddim {
		cfg.Sampler = diffusion.SamplerDDIM
	}
	proc, err := diffusion.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	return proc, nil
}

// checkSteps refuses a count of sampling steps above the total steps of
// the prior's diffusion process, which a respacing can only thin out,
// naming both.
func checkSteps(steps, total int) error {
	if steps > total {
		return fmt.Errorf("restore: %d sampling steps exceed the %d steps of the prior's diffusion process: give at most %d", steps, total, total)
	}
	return nil
}

// Sample draws n samples from the prior on b, unconditional but for the
// class label of a class-conditional prior (Prior.Class): ancestral
// sampling over the process respaced to steps steps (DDIM with η = 0 when
// ddim), x̂0 clipped as the prior's process says, the noise drawn from
// seed. The images hold (x + 1)/2 unclamped, as [imageio.FromNCHW]
// returns them. The prior's context is used as it is: samplers running
// at once need a prior each.
func (p *Prior) Sample(b backends.Backend, n, steps int, ddim bool, seed uint64) ([]*imageio.Image, error) {
	if n <= 0 {
		return nil, fmt.Errorf("restore: the number of samples must be positive, got %d", n)
	}
	if err := p.Check(); err != nil {
		return nil, err
	}
	proc, err := p.Process(steps, ddim)
	if err != nil {
		return nil, err
	}
	s, err := cadps.NewSampler(cadps.Problem{Backend: b, Ctx: p.Ctx, Net: network(p.Model, p.Class),
		Process: proc, Method: guidance.Unconditional{}, DDIM: ddim})
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	shape := p.ImageShape()
	shape[0] = n
	x, err := s.Run(nil, shape, nil, cadps.NewSeededNoise(seed), nil)
	if err != nil {
		return nil, fmt.Errorf("restore: sampling: %w", err)
	}
	return imageio.FromNCHW(tensors.MustCopyFlatData[float32](x), shape...)
}
