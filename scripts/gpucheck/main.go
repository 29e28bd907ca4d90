// Command gpucheck times the FFHQ-256 UNet and the DPS and CA-DPS steps on
// whatever backend GOMLX_BACKEND selects (XLA on a CUDA GPU through
// scripts/gpu/check.sh; the pure-Go backend works too, at small sizes) and
// prints one line per measurement: milliseconds, images/s and TFLOP/s, with
// the XLA compile time separately.
//
// Usage:
//
//	gpucheck [-size 256] [-batches 1,4,16] [-repeat 5] [-run-steps 1000] [-run-batch 16]
package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cadps/toolkit/cadps"
	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/diffusion"
	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/cadps/unet"
	"github.com/cadps/toolkit/internal/benchutil"
	"github.com/cadps/toolkit/ops"
	"github.com/gomlx/gomlx/backends"
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
	batches                          []int
	preset                           string
}

func run(args []string) error {
	fs := flag.NewFlagSet("gpucheck", flag.ContinueOnError)
	var o options
	var batches string
	fs.IntVar(&o.size, "size", 256, "image size")
	fs.StringVar(&batches, "batches", "1,4,16", "batch sizes to time")
	fs.IntVar(&o.repeat, "repeat", 5, "timed repetitions (the median is reported)")
	fs.IntVar(&o.runSteps, "run-steps", 1000, "steps of the whole CA-DPS run (0: skip it)")
	fs.IntVar(&o.runBatch, "run-batch", 16, "batch of the whole CA-DPS run")
	fs.StringVar(&o.preset, "preset", "ffhq256", "UNet preset (random weights in its real layout)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	for _, f := range strings.Split(batches, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return fmt.Errorf("bad -batches %q", batches)
		}
		o.batches = append(o.batches, n)
	}
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
	fwd := float64(m.ForwardFLOPs(o.size))
	fmt.Printf("model: %s, %d parameters, %.1f GFLOP per forward at %d²\n", o.preset, m.NumParams(), fwd/1e9, o.size)
	for _, n := range o.batches {
		if err := timeForward(b, ctx, m, o, n, fwd); err != nil {
			return err
		}
		for _, method := range []string{"dps", "cadps"} {
			if err := timeStep(b, ctx, m, o, n, method, fwd); err != nil {
				return err
			}
		}
	}
	if o.runSteps > 0 {
		return wholeRun(b, ctx, m, o)
	}
	return nil
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
	for range repeat {
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
	fmt.Printf("%-8s batch %2d: first call (compile+run) %8.1f ms, step %9.2f ms, %8.2f images/s, %7.2f TFLOP/s\n",
		what, n, first.Seconds()*1e3, s*1e3, float64(n)/s, flops*float64(n)/s/1e12)
}

func timeForward(b backends.Backend, ctx *context.Context, m *unet.Model, o options, n int, fwd float64) error {
	exec, err := context.NewExec(b, ctx, func(ctx *context.Context, x *graph.Node) *graph.Node {
		t := graph.Const(x.Graph(), slices.Repeat([]float32{500}, n))
		return m.Apply(ctx, x, t, nil)
	})
	if err != nil {
		return err
	}
	x := benchutil.RandTensor(rand.New(rand.NewPCG(1, 2)), n, m.InChannels(), o.size, o.size)
	first, med, err := timed(o.repeat, func() error {
		out, err := exec.Exec(x)
		if err != nil {
			return err
		}
		_ = tensors.MustCopyFlatData[float32](out[0])[0] // wait for the result
		return nil
	})
	if err != nil {
		return fmt.Errorf("forward batch %d: %w", n, err)
	}
	report("forward", n, first, med, fwd)
	return nil
}

// problem builds a super-resolution ×4 problem on a 1000-step process.
func problem(b backends.Backend, ctx *context.Context, m *unet.Model, method string, steps int) (*cadps.Sampler, ops.Operator, error) {
	proc, err := diffusion.New(diffusion.Config{Steps: 1000, NoiseSchedule: "linear", Respacing: strconv.Itoa(steps),
		MeanType: diffusion.MeanEpsilon, VarType: diffusion.VarLearnedRange, ClipDenoised: true})
	if err != nil {
		return nil, nil, err
	}
	op, err := ops.NewSuperResolution(4, "bicubic")
	if err != nil {
		return nil, nil, err
	}
	meth, err := guidance.New(method, guidance.Options{})
	if err != nil {
		return nil, nil, err
	}
	s, err := cadps.NewSampler(cadps.Problem{Backend: b, Ctx: ctx, Net: cadps.UNetNetwork(m), Process: proc,
		Op: op, Method: meth, Scale: 0.3, SigmaY: 0.05})
	return s, op, err
}

func timeStep(b backends.Backend, ctx *context.Context, m *unet.Model, o options, n int, method string, fwd float64) error {
	s, op, err := problem(b, ctx, m, method, 1000)
	if err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(3, 4))
	shape := []int{n, m.InChannels(), o.size, o.size}
	yShape, err := op.OutputShape(shape)
	if err != nil {
		return err
	}
	x, z, y, zy := benchutil.RandTensor(r, shape...), benchutil.RandTensor(r, shape...), benchutil.RandTensor(r, yShape...), benchutil.RandTensor(r, yShape...)
	first, med, err := timed(o.repeat, func() error {
		_, err := s.Step(x, 500, z, zy, y)
		return err
	})
	if err != nil {
		return fmt.Errorf("%s step batch %d: %w", method, n, err)
	}
	flops := 3 * fwd // forward + input gradient
	if method == "cadps" {
		flops += fwd // the second forward
	}
	report(method, n, first, med, flops)
	return nil
}

func wholeRun(b backends.Backend, ctx *context.Context, m *unet.Model, o options) error {
	s, op, err := problem(b, ctx, m, "cadps", o.runSteps)
	if err != nil {
		return err
	}
	shape := []int{o.runBatch, m.InChannels(), o.size, o.size}
	yShape, err := op.OutputShape(shape)
	if err != nil {
		return err
	}
	y := benchutil.RandTensor(rand.New(rand.NewPCG(5, 6)), yShape...)
	start := time.Now()
	if _, err := s.Run(nil, shape, y, cadps.NewSeededNoise(7), nil); err != nil {
		return err
	}
	d := time.Since(start)
	fmt.Printf("whole CA-DPS run: %d steps, batch %d: %.1f s, %.2f s per image\n", o.runSteps, o.runBatch, d.Seconds(), d.Seconds()/float64(o.runBatch))
	return nil
}
