package cadps

import (
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/diffusion"
	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/ops"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// TestNewSamplerRefusesBadParams checks that a step size ζ or a σ_y that is
// negative, NaN or infinite, and a DDIM η outside [0, 1] or given without
// DDIM, are refused by name before any graph is built.
func TestNewSamplerRefusesBadParams(t *testing.T) {
	base := tinySRProblem(t)
	for _, tc := range []struct {
		name               string
		scale, sigmaY, eta float64
		ddim               bool
		want               string
	}{
		{"negative step size", -1, 0.05, 0, false, "step size ζ = -1 must be finite and non-negative"},
		{"NaN step size", math.NaN(), 0.05, 0, false, "step size ζ = NaN"},
		{"infinite step size", math.Inf(1), 0.05, 0, false, "step size ζ = +Inf"},
		{"negative σ_y", 1, -0.05, 0, false, "σ_y = -0.05 must be finite and non-negative"},
		{"NaN σ_y", 1, math.NaN(), 0, false, "σ_y = NaN"},
		{"infinite σ_y", 1, math.Inf(1), 0, false, "σ_y = +Inf"},
		{"η above 1", 1, 0.05, 2, true, "DDIM η = 2 must lie in [0, 1]"},
		{"negative η", 1, 0.05, -0.5, true, "DDIM η = -0.5"},
		{"NaN η", 1, 0.05, math.NaN(), true, "DDIM η = NaN"},
		{"η without DDIM", 1, 0.05, 0.5, false, "η = 0.5 is DDIM's"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := base
			p.Scale, p.SigmaY, p.DDIM, p.Eta = tc.scale, tc.sigmaY, tc.ddim, tc.eta
			_, err := NewSampler(p)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	p := base
	p.Scale, p.SigmaY, p.DDIM, p.Eta = 0, 0, true, 1
	if _, err := NewSampler(p); err != nil {
		t.Errorf("ζ = 0, σ_y = 0, DDIM with η = 1: %v", err)
	}
}

// tinySRProblem returns a Problem for tests to vary: the tiny UNet, a
// 3-step respacing of the 1000-step linear process with learned-range
// variances, ×2 super-resolution, and DPS with ζ = 1 and σ_y = 0.05.
func tinySRProblem(t *testing.T) Problem {
	t.Helper()
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	m, ctx := tinyUNet(t)
	proc, err := diffusion.New(diffusion.Config{Steps: 1000, NoiseSchedule: "linear", Respacing: "3",
		MeanType: diffusion.MeanEpsilon, VarType: diffusion.VarLearnedRange, ClipDenoised: true})
	if err != nil {
		t.Fatal(err)
	}
	op, err := ops.NewSuperResolution(2, "")
	if err != nil {
		t.Fatal(err)
	}
	return Problem{Backend: b, Ctx: ctx, Net: UNetNetwork(m), Process: proc, Op: op, Method: guidance.DPS{}, Scale: 1, SigmaY: 0.05}
}

// brokenMethod returns no x̂0.
type brokenMethod struct{}

func (brokenMethod) Name() string { return "broken" }

func (brokenMethod) Step(s *guidance.Step) guidance.Result { return guidance.Result{Next: s.X} }

// TestNewSamplerChecksMethodAndProcess checks what NewSampler and Run take
// from the method and the process: a method's own validation (the zero
// DAPS is invalid), DDIM selected by the process's configured sampler, and
// a method's result without x̂0 named at the first step.
func TestNewSamplerChecksMethodAndProcess(t *testing.T) {
	p := tinySRProblem(t)
	p.Method = guidance.DAPS{}
	if _, err := NewSampler(p); err == nil || !strings.Contains(err.Error(), "want sigma_max > sigma_min > 0") {
		t.Errorf("the zero DAPS: error %v, want its validation's", err)
	}

	p = tinySRProblem(t)
	cfg := p.Process.Config()
	cfg.Sampler, cfg.Respacing = diffusion.SamplerDDIM, "ddim10"
	proc, err := diffusion.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p.Process, p.Eta = proc, 0.5 // η is DDIM's, and the process says DDIM
	if _, err := NewSampler(p); err != nil {
		t.Errorf("a DDIM process with η = 0.5: %v", err)
	}

	p = tinySRProblem(t)
	p.Method = brokenMethod{}
	s, err := NewSampler(p)
	if err != nil {
		t.Fatal(err)
	}
	y := tensors.FromShape(shapes.Make(dtypes.Float32, 1, 3, 4, 4))
	if _, err := s.Run(nil, []int{1, 3, 8, 8}, y, NewSeededNoise(1), nil); err == nil || !strings.Contains(err.Error(), "method broken returned no Next or no PredXStart") {
		t.Errorf("a method without x̂0: error %v, want one naming it", err)
	}
}

// residualMethod is DPS reporting as its Residual what residual makes of
// the step and DPS's residual norm: a stand-in for a user's mistakes.
type residualMethod struct {
	residual func(s *guidance.Step, norm *graph.Node) *graph.Node
}

func (residualMethod) Name() string { return "residual" }

func (m residualMethod) Step(s *guidance.Step) guidance.Result {
	r := guidance.DPS{}.Step(s)
	r.Residual = m.residual(s, r.Residual)
	return r
}

// TestSamplerResidual checks what the sampler does with a method's
// Residual: nil is measured from x̂0 (the DPS residual itself), a float64
// one is read as float32, and one not shaped [N] is refused naming the
// method.
func TestSamplerResidual(t *testing.T) {
	run := func(m guidance.Method) ([][]float32, error) {
		y := tensors.FromShape(shapes.Make(dtypes.Float32, 1, 3, 4, 4))
		p := tinySRProblem(t)
		p.Method = m
		s, err := NewSampler(p)
		if err != nil {
			t.Fatal(err)
		}
		var got [][]float32
		_, err = s.Run(nil, []int{1, 3, 8, 8}, y, NewSeededNoise(1), func(info StepInfo) error {
			got = append(got, info.Residual)
			return nil
		})
		return got, err
	}
	want, err := run(guidance.DPS{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		residual func(s *guidance.Step, norm *graph.Node) *graph.Node
		err      string
	}{
		{"none", func(*guidance.Step, *graph.Node) *graph.Node { return nil }, ""},
		{"float64", func(_ *guidance.Step, norm *graph.Node) *graph.Node { return graph.ConvertDType(norm, dtypes.Float64) }, ""},
		{"image-shaped", func(s *guidance.Step, _ *graph.Node) *graph.Node { return s.X }, "method residual returned Residual (Float32)[1 3 8 8]: want one norm per image, [1]"},
		{"scalar", func(_ *guidance.Step, norm *graph.Node) *graph.Node { return graph.ReduceAllSum(norm) }, "want one norm per image, [1]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := run(residualMethod{tc.residual})
			switch {
			case tc.err == "" && err != nil:
				t.Fatal(err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("error %v, want one containing %q", err, tc.err)
			case tc.err == "" && !reflect.DeepEqual(got, want):
				t.Errorf("residuals %v, want DPS's %v", got, want)
			}
		})
	}
}

// TestSamplerStepMissingDraws: Step and StepDraws refuse a nil draw by
// name, and StepDraws a missing state or measurement or another number of
// draws than DrawShapes lists, instead of failing in the backend (a draw
// too few was "runtime panic: index out of range", one too many was
// ignored); Start refuses a missing initial draw instead of returning it as
// x_T.
func TestSamplerStepMissingDraws(t *testing.T) {
	p := tinySRProblem(t)
	s, err := NewSampler(p)
	if err != nil {
		t.Fatal(err)
	}
	x := tensors.FromShape(shapes.Make(dtypes.Float32, 1, 3, 8, 8))
	y := tensors.FromShape(shapes.Make(dtypes.Float32, 1, 3, 4, 4))
	for _, tc := range []struct {
		name string
		step func() error
		want string
	}{
		{"no z", func() error { _, err := s.Step(x, 0, nil, y, y); return err }, "Step without z"},
		{"no zy", func() error { _, err := s.Step(x, 0, x, nil, y); return err }, "Step without zy: give a standard normal draw shaped like y"},
		{"a nil draw", func() error { _, err := s.StepDraws(x, 0, []*tensors.Tensor{x, nil}, y); return err }, "draw 2 of 2 is nil"},
		{"no draws", func() error { _, err := s.StepDraws(x, 0, nil, y); return err }, "dps step at index 0: 0 draws, want 2 (DrawShapes"},
		{"a draw too many", func() error { _, err := s.StepDraws(x, 0, []*tensors.Tensor{x, y, y}, y); return err }, "3 draws, want 2"},
		{"no x", func() error { _, err := s.StepDraws(nil, 0, []*tensors.Tensor{x, y}, y); return err }, "dps step at index 0: no state x"},
		{"no y", func() error { _, err := s.StepDraws(x, 0, []*tensors.Tensor{x, y}, nil); return err }, "dps step at index 0: no measurement y"},
		{"Start without a draw", func() error { _, err := s.Start(nil, y); return err }, "Start without the initial draw"},
	} {
		if err := tc.step(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

// TestSamplerDTypes checks that a state, measurement or draw of another
// dtype than float32 is refused by Run, Step, StepDraws and Start with an
// error naming the argument, its dtype and float32; GoMLX's own error
// named an operation of the step graph ("data types (DType) for BinaryOp
// Mul must match").
func TestSamplerDTypes(t *testing.T) {
	p := tinySRProblem(t)
	s, err := NewSampler(p)
	if err != nil {
		t.Fatal(err)
	}
	if p.Method, err = guidance.New("ddrm", guidance.Options{}); err != nil {
		t.Fatal(err)
	}
	starter, err := NewSampler(p)
	if err != nil {
		t.Fatal(err)
	}
	of := func(dt dtypes.DType, dims ...int) *tensors.Tensor { return tensors.FromShape(shapes.Make(dt, dims...)) }
	x, y := of(dtypes.Float32, 1, 3, 8, 8), of(dtypes.Float32, 1, 3, 4, 4)
	for _, tc := range []struct {
		name, want string
		call       func() error
	}{
		{"Run, int32 x_T", "cadps: x_T has dtype Int32, want Float32", func() error {
			_, err := s.Run(of(dtypes.Int32, 1, 3, 8, 8), nil, y, NewSeededNoise(1), nil)
			return err
		}},
		{"Run, float64 y", "cadps: the measurement y has dtype Float64, want Float32", func() error {
			_, err := s.Run(nil, []int{1, 3, 8, 8}, of(dtypes.Float64, 1, 3, 4, 4), NewSeededNoise(1), nil)
			return err
		}},
		{"Run with graph noise, float64 y", "cadps: the measurement y has dtype Float64, want Float32", func() error {
			_, err := s.Run(nil, []int{1, 3, 8, 8}, of(dtypes.Float64, 1, 3, 4, 4), NewGraphNoise(1), nil)
			return err
		}},
		{"Step, float64 z", "dps step at index 0: draw 1 of 2 has dtype Float64, want Float32", func() error {
			_, err := s.Step(x, 0, of(dtypes.Float64, 1, 3, 8, 8), y, y)
			return err
		}},
		{"StepDraws, int32 x", "dps step at index 0: the state x has dtype Int32, want Float32", func() error {
			_, err := s.StepDraws(of(dtypes.Int32, 1, 3, 8, 8), 0, []*tensors.Tensor{x, y}, y)
			return err
		}},
		{"StepDraws, float64 y", "dps step at index 0: the measurement y has dtype Float64, want Float32", func() error {
			_, err := s.StepDraws(x, 0, []*tensors.Tensor{x, y}, of(dtypes.Float64, 1, 3, 4, 4))
			return err
		}},
		{"Start, float64 draw", "cadps: the initial draw has dtype Float64, want Float32", func() error {
			_, err := s.Start(of(dtypes.Float64, 1, 3, 8, 8), y)
			return err
		}},
		{"Start of ddrm, float64 y", "cadps: ddrm start: the measurement y has dtype Float64, want Float32", func() error {
			_, err := starter.Start(x, of(dtypes.Float64, 1, 3, 4, 4))
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestSamplerZeroResidual runs the DPS-type methods on a measurement that
// x̂0 fits exactly: a network whose ε puts x̂0 below −1 everywhere, so that
// the clamped x̂0 is the black image, and the noiseless inpainting of that
// image. The residual is then exactly 0 at every step; its gradient is 0,
// as in the reference, and the run ends at the black image instead of
// stopping as diverged (mcg's observed pixels end at q_sample(y)).
func TestSamplerZeroResidual(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	proc, err := diffusion.New(diffusion.Config{Steps: 1000, NoiseSchedule: "linear", Respacing: "4",
		MeanType: diffusion.MeanEpsilon, VarType: diffusion.VarFixedLarge, ClipDenoised: true})
	if err != nil {
		t.Fatal(err)
	}
	mask := []float32{1, 1, 0, 0, 1, 0, 0, 1, 1, 1, 0, 1, 0, 1, 1, 1}
	op, err := ops.NewInpainting(mask, 4, 4)
	if err != nil {
		t.Fatal(err)
	}
	y := make([]float32, len(mask)) // A(−1) without noise
	for k, m := range mask {
		y[k] = -m
	}
	blackEps := func(_ *context.Context, x, _ *graph.Node) *graph.Node {
		return graph.AddScalar(graph.ZerosLike(x), 1e3)
	}
	for _, method := range []guidance.Method{guidance.DPS{}, guidance.CADPS{}, guidance.MCG{}} {
		t.Run(method.Name(), func(t *testing.T) {
			s, err := NewSampler(Problem{Backend: b, Ctx: context.New(), Net: blackEps, Process: proc, Op: op,
				Method: method, Scale: 1, SigmaY: 0})
			if err != nil {
				t.Fatal(err)
			}
			var residuals []float32
			out, err := s.Run(nil, []int{1, 1, 4, 4}, tensors.FromFlatDataAndDimensions(y, 1, 1, 4, 4), NewSeededNoise(1),
				func(info StepInfo) error {
					residuals = append(residuals, info.Residual...)
					return nil
				})
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tensors.MustCopyFlatData[float32](out) {
				// mcg ends its observed pixels at q_sample(y) of index 0.
				if (mask[k] == 0 || method.Name() != "mcg") && v != -1 {
					t.Fatalf("x_0[%d] = %v, want the black image's −1", k, v)
				}
			}
			for k, r := range residuals {
				if r != 0 {
					t.Errorf("residual at step %d = %v, want 0", k+1, r)
				}
			}
		})
	}
}

// shortNoise is a NoiseSource that gives one value fewer than asked for.
type shortNoise struct{}

func (shortNoise) Normal(_ NoiseKind, _, n int) ([]float32, error) { return make([]float32, n-1), nil }

// TestRunRefusesBadShapes checks that Run refuses, naming the problem, an
// image shape with a dimension that is not positive (a negative one
// panicked drawing x_T, a zero batch reached the backend), a noise source
// that gives another number of values than asked for (it panicked making
// the tensor), and, before a method builds x_T from it, a measurement of
// another shape than the operator's (DDRM's start failed inside its
// graph with "FromFlatDataAndDimensions…: data size is 16, but dimensions
// size is 32").
func TestRunRefusesBadShapes(t *testing.T) {
	p := tinySRProblem(t)
	s, err := NewSampler(p)
	if err != nil {
		t.Fatal(err)
	}
	unconditional := p
	unconditional.Op, unconditional.Method = nil, guidance.Unconditional{}
	u, err := NewSampler(unconditional)
	if err != nil {
		t.Fatal(err)
	}
	ddrm := p
	if ddrm.Method, err = guidance.New("ddrm", guidance.Options{}); err != nil {
		t.Fatal(err)
	}
	d, err := NewSampler(ddrm)
	if err != nil {
		t.Fatal(err)
	}
	of := func(dims ...int) *tensors.Tensor { return tensors.FromShape(shapes.Make(dtypes.Float32, dims...)) }
	y := of(1, 3, 4, 4)
	for _, tc := range []struct {
		name, want string
		run        func() (*tensors.Tensor, error)
	}{
		{"negative channels", "cadps: image shape [1 -3 8 8] has dimension 1 = -3, want it positive", func() (*tensors.Tensor, error) {
			return s.Run(nil, []int{1, -3, 8, 8}, y, NewSeededNoise(1), nil)
		}},
		{"no images, unconditional", "cadps: image shape [0 3 8 8] has dimension 0 = 0, want it positive", func() (*tensors.Tensor, error) {
			return u.Run(nil, []int{0, 3, 8, 8}, nil, NewSeededNoise(1), nil)
		}},
		{"short x_T", "noise source cadps.shortNoise gave 191 values of kind NoiseInit at index -1, want 192 for shape [1 3 8 8]", func() (*tensors.Tensor, error) {
			return s.Run(nil, []int{1, 3, 8, 8}, y, shortNoise{}, nil)
		}},
		{"short z", "cadps: noise at index 2: noise source cadps.shortNoise gave 191 values of kind NoiseSample", func() (*tensors.Tensor, error) {
			return s.Run(of(1, 3, 8, 8), nil, y, shortNoise{}, nil)
		}},
		{"ddrm, y of the image's shape", "cadps: measurement shape [1 3 8 8], but super_resolution maps images [1 3 8 8] to [1 3 4 4]", func() (*tensors.Tensor, error) {
			return d.Run(nil, []int{1, 3, 8, 8}, of(1, 3, 8, 8), NewSeededNoise(1), nil)
		}},
		{"ddrm, one y for two images", "cadps: measurement shape [1 3 4 4], but super_resolution maps images [2 3 8 8] to [2 3 4 4]", func() (*tensors.Tensor, error) {
			return d.Run(nil, []int{2, 3, 8, 8}, y, NewSeededNoise(1), nil)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.run(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestStepDrawsShapes checks that StepDraws (and so Step) and Start refuse
// a state, measurement or draw of another shape than the sampler's
// operator and method give, naming both shapes: a scalar z was broadcast
// to every pixel and the step ran, one y for two images was broadcast to
// both, and other shapes failed inside the graph naming one of its
// operations.
func TestStepDrawsShapes(t *testing.T) {
	p := tinySRProblem(t)
	s, err := NewSampler(p)
	if err != nil {
		t.Fatal(err)
	}
	if p.Method, err = guidance.New("ddrm", guidance.Options{}); err != nil {
		t.Fatal(err)
	}
	ddrm, err := NewSampler(p)
	if err != nil {
		t.Fatal(err)
	}
	of := func(dims ...int) *tensors.Tensor { return tensors.FromShape(shapes.Make(dtypes.Float32, dims...)) }
	x, y := of(1, 3, 8, 8), of(1, 3, 4, 4)
	x2, y2 := of(2, 3, 8, 8), of(2, 3, 4, 4)
	for _, tc := range []struct {
		name, want string
		call       func() error
	}{
		{"scalar z", "dps step at index 1: draw 1 of 2 shaped [], want [1 3 8 8]", func() error {
			_, err := s.Step(x, 1, tensors.FromScalar(float32(0.5)), y, y)
			return err
		}},
		{"z shaped like y", "dps step at index 1: draw 1 of 2 shaped [1 3 4 4], want [1 3 8 8]", func() error {
			_, err := s.StepDraws(x, 1, []*tensors.Tensor{y, y}, y)
			return err
		}},
		{"one y for two images", "dps step at index 1: measurement shape [1 3 4 4], but super_resolution maps images [2 3 8 8] to [2 3 4 4]", func() error {
			_, err := s.StepDraws(x2, 1, []*tensors.Tensor{x2, y}, y)
			return err
		}},
		{"y of the image's shape", "dps step at index 1: measurement shape [1 3 8 8], but super_resolution maps images [1 3 8 8] to [1 3 4 4]", func() error {
			_, err := s.StepDraws(x, 1, []*tensors.Tensor{x, x}, x)
			return err
		}},
		{"two y for one image", "measurement shape [2 3 4 4], but super_resolution maps images [1 3 8 8] to [1 3 4 4]", func() error {
			_, err := s.StepDraws(x, 1, []*tensors.Tensor{x, y2}, y2)
			return err
		}},
		{"x without channels", "dps step at index 1: the state x: image shape [8], want [N,C,...]", func() error {
			_, err := s.StepDraws(of(8), 1, []*tensors.Tensor{of(8), y}, y)
			return err
		}},
		{"ddrm start, one y for two images", "ddrm start: measurement shape [1 3 4 4], but super_resolution maps images [2 3 8 8] to [2 3 4 4]", func() error {
			_, err := ddrm.Start(x2, y)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestStepInfoKept checks that the tensors a callback is given stay valid
// and unchanged after it returns, for both noise paths: a callback may keep
// StepInfo.X, PredXStart and Extra (the trajectory a notebook plots)
// without copying them.
func TestStepInfoKept(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	m, ctx := tinyUNet(t)
	s := newProblemSampler(t, b, ctx, UNetNetwork(m), "cadps", 3)
	y := randomNormal(9, 1, 3, 4, 4)
	for _, tc := range []struct {
		name  string
		noise NoiseSource
	}{{"host noise", NewSeededNoise(3)}, {"graph noise", NewGraphNoise(3)}} {
		t.Run(tc.name, func(t *testing.T) {
			var kept []*tensors.Tensor
			var values [][]float32
			keep := func(x *tensors.Tensor) error {
				v, err := tensors.CopyFlatData[float32](x)
				kept, values = append(kept, x), append(values, v)
				return err
			}
			_, err := s.Run(nil, []int{1, 3, 8, 8}, y, tc.noise, func(info StepInfo) error {
				for _, x := range append([]*tensors.Tensor{info.X, info.PredXStart}, slices.Collect(maps.Values(info.Extra))...) {
					if err := keep(x); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(kept) < 6 {
				t.Fatalf("%d tensors kept from 3 steps, want at least 6", len(kept))
			}
			for k, x := range kept {
				v, err := tensors.CopyFlatData[float32](x)
				if err != nil {
					t.Fatalf("tensor %d of %d after the run: %v", k+1, len(kept), err)
				}
				if !slices.Equal(v, values[k]) {
					t.Errorf("tensor %d of %d changed after its callback returned", k+1, len(kept))
				}
			}
		})
	}
}

// batchExtraMethod is DPS reporting x̂0 as an extra named after the batch
// size, "batchN": a method whose Extra keys depend on the shapes.
type batchExtraMethod struct{ guidance.DPS }

func (m batchExtraMethod) Step(s *guidance.Step) guidance.Result {
	r := m.DPS.Step(s)
	r.Extra = map[string]*graph.Node{"batch" + strconv.Itoa(s.X.Shape().Dim(0)): r.PredXStart}
	return r
}

// TestSamplerExtraPerGraph runs one Sampler, whose method's Extra keys
// differ with the batch size, at batch sizes 1, 2 and 1 again (its graph
// for one image then comes from the cache), with noise drawn on the host
// and in the graph: every step reports the keys of its own graph.
func TestSamplerExtraPerGraph(t *testing.T) {
	p := tinySRProblem(t)
	p.Method = batchExtraMethod{}
	s, err := NewSampler(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		noise func() NoiseSource
	}{
		{"host noise", func() NoiseSource { return NewSeededNoise(1) }},
		{"graph noise", func() NoiseSource { return NewGraphNoise(1) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, n := range []int{1, 2, 1} {
				want := []string{"batch" + strconv.Itoa(n)}
				y := tensors.FromShape(shapes.Make(dtypes.Float32, n, 3, 4, 4))
				_, err := s.Run(nil, []int{n, 3, 8, 8}, y, tc.noise(), func(info StepInfo) error {
					if got := slices.Sorted(maps.Keys(info.Extra)); !slices.Equal(got, want) {
						t.Errorf("batch %d, step %d: extras %v, want %v", n, info.Step, got, want)
					}
					return nil
				})
				if err != nil {
					t.Fatalf("batch %d: %v", n, err)
				}
			}
		})
	}
}

// ddimRecorder is DPS recording whether the step it builds is told to
// take DDIM updates.
type ddimRecorder struct {
	guidance.DPS
	ddim *bool
}

func (m ddimRecorder) Step(s *guidance.Step) guidance.Result {
	*m.ddim = s.DDIM
	return m.DPS.Step(s)
}

// TestProblemDDIM checks the one rule choosing DDIM updates, in
// CheckParams and in the steps alike: Problem.DDIM or a process configured
// for DDIM selects them, and η is refused only when neither does.
func TestProblemDDIM(t *testing.T) {
	base := tinySRProblem(t)
	ddimProc := ddimProcess(t, base.Process)
	for _, tc := range []struct {
		name       string
		ddim       bool
		configured bool // the process's sampler is DDIM's
		eta        float64
		want       bool   // the steps' DDIM
		wantErr    string // CheckParams's and NewSampler's error
	}{
		{"neither", false, false, 0, false, ""},
		{"Problem.DDIM", true, false, 0.5, true, ""},
		{"the process's configured sampler", false, true, 0.5, true, ""},
		{"both", true, true, 0.5, true, ""},
		{"η without either", false, false, 0.5, false, "η = 0.5 is DDIM's"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := base
			var got bool
			p.Method, p.DDIM, p.Eta = ddimRecorder{ddim: &got}, tc.ddim, tc.eta
			if tc.configured {
				p.Process = ddimProc
			}
			if err := p.CheckParams(); tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("CheckParams: error %v, want %q", err, tc.wantErr)
			}
			s, err := NewSampler(p)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("NewSampler: error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			y := tensors.FromShape(shapes.Make(dtypes.Float32, 1, 3, 4, 4))
			if _, err := s.Run(nil, []int{1, 3, 8, 8}, y, NewSeededNoise(1), nil); err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("the steps' DDIM is %v, want %v", got, tc.want)
			}
		})
	}
}

// ddimProcess returns process p configured for DDIM updates.
func ddimProcess(t *testing.T, p *diffusion.Process) *diffusion.Process {
	t.Helper()
	cfg := p.Config()
	cfg.Sampler = diffusion.SamplerDDIM
	q, err := diffusion.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return q
}
