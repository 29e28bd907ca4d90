package small

import (
	"fmt"

	"github.com/cadps/toolkit/cadps"
	"github.com/cadps/toolkit/cadps/diffusion"
	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/cadps/imageio"
	"github.com/cadps/toolkit/cadps/unet"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// Load builds the prior's UNet and loads the embedded weights into ctx.
func Load(ctx *context.Context) (*unet.Model, error) {
	m, err := unet.New(Config())
	if err != nil {
		return nil, fmt.Errorf("small: %w", err)
	}
	sd, err := Weights()
	if err != nil {
		return nil, err
	}
	if err := m.Load(ctx, sd); err != nil {
		return nil, fmt.Errorf("small: %w", err)
	}
	return m, nil
}

// Sample draws n unconditional samples from the prior with ancestral
// sampling over the respaced process (respacing as [diffusion.Config]
// takes it, e.g. "100"; "" runs all 1000 steps), x̂0 clipped to [−1, 1],
// seeded by seed, and returns them as gray images in [0, 1].
func Sample(b backends.Backend, n int, respacing string, seed uint64) ([]*imageio.Image, error) {
	if n <= 0 {
		return nil, fmt.Errorf("small: the number of samples must be positive, got %d", n)
	}
	ctx := context.New()
	m, err := Load(ctx)
	if err != nil {
		return nil, err
	}
	dc := Diffusion()
	dc.Respacing = respacing
	dc.ClipDenoised = true
	p, err := diffusion.New(dc)
	if err != nil {
		return nil, fmt.Errorf("small: %w", err)
	}
	s, err := cadps.NewSampler(cadps.Problem{Backend: b, Ctx: ctx, Net: cadps.UNetNetwork(m), Process: p, Method: guidance.Unconditional{}})
	if err != nil {
		return nil, fmt.Errorf("small: %w", err)
	}
	size := m.ImageSize()
	x, err := s.Run(nil, []int{n, m.InChannels(), size, size}, nil, cadps.NewSeededNoise(seed), nil)
	if err != nil {
		return nil, fmt.Errorf("small: sampling: %w", err)
	}
	imgs, err := imageio.FromNCHW(tensors.MustCopyFlatData[float32](x), n, m.InChannels(), size, size)
	if err != nil {
		return nil, fmt.Errorf("small: %w", err)
	}
	return imgs, nil
}
