// Package cadps is the toolkit's public sampling API: diffusion posterior
// sampling for imaging inverse problems with pretrained diffusion priors,
// centred on CA-DPS (covariance-aware DPS, Hamidi & Yang, AAAI 2025) and its
// parent DPS (Chung et al., ICLR 2023).
//
// A [Sampler] runs a guidance method (package guidance) over the reverse
// diffusion process (package diffusion) with a prior network (package unet,
// or any [guidance.Network]) and a measurement operator (package ops). Each
// reverse step — network forward(s), the vector-Jacobian product and the
// update — is one GoMLX graph, compiled once and run for every step; the loop
// is Go.
package cadps

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"sort"
	"sync"

	"github.com/cadps/toolkit/cadps/diffusion"
	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/ops"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// Problem is everything a sampling run needs besides its inputs.
type Problem struct {
	// Backend runs the graphs (see package backend).
	Backend backends.Backend
	// Ctx holds the network's weights.
	Ctx *context.Context
	// Net is the prior network.
	Net guidance.Network
	// Process is the diffusion process: schedule, respacing, variances.
	Process *diffusion.Process
	// Op is the measurement operator (nil for unconditional sampling).
	Op ops.Operator
	// Method is the guidance method.
	Method guidance.Method
	// Scale is the step size ζ, finite and non-negative. A method's
	// default for each kind of task comes from guidance.Scaler (restore
	// applies it); here the zero value is ζ = 0, not a default.
	Scale float64
	// Ramp schedules ζ over the steps; the zero Ramp keeps it constant.
	Ramp guidance.Ramp
	// SigmaY is the measurement noise level σ_y the likelihood assumes, a
	// standard deviation on the images' [−1, 1] scale, finite and
	// non-negative (ops.Noise.Sigma gives a noise model's).
	SigmaY float64
	// DDIM selects DDIM updates with Eta instead of ancestral sampling.
	// The process's configured sampler selects them too: the updates are
	// DDIM's when DDIM is set or Process.Config().Sampler is
	// diffusion.SamplerDDIM, so DDIM = false leaves a process configured
	// for DDIM with DDIM updates (configure its Sampler as
	// diffusion.SamplerDDPM for ancestral ones).
	DDIM bool
	// Eta is DDIM's η, in [0, 1] (0 is deterministic DDIM); it must be 0
	// without DDIM updates.
	Eta float64
}

// StepInfo is what a callback sees after each step.
type StepInfo struct {
	// Step counts from 1 to Steps.
	Step, Steps int
	// Index is the respaced index i of x_t the step started from (Steps−1 … 0).
	Index int
	// X is x_{t-1}, the state after the step, shaped like x_t ([N,C,H,W]
	// for images). The run neither frees nor overwrites it: it stays valid
	// after the callback returns.
	X *tensors.Tensor
	// PredXStart is the estimate x̂0(x_t) the step used, shaped like x_t
	// and, like X, valid after the callback returns. X and PredXStart are
	// float32 on the images' [−1, 1] scale, not clamped to it.
	PredXStart *tensors.Tensor
	// Residual is ‖y − A(x̂0)‖₂ per image (nil without a measurement).
	Residual []float32
	// Extra holds the method's diagnostics by name.
	Extra map[string]*tensors.Tensor
}

// Callback is called after every step; returning an error stops the run
// with that error.
type Callback func(StepInfo) error

// Sampler runs one Problem; its step graph is compiled on the first step and
// reused for every later step and run of the same shapes, and by the
// samplers WithOperator derives for other operators of the same structure.
type Sampler struct {
	p         Problem
	exec      *context.Exec
	graphExec *context.Exec // the step variant drawing its noise in the graph (see GraphNoise)
	startExec *context.Exec // the method's own x_T (guidance.Starter), or nil
	extras    *extraNames
	// bound is set when the operator's data enter the graphs as inputs
	// (ops.Parametrized, for a method that takes bound operators): then
	// opKey is its key and opData its data, which every execution passes
	// after y.
	bound  bool
	opKey  string
	opData []*tensors.Tensor
}

