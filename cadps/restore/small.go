package restore

import (
	"fmt"

	"github.com/cadps/toolkit/cadps/prior/small"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// loadSmallPrior loads the prior shipped with the toolkit (package
// cadps/prior/small, weights embedded in the binary), with its training
// process and x̂0 clipped to [−1, 1] as DPS's diffusion config sets it.
func loadSmallPrior() (*Prior, error) {
	ctx := context.New()
	m, err := small.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("restore: the shipped prior: %w", err)
	}
	d := small.Diffusion()
	d.ClipDenoised = true
	return &Prior{Name: small.Name, Record: small.Name, Model: m, Ctx: ctx, Diffusion: d}, nil
}
