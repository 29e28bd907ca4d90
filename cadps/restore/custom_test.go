package restore

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps"
	"github.com/cadps/toolkit/cadps/diffusion"
	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/ops"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
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
		{"fixed without a builder", Options{Task: Task{Label: "sr", Spec: "sr:factor=2", Fixed: true}, Method: "dps"}, `task "sr" is marked Fixed`},
		{"builder error", Options{Task: Task{Label: "bad", Build: func([]int, uint64) (ops.Operator, error) {
			return nil, errors.New("no kernel file")
		}}, Method: "dps"}, "task bad: no kernel file"},
		{"builder without operator", Options{Task: Task{Label: "nil", Build: func([]int, uint64) (ops.Operator, error) { return nil, nil }}, Method: "dps"}, "task nil: the operator builder returned no operator"},
		{"operator the method cannot use", Options{Task: own, Method: "pigdm"}, "pigdm cannot run on super_resolution: it needs a linear operator"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(b, prior, tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// gainOp is y = gain·x, a value type with a slice field (so that two of
// them cannot be compared with ==), named by its gain.
type gainOp struct{ gain []float64 }

func (gainOp) Name() string                        { return "gain" }
func (g gainOp) String() string                    { return fmt.Sprintf("gain(%g)", g.gain[0]) }
func (gainOp) OutputShape(in []int) ([]int, error) { return in, nil }
func (g gainOp) Apply(x *graph.Node) *graph.Node   { return graph.MulScalar(x, g.gain[0]) }
func (g gainOp) Kind() ops.Kind                    { return ops.KindBlur }
func gainOf(seed uint64) float64                   { return []float64{1, 0.5}[rand.New(rand.NewPCG(seed, 0)).IntN(2)] }
func buildGain(_ []int, seed uint64) (ops.Operator, error) {
	return gainOp{[]float64{gainOf(seed)}}, nil
}

// TestCustomOperatorSeeds restores with operators of one's own whose
// random part takes two values: every restoration measures with the
// operator of its own seed (seeds 1 and 2 giving the same one does not
// make it fixed), and an operator that cannot be compared with == works.
// A task marked Fixed is built once and keeps one sampler.
func TestCustomOperatorSeeds(t *testing.T) {
	b, prior := shippedPrior(t)
	truths := twoTestImages(t, prior)
	if gainOf(1) != gainOf(2) {
		t.Fatal("the test wants seeds 1 and 2 to draw the same gain")
	}
	r, err := New(b, prior, Options{Task: Task{Label: "gain", Build: buildGain}, Method: "dps", Steps: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, seed := range []uint64{1, 2, 3, 4, 5, 6} {
		res, err := r.Restore(truths[0], seed, nil)
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("gain(%g)", gainOf(seed)); res.Operator != want {
			t.Errorf("seed %d: measured with %s, want %s", seed, res.Operator, want)
		}
	}
	batch, err := r.RestoreBatch(truths, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("gain(%g)", gainOf(3)); batch.Operator != want {
		t.Errorf("batch: measured with %s, want %s", batch.Operator, want)
	}

	builds := 0
	fixed := Task{Label: "half", Fixed: true, Build: func([]int, uint64) (ops.Operator, error) {
		builds++
		return gainOp{[]float64{0.5}}, nil
	}}
	if r, err = New(b, prior, Options{Task: fixed, Method: "dps", Steps: 2}); err != nil {
		t.Fatal(err)
	}
	var kept *cadps.Sampler
	for seed := range uint64(3) {
		if _, err := r.Restore(truths[0], seed, nil); err != nil {
			t.Fatal(err)
		}
		if seed == 0 {
			kept = r.fixedSampler
		}
	}
	if builds != 1 || kept == nil || r.fixedSampler != kept {
		t.Errorf("a Fixed task: built %d times, sampler kept %v; want one build and one sampler", builds, r.fixedSampler == kept && kept != nil)
	}
}

// validating is a method of one's own whose options conflict.
type validating struct{ handDPS }

func (validating) Name() string    { return "validating" }
func (validating) Validate() error { return errors.New("option a conflicts with option b") }

// negativeSteps defaults to a negative step count.
type negativeSteps struct{ handDPS }

func (negativeSteps) Name() string              { return "negative-steps" }
func (negativeSteps) DefaultSteps(ops.Kind) int { return -5 }

// TestCustomRefusals checks what restore.New refuses of methods and
// operators of one's own, each with a message naming the problem.
func TestCustomRefusals(t *testing.T) {
	b, prior := shippedPrior(t)
	sr := SpecTask("sr:factor=2")
	def, err := guidance.New("ddrm", guidance.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := New(b, prior, Options{Task: sr, Custom: def}); err != nil || r.Settings().Method != "ddrm" {
		t.Errorf("the toolkit's ddrm with its defaults as a value: %v", err)
	}
	fn := func(name string, apply func(*graph.Node) *graph.Node, shape func([]int) ([]int, error)) Task {
		return Task{Label: name, Build: func([]int, uint64) (ops.Operator, error) { return rawOp{name, shape, apply}, nil }}
	}
	same := func(in []int) ([]int, error) { return in, nil }
	zeta := 0.3
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"a configured toolkit method as a value", Options{Task: sr, Custom: guidance.DiffPIR{Lambda: 7}},
			`the method value guidance.DiffPIR is named "diffpir" like the toolkit's method, but is not its default`},
		{"a method of one's own named like a toolkit one", Options{Task: sr, Custom: namedHand{"dps"}}, `is named "dps" like the toolkit's method`},
		{"a method without a name", Options{Task: sr, Custom: namedHand{""}}, "has an empty Name"},
		{"an invalid method", Options{Task: sr, Custom: validating{}}, "restore: option a conflicts with option b"},
		{"a negative default step count", Options{Task: sr, Custom: negativeSteps{}}, `method negative-steps gives a negative default step count (-5) for an operator of kind "super_resolution"`},
		{"a task without a label", Options{Task: Task{Build: buildGain}, Method: "dps"}, "a task without a label"},
		{"a measurement without the batch axis", Options{Task: fn("total", func(x *graph.Node) *graph.Node { return graph.ReduceAllSum(x) },
			func([]int) ([]int, error) { return []int{}, nil }), Method: "dps", Scale: &zeta}, "operator total gives shape [] for a batch of 1 images: a measurement keeps the batch axis first"},
		{"a float64 measurement", Options{Task: fn("f64", func(x *graph.Node) *graph.Node { return graph.ConvertDType(x, dtypes.Float64) }, same),
			Method: "dps", Scale: &zeta}, "operator f64 gives Float64 values"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(b, prior, tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// namedHand is DPS by hand under any name.
type namedHand struct{ name string }

func (n namedHand) Name() string                        { return n.name }
func (namedHand) Step(s *guidance.Step) guidance.Result { return handDPS{}.Step(s) }

// rawOp is an operator of one's own that checks nothing (ops.Func checks
// its results itself), so that restore's own checks are what is tested.
type rawOp struct {
	name  string
	shape func([]int) ([]int, error)
	apply func(*graph.Node) *graph.Node
}

func (o rawOp) Name() string                        { return o.name }
func (o rawOp) OutputShape(in []int) ([]int, error) { return o.shape(in) }
func (o rawOp) Apply(x *graph.Node) *graph.Node     { return o.apply(x) }

// pinvOp is super-resolution without a kind, keeping its pseudo-inverse.
type pinvOp struct {
	ops.Operator
	ops.PseudoInverter
}

// TestProjectionOwnOperator: projection, which takes no step of size ζ,
// needs none on an operator of one's own without a kind, and keeps
// recording DPS's ζ for a task with one.
func TestProjectionOwnOperator(t *testing.T) {
	b, prior := shippedPrior(t)
	own := Task{Label: "my-sr", Build: func(shape []int, seed uint64) (ops.Operator, error) {
		op, err := ops.Parse("sr:factor=2", shape, seed)
		if err != nil {
			return nil, err
		}
		return pinvOp{op, op.(ops.PseudoInverter)}, nil
	}}
	for _, tc := range []struct {
		task Task
		want float64
	}{{own, 1}, {SpecTask("sr:factor=2"), 0.3}} {
		r, err := New(b, prior, Options{Task: tc.task, Method: "projection", Steps: 2})
		if err != nil {
			t.Fatalf("%s: %v", tc.task.Label, err)
		}
		if got := r.Settings().Scale; got != tc.want {
			t.Errorf("%s: ζ %v recorded, want %v", tc.task.Label, got, tc.want)
		}
	}
}

// TestSamplerReuse checks which compiled samplers a restorer keeps: one
// per batch shape for a task without random parts; for a task with random
// parts (whose operators never repeat) the last sampler, whose compiled
// graphs the next batch's shares when the method takes the mask or kernel
// as an input, with the results of a restorer that compiles anew.
func TestSamplerReuse(t *testing.T) {
	b, prior := shippedPrior(t)
	truths := twoTestImages(t, prior)
	for _, tc := range []struct {
		task, method string
		kept, shared bool
	}{
		{"sr:factor=2", "dps", true, false},
		{"inpaint_random:fraction=0.5", "dps", false, true},
		{"motion_blur:kernel_size=5", "cadps", false, true},
		{"inpaint_random:fraction=0.5", "diffpir", false, true},
		{"inpaint_random:fraction=0.5", "ddrm", false, true},
	} {
		r, err := New(b, prior, Options{Task: SpecTask(tc.task), Method: tc.method, Steps: 2})
		if err != nil {
			t.Fatal(err)
		}
		var first *compiled
		var random []*cadps.Sampler
		var last *BatchResult
		for seed := range uint64(2) {
			if last, err = r.RestoreBatch(truths, seed, nil); err != nil {
				t.Fatal(err)
			}
			if seed == 0 {
				first = r.last
			}
			random = append(random, r.random)
		}
		if kept := r.last != nil; kept != tc.kept || (kept && r.last != first) {
			t.Errorf("%s: a sampler kept for batches: %v (the same for both: %v), want %v", tc.task, kept, r.last == first, tc.kept)
		}
		if shared := random[1] != nil && random[1].SharesGraphs(random[0]); shared != tc.shared {
			t.Errorf("%s with %s: the second batch shares the first's graphs: %v, want %v", tc.task, tc.method, shared, tc.shared)
		}
		// Every operator with random parts is applied through one kept
		// graph, a seed-independent one through one for the batch shape.
		bound, shaped := map[bool]int{true: 0, false: 1}[tc.kept], map[bool]int{true: 1, false: 0}[tc.kept]
		if len(r.applier.bound) != bound || len(r.applier.shaped) != shaped {
			t.Errorf("%s with %s: %d graphs kept for operators with random parts and %d for the batch shape, want %d and %d",
				tc.task, tc.method, len(r.applier.bound), len(r.applier.shaped), bound, shaped)
		}
		fresh, err := New(b, prior, Options{Task: SpecTask(tc.task), Method: tc.method, Steps: 2})
		if err != nil {
			t.Fatal(err)
		}
		alone, err := fresh.RestoreBatch(truths, 1, nil)
		if err != nil {
			t.Fatal(err)
		}
		for k := range truths {
			if got, want := last.Items[k].Metrics, alone.Items[k].Metrics; got != want {
				t.Errorf("%s with %s, image %d: %+v after another batch, %+v alone", tc.task, tc.method, k, got, want)
			}
		}
	}
}

// TestSamplerReuseAcrossOneOff checks that a batch whose operator has no
// bound form (a separable kernel) between batches whose operators have one
// compiles a sampler of its own without ending the sharing: the batch after
// it shares the first batch's graphs again, and Finalize releases them.
func TestSamplerReuseAcrossOneOff(t *testing.T) {
	b, prior := shippedPrior(t)
	truths := twoTestImages(t, prior)
	task := Task{Label: "mixed_blur", Build: func(shape []int, seed uint64) (ops.Operator, error) {
		if seed == 1 {
			return ops.NewGaussianBlur(5, 1)
		}
		return ops.NewMotionBlur(5, 0.5, seed)
	}}
	r, err := New(b, prior, Options{Task: task, Method: "dps", Steps: 2})
	if err != nil {
		t.Fatal(err)
	}
	var kept []*cadps.Sampler
	for seed := range uint64(3) {
		if _, err := r.RestoreBatch(truths, seed, nil); err != nil {
			t.Fatal(err)
		}
		kept = append(kept, r.random)
	}
	if !kept[2].SharesGraphs(kept[0]) || kept[1] != kept[0] {
		t.Errorf("the sampler kept after each batch: %p %p %p; want the first batch's, or one sharing its graphs, throughout", kept[0], kept[1], kept[2])
	}
	if r.spare != nil {
		t.Error("the one-off sampler is still kept a batch later")
	}
	r.Finalize()
	if r.random != nil || r.fixedSampler != nil || r.last != nil {
		t.Error("Finalize left samplers kept")
	}
}

// handPiGDM is ΠGDM's general branch (conjugate gradients on
// r_t² AAᵀ + σ_y² I) written from the exported helpers, as a user would
// start a Gaussian-likelihood variant of their own.
type handPiGDM struct{}

func (handPiGDM) Name() string { return "hand-pigdm" }

func (handPiGDM) DefaultScale(ops.Kind) float64 { return 1 }

func (handPiGDM) Step(s *guidance.Step) guidance.Result {
	op := s.Op.(ops.Linear)
	mv := s.Denoise(s.X, s.I)
	x0 := mv.PredXStart
	r := graph.Sub(s.Y, op.Apply(x0))
	rt2 := graph.OneMinus(diffusion.Expand(s.Process.AlphaBar(s.I), r)) // r_t² = 1 − ᾱ
	s2 := graph.Scalar(r.Graph(), r.DType(), s.SigmaY*s.SigmaY)
	apply := func(v *graph.Node) *graph.Node {
		return graph.Add(graph.Mul(s2, v), graph.Mul(rt2, op.Apply(op.Adjoint(v))))
	}
	g := s.VJP(x0, op.Adjoint(guidance.ConjugateGradient(apply, r, guidance.DefaultCGIterations)))
	delta := s.Scaled(graph.Mul(s.TweedieScale(g), g))
	return guidance.Result{Next: s.GuidedPrior(mv, delta), PredXStart: x0}
}

// TestCustomGaussianMethod: ΠGDM written from the exported helpers
// (ConjugateGradient, VJP, TweedieScale, GuidedPrior) gives pigdm's
// reconstruction bit for bit on a blur, where pigdm solves with
// conjugate gradients.
func TestCustomGaussianMethod(t *testing.T) {
	b, prior := shippedPrior(t)
	truth := twoTestImages(t, prior)[0]
	blur := SpecTask("gaussian_blur:kernel_size=5,intensity=1")
	var got [2][]float32
	for k, o := range []Options{{Method: "pigdm"}, {Custom: handPiGDM{}}} {
		o.Task, o.Steps = blur, 3
		r, err := New(b, prior, o)
		if err != nil {
			t.Fatal(err)
		}
		res, err := r.Restore(truth, 5, nil)
		if err != nil {
			t.Fatal(err)
		}
		got[k] = res.Reconstruction.Pix
	}
	if !slices.Equal(got[0], got[1]) {
		t.Error("ΠGDM written from the exported helpers differs from pigdm")
	}
}
