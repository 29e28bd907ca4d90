// Command gpucheck times a guided-diffusion UNet (FFHQ-256's by default,
// -preset) and the DPS and CA-DPS steps on whatever backend GOMLX_BACKEND
// selects (XLA on a CUDA GPU through scripts/gpu/check.sh; the pure-Go
// backend works too, at small sizes) and prints one line per measurement:
// milliseconds, images/s and TFLOP/s, with the first call (XLA compile and
// run) separately.
//
// In order, each measured only while the -budget lasts (later ones are
// reported as skipped):
//
//  1. for every batch of -batches: a forward pass and a step of each method
//     of -methods (DPS and CA-DPS by default) in float32 (host noise: z and
//     zy uploaded);
//  2. for every batch of -bf16-batches: the forward pass and the steps of
//     -methods with the network's torso in bfloat16 (unet.Model.BFloat16),
//     and the forward pass's and the DPS step's deviation from the float32
//     ones on the same inputs;
//  3. at -noise-batch: DPS and CA-DPS runs of -noise-steps steps with host
//     noise (cadps.SeededNoise) and with graph noise (cadps.GraphNoise), per
//     step after the first;
//  4. a whole run of -run-method (CA-DPS by default) with graph noise,
//     -run-steps steps at -run-batch, stopped at the budget (its time per
//     step and the 1000-step estimate are printed either way).
//
// SIGINT or SIGTERM stops it as the budget does: a whole run stops after
// the step in progress and prints what it measured, and the measurements
// not yet started are reported as skipped. A second signal within a second
// of the first is ignored (GNU timeout, as the GPU scripts run it, sends
// SIGINT to the process and again to its process group); a later one ends
// it at once.
//
// The samplers of 1–3 run a process respaced to -noise-steps steps (a step's
// cost does not depend on the respacing), so the host-noise runs of 3 reuse
// the step graphs compiled in 1.
//
// Usage:
//
//	gpucheck [-preset ffhq256] [-size 256] [-batches 1,4,16] [-methods "dps cadps"] [-repeat 5] [-bf16-batches 16]
//	         [-noise-batch 16] [-noise-steps 10] [-run-steps 1000] [-run-batch 16] [-run-method cadps] [-budget 0]
package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cadps/toolkit/cadps"
	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/diffusion"
	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/cadps/unet"
	"github.com/cadps/toolkit/internal/benchutil"
	"github.com/cadps/toolkit/ops"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "gpucheck:", err)
		os.Exit(1)
	}
}

type options struct {
	size, repeat, runSteps, runBatch int
	runMethod                        string
	noiseBatch, noiseSteps           int
	batches, bf16Batches             []int
	methods                          []methodAt
	preset                           string
	budget                           time.Duration
}

func parseBatches(flagName, s string) ([]int, error) {
	var out []int
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("bad -%s %q: want positive batch sizes separated by commas", flagName, s)
		}
		out = append(out, n)
	}
	return out, nil
}

// methodAt is a guidance method spec to time, at every batch (batches nil)
// or at the listed ones only.
type methodAt struct {
	spec    string
	batches []int
}

// parseMethods reads -methods: specs separated by spaces or semicolons, each
// optionally followed by @ and the batches it is timed at.
func parseMethods(s string) ([]methodAt, error) {
	var out []methodAt
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ';' }) {
		spec, at, restricted := strings.Cut(f, "@")
		m := methodAt{spec: spec}
		if restricted {
			var err error
			if m.batches, err = parseBatches("methods", at); err != nil {
				return nil, err
			}
			if len(m.batches) == 0 {
				return nil, fmt.Errorf("bad -methods %q: %q names no batch after @", s, f)
			}
		}
		if _, err := guidance.ParseSpec(spec, guidance.Options{}); err != nil {
			return nil, fmt.Errorf("-methods: %w", err)
		}
		out = append(out, m)
	}
	return out, nil
}