// extraNames holds, for each step graph built, the names of the method's
// extras in the order the graph outputs them: a method's Extra keys may
// differ between graphs (for other shapes), and one Sampler's graphs may be
// built by concurrent runs.
type extraNames struct {
	mu    sync.Mutex
	names map[graph.GraphId][]string
}

// set records the extras' names of graph g.
func (e *extraNames) set(g *graph.Graph, names []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.names == nil {
		e.names = map[graph.GraphId][]string{}
	}
	e.names[g.GraphId()] = names
}

// get returns the extras' names of graph g.
func (e *extraNames) get(g *graph.Graph) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.names[g.GraphId()]
}

// ErrDiverged is wrapped by the error a run returns when a step produces NaN
// or Inf.
var ErrDiverged = errors.New("sampling diverged")

// CheckParams returns an error naming the first of p's numbers out of its
// range: the step size ζ and σ_y must be finite and non-negative, the ramp
// valid (guidance.Ramp.Validate), and DDIM's η lie in [0, 1] (beyond 1 its
// update can take the square root of a negative number) and be 0 without
// DDIM updates (see Problem.DDIM), where nothing reads it.
func (p Problem) CheckParams() error {
	for _, v := range []struct {
		name  string
		value float64
	}{{"step size ζ", p.Scale}, {"σ_y", p.SigmaY}} {
		if !(v.value >= 0) || math.IsInf(v.value, 0) {
			return fmt.Errorf("%s = %v must be finite and non-negative", v.name, v.value)
		}
	}
	if err := p.Ramp.Validate(); err != nil {
		return err
	}
	ddim := p.ddim()
	switch {
	case ddim && !(p.Eta >= 0 && p.Eta <= 1):
		return fmt.Errorf("DDIM η = %v must lie in [0, 1]", p.Eta)
	case !ddim && p.Eta != 0:
		return fmt.Errorf("η = %v is DDIM's, but the updates are not DDIM's", p.Eta)
	}
	return nil
}

// ddim reports whether p's updates are DDIM's: DDIM is set, or the process
// is configured for DDIM sampling (see Problem.DDIM).
func (p Problem) ddim() bool {
	return guidance.DDIMUpdates(p.Process, p.DDIM)
}

// NewSampler checks p and prepares its step graph.
func NewSampler(p Problem) (*Sampler, error) {
	switch {
	case p.Backend == nil:
		return nil, errors.New("cadps: no backend")
	case p.Ctx == nil:
		return nil, errors.New("cadps: no context with the network's weights")
	case p.Net == nil:
		return nil, errors.New("cadps: no network")
	case p.Process == nil:
		return nil, errors.New("cadps: no diffusion process")
	case p.Method == nil:
		return nil, errors.New("cadps: no guidance method")
	case p.Op == nil && guidance.UsesMeasurement(p.Method):
		return nil, fmt.Errorf("cadps: method %q needs a measurement operator", p.Method.Name())
	}
	if err := p.CheckParams(); err != nil {
		return nil, fmt.Errorf("cadps: %w", err)
	}
	if p.Op != nil {
		if err := guidance.CheckOperator(p.Method, p.Op); err != nil {
			return nil, fmt.Errorf("cadps: %w", err)
		}
	}
	if err := guidance.CheckProcess(p.Method, p.Process); err != nil {
		return nil, fmt.Errorf("cadps: %w", err)
	}
	if err := guidance.Validate(p.Method); err != nil {
		return nil, fmt.Errorf("cadps: %w", err)
	}

	s := &Sampler{p: p, extras: &extraNames{}}
	if op, ok := p.Op.(ops.Parametrized); ok && guidance.TakesBoundOperator(p.Method) {
		// The operator's data become inputs unless the method needs a part
		// of it that the bound form does not give (an SVD).
		if key, data, ok := op.Parameters(); ok && guidance.CheckOperator(p.Method, op.Bind(nil)) == nil {
			s.bound, s.opKey, s.opData = true, key, data
		}
	}
	if _, ok := p.Method.(guidance.Starter); ok {
		start, err := context.NewExec(p.Backend, p.Ctx, s.start)
		if err != nil {
			return nil, fmt.Errorf("cadps: %w", err)
		}
		s.startExec = start
	}
	exec, err := context.NewExec(p.Backend, p.Ctx, s.step)
	if err != nil {
		return nil, fmt.Errorf("cadps: %w", err)
	}
	s.exec = exec
	if s.graphExec, err = context.NewExec(p.Backend, p.Ctx, s.graphStep); err != nil {
		return nil, fmt.Errorf("cadps: %w", err)
	}
	return s, nil
}

