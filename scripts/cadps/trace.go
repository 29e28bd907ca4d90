package main

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/cadps/toolkit/cadps"
	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/cadps/restore"
	"github.com/cadps/toolkit/internal/atomicfile"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// traceCommand is `cadps trace`: what happens inside one batch restoration,
// step by step.
func traceCommand() command {
	return command{
		name:    "trace",
		summary: "per-step residual, x̂0 at the clamp and the method's diagnostics of one batch of test images (CSV)",
		run:     runTrace,
	}
}

// runTrace restores a batch of test images as `cadps evaluate` restores
// its batch with the same -offset, -count and seed, and writes one CSV row
// per step and image: the step size ζ of the step, the residual
// ‖y − A(x̂0)‖₂, the fraction of x̂0's pixels at the clamp (|x̂0| = 1, where
// the residual has no gradient), and the minimum, maximum and fraction of
// negative entries of each of the method's diagnostics (CA-DPS's
// multiplier 1 + d).
func runTrace(args []string, stdout, stderr io.Writer) (err error) {
	fset := newFlagSet("trace", "", stderr)
	mf := addModelFlags(fset)
	tf := addTestRunFlags(fset, "step size ζ (0: the method's default for the task)",
		"seed of the operator, the noise and the sampler (evaluate's batch k uses its -seed + k)")
	count := fset.Int("count", defaultEvalBatch, "images in the batch (by default evaluate's -batch)")
	task := fset.String("task", "sr:factor=2", "measurement task spec")
	method := fset.String("method", "dps", "guidance method spec NAME[:key=value,...], as for cadps restore; NAME one of "+strings.Join(guidance.Names(), ", "))
	out := fset.String("out", "", "CSV file of the per-step rows (required)")
	force := addForceFlag(fset)
	if err := parseFlagsOnly(fset, args); err != nil {
		return err
	}
	switch {
	case *tf.data == "" || *out == "":
		return usagef("-data and -out are required")
	case *count <= 0:
		return usagef("-count must be positive")
	}
	if err := checkNewFiles(*force, *out); err != nil {
		return err
	}
	nz, rmp, err := tf.parse()
	if err != nil {
		return err
	}
	if err := checkTaskSpec("trace", "-task", *task); err != nil {
		return err
	}
	if _, err := guidance.ParseSpec(*method, guidance.Options{}); err != nil {
		return usagef("-method: %v", err)
	}
	prior, err := restore.LoadPrior(mf.spec())
	if err != nil {
		return err
	}
	if err := refuseClassConditional("trace", prior); err != nil {
		return err
	}
	b, err := backend.New()
	if err != nil {
		return err
	}
	opts := restore.Options{Task: restore.SpecTask(*task), Method: *method, Steps: *tf.steps, Noise: nz, Ramp: rmp}
	if *tf.scale > 0 {
		opts.Scale = tf.scale
	}
	rs, err := restore.New(b, prior, opts)
	if err != nil {
		return err
	}
	images, _, err := loadTestImages(*tf.data, *tf.offset, *count, prior.ImageShape())
	if err != nil {
		return err
	}
	// Only now that every input checked out: a refused run leaves no
	// folder, and one that fails or is stopped leaves none it made.
	sig := stopOnSignalOutputs(nil, "trace", stderr, outputFile(*out))
	defer sig.stop()
	dir, err := sig.makeOutputFileDir(*out)
	if err != nil {
		return err
	}
	defer dir.undo(&err)
	tw := &traceWriter{zeta: rs.Settings().Scale, ramp: rmp, offset: *tf.offset, images: len(images)}
	tw.w = csv.NewWriter(&tw.buf)
	res, err := rs.RestoreBatch(images, *tf.seed, tw.step)
	if err != nil {
		return err
	}
	tw.w.Flush()
	if err := sig.finish(func() error { return atomicfile.WriteBytes(*out, tw.buf.Bytes()) }); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "trace: wrote %d steps × %d images to %s\n", *tf.steps, len(images), *out)
	fmt.Fprintf(stdout, "%s, %s, %d steps, %s: PSNR (dB) per image, reconstruction vs baseline\n", *task, *method, *tf.steps, res.Operator)
	for k, it := range res.Items {
		base := "–" // no baseline (phase retrieval)
		if !math.IsNaN(it.BaselineMetrics.PSNR) {
			base = fmt.Sprintf("%.2f", it.BaselineMetrics.PSNR)
		}
		fmt.Fprintf(stdout, "%d\t%.2f\t%s\n", *tf.offset+k, it.Metrics.PSNR, base)
	}
	return nil
}

// traceWriter writes trace's CSV rows, one per step and image.
type traceWriter struct {
	buf    bytes.Buffer
	w      *csv.Writer
	zeta   float64 // the step size ζ before the ramp
	ramp   guidance.Ramp
	offset int // the first image's index
	images int
	extras []string // the method's diagnostics, named in the header from the first step on
}

// step writes a step's rows (and, at the first step, the header).
func (tw *traceWriter) step(info cadps.StepInfo) error {
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }
	if info.Step == 1 {
		for name := range info.Extra {
			tw.extras = append(tw.extras, name)
		}
		slices.Sort(tw.extras)
		header := []string{"step", "index", "zeta", "image", "residual", "clamped"}
		for _, name := range tw.extras {
			header = append(header, name+"_min", name+"_max", name+"_negative")
		}
		_ = tw.w.Write(header)
	}
	x0 := tensors.MustCopyFlatData[float32](info.PredXStart)
	per := len(x0) / tw.images
	values := make([][]float32, len(tw.extras))
	for e, name := range tw.extras {
		values[e] = tensors.MustCopyFlatData[float32](info.Extra[name])
	}
	for k := range tw.images {
		clamped := 0
		for _, v := range x0[k*per : (k+1)*per] {
			if math.Abs(float64(v)) >= 1 {
				clamped++
			}
		}
		row := []string{strconv.Itoa(info.Step), strconv.Itoa(info.Index), f(tw.zeta * tw.ramp.Weight(info.Step, info.Steps)), strconv.Itoa(tw.offset + k),
			f(float64(info.Residual[k])), f(float64(clamped) / float64(per))}
		for e := range tw.extras {
			n := len(values[e]) / tw.images
			lo, hi, neg := stats(values[e][k*n : (k+1)*n])
			row = append(row, f(lo), f(hi), f(neg))
		}
		_ = tw.w.Write(row)
	}
	return nil
}

// stats returns the minimum, the maximum and the fraction of negative
// entries of v.
func stats(v []float32) (lo, hi, negative float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	n := 0
	for _, x := range v {
		lo, hi = min(lo, float64(x)), max(hi, float64(x))
		if x < 0 {
			n++
		}
	}
	return lo, hi, float64(n) / float64(len(v))
}
