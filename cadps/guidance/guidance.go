// Package guidance holds the posterior-sampling methods that steer a
// diffusion prior towards a measurement y = A(x) + n: DPS, CA-DPS as released
// and as the paper describes it, and the methods they are measured against.
//
// A method is one file implementing [Method]: given the current state x_t at
// a respaced index i, it builds x_{t-1} in the graph. The sampler (package
// cadps) compiles that step once and runs it for every index, so everything
// a method computes from i is a graph operation.
//
// To add a method, write that file and give it one line in constructors
// (its name for the command line). The file declares the rest through
// optional interfaces: [SpecReader] (the spec options it reads),
// [Scaler] (a default ζ other than the task's DPS value),
// [OperatorChecker] (what it needs of A beyond A(x)), [ProcessChecker]
// (what it needs of the diffusion process), [MeasurementUser]
// (whether it is steered by the measurement at all), [Revisioner]
// (changes of its default output since its first release), [Drawer] (the
// random draws of a step, when they are not one image-shaped and one
// measurement-shaped draw) and [Starter] (its own x_T, built from the
// initial draw and the measurement).
//
// Every method runs NumSteps() steps of the process, from respaced index
// NumSteps()−1 down to 0; what a step at index i does, and on which time
// grid, is the method's: DPS and its relatives take one reverse step of the
// respaced process, DDRM and DiffPIR one step of their own grids over the
// original process, DAPS one annealing stage.
//
// A method of your own implements Method (and the optional interfaces it
// needs) and runs through cadps.Sampler; it applies ζ and its ramp through
// [Step.Scaled]. A type that embeds a built-in method to wrap its Step does
// not inherit what the sampler finds by type assertion unless it embeds the
// method's own type (guidance.DiffPIR, not guidance.Method): embedding the
// interface hides DiffPIR's Starter, DDRM's Drawer and the checks.
//
// Build the released configurations with [New] or [ParseSpec]: the zero
// values of DDRM, DiffPIR and DAPS are not their defaults (η = η_B = 0; no
// data step; an invalid DAPS that NewSampler refuses).
//
// The graphs are differentiable once. ζ is a host constant in the
// sampler's graph; a graph of one's own that builds a Step and calls a
// method's Step on it can give ζ as a scalar node (Step.ScaleNode) and
// differentiate x_{t-1} with respect to it, since ζ only multiplies the
// likelihood term. σ_y is a host constant, and a step that already
// differentiates the network (DPS, CA-DPS and the other likelihood-gradient
// methods) cannot be differentiated again: GoMLX has no gradient of the
// network's gradient (of a convolution with input dilation, the backward
// pass of a strided one). So a gradient through such a step with respect
// to y or x_t fails, and so does one with respect to ζ through two or more
// steps, since each later step differentiates the network at an x_t that
// depends on ζ; one step, and a loss of the next step's x̂0, can be
// differentiated. The methods without a network gradient (DDRM, DiffPIR,
// DAPS, projection) can be differentiated through any number of steps.
package guidance

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/cadps/toolkit/cadps/diffusion"
	"github.com/cadps/toolkit/ops"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// Network is a diffusion network: the raw output (ε, followed by the
// variance values for learned-variance models) for x_t [N,...] at the
// timesteps t [N] (float32) it receives. Methods read it through
// [Step.Eps], [Step.Denoise] and [Prediction], never by its layout.
type Network func(ctx *context.Context, x, t *graph.Node) *graph.Node

// Method is a guidance method: one reverse step of posterior sampling,
// built as a GoMLX graph. Any type with these two methods is one;
// docs/methods.md and restore's ExampleOptions_ablation write one.
type Method interface {
	// Name is the method's name as the command line spells it, and the
	// name settings, records and errors give it; a method of one's own
	// takes a name of its own.
	Name() string
	// Step builds the update from s.X (x_t: [N,C,H,W] for images, on
	// their [−1, 1] scale) to x_{t-1}: Result.Next and Result.PredXStart
	// shaped like s.X. Like any GoMLX graph-building function it panics
	// on misuse (as Step's helpers do, e.g. Step.NormGradient without a
	// measurement); the sampler turns such a panic, and a Result without
	// Next or PredXStart or of another shape, into an error of
	// cadps.Sampler.Run naming the method.
	Step(s *Step) Result
}