// WithOperator returns a sampler of s's problem with op as its operator.
// When op's data can be inputs of s's compiled graphs (op and s's operator
// are ops.Parametrized operators of one type with equal keys, and the
// method takes their bound form: guidance.TakesBoundOperator), the new
// sampler shares those graphs, so that a run with op compiles nothing
// new; otherwise it is NewSampler's, with graphs of its own. Either way op
// is checked against the method as NewSampler checks it.
func (s *Sampler) WithOperator(op ops.Operator) (*Sampler, error) {
	if s.bound {
		if pz, ok := op.(ops.Parametrized); ok {
			if key, data, ok := pz.Parameters(); ok && key == s.opKey && reflect.TypeOf(op) == reflect.TypeOf(s.p.Op) {
				if err := guidance.CheckOperator(s.p.Method, op); err != nil {
					return nil, fmt.Errorf("cadps: %w", err)
				}
				shared := *s
				shared.p.Op, shared.opData = op, data
				return &shared, nil
			}
		}
	}
	p := s.p
	p.Op = op
	return NewSampler(p)
}

// Finalize releases the compiled graphs of s, and so of every sampler
// sharing them (see WithOperator), without waiting for the garbage
// collector: on a GPU they hold device memory. None of those samplers may
// be used afterwards.
func (s *Sampler) Finalize() {
	for _, e := range []*context.Exec{s.exec, s.graphExec, s.startExec} {
		if e != nil {
			e.Finalize()
		}
	}
}

// OperatorInputs reports whether the operator's data are inputs of s's
// compiled graphs, which samplers derived by WithOperator for operators of
// the same type and key share.
func (s *Sampler) OperatorInputs() bool { return s.bound }

// SharesGraphs reports whether s and other run on the same compiled graphs
// (other was derived from s by WithOperator, or s from other).
func (s *Sampler) SharesGraphs(other *Sampler) bool {
	return other != nil && s.exec == other.exec
}

// opInputs returns the operator's data as the tensors an execution passes
// after y (none when they are constants of the graphs).
func (s *Sampler) opInputs() []any {
	in := make([]any, len(s.opData))
	for k, d := range s.opData {
		in[k] = d
	}
	return in
}

// op returns the operator a graph applies: its bound form reading data
// (the graph's inputs after y) when the operator's data are inputs, the
// operator itself otherwise.
func (s *Sampler) op(data []*graph.Node) ops.Operator {
	if s.bound {
		return s.p.Op.(ops.Parametrized).Bind(data)
	}
	return s.p.Op
}

// step is the graph of one reverse step; its inputs are x_t, the index i,
// y, the operator's data when they are inputs (see opInputs), then the
// step's draws (see drawShapes). Outputs: x_{t-1}, x̂0, the residual
// norms, Σ|x_{t-1}| (NaN/Inf detector), then the method's extras in name
// order.
func (s *Sampler) step(ctx *context.Context, in []*graph.Node) []*graph.Node {
	k := 3 + len(s.opData)
	x, i, y, draws := in[0], in[1], in[2], in[k:]
	st := s.stepOf(ctx, x, i, y, in[3:k])
	st.SetDraws(s.p.Method, draws)
	r := s.p.Method.Step(st)
	switch {
	case r.Next == nil || r.PredXStart == nil:
		panic(fmt.Errorf("cadps: method %s returned no Next or no PredXStart", s.p.Method.Name()))
	case !r.Next.Shape().Equal(x.Shape()) || !r.PredXStart.Shape().Equal(x.Shape()):
		panic(fmt.Errorf("cadps: method %s returned Next %s and PredXStart %s for x_t %s", s.p.Method.Name(), r.Next.Shape(), r.PredXStart.Shape(), x.Shape()))
	}
	residual := r.Residual
	n := x.Shape().Dim(0)
	switch {
	case residual == nil && st.Y != nil: // the method reports none: measure its x̂0
		residual = st.ResidualNorm(r.PredXStart)
	case residual == nil:
		residual = graph.Zeros(x.Graph(), shapeOf(dtypes.Float32, n))
	case residual.Rank() != 1 || residual.Shape().Dim(0) != n:
		panic(fmt.Errorf("cadps: method %s returned Residual %s: want one norm per image, [%d]", s.p.Method.Name(), residual.Shape(), n))
	}
	residual = graph.ConvertDType(residual, dtypes.Float32)
	check := graph.ReduceAllSum(graph.Abs(r.Next))
	outs := []*graph.Node{r.Next, r.PredXStart, residual, check}
	names := make([]string, 0, len(r.Extra))
	for n := range r.Extra {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		outs = append(outs, r.Extra[n])
	}
	s.extras.set(x.Graph(), names)
	return outs
}

