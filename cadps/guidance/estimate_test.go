package guidance_test

import (
	"math"
	"testing"

	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/ops"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// TestX0Estimate checks the x0 option of the Gaussian-likelihood methods
// at the first step of a clipping process, where every pixel of x̂0 lies
// far outside [−1, 1]: with the clamped x̂0 (the default) the Jacobian is 0
// everywhere and the step is the unconditional one, while Tweedie's mean
// guides it.
func TestX0Estimate(t *testing.T) {
	op, err := ops.NewSuperResolution(2, "")
	if err != nil {
		t.Fatal(err)
	}
	shape := []int{1, 1, 4, 4}
	yShape, err := op.OutputShape(shape)
	if err != nil {
		t.Fatal(err)
	}
	const steps = 4
	next := func(m guidance.Method) []float64 {
		// pixelNet's ε is below 0.43 for x in [0.5, 1], so at t = 999 x̂0
		// is above 10 on every pixel. (Each sampler has its backend, and
		// a tensor lives on one: the inputs are made for each.)
		x, y := uniformTensor(1, shape, 0.5, 1), uniformTensor(2, yShape, -0.5, 0.5)
		z := tensors.FromFlatDataAndDimensions(make([]float32, 16), shape...)
		zy := tensors.FromFlatDataAndDimensions(make([]float32, 4), yShape...)
		s, _ := toySampler(t, m, op, steps, 0.05)
		info, err := s.Step(x, steps-1, z, zy, y)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range float64s(info.PredXStart) {
			if v != 1 {
				t.Fatalf("%s: x̂0[%d] = %v, want it clamped to 1", m.Name(), k, v)
			}
		}
		return float64s(info.X)
	}
	unconditional := next(guidance.Unconditional{})
	maxDiff := func(a []float64) float64 {
		d := 0.0
		for k := range a {
			d = math.Max(d, math.Abs(a[k]-unconditional[k]))
		}
		return d
	}
	for _, c := range []struct{ clamped, tweedie guidance.Method }{
		{guidance.PiGDM{}, guidance.PiGDM{X0: guidance.X0Tweedie}},
		{guidance.TMPD{}, guidance.TMPD{X0: guidance.X0Tweedie}},
		{guidance.MMPS{}, guidance.MMPS{X0: guidance.X0Tweedie}},
		{guidance.CADPSGauss{}, guidance.CADPSGauss{X0: guidance.X0Tweedie}},
	} {
		if d := maxDiff(next(c.clamped)); d > 1e-6 {
			t.Errorf("%s, clamped x̂0: the step moved %g from the unconditional one, want no guidance", c.clamped.Name(), d)
		}
		if d := maxDiff(next(c.tweedie)); d < 1e-3 {
			t.Errorf("%s, Tweedie's x̂0: the step moved %g from the unconditional one, want guidance", c.tweedie.Name(), d)
		}
	}
}
