package cadps

import (
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// TestRamp checks that every method takes its step size through the ramp,
// at the right index: the first step of a ramped run equals the first step
// of a constant run at From·ζ, for every method whose step depends on ζ
// at all, and the whole run equals the constant one when From = 1. An
// invalid ramp is refused by name.
func TestRamp(t *testing.T) {
	base := tinySRProblem(t)
	shape := []int{2, 3, 8, 8}
	y := randomNormal(9, 2, 3, 4, 4)
	p := base
	p.Ramp = guidance.Ramp{From: 0.5, Over: 2}
	_, err := NewSampler(p)
	if err == nil || !strings.Contains(err.Error(), "OVER") {
		t.Errorf("ramp with OVER = 2: error %v, want one naming OVER", err)
	}
	const zeta, from = 0.4, 0.25
	for _, name := range guidance.Names() {
		if name == "unconditional" {
			continue
		}
		t.Run(name, func(t *testing.T) {
			meth, err := guidance.New(name, guidance.Options{})
			if err != nil {
				t.Fatal(err)
			}
			// run returns x after the first step and x_0.
			run := func(scale float64, r guidance.Ramp) (first, last []float32) {
				t.Helper()
				p := base
				p.Method, p.Scale, p.Ramp = meth, scale, r
				s, err := NewSampler(p)
				if err != nil {
					t.Fatal(err)
				}
				x, err := s.Run(nil, shape, y, NewSeededNoise(3), func(info StepInfo) error {
					if info.Step == 1 {
						first = tensors.MustCopyFlatData[float32](info.X)
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				return first, tensors.MustCopyFlatData[float32](x)
			}
			constFirst, constLast := run(zeta, guidance.Ramp{})
			lowFirst, _ := run(zeta*from, guidance.Ramp{})
			rampFirst, rampLast := run(zeta, guidance.Ramp{From: from, Over: 1})
			if maxAbsDiff(constFirst, lowFirst) == 0 {
				t.Logf("%s does not use ζ on this step; the ramp must not change it either", name)
			}
			if d := maxAbsDiff(rampFirst, lowFirst); d > 1e-6 {
				t.Errorf("first step with ramp %g:1 differs from constant ζ = %g by %g", from, zeta*from, d)
			}
			if maxAbsDiff(constFirst, lowFirst) != 0 && maxAbsDiff(rampLast, constLast) == 0 {
				t.Error("the ramped run ends where the constant one does")
			}
			_, flatLast := run(zeta, guidance.Ramp{From: 1, Over: 0.5})
			if d := maxAbsDiff(flatLast, constLast); d > 1e-6 {
				t.Errorf("ramp 1:0.5 (constant weight 1) differs from the constant run by %g", d)
			}
		})
	}
}
