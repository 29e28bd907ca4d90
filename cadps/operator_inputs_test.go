package cadps

import (
	"fmt"
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
// (host and graph noise).
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
	}{
		{"dps inpainting", "dps", mask},
		{"cadps motion blur", "cadps", motion},
		{"pigdm inpainting", "pigdm", mask},
		{"daps motion blur", "daps:ode_steps=2,langevin_steps=2", motion},
		{"diffpir inpainting", "diffpir", mask},
		{"ddrm inpainting", "ddrm", mask},
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
			run := func(s *Sampler, op ops.Operator, graphNoise bool, n int) []float32 {
				t.Helper()
				shape := []int{n, 3, 8, 8}
				x := make([]float32, n*3*8*8)
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
			before := run(first, p.Op, false, 2)
			for _, seed := range []uint64{2, 3} {
				op := tc.op(seed)
				derived, err := first.WithOperator(op)
				if err != nil {
					t.Fatal(err)
				}
				if !derived.SharesGraphs(first) {
					t.Fatalf("operator %d does not share the first one's graphs", seed)
				}
				alone := p
				alone.Op = op
				own, err := NewSampler(alone)
				if err != nil {
					t.Fatal(err)
				}
				// The last derived sampler compiles a batch shape first (its
				// graph built through the first sampler's).
				for _, n := range []int{int(seed) - 1, 2} {
					for _, graphNoise := range []bool{false, true} {
						assertSame(t, "run with the derived sampler", run(derived, op, graphNoise, n), run(own, op, graphNoise, n))
					}
				}
			}
			assertSame(t, "the first sampler's run after the derived ones", run(first, p.Op, false, 2), before)
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

// opaque hides every interface of its method but Method's: a method of
// one's own, which is given the operator itself.
type opaque struct{ guidance.Method }

// Step runs the method after checking that it sees the operator's own
// type.
func (m opaque) Step(s *guidance.Step) guidance.Result {
	switch s.Op.(type) {
	case *ops.Inpainting, *ops.Blur:
	default:
		panic(fmt.Errorf("a method of one's own was given %T", s.Op))
	}
	return m.Method.Step(s)
}

// TestBoundStepMatchesConstantStep checks that a run whose operator data
// are graph inputs equals, bit for bit, the run whose data are constants,
// which a method of one's own gets (it does not say it takes bound
// operators), and that two operator types of one key share no graphs.
func TestBoundStepMatchesConstantStep(t *testing.T) {
	m, err := ops.RandomMask(8, 8, [2]float64{0.3, 0.7}, rand.New(rand.NewPCG(4, 0)))
	if err != nil {
		t.Fatal(err)
	}
	mask, err := ops.NewInpainting(m, 8, 8)
	if err != nil {
		t.Fatal(err)
	}
	motion, err := ops.NewMotionBlur(5, 0.5, 4)
	if err != nil {
		t.Fatal(err)
	}
	ddrm := guidance.DDRM{Eta: 0.85, EtaB: 1}
	for _, tc := range []struct {
		op       ops.Operator
		method   guidance.Method
		constant guidance.Method // the method, given the operator itself
	}{
		{mask, guidance.DPS{}, opaque{guidance.DPS{}}},
		{mask, guidance.CADPS{}, opaque{guidance.CADPS{}}},
		{motion, guidance.DPS{}, opaque{guidance.DPS{}}},
		{motion, guidance.CADPS{}, opaque{guidance.CADPS{}}},
		{mask, ddrm, unboundDDRM{ddrm}}, // the mask's SVD built in the graph against the host's
	} {
		op, method := tc.op, tc.method
		p := tinySRProblem(t)
		p.Op, p.Method = op, method
		bound, err := NewSampler(p)
		if err != nil {
			t.Fatal(err)
		}
		p.Method = tc.constant
		constant, err := NewSampler(p)
		if err != nil {
			t.Fatal(err)
		}
		if !bound.OperatorInputs() || constant.OperatorInputs() {
			t.Fatalf("%s with %s: operator data as inputs %v, for a method of one's own %v; want true, false", method.Name(), op.Name(), bound.OperatorInputs(), constant.OperatorInputs())
		}
		shape := []int{2, 3, 8, 8}
		x := make([]float32, 2*3*8*8)
		for k := range x {
			x[k] = float32(k%13)/6 - 1
		}
		y := applyOp(t, p, op, x, shape)
		var outs [2][]float32
		for k, s := range []*Sampler{bound, constant} {
			out, err := s.Run(nil, shape, y, NewSeededNoise(3), nil)
			if err != nil {
				t.Fatal(err)
			}
			outs[k] = tensors.MustCopyFlatData[float32](out)
		}
		assertSame(t, method.Name()+" with "+op.Name()+", data as inputs against constants", outs[0], outs[1])
	}
	p := tinySRProblem(t)
	p.Op = mask
	first, err := NewSampler(p)
	if err != nil {
		t.Fatal(err)
	}
	other, err := first.WithOperator(otherMask{mask})
	if err != nil {
		t.Fatal(err)
	}
	if other.SharesGraphs(first) {
		t.Error("an operator of another type with the same key shares the graphs")
	}
}

// unboundDDRM is DDRM given the operator itself, whose SVD is computed on
// the host.
type unboundDDRM struct{ guidance.DDRM }

// TakesBoundOperator implements guidance.BoundOperatorTaker.
func (unboundDDRM) TakesBoundOperator() bool { return false }

// otherMask is another operator type whose key is an inpainting's.
type otherMask struct{ *ops.Inpainting }
