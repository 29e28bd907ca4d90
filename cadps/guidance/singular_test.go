package guidance_test

import (
	"math"
	"testing"

	"github.com/cadps/toolkit/cadps"
	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/ops"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// TestSingularSystems runs the methods that solve with conjugate gradients
// at σ_y = 0, where their systems are singular wherever x̂0 is clamped (and
// for inpainting on the hidden pixels), with an inconsistent right-hand
// side: conjugate gradients must stop at the directions of rounding-noise
// curvature instead of stepping by its inverse (mmps:solver=cg gave NaN
// on random inpainting, tmpd:space=pixels |x| of 10⁸–10¹⁰ on SR and blur).
func TestSingularSystems(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	shape := []int{2, 3, 8, 8}
	for _, task := range []string{"sr:factor=2", "inpaint_random", "gaussian_blur:kernel_size=5,intensity=1"} {
		for _, spec := range []string{"mmps:solver=cg", "tmpd:space=pixels"} {
			m, err := guidance.ParseSpec(spec, guidance.Options{})
			if err != nil {
				t.Fatal(err)
			}
			op, err := ops.Parse(task, shape, 5)
			if err != nil {
				t.Fatal(err)
			}
			s, _ := toySampler(t, m, op, 20, 0)
			exec := graph.MustNewExec(b, func(x *graph.Node) *graph.Node { return op.Apply(x) })
			y := exec.MustExec(uniformTensor(3, shape, -0.9, 0.9))[0]
			y.ToLocal() // the sampler runs on its own backend
			out, err := s.Run(nil, shape, y, cadps.NewSeededNoise(7), nil)
			if err != nil {
				t.Errorf("%s on %s at σ_y = 0: %v", spec, task, err)
				continue
			}
			var top float64
			for _, v := range tensors.MustCopyFlatData[float32](out) {
				top = max(top, math.Abs(float64(v)))
			}
			if top > 100 {
				t.Errorf("%s on %s at σ_y = 0: max |x| %.3g", spec, task, top)
			}
		}
	}
}
