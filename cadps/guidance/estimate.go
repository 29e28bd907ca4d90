package guidance

import (
	"fmt"

	"github.com/cadps/toolkit/cadps/diffusion"
	"github.com/gomlx/gomlx/pkg/core/graph"
)

// X0Estimate selects the estimate of x0 whose measurement residual and
// Jacobian ∂x̂0/∂x_t a Gaussian-likelihood method (pigdm, tmpd, mmps,
// cadps-gauss) uses. The prior step adds the guidance to the process's
// x̂0 either way; the two differ only when the configuration clips x̂0
// (guided-diffusion's clip_denoised, as in DPS's FFHQ and ImageNet
// configurations).
type X0Estimate int

const (
	// X0Clamped is the process's x̂0, clamped to [−1, 1] when the
	// configuration clips: its Jacobian is 0 on every clamped pixel, as
	// DPS's released code differentiates it. The default.
	X0Clamped X0Estimate = iota
	// X0Tweedie is Tweedie's posterior mean as the network gives it,
	// never clamped, whose Jacobian is the covariance (1−ᾱ)/√ᾱ·∂x̂0/∂x_t
	// of the methods' papers on every pixel.
	X0Tweedie
)

// of returns the estimate of mv that e selects ([N,C,H,W]).
func (e X0Estimate) of(mv diffusion.MeanVariance) *graph.Node {
	if e == X0Tweedie {
		return mv.PredXStartUnclipped
	}
	return mv.PredXStart
}

// String returns the spec value of e: "clamped" or "tweedie".
func (e X0Estimate) String() string {
	if e == X0Tweedie {
		return "tweedie"
	}
	return "clamped"
}

// parseX0Estimate parses the spec value of an x0 option.
func parseX0Estimate(v string) (X0Estimate, error) {
	switch v {
	case "clamped":
		return X0Clamped, nil
	case "tweedie":
		return X0Tweedie, nil
	}
	return 0, fmt.Errorf("unknown x0 %q (known: clamped, tweedie)", v)
}