// stepOf returns the guidance.Step of the problem for x_t at index i, with
// the operator reading opData when its data are inputs.
func (s *Sampler) stepOf(ctx *context.Context, x, i, y *graph.Node, opData []*graph.Node) *guidance.Step {
	st := &guidance.Step{
		Ctx: ctx, Net: s.p.Net, Process: s.p.Process, Op: s.op(opData),
		X: x, I: i, Y: y,
		Scale: s.p.Scale, Ramp: s.p.Ramp, SigmaY: s.p.SigmaY, DDIM: s.p.ddim(), Eta: s.p.Eta,
	}
	if s.p.Op == nil {
		st.Y = nil
	}
	return st
}

// graphStep is step with its noise drawn in the graph (see GraphNoise):
// its inputs are x_t, i, the generator state, y and the operator's data
// when they are inputs; the draws come from the generator state in the
// order drawShapes lists them (z and then, with a measurement, zy for the
// methods that are not Drawers). Outputs: step's first four, the advanced
// state, the next step's index i−1, then the method's extras in name
// order.
func (s *Sampler) graphStep(ctx *context.Context, in []*graph.Node) []*graph.Node {
	x, i, state, y, opData := in[0], in[1], in[2], in[3], in[4:]
	var draws []*graph.Node
	if _, ok := s.p.Method.(guidance.Drawer); ok {
		for _, dims := range s.drawShapes(x.Shape().Dimensions, y.Shape().Dimensions) {
			var d *graph.Node
			state, d = graphNormal(state, shapeOf(x.DType(), dims...))
			draws = append(draws, d)
		}
	} else {
		var z *graph.Node
		state, z = graphNormal(state, x.Shape())
		zy := y
		if s.p.Op != nil {
			state, zy = graphNormal(state, y.Shape())
		}
		draws = []*graph.Node{z, zy}
	}
	outs := s.step(ctx, slices.Concat([]*graph.Node{x, i, y}, opData, draws))
	next := graph.Sub(i, graph.OnesLike(i))
	return slices.Concat(outs[:4], []*graph.Node{state, next}, outs[4:])
}

