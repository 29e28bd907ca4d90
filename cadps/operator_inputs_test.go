package cadps

import (
	"math/rand/v2"
	"testing"

	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/ops"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// TestWithOperatorSharesGraphs derives, from a sampler compiled for one
// random mask or motion kernel, samplers for others: where the method
// takes the operator's bound form they must share the compiled graphs,
// and every run must equal that of a sampler built for its operator alone
// (host and graph noise). Methods that need what the bound form lacks
// (DDRM's SVD) get graphs of their own.
func TestWithOperatorSharesGraphs(t *testing.T) {
	mask := func(seed uint64) ops.Operator {
		m, err := ops.RandomMask(8, 8, [2]float64{0.3, 0.7}, rand.New(rand.NewPCG(seed, 0)))
		if err != nil {
			t.Fatal(err)
		}
		op, err := ops.NewInpainting(m, 8, 8)
		if err != nil {
			t.Fatal(err)
		}
		return op
	}
	motion := func(seed uint64) ops.Operator {
		op, err := ops.NewMotionBlur(5, 0.5, seed)
		if err != nil {
			t.Fatal(err)
		}
		return op
	}
	for _, tc := range []struct {
		name, method string
		op           func(uint64) ops.Operator
		shared       bool
	}{
		{"dps inpainting", "dps", mask, true},
		{"cadps motion blur", "cadps", motion, true},
		{"pigdm inpainting", "pigdm", mask, true},
		{"daps motion blur", "daps:ode_steps=2,langevin_steps=2", motion, true},
		{"ddrm inpainting", "ddrm", mask, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tinySRProblem(t)
			meth, err := guidance.ParseSpec(tc.method, guidance.Options{})
			if err != nil {
				t.Fatal(err)
			}
			p.Method, p.Op = meth, tc.op(1)
			first, err := NewSampler(p)
			if err != nil {
				t.Fatal(err)
			}
			shape := []int{2, 3, 8, 8}
			run := func(s *Sampler, op ops.Operator, graphNoise bool) []float32 {
				t.Helper()
				x := make([]float32, 2*3*8*8)
				for k := range x {
					x[k] = float32(k%17)/8 - 1
				}
				y := applyOp(t, p, op, x, shape)
				var noise NoiseSource = NewSeededNoise(7)
				if graphNoise {
					noise = NewGraphNoise(7)
				}
				out, err := s.Run(nil, shape, y, noise, nil)
				if err != nil {
					t.Fatal(err)
				}
				return tensors.MustCopyFlatData[float32](out)
			}
			before := run(first, p.Op, false)
			for _, seed := range []uint64{2, 3} {
				op := tc.op(seed)
				derived, err := first.WithOperator(op)
				if err != nil {
					t.Fatal(err)
				}
				if got := derived.SharesGraphs(first); got != tc.shared {
					t.Fatalf("operator %d shares the first one's graphs: %v, want %v", seed, got, tc.shared)
				}
				alone := p
				alone.Op = op
				own, err := NewSampler(alone)
				if err != nil {
					t.Fatal(err)
				}
				for _, graphNoise := range []bool{false, true} {
					assertSame(t, "run with the derived sampler", run(derived, op, graphNoise), run(own, op, graphNoise))
				}
			}
			assertSame(t, "the first sampler's run after the derived ones", run(first, p.Op, false), before)
		})
	}
}

// TestWithOperatorChecksTheOperator checks that an operator the method
// cannot use is refused, and that one of another structure gets graphs of
// its own.
func TestWithOperatorChecksTheOperator(t *testing.T) {
	p := tinySRProblem(t)
	m, err := ops.NewInpainting(make([]float32, 64), 8, 8) // hides every pixel
	if err != nil {
		t.Fatal(err)
	}
	keep, err := ops.NewInpainting(append(make([]float32, 63), 1), 8, 8)
	if err != nil {
		t.Fatal(err)
	}
	p.Op = keep
	first, err := NewSampler(p)
	if err != nil {
		t.Fatal(err)
	}
	if !first.bound {
		t.Fatal("dps does not take the mask as an input")
	}
	p.Method = guidance.DDRM{}
	ddrm, err := NewSampler(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ddrm.WithOperator(m); err == nil {
		t.Error("ddrm took a mask that hides every pixel")
	}
	sr, err := ops.NewSuperResolution(2, "")
	if err != nil {
		t.Fatal(err)
	}
	other, err := first.WithOperator(sr)
	if err != nil {
		t.Fatal(err)
	}
	if other.SharesGraphs(first) {
		t.Error("super-resolution shares an inpainting's graphs")
	}
}

// applyOp returns op(x) for the images x shaped shape, as a tensor.
func applyOp(t *testing.T, p Problem, op ops.Operator, x []float32, shape []int) *tensors.Tensor {
	t.Helper()
	exec, err := graph.NewExec(p.Backend, func(x *graph.Node) *graph.Node { return op.Apply(x) })
	if err != nil {
		t.Fatal(err)
	}
	defer exec.Finalize()
	out, err := exec.Exec1(tensors.FromFlatDataAndDimensions(x, shape...))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// assertSame fails unless got and want hold the same values.
func assertSame(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for k := range got {
		if got[k] != want[k] {
			t.Fatalf("%s: value %d is %v, want %v", what, k, got[k], want[k])
		}
	}
}
