package unet

import (
	"math/rand/v2"
	"testing"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/internal/fixtures"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// The bounds TestBFloat16Reference puts on the bfloat16 model's deviation
// from the float32 model, in the fixtures' measure max|Δ| / max(1, max|ref|).
//
// bfloat16 rounds to 8 significant bits, a relative error of up to
// 2⁻⁹ ≈ 2·10⁻³ at every stored weight and activation. The fixture UNets have
// random weights, which amplify a relative perturbation some 5×: rounding
// only the weights (computing in float32) moved their outputs by 1·10⁻²
// when this test was written. The activations are rounded again after each
// of some 25 stages (convolutions, residual sums, attention products), and
// independent roundings add like a random walk: ≈ √25 · 1·10⁻² ≈ 5·10⁻² is
// the expected scale of the output deviation (measured: 3.6·10⁻² and
// 4.3·10⁻², rms 4·10⁻²). The input gradient goes through the torso twice,
// forward and back, with bfloat16 cotangents (measured: 6·10⁻² and
// 9·10⁻²). The bounds are about 2.5× the measured values: a correct
// bfloat16 torso passes them, a gross error (a block dropped, a wrong cast)
// does not, and any change in precision shows in the logged values.
const (
	bf16OutputBound   = 0.1
	bf16GradientBound = 0.2
)

// TestBFloat16Reference runs the fixture UNets in float32 and in bfloat16 on
// the fixtures' inputs, compares the float32 output with the reference
// within the fixture's tolerance, and checks how far the bfloat16 model's
// output and its input gradient (the part of a DPS step the network
// contributes) lie from the float32 model's.
func TestBFloat16Reference(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	fixtures.Each(t, "unet", []string{"out"}, func(t *testing.T, f *fixtures.Fixture) {
		tol := f.MustTolerance(t, "out")
		m, in := fixtureModel(t, f)
		path, err := f.Path(weightKeys(t, f)[0])
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.New()
		if err := m.LoadFile(ctx, path); err != nil {
			t.Fatal(err)
		}
		io := in.io
		ref, refShape := fixtures.Values(t, io, "out")
		// A fixed random cotangent v: the gradient is ∇_x <UNet(x, t), v>.
		r := rand.New(rand.NewPCG(11, 12))
		v := make([]float32, len(ref))
		for i := range v {
			v[i] = float32(r.NormFloat64())
		}
		vt := tensors.FromFlatDataAndDimensions(v, io.Tensors["out"].Shape...)

		var outShape []int
		run := func(m *Model) (out, grad []float32) {
			exec, err := context.NewExec(b, ctx, func(ctx *context.Context, inputs []*graph.Node) []*graph.Node {
				x, t, v := inputs[0], inputs[1], inputs[2]
				var labels *graph.Node
				if len(inputs) > 3 {
					labels = inputs[3]
				}
				o := m.Apply(ctx, x, graph.ConvertDType(t, dtypes.Float32), labels)
				return []*graph.Node{o, graph.Gradient(graph.ReduceAllSum(graph.Mul(o, v)), x)[0]}
			})
			if err != nil {
				t.Fatal(err)
			}
			args := []any{in.x, in.t, vt}
			if in.y != nil {
				args = append(args, in.y)
			}
			outs, err := exec.Exec(args...)
			if err != nil {
				t.Fatalf("%s model: %v", m.DType(), err)
			}
			if dt := outs[0].DType(); dt != dtypes.Float32 {
				t.Fatalf("%s model: output dtype %s, want float32", m.DType(), dt)
			}
			if dt := outs[1].DType(); dt != dtypes.Float32 {
				t.Fatalf("%s model: gradient dtype %s, want float32", m.DType(), dt)
			}
			outShape = outs[0].Shape().Dimensions
			return tensors.MustCopyFlatData[float32](outs[0]), tensors.MustCopyFlatData[float32](outs[1])
		}
		out32, grad32 := run(m)
		f.Compare(t, "float32 output", tol, fixtures.Float64s(out32), ref, outShape, refShape)
		bf := m.BFloat16()
		if bf.DType() != dtypes.BFloat16 || m.DType() != dtypes.Float32 {
			t.Fatalf("dtypes %s and %s, want bfloat16 and float32 (the original unchanged)", bf.DType(), m.DType())
		}
		out16, grad16 := run(bf)

		for _, c := range []struct {
			what      string
			got, want []float32
			bound     float64
		}{
			{"output", out16, out32, bf16OutputBound},
			{"input gradient", grad16, grad32, bf16GradientBound},
		} {
			d, err := fixtures.MaxRelDiff(c.got, c.want)
			if err != nil {
				t.Fatal(err)
			}
			rms, err := fixtures.RMSRelDiff(c.got, c.want)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("bfloat16 vs float32 %s: max|Δ|/max(1,max|ref|) = %.3g, rms|Δ|/rms|ref| = %.3g", c.what, d, rms)
			if d > c.bound {
				t.Errorf("bfloat16 %s deviates from float32 by %.3g > %g", c.what, d, c.bound)
			}
			if d == 0 {
				t.Errorf("bfloat16 %s equals the float32 one: the torso did not run in bfloat16", c.what)
			}
		}
	})
}