// Run samples from x_T (the initial state, [N,C,H,W] for images; drawn from
// noise when nil, with the shape given by shape) towards the posterior
// given the measurement y (shaped as the operator's OutputShape gives for
// x_T's shape; nil without an operator), and returns x_0, shaped like x_T,
// on the images' [−1, 1] scale and not clamped to it (imageio.FromNCHW
// turns it into images). noise supplies every random draw (see
// NoiseSource; a GraphNoiseSource such as GraphNoise makes the per-step
// draws inside the step graph and keeps the run on the device); cb, when
// not nil, is called after every step. A NaN or Inf stops the run with an
// error naming the step and method. x_T and y are float32; another dtype
// is an error naming it, and so is an image shape with a dimension that is
// not positive, a y of another shape than the operator's output, and a
// noise source that gives another number of values than Run asks for.
// A NaN or Inf in x_T, y or a recorded noise draw (RecordedNoise) is an
// error naming the value (and the draw's kind and index), not a divergence.
func (s *Sampler) Run(xT *tensors.Tensor, shape []int, y *tensors.Tensor, noise NoiseSource, cb Callback) (*tensors.Tensor, error) {
	if noise == nil {
		return nil, errors.New("cadps: no noise source")
	}
	if err := checkFloat32("x_T", xT); err != nil {
		return nil, fmt.Errorf("cadps: %w", err)
	}
	if s.p.Op != nil {
		if err := checkFloat32("the measurement y", y); err != nil {
			return nil, fmt.Errorf("cadps: %w", err)
		}
	}
	ownX := xT == nil // x_T drawn here may be freed once the first step has used it
	if xT != nil {
		shape = xT.Shape().Dimensions
	}
	if err := checkImageShape(shape); err != nil {
		return nil, fmt.Errorf("cadps: %w", err)
	}
	if s.p.Op != nil && y == nil {
		return nil, fmt.Errorf("cadps: method %q needs a measurement", s.p.Method.Name())
	}
	if err := checkFiniteInput("measurement", y); err != nil {
		return nil, err
	}
	if err := checkFiniteInput("x_T", xT); err != nil {
		return nil, err
	}
	if err := s.checkMeasurementShape(shape, y); err != nil {
		return nil, fmt.Errorf("cadps: %w", err)
	}
	if s.p.Op == nil {
		y = tensors.FromFlatDataAndDimensions([]float32{0}, 1) // the step graph's placeholder
	}
	if ownX {
		v, err := normal(noise, NoiseInit, -1, shape)
		if err != nil {
			return nil, fmt.Errorf("cadps: initial noise: %w", err)
		}
		xT = tensors.FromFlatDataAndDimensions(v, shape...)
		if s.startExec != nil {
			start, err := s.Start(xT, y)
			if err != nil {
				return nil, err
			}
			finalize(xT)
			xT = start
		}
	}
	if g, ok := noise.(GraphNoiseSource); ok {
		return s.runGraph(xT, ownX, y, g, cb)
	}
	return s.runHost(xT, y, noise, cb)
}

// runHost is Run with the draws of every step asked of noise on the host
// (hostDraws) and uploaded with x_t.
func (s *Sampler) runHost(x, y *tensors.Tensor, noise NoiseSource, cb Callback) (*tensors.Tensor, error) {
	shape, yShape := x.Shape().Dimensions, y.Shape().Dimensions
	steps := s.p.Process.NumSteps()
	for k := range steps {
		i := steps - 1 - k
		draws, err := s.hostDraws(noise, i, shape, yShape)
		if err != nil {
			return nil, err
		}
		info, err := s.StepDraws(x, i, draws, y)
		if err != nil {
			return nil, err
		}
		info.Step = k + 1
		x = info.X
		if cb != nil {
			if err := cb(info); err != nil {
				return nil, err
			}
		}
	}
	return x, nil
}

// Step runs one reverse step from x_t = x at respaced index i with the given
// noise draws z (shaped like x) and zy (shaped like y) and measurement y, and
// returns x_{t-1} with the step's diagnostics. It is exported for replaying
// recorded runs and for notebooks; methods with their own draws
// (guidance.Drawer) take them through StepDraws.
func (s *Sampler) Step(x *tensors.Tensor, i int, z, zy, y *tensors.Tensor) (StepInfo, error) {
	if _, ok := s.p.Method.(guidance.Drawer); ok {
		return StepInfo{}, fmt.Errorf("cadps: method %q draws its own noise: use StepDraws", s.p.Method.Name())
	}
	switch {
	case z == nil:
		return StepInfo{}, errors.New("cadps: Step without z: give a standard normal draw shaped like x")
	case s.p.Op == nil:
		zy = tensors.FromFlatDataAndDimensions([]float32{0}, 1)
	case zy == nil:
		return StepInfo{}, fmt.Errorf("cadps: Step without zy: give a standard normal draw shaped like y (the step takes one even when %s does not use it)", s.p.Method.Name())
	}
	return s.StepDraws(x, i, []*tensors.Tensor{z, zy}, y)
}

