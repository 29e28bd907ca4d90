package unet

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/internal/fixtures"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// TestInputGradient checks the autodiff input-gradient of L(x) = <UNet(x,t), v>
// against central finite differences along random directions, for
// configurations that exercise every block type. The finite differences run
// on the pure-Go backend, whose float32 is exact enough for them; on another
// backend (XLA on a GPU, whose convolutions and products may round to TF32)
// that backend's gradient is compared with the pure-Go one instead.
func TestInputGradient(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	// The finite differences run on a pure-Go backend of their own, and the
	// gradient of b is compared with it: that also exercises, on the CPU, the
	// path the GPU check takes (inputs fed to two backends).
	cpu, err := backend.NewWithConfig("")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		cfg  Config
	}{
		{"resblock-updown-scale-shift", Config{ImageSize: 8, NumChannels: 32, NumResBlocks: 1, ChannelMult: "1,2",
			LearnSigma: true, AttentionResolutions: "4", NumHeads: 2, NumHeadChannels: -1, NumHeadsUpsample: -1,
			UseScaleShiftNorm: true, ResblockUpdown: true}},
		{"conv-resample-new-attention-class", Config{ImageSize: 8, NumChannels: 32, NumResBlocks: 1, ChannelMult: "1,1",
			AttentionResolutions: "8", NumHeads: 1, NumHeadChannels: 16, NumHeadsUpsample: -1,
			UseNewAttentionOrder: true, ClassCond: true, NumClasses: 3, InChannels: 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := New(c.cfg)
			if err != nil {
				t.Fatal(err)
			}
			n, ch, s := 1, m.InChannels(), c.cfg.ImageSize
			r := rand.New(rand.NewPCG(3, 4))
			randn := func(k int) []float32 {
				v := make([]float32, k)
				for i := range v {
					v[i] = float32(r.NormFloat64())
				}
				return v
			}
			x := randn(n * ch * s * s)
			v := randn(n * m.OutChannels() * s * s)
			label := int32(0)
			if m.numClasses > 0 {
				label = 2
			}
			loss := func(ctx *context.Context, x, vn, lab *graph.Node) *graph.Node {
				var l *graph.Node
				if m.numClasses > 0 {
					l = lab
				}
				out := m.Apply(ctx, x, graph.Const(x.Graph(), []float32{417}), l)
				return graph.ReduceAllSum(graph.Mul(out, vn))
			}
			evaluator := func(b backends.Backend) func(x []float32) (float64, []float32) {
				// Each backend gets its own variables (the same seed, so
				// the same weights): a context's tensors live on one.
				ctx := context.New()
				if err := m.InitRandom(ctx, 7); err != nil {
					t.Fatal(err)
				}
				exec := context.MustNewExec(b, ctx, func(ctx *context.Context, x, vn, lab *graph.Node) []*graph.Node {
					l := loss(ctx, x, vn, lab)
					return []*graph.Node{l, graph.Gradient(l, x)[0]}
				})
				// Fresh input tensors on every call: a tensor once fed to
				// one backend cannot be fed to another.
				return func(x []float32) (float64, []float32) {
					outs := exec.MustExec(tensors.FromFlatDataAndDimensions(x, n, ch, s, s),
						tensors.FromFlatDataAndDimensions(v, n, m.OutChannels(), s, s), tensors.FromValue([]int32{label}))
					return float64(tensors.ToScalar[float32](outs[0])), tensors.MustCopyFlatData[float32](outs[1])
				}
			}
			eval := evaluator(cpu)
			_, grad := eval(x)
			{
				_, got := evaluator(b)(x)
				d, err := fixtures.MaxRelDiff(got, grad)
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("%s gradient vs the pure-Go one: max|Δ|/max(1,max|ref|) = %.3g", b.Name(), d)
				if d > 1e-2 {
					t.Errorf("%s gradient differs from the pure-Go one by %.3g > 1e-2", b.Name(), d)
				}
			}
			const eps = 1e-2
			for dir := range 3 {
				d := randn(len(x))
				var analytic float64
				xp, xm := make([]float32, len(x)), make([]float32, len(x))
				for i := range x {
					analytic += float64(grad[i]) * float64(d[i])
					xp[i] = x[i] + eps*d[i]
					xm[i] = x[i] - eps*d[i]
				}
				lp, _ := eval(xp)
				lm, _ := eval(xm)
				numeric := (lp - lm) / (2 * eps)
				if rel := math.Abs(numeric-analytic) / math.Max(1, math.Abs(analytic)); rel > 2e-2 {
					t.Errorf("direction %d: autodiff %.6g, finite differences %.6g (rel %.2g)", dir, analytic, numeric, rel)
				}
			}
		})
	}
}