// Step is what a method sees at one reverse step: the prior, the
// measurement and the current state, all as nodes of the step's graph.
type Step struct {
	// Ctx holds the network's weights.
	Ctx *context.Context
	// Net is the prior network.
	Net Network
	// Process is the diffusion process (schedule, respacing, variances).
	Process *diffusion.Process
	// Op is the measurement operator A; nil when the problem has no
	// measurement (a method whose UsesMeasurement is false). For a method
	// that takes bound operators ([BoundOperatorTaker]) it may be the
	// bound form of an ops.Parametrized operator, whose data are inputs of
	// the step's graph.
	Op ops.Operator
	// Y is the measurement A(x)+n, [N,...] batched as X; nil with Op.
	Y *graph.Node
	// X is x_t, [N,...] ([N,C,H,W] for images): the images' [−1, 1]
	// scale plus the process's noise at index I. The methods differentiate
	// with respect to it (NormGradient, VJP): in a graph of one's own it
	// must not be a graph.StopGradient node, whose gradient is zero (the
	// step would then take no guidance, without an error); to cut the
	// gradient of earlier steps, stop it before an operation that leaves
	// the value as it is (graph.Add(graph.StopGradient(x), zeros)).
	X *graph.Node
	// I is the respaced index of x_t (int32 scalar).
	I *graph.Node
	// Z is standard normal noise shaped like X, for the ancestral sample
	// (Prior). It is nil for a method that implements [Drawer]: such a
	// method receives its own draws in Draws, and sets Z from them (shaped
	// like X) before it calls Prior.
	Z *graph.Node
	// ZY is standard normal noise shaped like Y, the draw q_sample makes on
	// the measurement (used by projection-type methods). It is nil for a
	// method that implements [Drawer], and without a measurement.
	ZY *graph.Node
	// Draws are the step's standard normal draws, shaped as the method's
	// [Drawer] declares them; for other methods Draws is {Z, ZY}.
	Draws []*graph.Node
	// Scale is the step size ζ.
	Scale float64
	// ScaleNode, when not nil, is the step size ζ as a scalar node of the
	// step's graph, used by Scaled in place of Scale: a graph built around
	// a method's Step sets it to differentiate the step with respect to ζ
	// (graph.Gradient of a loss of Result.Next with respect to it). The
	// sampler leaves it nil.
	ScaleNode *graph.Node
	// Ramp schedules ζ over the steps (the zero Ramp keeps it constant).
	// Methods apply both through Scaled.
	Ramp Ramp
	// SigmaY is the measurement noise level σ_y the likelihood assumes.
	SigmaY float64
	// DDIM selects the DDIM update with Eta instead of ancestral sampling.
	// A process configured for DDIM (Process.Config().Sampler is
	// diffusion.SamplerDDIM) selects it too, as it does for
	// cadps.Problem.DDIM: see [Step.UsesDDIM].
	DDIM bool
	// Eta is DDIM's η.
	Eta float64
}

// Result is a method's output for one step.
type Result struct {
	// Next is x_{t-1}, shaped like x_t ([N,C,H,W] for images, on their
	// [−1, 1] scale).
	Next *graph.Node
	// PredXStart is the estimate x̂0(x_t) the method used (for progress
	// figures), shaped like x_t.
	PredXStart *graph.Node
	// Residual is ‖y − A(x̂0)‖₂ per image, [N]. When nil, the sampler
	// measures it from PredXStart (zeros without a measurement); any
	// other shape is refused, naming the method.
	Residual *graph.Node
	// Extra holds method-specific diagnostics by name, each listed in its
	// method's doc comment: cadps "multiplier" (1+d, like x), cadps-gauss
	// and tmpd "covariance" (the diagonal estimate, like x), ddrm
	// "spectral_x0" and "spectral_next" ([N, C·H·W]) and "eps" (the
	// network's ε, like x), diffpir "x0_data"
	// (x̂0 after the data step, like x) and "eps" (like x), daps "x0y" (the
	// Langevin sample, like x), "loss" (its ‖A(x0y) − y‖², [N]) and
	// "nan_reset" (1 for the images whose x0y was reset to 0 after a NaN,
	// else 0, [N]).
	Extra map[string]*graph.Node
}