// StepDraws runs one step from x_t = x at respaced index i with the step's
// draws (shaped as DrawShapes lists them) and measurement y (shaped as the
// operator maps x; ignored without an operator), and returns the state
// after the step with its diagnostics. Run calls it for every index. x, y
// and the draws are float32; another dtype or shape is an error naming it.
func (s *Sampler) StepDraws(x *tensors.Tensor, i int, draws []*tensors.Tensor, y *tensors.Tensor) (StepInfo, error) {
	steps := s.p.Process.NumSteps()
	if i < 0 || i >= steps {
		return StepInfo{}, fmt.Errorf("cadps: index %d outside [0,%d)", i, steps)
	}
	switch {
	case x == nil:
		return StepInfo{}, fmt.Errorf("cadps: %s step at index %d: no state x", s.p.Method.Name(), i)
	case s.p.Op == nil:
		y = tensors.FromFlatDataAndDimensions([]float32{0}, 1)
	case y == nil:
		return StepInfo{}, fmt.Errorf("cadps: %s step at index %d: no measurement y", s.p.Method.Name(), i)
	}
	for _, v := range []struct {
		what string
		t    *tensors.Tensor
	}{{"the state x", x}, {"the measurement y", y}} {
		if err := checkFloat32(v.what, v.t); err != nil {
			return StepInfo{}, fmt.Errorf("cadps: %s step at index %d: %w", s.p.Method.Name(), i, err)
		}
	}
	if err := checkImageShape(x.Shape().Dimensions); err != nil {
		return StepInfo{}, fmt.Errorf("cadps: %s step at index %d: the state x: %w", s.p.Method.Name(), i, err)
	}
	if err := s.checkMeasurementShape(x.Shape().Dimensions, y); err != nil {
		return StepInfo{}, fmt.Errorf("cadps: %s step at index %d: %w", s.p.Method.Name(), i, err)
	}
	want := s.drawShapes(x.Shape().Dimensions, y.Shape().Dimensions)
	if len(draws) != len(want) {
		return StepInfo{}, fmt.Errorf("cadps: %s step at index %d: %d draws, want %d (DrawShapes lists a step's draws)",
			s.p.Method.Name(), i, len(draws), len(want))
	}
	args := append([]any{x, tensors.FromScalar(int32(i)), y}, s.opInputs()...)
	for k, d := range draws {
		if d == nil {
			return StepInfo{}, fmt.Errorf("cadps: %s step at index %d: draw %d of %d is nil (DrawShapes lists a step's draws)", s.p.Method.Name(), i, k+1, len(draws))
		}
		if err := checkFloat32(fmt.Sprintf("draw %d of %d", k+1, len(draws)), d); err != nil {
			return StepInfo{}, fmt.Errorf("cadps: %s step at index %d: %w", s.p.Method.Name(), i, err)
		}
		if got := d.Shape().Dimensions; !slices.Equal(got, want[k]) {
			return StepInfo{}, fmt.Errorf("cadps: %s step at index %d: draw %d of %d shaped %v, want %v (DrawShapes lists a step's draws)",
				s.p.Method.Name(), i, k+1, len(draws), got, want[k])
		}
		args = append(args, d)
	}
	outs, g, err := s.exec.ExecWithGraph(args...)
	if err != nil {
		return StepInfo{}, fmt.Errorf("cadps: %s step at index %d: %w", s.p.Method.Name(), i, err)
	}
	if err := s.checkFinite(outs[3], i); err != nil {
		return StepInfo{}, err
	}
	return s.stepInfo(outs, s.extras.get(g), i, 4, s.p.Op != nil)
}

// checkFloat32 returns an error naming what and its dtype unless t is
// float32, the dtype of the sampler's states, measurements and draws (nil
// passes: the callers check for it).
func checkFloat32(what string, t *tensors.Tensor) error {
	if t == nil || t.DType() == dtypes.Float32 {
		return nil
	}
	return fmt.Errorf("%s has dtype %s, want %s", what, t.DType(), dtypes.Float32)
}

// checkFiniteInput returns an error naming the first NaN or infinite value
// of the float32 input t, which what names ("measurement", "x_T"): a run's
// inputs must be finite, so that a NaN it meets is the method's divergence
// (nil and other dtypes pass: the callers check them).
func checkFiniteInput(what string, t *tensors.Tensor) error {
	if t == nil || t.DType() != dtypes.Float32 {
		return nil
	}
	var err error
	tensors.MustConstFlatData(t, func(v []float32) {
		if k := firstNonFinite(v); k >= 0 {
			err = fmt.Errorf("cadps: %s value %d of %d is %v: it must be finite", what, k, len(v), v[k])
		}
	})
	return err
}