func run(args []string) error {
	fs := flag.NewFlagSet("gpucheck", flag.ContinueOnError)
	var o options
	var batches, bf16Batches, methods string
	fs.IntVar(&o.size, "size", 256, "image size")
	fs.StringVar(&batches, "batches", "1,4,16", "batch sizes of the float32 forward and step timings")
	fs.IntVar(&o.repeat, "repeat", 5, "timed repetitions (the median is reported)")
	fs.StringVar(&bf16Batches, "bf16-batches", "16", "batch sizes of the bfloat16 timings and parity (empty: skip)")
	fs.IntVar(&o.noiseBatch, "noise-batch", 16, "batch of the host vs graph noise runs")
	fs.IntVar(&o.noiseSteps, "noise-steps", 10, "steps of the host vs graph noise runs (0: skip them; at least 2)")
	fs.IntVar(&o.runSteps, "run-steps", 1000, "steps of the whole CA-DPS run (0: skip it)")
	fs.IntVar(&o.runBatch, "run-batch", 16, "batch of the whole CA-DPS run")
	fs.StringVar(&o.runMethod, "run-method", "cadps", "guidance method spec of the whole run (e.g. cadps:batched=true)")
	fs.StringVar(&methods, "methods", "dps cadps", "guidance method specs of the step timings, separated by spaces or semicolons; spec@1,4 times that spec only at batches 1 and 4 (e.g. \"dps cadps cadps:batched=true@1\")")
	fs.StringVar(&o.preset, "preset", "ffhq256", "UNet preset (random weights in its real layout)")
	fs.DurationVar(&o.budget, "budget", 0, "start no measurement after this long, and stop the whole run there (0: no limit)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var err error
	if o.batches, err = parseBatches("batches", batches); err != nil {
		return err
	}
	if o.bf16Batches, err = parseBatches("bf16-batches", bf16Batches); err != nil {
		return err
	}
	if o.methods, err = parseMethods(methods); err != nil {
		return err
	}
	if _, err := guidance.ParseSpec(o.runMethod, guidance.Options{}); err != nil {
		return fmt.Errorf("-run-method: %w", err)
	}
	if o.noiseSteps == 1 || o.noiseSteps < 0 {
		return fmt.Errorf("-noise-steps %d: want 0 or at least 2", o.noiseSteps)
	}
	sig := &signalStop{}
	defer sig.watch()()
	b, err := backend.New()
	if err != nil {
		return err
	}
	fmt.Printf("backend: %s (%s)\n", b.Name(), b.Description())
	cfg, err := unet.Preset(o.preset)
	if err != nil {
		return err
	}
	m, err := unet.New(cfg)
	if err != nil {
		return err
	}
	ctx := context.New()
	if err := m.InitRandom(ctx, 1); err != nil {
		return err
	}
	c := &checker{b: b, ctx: ctx, m: m, o: o, start: time.Now(), sig: sig,
		forwards: map[string]*context.Exec{}, samplers: map[string]samplerOp{}}
	// A size the network does not take fails each measurement, with the
	// graph's error; it has no FLOP count.
	if err := m.CheckImageSize(o.size); err != nil {
		fmt.Printf("model: %s, %d parameters, no FLOP count at %d²: %v\n", o.preset, m.NumParams(), o.size, err)
	} else {
		c.fwd = float64(m.ForwardFLOPs(o.size))
		fmt.Printf("model: %s, %d parameters, %.1f GFLOP per forward at %d²\n", o.preset, m.NumParams(), c.fwd/1e9, o.size)
	}
	if o.budget > 0 {
		fmt.Printf("budget: %s\n", o.budget)
	}
	for _, n := range o.batches {
		c.do(fmt.Sprintf("forward batch %d", n), func() error { return c.timeForward(n, m) })
		for _, ma := range o.methods {
			if ma.batches != nil && !slices.Contains(ma.batches, n) {
				continue
			}
			method := ma.spec
			c.do(fmt.Sprintf("%s step batch %d", method, n), func() error { return c.timeStep(n, method, m) })
		}
	}
	bf := m.BFloat16()
	for _, n := range o.bf16Batches {
		c.do(fmt.Sprintf("forward-bf16 batch %d", n), func() error { return c.timeForward(n, bf) })
		for _, ma := range o.methods {
			if ma.batches != nil && !slices.Contains(ma.batches, n) {
				continue
			}
			method := ma.spec
			c.do(fmt.Sprintf("%s-bf16 step batch %d", method, n), func() error { return c.timeStep(n, method, bf) })
		}
		c.do(fmt.Sprintf("bfloat16 parity batch %d", n), func() error { return c.bf16Parity(n, bf) })
	}
	if o.noiseSteps > 0 {
		for _, method := range []string{"dps", "cadps"} {
			for _, graphNoise := range []bool{false, true} {
				c.do(fmt.Sprintf("%s run, %s noise", method, noiseName(graphNoise)), func() error {
					return c.noiseRun(method, graphNoise)
				})
			}
		}
	}
	if o.runSteps > 0 {
		c.do(fmt.Sprintf("whole %s run, batch %d", o.runMethod, o.runBatch), c.wholeRun)
	}
	if c.failed > 0 {
		return fmt.Errorf("%d measurement(s) failed", c.failed)
	}
	return nil
}

// checker holds the model and what the measurements share: the compiled
// forward passes and samplers, by dtype and batch.
type checker struct {
	b        backends.Backend
	ctx      *context.Context
	m        *unet.Model
	o        options
	start    time.Time
	sig      *signalStop // nil: signals are not watched
	fwd      float64     // FLOPs of one forward pass of one image
	forwards map[string]*context.Exec
	samplers map[string]samplerOp
	failed   int
}

// do runs one measurement unless the budget is spent or a signal came; a
// failure is printed and counted, and the next measurement runs.
func (c *checker) do(what string, fn func() error) {
	if c.over() {
		fmt.Printf("skipped %s: %s\n", what, c.stopCause())
		return
	}
	if err := fn(); err != nil {
		c.failed++
		fmt.Printf("FAILED %s: %v\n", what, err)
	}
}

// over says whether to start nothing more: the budget is spent, or a
// signal came.
func (c *checker) over() bool {
	return c.sig.name() != "" || (c.o.budget > 0 && time.Since(c.start) > c.o.budget)
}

// stopCause says why over is true, as the skipped lines give it.
func (c *checker) stopCause() string {
	if n := c.sig.name(); n != "" {
		return "stopped by " + n
	}
	return fmt.Sprintf("the %s budget is spent", c.o.budget)
}

// signalStop records the first SIGINT or SIGTERM, so that gpucheck stops
// as at the budget and prints what it has (the GPU scripts send SIGINT
// shortly before they kill a part).
type signalStop struct{ got atomic.Pointer[string] }

// secondSignalWait is how long after the first signal a second one is
// taken for a copy of it and ignored: GNU timeout without --foreground
// (the GPU scripts' bounded) sends SIGINT to the process and at once again
// to its process group. A second signal later than that ends the process
// (exit status 130 for SIGINT, 143 for SIGTERM), as a second Ctrl-C does.
const secondSignalWait = time.Second

// watch starts watching. It returns the function that stops watching.
func (s *signalStop) watch() (stop func()) {
	ch := make(chan os.Signal, 2)
	done := make(chan struct{})
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		var first time.Time
		for {
			select {
			case v := <-ch:
				name, status := "SIGTERM", 143
				if v == os.Interrupt {
					name, status = "SIGINT", 130
				}
				if first.IsZero() {
					first = time.Now()
					s.got.Store(&name)
					fmt.Printf("gpucheck: %s: stopping after the step or measurement in progress\n", name)
					continue
				}
				if time.Since(first) < secondSignalWait {
					continue // the copy sent to the process group
				}
				fmt.Printf("gpucheck: %s again: exiting now\n", name)
				os.Exit(status)
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(ch)
		close(done)
	}
}

// name is the signal received ("SIGINT", "SIGTERM"), or "".
func (s *signalStop) name() string {
	if s == nil {
		return ""
	}
	if p := s.got.Load(); p != nil {
		return *p
	}
	return ""
}

func noiseName(graphNoise bool) string {
	if graphNoise {
		return "graph"
	}
	return "host"
}

// timed runs fn once (compile and first run) and then repeat times, and
// returns the first call's time and the median of the others.
func timed(repeat int, fn func() error) (first, median time.Duration, err error) {
	start := time.Now()
	if err := fn(); err != nil {
		return 0, 0, err
	}
	first = time.Since(start)
	var ds []time.Duration
	for range max(repeat, 1) {
		start := time.Now()
		if err := fn(); err != nil {
			return 0, 0, err
		}
		ds = append(ds, time.Since(start))
	}
	slices.Sort(ds)
	return first, ds[len(ds)/2], nil
}

func report(what string, n int, first, med time.Duration, flops float64) {
	s := med.Seconds()
	fmt.Printf("%-12s batch %2d: first call (compile+run) %8.1f ms, step %9.2f ms, %8.2f images/s, %7.2f TFLOP/s\n",
		what, n, first.Seconds()*1e3, s*1e3, float64(n)/s, flops*float64(n)/s/1e12)
}

// label names a model's dtype in the printed lines.
func label(what string, m *unet.Model) string {
	if m.DType() == dtypes.BFloat16 {
		return what + "-bf16"
	}
	return what
}

// forward returns the compiled forward pass of m at batch n (cached).
func (c *checker) forward(n int, m *unet.Model) (*context.Exec, error) {
	key := fmt.Sprintf("%s/%d", m.DType(), n)
	if e, ok := c.forwards[key]; ok {
		return e, nil
	}
	e, err := context.NewExec(c.b, c.ctx, func(ctx *context.Context, x *graph.Node) *graph.Node {
		t := graph.Const(x.Graph(), slices.Repeat([]float32{500}, n))
		return m.Apply(ctx, x, t, nil)
	})
	if err != nil {
		return nil, fmt.Errorf("forward graph: %w", err)
	}
	c.forwards[key] = e
	return e, nil
}

// input returns the forward passes' input at batch n (the same every call).
func (c *checker) input(n int) *tensors.Tensor {
	return benchutil.RandTensor(rand.New(rand.NewPCG(1, 2)), n, c.m.InChannels(), c.o.size, c.o.size)
}

func (c *checker) timeForward(n int, m *unet.Model) error {
	exec, err := c.forward(n, m)
	if err != nil {
		return err
	}
	x := c.input(n)
	first, med, err := timed(c.o.repeat, func() error {
		out, err := exec.Exec(x)
		if err != nil {
			return err
		}
		_, err = tensors.CopyFlatData[float32](out[0]) // wait for the result
		finalize(out...)
		return err
	})
	if err != nil {
		return err
	}
	report(label("forward", m), n, first, med, c.fwd)
	return nil
}

// problem builds a super-resolution ×4 problem on a 1000-step process
// respaced to steps.
func (c *checker) problem(m *unet.Model, method string, steps int) (*cadps.Sampler, ops.Operator, error) {
	proc, err := diffusion.New(diffusion.Config{Steps: 1000, NoiseSchedule: "linear", Respacing: strconv.Itoa(steps),
		MeanType: diffusion.MeanEpsilon, VarType: diffusion.VarLearnedRange, ClipDenoised: true})
	if err != nil {
		return nil, nil, err
	}
	op, err := ops.NewSuperResolution(4, "bicubic")
	if err != nil {
		return nil, nil, err
	}
	meth, err := guidance.ParseSpec(method, guidance.Options{})
	if err != nil {
		return nil, nil, err
	}
	s, err := cadps.NewSampler(cadps.Problem{Backend: c.b, Ctx: c.ctx, Net: cadps.UNetNetwork(m), Process: proc,
		Op: op, Method: meth, Scale: 0.3, SigmaY: 0.05})
	return s, op, err
}

// stepSampler returns the sampler of method with model m on the
// -noise-steps process, and its operator (cached: its step graph compiles
// once per batch).
func (c *checker) stepSampler(m *unet.Model, method string) (*cadps.Sampler, ops.Operator, error) {
	key := fmt.Sprintf("%s/%s", m.DType(), method)
	if p, ok := c.samplers[key]; ok {
		return p.s, p.op, nil
	}
	s, op, err := c.problem(m, method, max(c.o.noiseSteps, 2))
	if err != nil {
		return nil, nil, err
	}
	c.samplers[key] = samplerOp{s, op}
	return s, op, nil
}

// samplerOp is a sampler and its measurement operator.
type samplerOp struct {
	s  *cadps.Sampler
	op ops.Operator
}

// stepInputs returns x_t, z, y and zy for one step at batch n (the same
// every call).
func (c *checker) stepInputs(n int, op ops.Operator) (x, z, y, zy *tensors.Tensor, err error) {
	r := rand.New(rand.NewPCG(3, 4))
	shape := []int{n, c.m.InChannels(), c.o.size, c.o.size}
	yShape, err := op.OutputShape(shape)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	return benchutil.RandTensor(r, shape...), benchutil.RandTensor(r, shape...),
		benchutil.RandTensor(r, yShape...), benchutil.RandTensor(r, yShape...), nil
}

// stepFLOPs returns the FLOPs of one step of method per image shaped image
// ([1,C,H,W]) with measurements shaped y, from the network passes the
// method says a step makes (guidance.NetworkCoster) and fwd, the FLOPs of
// one forward pass: a product through the network counts as two forwards
// (a backward pass).
func stepFLOPs(method string, image, y []int, fwd float64) (float64, error) {
	m, err := guidance.ParseSpec(method, guidance.Options{})
	if err != nil {
		return 0, err
	}
	coster, ok := m.(guidance.NetworkCoster)
	if !ok {
		return 0, fmt.Errorf("method %s does not say what its step costs (guidance.NetworkCoster)", m.Name())
	}
	forwards, products := coster.NetworkCost(image, y)
	return float64(forwards+2*products) * fwd, nil
}

func (c *checker) timeStep(n int, method string, m *unet.Model) error {
	s, op, err := c.stepSampler(m, method)
	if err != nil {
		return err
	}
	x, z, y, zy, err := c.stepInputs(n, op)
	if err != nil {
		return err
	}
	draws, err := stepDraws(s, method, x, z, zy)
	if err != nil {
		return err
	}
	i := max(c.o.noiseSteps, 2) / 2
	first, med, err := timed(c.o.repeat, func() error {
		info, err := s.StepDraws(x, i, draws, y)
		if err != nil {
			return err
		}
		finalize(info.X, info.PredXStart)
		for _, e := range info.Extra {
			finalize(e)
		}
		return nil
	})
	if err != nil {
		return err
	}
	image := []int{1, c.m.InChannels(), c.o.size, c.o.size}
	yShape, err := op.OutputShape(image)
	if err != nil {
		return err
	}
	flops, err := stepFLOPs(method, image, yShape, c.fwd)
	if err != nil {
		return err
	}
	report(label(method, m), n, first, med, flops)
	return nil
}

// stepDraws returns the draws of one step of method: z and zy, or zeros
// shaped as the method declares when it draws its own (DDRM, DiffPIR,
// DAPS; their values do not change a step's time).
func stepDraws(s *cadps.Sampler, method string, x, z, zy *tensors.Tensor) ([]*tensors.Tensor, error) {
	m, err := guidance.ParseSpec(method, guidance.Options{})
	if err != nil {
		return nil, err
	}
	if _, own := m.(guidance.Drawer); !own {
		return []*tensors.Tensor{z, zy}, nil
	}
	shapes, err := s.DrawShapes(x.Shape().Dimensions)
	if err != nil {
		return nil, err
	}
	draws := make([]*tensors.Tensor, len(shapes))
	for k, d := range shapes {
		n := 1
		for _, v := range d {
			n *= v
		}
		draws[k] = tensors.FromFlatDataAndDimensions(make([]float32, n), d...)
	}
	return draws, nil
}
