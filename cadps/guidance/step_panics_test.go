package guidance_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps"
	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/ops"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// priorOnly is a user's method without a measurement (UsesMeasurement
// false) that still asks a Step helper for the residual or its gradient.
type priorOnly struct{ gradient bool }

func (priorOnly) Name() string          { return "prior-only" }
func (priorOnly) UsesMeasurement() bool { return false }
func (m priorOnly) Step(s *guidance.Step) guidance.Result {
	mv := s.Denoise(s.X, s.I)
	r := guidance.Result{Next: s.Prior(mv), PredXStart: mv.PredXStart}
	if m.gradient {
		_, r.Residual = s.NormGradient(mv.PredXStart)
	} else {
		r.Residual = s.ResidualNorm(mv.PredXStart)
	}
	return r
}

// ownDraws is a user's method that declares its own draws (one shaped like
// x) and calls Step.Prior, with or without setting Z from them.
type ownDraws struct{ setZ bool }

func (ownDraws) Name() string             { return "own-draws" }
func (ownDraws) Draws(x, _ []int) [][]int { return [][]int{x} }
func (m ownDraws) Step(s *guidance.Step) guidance.Result {
	if m.setZ {
		s.Z = s.Draws[0]
	}
	mv := s.Denoise(s.X, s.I)
	return guidance.Result{Next: s.Prior(mv), PredXStart: mv.PredXStart, Residual: s.ResidualNorm(mv.PredXStart)}
}

// epsAt is a user's method that asks the network for ε at the timesteps
// t(s) through Step.Eps, or, with batch, through Step.PredictBatch.
type epsAt struct {
	t     func(s *guidance.Step) *graph.Node
	batch bool
}

func (epsAt) Name() string { return "eps-at" }
func (m epsAt) Step(s *guidance.Step) guidance.Result {
	var eps *graph.Node
	if m.batch {
		eps = s.PredictBatch([]*graph.Node{s.X}, []*graph.Node{m.t(s)})[0].Eps()
	} else {
		eps = s.Eps(s.X, m.t(s))
	}
	x0 := s.Process.PredXStartFromEps(s.X, s.I, eps)
	return guidance.Result{Next: s.Prior(s.Denoise(s.X, s.I)), PredXStart: x0}
}

// TestStepHelperPanics checks that the Step helpers a user's method may
// call out of turn fail with an error naming the method, the helper and
// what is missing: ResidualNorm and NormGradient without a measurement,
// Prior for a Drawer that has not set Z, Eps and PredictBatch given a
// respaced index or a scalar where the timesteps [N] are meant; and that
// the same methods run when they are used as documented (with float
// timesteps of another dtype than float32 too).
func TestStepHelperPanics(t *testing.T) {
	w := newWorld(t, "diag", "inpaint", measureNoise, 1)
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		method guidance.Method
		op     ops.Operator
		want   []string // substrings of Run's error; none: no error
	}{
		{"residual without measurement", priorOnly{}, nil,
			[]string{"prior-only step", "Step.ResidualNorm needs a measurement", "this problem has none"}},
		{"gradient without measurement", priorOnly{gradient: true}, nil,
			[]string{"prior-only step", "Step.NormGradient needs a measurement", "this problem has none"}},
		{"residual with measurement", priorOnly{}, w.op, nil},
		{"drawer without Z", ownDraws{}, w.op,
			[]string{"own-draws step", "Step.Prior", "guidance.Drawer", "s.Draws", "s.Z"}},
		{"drawer setting Z", ownDraws{setZ: true}, w.op, nil},
		{"Eps at the index", epsAt{t: func(s *guidance.Step) *graph.Node { return s.I }}, w.op,
			[]string{"eps-at step", "Step.Eps", "the timesteps t are (Int32),", "respaced index", "Step.Timestep(i)"}},
		{"Eps at an [N] index", epsAt{t: func(s *guidance.Step) *graph.Node {
			return graph.BroadcastToDims(s.I, s.X.Shape().Dim(0))
		}}, w.op,
			[]string{"eps-at step", "Step.Eps", "respaced index"}},
		{"Eps at a scalar timestep", epsAt{t: func(s *guidance.Step) *graph.Node { return s.Process.ModelTimestep(s.I) }}, w.op,
			[]string{"eps-at step", "Step.Eps", "want one per image"}},
		{"PredictBatch at the index", epsAt{batch: true, t: func(s *guidance.Step) *graph.Node { return s.I }}, w.op,
			[]string{"eps-at step", "Step.PredictBatch (part 1 of 1)", "respaced index"}},
		{"Eps at the timesteps", epsAt{t: func(s *guidance.Step) *graph.Node { return s.Timestep(s.I) }}, w.op, nil},
		{"Eps at float64 timesteps", epsAt{t: func(s *guidance.Step) *graph.Node {
			return graph.ConvertDType(s.Timestep(s.I), dtypes.Float64)
		}}, w.op, nil},
		{"PredictBatch at the timesteps", epsAt{batch: true, t: func(s *guidance.Step) *graph.Node { return s.Timestep(s.I) }}, w.op, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := cadps.NewSampler(cadps.Problem{Backend: b, Ctx: context.New(), Net: w.net, Process: w.process,
				Op: c.op, Method: c.method, Scale: 1, SigmaY: w.sigma})
			if err != nil {
				t.Fatal(err)
			}
			shape := []int{1, 1, imgH, imgW}
			var y *tensors.Tensor
			if c.op != nil {
				y = tensors.FromFlatDataAndDimensions(w.y, shape...)
			}
			_, err = s.Run(nil, shape, y, cadps.NewSeededNoise(1), nil)
			switch {
			case len(c.want) == 0 && err != nil:
				t.Fatal(err)
			case len(c.want) > 0 && err == nil:
				t.Fatalf("ran, want an error naming %q", c.want)
			}
			for _, s := range c.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not name %q", err, s)
				}
			}
		})
	}
}

// TestSetDraws: a step built by hand gets its draws through SetDraws,
// which refuses draws of another number or shape than the method's,
// naming the method, and sets Z and ZY for a method that draws none of
// its own.
func TestSetDraws(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	g := graph.NewGraph(b, "draws")
	x := graph.Zeros(g, shapes.Make(dtypes.Float32, 2, 1, 4, 4))
	y := graph.Zeros(g, shapes.Make(dtypes.Float32, 2, 1, 2, 2))
	ddrm := guidance.DDRM{Eta: 0.85, EtaB: 1}
	for _, tc := range []struct {
		m     guidance.Method
		draws []*graph.Node
		want  string
	}{
		{guidance.DPS{}, []*graph.Node{x, y}, ""},
		{guidance.DPS{}, []*graph.Node{x}, "dps takes 2 draws per step"},
		{ddrm, []*graph.Node{x, y}, "ddrm takes 3 draws per step"},
		{ddrm, []*graph.Node{x, x, x}, "ddrm's draw 0 is shaped [2 16]"},
	} {
		s := &guidance.Step{X: x, Y: y}
		got := panicText(func() { s.SetDraws(tc.m, tc.draws) })
		if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
			t.Errorf("%s with %d draws: panic %q, want %q", tc.m.Name(), len(tc.draws), got, tc.want)
		}
		if tc.want == "" && (s.Z != x || s.ZY != nil) {
			t.Errorf("%s: Z %v and ZY %v, want x and nil (no operator)", tc.m.Name(), s.Z, s.ZY)
		}
	}
}

// panicText runs f and returns the text of its panic, "" when it returns.
func panicText(f func()) (text string) {
	defer func() {
		if r := recover(); r != nil {
			text = fmt.Sprint(r)
		}
	}()
	f()
	return ""
}
