package main

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/cadps/toolkit/cadps"
	"github.com/cadps/toolkit/cadps/unet"
	"github.com/cadps/toolkit/internal/benchutil"
	"github.com/cadps/toolkit/internal/fixtures"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// bf16Parity prints the forward pass's and the DPS step's deviation of the
// bfloat16 network bf from the float32 one at batch n, on the same inputs.
func (c *checker) bf16Parity(n int, bf *unet.Model) error {
	x := c.input(n)
	var outs [2][]float32
	for k, m := range []*unet.Model{c.m, bf} {
		exec, err := c.forward(n, m)
		if err != nil {
			return err
		}
		o, err := exec.Exec(x)
		if err != nil {
			return err
		}
		if outs[k], err = tensors.CopyFlatData[float32](o[0]); err != nil {
			return err
		}
		finalize(o...)
	}
	var next, pred [2][]float32
	for k, m := range []*unet.Model{c.m, bf} {
		s, op, err := c.stepSampler(m, "dps")
		if err != nil {
			return err
		}
		xt, z, y, zy, err := c.stepInputs(n, op)
		if err != nil {
			return err
		}
		info, err := s.Step(xt, max(c.o.noiseSteps, 2)/2, z, zy, y)
		if err != nil {
			return err
		}
		if next[k], err = tensors.CopyFlatData[float32](info.X); err != nil {
			return err
		}
		if pred[k], err = tensors.CopyFlatData[float32](info.PredXStart); err != nil {
			return err
		}
	}
	fmt.Printf("bf16 parity  batch %2d: max|Δ|/max(1,max|f32|) (rms|Δ|/rms|f32|): forward %.3g (%.3g), DPS step x̂0 %.3g (%.3g), x_{t-1} %.3g (%.3g)\n",
		n, maxRel(outs[1], outs[0]), rmsRel(outs[1], outs[0]), maxRel(pred[1], pred[0]), rmsRel(pred[1], pred[0]),
		maxRel(next[1], next[0]), rmsRel(next[1], next[0]))
	return nil
}

// maxRel and rmsRel are the fixtures' measures (see internal/fixtures);
// a non-finite value on either side (or different lengths) gives NaN, which
// the report prints as such.
func maxRel(got, want []float32) float64 {
	d, err := fixtures.MaxRelDiff(got, want)
	if err != nil {
		return math.NaN()
	}
	return d
}

func rmsRel(got, want []float32) float64 {
	d, err := fixtures.RMSRelDiff(got, want)
	if err != nil {
		return math.NaN()
	}
	return d
}

// noiseRun times a run of -noise-steps steps of method at -noise-batch with
// host or graph noise: the first step (with the compile when the step graph
// is new) apart, then the mean of the others. A callback marks the first
// step's end (with graph noise it reads the N residual norms each step: N
// float32s beside the check's one).
func (c *checker) noiseRun(method string, graphNoise bool) error {
	s, op, err := c.stepSampler(c.m, method)
	if err != nil {
		return err
	}
	n, steps := c.o.noiseBatch, c.o.noiseSteps
	shape := []int{n, c.m.InChannels(), c.o.size, c.o.size}
	yShape, err := op.OutputShape(shape)
	if err != nil {
		return err
	}
	y := benchutil.RandTensor(rand.New(rand.NewPCG(5, 6)), yShape...)
	var noise cadps.NoiseSource = cadps.NewSeededNoise(7)
	if graphNoise {
		noise = cadps.NewGraphNoise(7)
	}
	var afterFirst time.Time
	start := time.Now()
	x0, err := s.Run(nil, shape, y, noise, func(info cadps.StepInfo) error {
		if info.Step == 1 {
			afterFirst = time.Now()
		}
		return nil
	})
	if err != nil {
		return err
	}
	if _, err := tensors.CopyFlatData[float32](x0); err != nil { // wait for the result
		return err
	}
	end := time.Now()
	first := afterFirst.Sub(start)
	per := end.Sub(afterFirst) / time.Duration(steps-1)
	fmt.Printf("%-12s batch %2d: %s noise, %d steps: first step (compile+run) %8.1f ms, then %9.2f ms per step, %8.2f images/s\n",
		label(method, c.m), n, noiseName(graphNoise), steps, first.Seconds()*1e3, per.Seconds()*1e3, float64(n)/per.Seconds())
	return nil
}

// errBudget stops the whole run at the budget.
var errBudget = errors.New("budget spent")

// wholeRun runs -run-method with graph noise for -run-steps steps at
// -run-batch, until the budget is spent.
func (c *checker) wholeRun() error {
	s, op, err := c.problem(c.m, c.o.runMethod, c.o.runSteps)
	if err != nil {
		return err
	}
	shape := []int{c.o.runBatch, c.m.InChannels(), c.o.size, c.o.size}
	yShape, err := op.OutputShape(shape)
	if err != nil {
		return err
	}
	y := benchutil.RandTensor(rand.New(rand.NewPCG(5, 6)), yShape...)
	fmt.Printf("whole %s run, graph noise, batch %d: %d steps, starting (the first step compiles)\n", c.o.runMethod, c.o.runBatch, c.o.runSteps)
	var afterFirst time.Time
	done := 0
	start := time.Now()
	_, err = s.Run(nil, shape, y, cadps.NewGraphNoise(7), func(info cadps.StepInfo) error {
		done = info.Step
		if info.Step == 1 {
			afterFirst = time.Now()
		}
		if c.over() && info.Step < info.Steps {
			return errBudget
		}
		return nil
	})
	if err != nil && !errors.Is(err, errBudget) {
		return err
	}
	d := time.Since(start)
	cause := ""
	if errors.Is(err, errBudget) {
		cause = "at the budget"
		if n := c.sig.name(); n != "" {
			cause = "by " + n
		}
	}
	fmt.Println(wholeRunLine(c.o.runMethod, c.o.runBatch, done, c.o.runSteps, d, afterFirst.Sub(start), cause))
	if done > 1 {
		per := time.Since(afterFirst).Seconds() / float64(done-1)
		fmt.Printf("whole %s run, batch %d: %.2f ms per step after the first; 1000 steps ≈ %.1f s per batch, %.2f s per image\n",
			c.o.runMethod, c.o.runBatch, 1000*per, 1000*per, 1000*per/float64(c.o.runBatch))
	}
	return nil
}

// wholeRunLine is a whole run's first line (scripts/gpucompare reads it):
// done of steps steps in d, the first in first, stopped early for cause
// ("at the budget", "by SIGINT"; "" when it finished).
func wholeRunLine(method string, batch, done, steps int, d, first time.Duration, cause string) string {
	stopped := ""
	if cause != "" {
		stopped = fmt.Sprintf(" (stopped %s after %d of %d steps)", cause, done, steps)
	}
	return fmt.Sprintf("whole %s run, graph noise, batch %d: %d steps in %.1f s%s, first step (compile+run) %.1f s",
		method, batch, done, d.Seconds(), stopped, first.Seconds())
}

// finalize frees the tensors' device memory now rather than at the next
// garbage collection.
func finalize(ts ...*tensors.Tensor) {
	for _, t := range ts {
		if t != nil {
			_ = t.FinalizeAll()
		}
	}
}
