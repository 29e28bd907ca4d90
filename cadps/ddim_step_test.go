package cadps

import (
	"testing"

	"github.com/cadps/toolkit/cadps/diffusion"
	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// TestHandBuiltStepDDIM checks that a step graph built by hand around a
// method's Step, with Step.DDIM left false, takes the same updates as the
// sampler's step: DDIM's for a process configured for DDIM, ancestral ones
// otherwise.
func TestHandBuiltStepDDIM(t *testing.T) {
	base := tinySRProblem(t)
	ddimProc := ddimProcess(t, base.Process)
	for _, tc := range []struct {
		name    string
		process *diffusion.Process
		eta     float64
	}{
		{"ancestral", base.Process, 0},
		{"process configured for DDIM", ddimProc, 0.5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := base
			p.Process, p.Eta = tc.process, tc.eta
			s, err := NewSampler(p)
			if err != nil {
				t.Fatal(err)
			}
			shape := []int{1, 3, 8, 8}
			x, z := randomNormal(1, shape...), randomNormal(2, shape...)
			zy, y := randomNormal(3, 1, 3, 4, 4), randomNormal(4, 1, 3, 4, 4)
			const i = 1
			info, err := s.Step(x, i, z, zy, y)
			if err != nil {
				t.Fatal(err)
			}
			exec, err := context.NewExec(p.Backend, p.Ctx, func(ctx *context.Context, x, i, y, z, zy *graph.Node) *graph.Node {
				st := &guidance.Step{
					Ctx: ctx, Net: p.Net, Process: p.Process, Op: p.Op,
					X: x, I: i, Y: y, Z: z, ZY: zy, Draws: []*graph.Node{z, zy},
					Scale: p.Scale, SigmaY: p.SigmaY, Eta: p.Eta,
				}
				return p.Method.Step(st).Next
			})
			if err != nil {
				t.Fatal(err)
			}
			outs, err := exec.Exec(x, tensors.FromScalar(int32(i)), y, z, zy)
			if err != nil {
				t.Fatal(err)
			}
			maxDiff := maxAbsDiff(tensors.MustCopyFlatData[float32](outs[0]), tensors.MustCopyFlatData[float32](info.X))
			if maxDiff > 1e-5 {
				t.Errorf("the hand-built step differs from the sampler's by up to %g", maxDiff)
			}
		})
	}
}