// Timestep returns the network timesteps [N] for respaced index i.
func (s *Step) Timestep(i *graph.Node) *graph.Node {
	t := s.Process.ModelTimestep(i)
	n := s.X.Shape().Dim(0)
	if t.Rank() == 0 {
		t = graph.BroadcastToDims(t, n)
	}
	return t
}

// UsesDDIM reports whether the step's updates are DDIM's: s.DDIM is set,
// or s.Process is configured for DDIM sampling (see [DDIMUpdates]).
func (s *Step) UsesDDIM() bool { return DDIMUpdates(s.Process, s.DDIM) }

// DDIMUpdates reports whether sampling process p takes DDIM updates when
// DDIM is asked for by ddim: it does when ddim is set or p is configured
// for DDIM (p.Config().Sampler is diffusion.SamplerDDIM); a nil p takes
// them only when ddim is set. Step.Prior and cadps.Problem both decide
// by it.
func DDIMUpdates(p *diffusion.Process, ddim bool) bool {
	return ddim || p != nil && p.Config().Sampler == diffusion.SamplerDDIM
}

// Prior returns the unconditional sample x'_{t-1} from x_t and its
// prediction: the ancestral (DDPM) draw, or DDIM with η when the step's
// updates are DDIM's ([Step.UsesDDIM]), both drawing s.Z. It panics when
// s.Z is nil, as it is for a method that declares its own draws ([Drawer])
// and has not set it.
func (s *Step) Prior(mv diffusion.MeanVariance) *graph.Node {
	if s.Z == nil {
		panic(errors.New("guidance: Step.Prior needs the draw s.Z shaped like x, and it is nil: a method that declares its own draws (guidance.Drawer) receives them in s.Draws and must set s.Z from one of them"))
	}
	if s.UsesDDIM() {
		return s.Process.DDIMStep(mv.PredXStart, mv.Eps, s.I, s.Z, s.Eta)
	}
	return s.Process.PSample(mv, s.I, s.Z)
}

// ResidualNorm returns ‖y − A(x0)‖₂ for each image, [N], for x0 shaped
// like x. It panics when the problem has no measurement (s.Op or s.Y nil).
func (s *Step) ResidualNorm(x0 *graph.Node) *graph.Node {
	s.mustMeasure("ResidualNorm")
	d := graph.Sub(s.Y, s.Op.Apply(x0))
	return perImageNorm(d)
}

// mustMeasure panics, naming the Step helper that needs it, when the
// problem has no measurement; graph execution returns the panic as the
// step's error.
func (s *Step) mustMeasure(helper string) {
	if s.Op == nil || s.Y == nil {
		panic(fmt.Errorf("guidance: Step.%s needs a measurement (Step.Op and Step.Y), and this problem has none", helper))
	}
}

// perImageNorm returns the Euclidean norm of each batch element of d
// [N,...], [N]: |d_n| when d is [N], one value per image. Its gradient at
// d_n = 0 is 0, as torch.linalg.norm's backward gives it, instead of the
// 0/0 = NaN of the square root's (or, for [N], the +1 GoMLX gives Abs at
// 0).
func perImageNorm(d *graph.Node) *graph.Node {
	if d.Rank() == 1 {
		return graph.Where(graph.NotEqual(d, graph.ZerosLike(d)), graph.Abs(d), graph.ZerosLike(d))
	}
	sq := sumPerImage(graph.Square(d))
	pos := graph.GreaterThan(sq, graph.ZerosLike(sq))
	return graph.Where(pos, graph.Sqrt(graph.Where(pos, sq, graph.OnesLike(sq))), graph.ZerosLike(sq))
}

// sumPerImage sums x [N,...] over every axis but the batch axis, giving
// [N]; x itself when it has no other axis (a ReduceSum without axes would
// sum the whole batch).
func sumPerImage(x *graph.Node) *graph.Node {
	if x.Rank() == 1 {
		return x
	}
	axes := make([]int, x.Rank()-1)
	for k := range axes {
		axes[k] = k + 1
	}
	return graph.ReduceSum(x, axes...)
}

// NormGradient returns ∇_{x_t} Σ_n ‖y_n − A(x̂0(x_t))_n‖₂ and the norms: the
// DPS likelihood gradient, one independent norm per image (for a batch of
// one this is exactly the reference's torch.linalg.norm of the difference).
// predX0 is x̂0(x_t), shaped like x and built from s.X; grad is shaped like
// x and norm is [N]. It panics when the problem has no measurement.
func (s *Step) NormGradient(predX0 *graph.Node) (grad, norm *graph.Node) {
	s.mustMeasure("NormGradient")
	norm = s.ResidualNorm(predX0)
	grad = graph.Gradient(graph.ReduceAllSum(norm), s.X)[0]
	return grad, norm
}

