package small

import (
	"fmt"

	"github.com/cadps/toolkit/cadps/unet"
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