// firstNonFinite returns the index of the first NaN or infinite value of
// v, or −1 when every value is finite.
func firstNonFinite(v []float32) int {
	return slices.IndexFunc(v, func(x float32) bool {
		f := float64(x)
		return math.IsNaN(f) || math.IsInf(f, 0)
	})
}

// checkFinite reads a step's NaN/Inf detector Σ|x_{t-1}| and returns an
// error wrapping ErrDiverged when it is not finite.
func (s *Sampler) checkFinite(check *tensors.Tensor, i int) error {
	v, err := tensors.CopyFlatData[float32](check)
	if err != nil {
		return fmt.Errorf("cadps: %s step at index %d: reading its check: %w", s.p.Method.Name(), i, err)
	}
	if c := float64(v[0]); math.IsNaN(c) || math.IsInf(c, 0) {
		steps := s.p.Process.NumSteps()
		return fmt.Errorf("cadps: %s step %d/%d (index %d, timestep %d): %w: x has NaN or Inf values",
			s.p.Method.Name(), steps-i, steps, i, s.p.Process.TimestepMap()[i], ErrDiverged)
	}
	return nil
}

// stepInfo builds the StepInfo of a step's outputs (x_{t-1}, x̂0, the
// residual norms, the check, …, the extras named by names from
// outs[extras]), reading the residual norms when residual is set.
func (s *Sampler) stepInfo(outs []*tensors.Tensor, names []string, i, extras int, residual bool) (StepInfo, error) {
	steps := s.p.Process.NumSteps()
	info := StepInfo{Step: steps - i, Steps: steps, Index: i, X: outs[0], PredXStart: outs[1], Extra: map[string]*tensors.Tensor{}}
	if residual {
		r, err := tensors.CopyFlatData[float32](outs[2])
		if err != nil {
			return StepInfo{}, fmt.Errorf("cadps: %s step at index %d: reading the residual: %w", s.p.Method.Name(), i, err)
		}
		info.Residual = r
	}
	for j, n := range names {
		info.Extra[n] = outs[extras+j]
	}
	return info, nil
}

// runGraph is Run with a GraphNoiseSource: every step is one execution of
// the in-graph variant (graphStep), which takes x_t, the step index and the
// generator state as the previous step's device outputs; see GraphNoise for
// what crosses between host and device. Outputs nobody else can see are
// freed as soon as they are used (x_T only when Run drew it, ownX).
func (s *Sampler) runGraph(x *tensors.Tensor, ownX bool, y *tensors.Tensor, noise GraphNoiseSource, cb Callback) (*tensors.Tensor, error) {
	state, err := noise.RNGState()
	if err != nil {
		return nil, fmt.Errorf("cadps: graph noise: %w", err)
	}
	if !state.Shape().Equal(graph.RNGStateShape) {
		return nil, fmt.Errorf("cadps: graph noise state shaped %s, want %s", state.Shape(), graph.RNGStateShape)
	}
	steps := s.p.Process.NumSteps()
	index := tensors.FromScalar(int32(steps - 1))
	for k := range steps {
		i := steps - 1 - k
		outs, g, err := s.graphExec.ExecWithGraph(append([]any{x, index, state, y}, s.opInputs()...)...)
		if err != nil {
			return nil, fmt.Errorf("cadps: %s step at index %d (graph noise): %w", s.p.Method.Name(), i, err)
		}
		finalize(state, index)
		state, index = outs[4], outs[5]
		if err := s.checkFinite(outs[3], i); err != nil {
			return nil, err
		}
		finalize(outs[3])
		if ownX {
			finalize(x)
		}
		x = outs[0]
		if cb == nil {
			// Nobody sees this step's diagnostics, nor x_{t-1} before the
			// next step has used it.
			finalize(outs[1], outs[2])
			finalize(outs[6:]...)
			ownX = true
			continue
		}
		info, err := s.stepInfo(outs, s.extras.get(g), i, 6, s.p.Op != nil)
		if err != nil {
			return nil, err
		}
		finalize(outs[2])
		info.Step = k + 1
		ownX = false // the callback may keep x_{t-1}
		if err := cb(info); err != nil {
			return nil, err
		}
	}
	finalize(state, index)
	return x, nil
}