// scalar returns v as a constant of x's dtype.
func scalar(x *graph.Node, v float64) *graph.Node {
	return graph.Scalar(x.Graph(), x.DType(), v)
}

// PrevIndex returns max(i−1, 0), the respaced index of the next step
// (CA-DPS evaluates the network there too).
func PrevIndex(i *graph.Node) *graph.Node {
	one := graph.Scalar(i.Graph(), i.DType(), 1)
	return graph.Max(graph.Sub(i, one), graph.ScalarZero(i.Graph(), i.DType()))
}

// Drawer is implemented by methods whose steps consume other standard
// normal draws than Z (shaped like x) and ZY (shaped like y).
type Drawer interface {
	// Draws returns the shapes of one step's draws for images shaped x and
	// measurements shaped y; the step receives them as Step.Draws, in this
	// order.
	Draws(x, y []int) [][]int
}

// Starter is implemented by methods that build their initial state x_T
// themselves instead of starting from the standard normal draw.
type Starter interface {
	// Start builds x_T from s.X, the initial standard normal draw shaped
	// like the image, and s.Y; s.I is the first step's index.
	Start(s *Step) *graph.Node
}

// DrawShapes returns the shapes of the standard normal draws one step of
// method m consumes, in order, for images shaped x ([N,C,H,W]) and
// measurements shaped y: the [Drawer]'s, or {x, y} (z shaped like the
// image, zy like the measurement). cadps.Sampler.DrawShapes gives the same
// for a sampler's method.
func DrawShapes(m Method, x, y []int) [][]int {
	if d, ok := m.(Drawer); ok {
		return d.Draws(x, y)
	}
	return [][]int{x, y}
}

// SetDraws gives the step the standard normal draws of one step of method
// m, shaped as DrawShapes(m, X's shape, Y's shape): Draws, and for a
// method that does not draw its own (not a [Drawer]) also Z and ZY, the
// first two (ZY nil when the step has no operator). X, Y and Op must be
// set first. It panics, naming the method and the draw, when draws hold
// another number of nodes or one of another shape, which a step built by
// hand (to differentiate it, say) would otherwise meet deep in the
// method's graph.
func (s *Step) SetDraws(m Method, draws []*graph.Node) {
	var y []int
	if s.Y != nil {
		y = s.Y.Shape().Dimensions
	}
	want := DrawShapes(m, s.X.Shape().Dimensions, y)
	if len(draws) != len(want) {
		panic(fmt.Errorf("guidance: %s takes %d draws per step (DrawShapes), got %d", m.Name(), len(want), len(draws)))
	}
	for k, d := range draws {
		if want[k] != nil && !slices.Equal(d.Shape().Dimensions, want[k]) {
			panic(fmt.Errorf("guidance: %s's draw %d is shaped %v (DrawShapes), got %v", m.Name(), k, want[k], d.Shape().Dimensions))
		}
	}
	s.Draws = draws
	if _, ok := m.(Drawer); !ok {
		s.Z, s.ZY = draws[0], draws[1]
		if s.Op == nil {
			s.ZY = nil
		}
	}
}

// ErrOperator is wrapped by the errors of methods that need more of the
// measurement operator than it provides (an adjoint, a pseudo-inverse).
var ErrOperator = errors.New("operator unsupported by the method")

// OperatorError is the error of a method refusing an operator that lacks
// what the method needs. Its message is written for a command-line user
// first: which method cannot run on which operator and why, then the
// methods that do run on that operator; the Go interface a library caller
// would implement comes last. It wraps [ErrOperator].
type OperatorError struct {
	// Method is the refusing method's name (Method.Name).
	Method string
	// Operator is the refused operator's name (ops.Operator.Name).
	Operator string
	// Reason says what the method needs that the operator lacks, in
	// words, as a clause following "Method cannot run on Operator: ".
	Reason string
	// Go names the Go interface the operator would need, for library
	// callers; empty when there is none to name.
	Go string
	// Runs lists the methods that do run on the operator; [CheckOperator]
	// fills it in.
	Runs []string
}

