package restore

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/ops"
	"github.com/gomlx/gomlx/pkg/core/graph"
)

// handDPS is DPS written as a user of the library would write a method of
// their own, from the Step helpers alone.
type handDPS struct{}

func (handDPS) Name() string { return "hand-dps" }

func (handDPS) Step(s *guidance.Step) guidance.Result {
	mv := s.Denoise(s.X, s.I)
	grad, norm := s.NormGradient(mv.PredXStart)
	return guidance.Result{Next: graph.Sub(s.Prior(mv), s.Scaled(grad)), PredXStart: mv.PredXStart, Residual: norm}
}

// handCADPS is CA-DPS as released, written from the exported helpers as
// the ablation notebook writes its clamped variant (clamp false here).
type handCADPS struct{ clamp bool }

func (handCADPS) Name() string { return "hand-cadps" }

func (m handCADPS) Step(s *guidance.Step) guidance.Result {
	now := s.Predict(s.X, s.Timestep(s.I))
	before := s.Predict(graph.StopGradient(s.X), s.Timestep(guidance.PrevIndex(s.I)))
	mv := now.MeanVariance(s.I)
	grad, norm := s.NormGradient(mv.PredXStart)
	epsPrev := graph.StopGradient(before.Eps())
	last := graph.ConvertDType(graph.Equal(s.I, graph.ScalarZero(s.I.Graph(), s.I.DType())), epsPrev.DType())
	d := graph.Sub(graph.StopGradient(now.Eps()), graph.Mul(epsPrev, graph.OneMinus(last)))
	multiplier := graph.OnePlus(d)
	if m.clamp {
		multiplier = graph.Max(multiplier, graph.ZerosLike(d))
	}
	next := graph.Sub(s.Prior(mv), s.Scaled(graph.Mul(grad, multiplier)))
	return guidance.Result{Next: next, PredXStart: mv.PredXStart, Residual: norm}
}

// plainOperator hides every interface of the operator it wraps but
// ops.Operator, as an operator of one's own that reports no kind.
type plainOperator struct{ ops.Operator }

// TestCustomMethodAndOperator runs a method and an operator of one's own
// through the restorer: DPS and CA-DPS written by hand give the toolkit's
// reconstructions bit for bit (and CA-DPS clamped another), and a method
// is named by its Name; super-resolution behind a bare
// ops.Operator gives the spec task's reconstruction once ζ is set, and
// without ζ is refused by name.
func TestCustomMethodAndOperator(t *testing.T) {
	b, prior := shippedPrior(t)
	truth := twoTestImages(t, prior)[0]
	sr := SpecTask("sr:factor=2")
	restored := func(o Options) []float32 {
		t.Helper()
		o.Steps = 3
		r, err := New(b, prior, o)
		if err != nil {
			t.Fatal(err)
		}
		res, err := r.Restore(truth, 7, nil)
		if err != nil {
			t.Fatal(err)
		}
		return res.Reconstruction.Pix
	}
	want := restored(Options{Task: sr, Method: "dps"})

	if got := restored(Options{Task: sr, Custom: handDPS{}}); !slices.Equal(got, want) {
		t.Error("DPS written by hand differs from dps")
	}
	wantCA := restored(Options{Task: sr, Method: "cadps"})
	if got := restored(Options{Task: sr, Custom: handCADPS{}}); !slices.Equal(got, wantCA) {
		t.Error("CA-DPS written by hand differs from cadps")
	}
	if got := restored(Options{Task: sr, Custom: handCADPS{clamp: true}}); slices.Equal(got, wantCA) {
		t.Error("CA-DPS with its multiplier clamped at 0 gives cadps's reconstruction: no multiplier was negative, so the clamp is untested")
	}
	r, err := New(b, prior, Options{Task: sr, Custom: handDPS{}, Steps: 3})
	if err != nil {
		t.Fatal(err)
	}
	if s := r.Settings(); s.Method != "hand-dps" || s.Scale != 0.3 {
		t.Errorf("settings name %q with ζ %v, want hand-dps with DPS's 0.3 for super-resolution", s.Method, s.Scale)
	}

	build := func(shape []int, seed uint64) (ops.Operator, error) {
		op, err := ops.Parse("sr:factor=2", shape, seed)
		return plainOperator{op}, err
	}
	own := Task{Label: "my-sr", Build: build}
	if _, err := New(b, prior, Options{Task: own, Method: "dps"}); err == nil || !strings.Contains(err.Error(), `no default step size ζ for an operator of kind "other": set Options.Scale`) {
		t.Errorf("an operator without a kind and no ζ: error %v", err)
	}
	zeta := 0.3
	if got := restored(Options{Task: own, Method: "dps", Scale: &zeta}); !slices.Equal(got, want) {
		t.Error("super-resolution behind a bare operator differs from the spec task")
	}
	// A kind reported by the operator chooses the defaults, as a spec's does.
	kinded := Task{Label: "my-sr", Build: func(shape []int, seed uint64) (ops.Operator, error) { return ops.Parse("sr:factor=2", shape, seed) }}
	if got := restored(Options{Task: kinded, Method: "dps"}); !slices.Equal(got, want) {
		t.Error("a built operator with a kind differs from the spec task")
	}
	if r, err := New(b, prior, Options{Task: Task{Label: "my-box", Build: func(shape []int, seed uint64) (ops.Operator, error) {
		return ops.Parse("inpaint_box:size=12", shape, seed)
	}}, Method: "diffpir"}); err != nil || r.Settings().Steps != 20 || r.Settings().Scale != 1 {
		t.Errorf("diffpir on a built inpainting operator: %v; want its 20 inpainting steps", err)
	}

	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"method spec and value", Options{Task: sr, Method: "dps", Custom: handDPS{}}, `both a method spec ("dps") and a method value (hand-dps)`},
		{"no operator", Options{Task: Task{Label: "none"}, Method: "dps"}, `task "none" has no spec, config or operator builder`},
		{"spec and builder", Options{Task: Task{Label: "two", Spec: "sr:factor=2", Build: build}, Method: "dps"}, `task "two" sets more than one`},
		{"builder error", Options{Task: Task{Label: "bad", Build: func([]int, uint64) (ops.Operator, error) {
			return nil, errors.New("no kernel file")
		}}, Method: "dps"}, "task bad: no kernel file"},
		{"builder without operator", Options{Task: Task{Label: "nil", Build: func([]int, uint64) (ops.Operator, error) { return nil, nil }}, Method: "dps"}, "task nil: the operator builder returned no operator"},
		{"operator the method cannot use", Options{Task: own, Method: "pigdm"}, "pigdm needs a linear operator"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(b, prior, tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