// Error implements error:
//
//	ddrm cannot run on motion_blur: it needs the operator's singular value decomposition, which motion_blur lacks; methods that run on motion_blur: cadps, dps, … (operator unsupported by the method; in Go, an ops.Decomposer …)
func (e *OperatorError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s cannot run on %s: %s", e.Method, e.Operator, e.Reason)
	if len(e.Runs) > 0 {
		fmt.Fprintf(&b, "; methods that run on %s: %s", e.Operator, strings.Join(e.Runs, ", "))
	}
	fmt.Fprintf(&b, " (%s", ErrOperator)
	if e.Go != "" {
		fmt.Fprintf(&b, "; in Go, %s", e.Go)
	}
	b.WriteString(")")
	return b.String()
}

// Unwrap returns [ErrOperator].
func (e *OperatorError) Unwrap() error { return ErrOperator }

// refuse returns the [OperatorError] of method refusing op.
func refuse(method string, op ops.Operator, reason, goDetail string) *OperatorError {
	return &OperatorError{Method: method, Operator: op.Name(), Reason: reason, Go: goDetail}
}

// RunsOn returns the names of the methods that take op as their
// measurement operator, sorted: each method steered by the measurement
// answers for itself ([OperatorChecker]); those that ignore the
// measurement (unconditional) are left out.
func RunsOn(op ops.Operator) []string {
	var runs []string
	for _, name := range Names() {
		m, err := New(name, Options{})
		if err != nil || !UsesMeasurement(m) {
			continue
		}
		if c, ok := m.(OperatorChecker); ok && c.CheckOperator(op) != nil {
			continue
		}
		runs = append(runs, name)
	}
	return runs
}

// OperatorChecker is implemented by methods that need more of the
// measurement operator than A itself.
type OperatorChecker interface {
	// CheckOperator returns an error wrapping [ErrOperator] that names what
	// op lacks for the method, or nil.
	CheckOperator(op ops.Operator) error
}

// CheckOperator returns an error when method m cannot run with op: nil for
// methods that need nothing beyond A(x). A refusal of the toolkit's
// methods is an [OperatorError] that lists the methods that run on op
// ([RunsOn]); so is the refusal of a method of the caller's whose
// CheckOperator wraps an OperatorError (fmt.Errorf with %w): its message
// then shows the list where the OperatorError's stood, and errors.As
// finds the OperatorError with Runs filled in. A sampler calls it to
// reject the pair before building a step; a method whose Step is built
// with such an operator anyway panics with the same error, which graph
// execution turns into an error.
func CheckOperator(m Method, op ops.Operator) error {
	c, ok := m.(OperatorChecker)
	if !ok || op == nil {
		return nil
	}
	return listRuns(c.CheckOperator(op), op)
}

// listRuns returns err, a method's refusal of op, listing the methods that
// run on op where it is or wraps an [OperatorError] that does not list
// them yet: what [CheckOperator] returns, and what a Step built with a
// refused operator panics with.
func listRuns(err error, op ops.Operator) error {
	var e *OperatorError
	if !errors.As(err, &e) || e.Runs != nil {
		return err
	}
	named := *e
	named.Runs = RunsOn(op)
	if err == error(e) {
		return &named
	}
	return &listedError{err: err, named: &named, inner: e.Error()}
}

// noOperator returns the refusal of method, which needs a measurement
// operator, given none.
func noOperator(method string) error {
	return fmt.Errorf("%s cannot run without a measurement operator (%w)", method, ErrOperator)
}

// listedError is a refusal that wraps an [OperatorError] (inner is that
// error's message), with named, a copy of it that lists the methods that
// run on the operator, standing for it.
type listedError struct {
	err   error
	named *OperatorError
	inner string
}

// Error returns err's message with the OperatorError's message replaced by
// named's, or named's list appended where err's message does not hold the
// OperatorError's.
func (e *listedError) Error() string {
	msg := e.err.Error()
	if strings.Contains(msg, e.inner) {
		return strings.Replace(msg, e.inner, e.named.Error(), 1)
	}
	return fmt.Sprintf("%s (methods that run on %s: %s)", msg, e.named.Operator, strings.Join(e.named.Runs, ", "))
}

// Unwrap returns the wrapped refusal, so that errors.Is finds what it
// wraps ([ErrOperator] among them).
func (e *listedError) Unwrap() error { return e.err }

// As sets an *[OperatorError] target to the copy that lists the methods
// that run on the operator.
func (e *listedError) As(target any) bool {
	if t, ok := target.(**OperatorError); ok {
		*t = e.named
		return true
	}
	return false
}

// ProcessChecker is implemented by methods that need more of the diffusion
// process than the reverse step every process gives (DDRM, DiffPIR and DAPS
// read the network's output as the noise ε).
type ProcessChecker interface {
	// CheckProcess returns an error naming what p lacks for the method, or
	// nil.
	CheckProcess(p *diffusion.Process) error
}

// CheckProcess returns an error when method m cannot run on process p: nil
// for methods that need only the reverse step. A sampler calls it before
// building a step.
func CheckProcess(m Method, p *diffusion.Process) error {
	c, ok := m.(ProcessChecker)
	if !ok || p == nil {
		return nil
	}
	return c.CheckProcess(p)
}

// epsilonNetwork returns an error naming method when p's network predicts
// something other than ε (model_mean_type start_x or previous_x).
func epsilonNetwork(method string, p *diffusion.Process) error {
	if mt := p.Config().MeanType; mt != diffusion.MeanEpsilon {
		return fmt.Errorf("%s reads the network's output as the noise ε, but this process's network predicts %s (model_mean_type)", method, mt)
	}
	return nil
}

// MeasurementUser is implemented by methods that say whether they are
// steered by the measurement.
type MeasurementUser interface {
	// UsesMeasurement reports whether the method's steps steer x towards
	// the measurement y through its operator A.
	UsesMeasurement() bool
}

// UsesMeasurement reports whether method m is steered by a measurement and
// so needs one and its operator: true unless m implements
// [MeasurementUser] and says otherwise (unconditional sampling).
func UsesMeasurement(m Method) bool {
	if u, ok := m.(MeasurementUser); ok {
		return u.UsesMeasurement()
	}
	return true
}

// Options configure every method built by name that reads them; a
// method's own options come in its spec (ParseSpec).
type Options struct {
	// Batched runs the two network calls of CA-DPS as one batched forward
	// (the spec option batched=true); the default, false, makes two calls.
	// Other methods ignore it.
	Batched bool
}

// constructors lists the methods by name, each with its defaults.
func constructors() map[string]func() Method {
	return map[string]func() Method{
		"dps":           func() Method { return DPS{} },
		"cadps":         func() Method { return CADPS{} },
		"unconditional": func() Method { return Unconditional{} },
		"cadps-gauss":   func() Method { return CADPSGauss{} },
		"pigdm":         func() Method { return PiGDM{} },
		"tmpd":          func() Method { return TMPD{} },
		"mmps":          func() Method { return MMPS{} },
		"mcg":           func() Method { return MCG{} },
		"projection":    func() Method { return Projection{} },
		"ddrm":          func() Method { return DDRM{Eta: 0.85, EtaB: 1} },
		"diffpir":       func() Method { return DiffPIR{Zeta: -1, Guidance: 1} },
		"daps":          func() Method { return DefaultDAPS() },
	}
}

// Names lists the available methods.
func Names() []string {
	var names []string
	for n := range constructors() {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// New returns the method with the given name, its defaults and o.
func New(name string, o Options) (Method, error) {
	c, ok := constructors()[name]
	if !ok {
		return nil, fmt.Errorf("guidance: unknown method %q (known: %s)", name, strings.Join(Names(), ", "))
	}
	m := c()
	if r, ok := m.(SpecReader); ok && o.Batched && slices.Contains(r.SpecKeys(), "batched") {
		return r.WithOption("batched", "true")
	}
	return m, nil
}

// Has reports whether a method of that name exists.
func Has(name string) bool { return slices.Contains(Names(), name) }

// Revisioner is implemented by methods whose default output has changed
// since their first release.
type Revisioner interface {
	// Revision counts those changes; its doc comment lists them.
	Revision() int
}

// Revision returns how many times the default output of method m has
// changed since its first release: 0 unless m implements [Revisioner].
// Results recorded under an earlier revision were made by other code, so
// the resumable commands record it and refuse to add to such results.
func Revision(m Method) int {
	if r, ok := m.(Revisioner); ok {
		return r.Revision()
	}
	return 0
}
