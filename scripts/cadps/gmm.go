package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/diffusion"
	"github.com/cadps/toolkit/cadps/gmm"
	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/cadps/runs"
	"github.com/cadps/toolkit/checkpoints"
	"github.com/gomlx/gomlx/backends"
)

// exactMethod is the method name that draws from the exact posterior.
const exactMethod = runs.ExactMethod

// gmmCommand is `cadps gmm`: posterior fidelity of a sampler on a
// Gaussian-mixture problem whose posterior is known exactly, and
// `cadps gmm bench`, the table over the standard setting.
func gmmCommand() command {
	return command{
		name:    "gmm",
		summary: "posterior fidelity on Gaussian-mixture problems with an exact posterior (and `gmm bench`, `gmm table`)",
		run:     runGMM,
	}
}

func runGMM(args []string, stdout, stderr io.Writer) (err error) {
	if len(args) > 0 && args[0] == "bench" {
		return inSubcommand("gmm bench", runGMMBench(args[1:], stdout, stderr))
	}
	if len(args) > 0 && args[0] == "table" {
		return inSubcommand("gmm table", runGMMTable(args[1:], stdout, stderr))
	}
	fs := newFlagSet("gmm", "", stderr)
	problemPath := fs.String("problem", "", "problem file (safetensors: weights [K], means [K,d], covs [K,d,d], A [m,d], y [m], sigma_y [1]); absent: generate the standard setting from --dim, --dim-y and --seed (not given with --problem)")
	savePath := fs.String("save-problem", "", "write the problem used to this safetensors file (float64: --problem with it repeats this run exactly)")
	dim := fs.Int("dim", 8, fmt.Sprintf("dimension d of a generated problem (at most %d)", maxGMMDim))
	dimY := fs.Int("dim-y", 2, "number of measurements m of a generated problem")
	method := fs.String("method", "", "exact, or a guidance method spec NAME[:key=value,...] (e.g. tmpd:diagonal=hutchinson,probes=4); NAME one of "+strings.Join(guidance.Names(), ", "))
	out := fs.String("out", "", "write the samples [N,d] to this safetensors file")
	force := addForceFlag(fs)
	run := runs.MixtureRun{}
	addRunFlags(fs, &run)
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: cadps gmm --method NAME [flags]
       cadps gmm bench [flags]   (run `+"`cadps gmm bench -h`"+`)
       cadps gmm table CSV...    (the bench's table from its CSV files)

Samples the posterior of a linear Gaussian measurement y = A x + σ_y n under a
Gaussian-mixture prior, whose exact ε(x_t, t) is the diffusion network, with
METHOD over --steps respaced steps of the 1000-step process of --schedule
(linear unless --schedule cosine is given), and prints one JSON object with
the distances of the samples to the exact posterior: sliced_wasserstein (SW₂
to as many independent exact samples), energy_distance (to the same set) and
weight_tv (total variation between the fractions of samples assigned to each
posterior component and its weight). Method "exact" draws from the exact
posterior: its distances are the floor that sampling error alone gives.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := parseFlagsOnly(fs, args); err != nil {
		return err
	}
	if *method == "" {
		return usagef("--method is required (exact, %s)", strings.Join(guidance.Names(), ", "))
	}
	run.Method = *method
	if err := checkGMMRun(run); err != nil {
		return err
	}
	if *savePath == "" && *out == "" && *force {
		return usagef("--force replaces the --out and --save-problem files: give one of them too")
	}
	if err := checkNewFiles(*force, *savePath, *out); err != nil {
		return err
	}
	var problem *gmm.Problem
	switch {
	case *problemPath != "" && (isSet(fs, "dim") || isSet(fs, "dim-y")):
		return usagef("--dim and --dim-y describe a generated problem; --problem %s gives its own", *problemPath)
	case *problemPath != "":
		if problem, err = gmm.LoadProblem(*problemPath); err != nil {
			return err
		}
	case *dim > maxGMMDim:
		return usagef("--dim %d: at most %d (the samplers hold dense d×d matrices)", *dim, maxGMMDim)
	default:
		if problem, err = gmm.Standard(*dim, *dimY, run.Seed); err != nil {
			return usagef("%v", err)
		}
	}
	// The output files' folders are made (and checked) before anything is
	// written or sampled; a run that fails or is stopped leaves none it
	// made that holds nothing.
	var outputs []output
	for _, p := range []string{*savePath, *out} {
		if p != "" {
			outputs = append(outputs, outputFile(p))
		}
	}
	sig := stopOnSignalOutputs(nil, "gmm", stderr, outputs...)
	defer sig.stop()
	dirs, err := sig.makeOutputFileDirs(*savePath, *out)
	if err != nil {
		return err
	}
	defer dirs.undo(&err) // the command's error
	if *savePath != "" {
		if err := sig.hold(func() error { return problem.Save(*savePath) }); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "gmm: wrote the problem to %s\n", *savePath)
	}
	post, err := problem.Posterior()
	if err != nil {
		return err
	}
	var b backends.Backend
	if run.Method != exactMethod {
		if b, err = backend.New(); err != nil {
			return err
		}
	}
	ref := runs.MixtureReference(post, run.Samples, run.Seed)
	rep, samples, err := run.Evaluate(b, problem, post, ref)
	if err != nil {
		return err
	}
	if *out != "" {
		if err := sig.finish(func() error { return saveSamples(*out, samples) }); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "gmm: wrote %d samples to %s\n", len(samples), *out)
	}
	enc, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, string(enc))
	return err
}

// maxGMMDim bounds --dim of a generated problem: the samplers hold dense
// d×d matrices (8 d² bytes each), which at d = 100000 would not fit in
// memory.
const maxGMMDim = 4096

// maxGMMSamples bounds --samples: the samples, the reference set and the
// sampler's batch are held in memory, which two billion samples would
// exhaust.
const maxGMMSamples = 1_000_000

// addRunFlags registers the flags shared by `gmm` and `gmm bench`.
func addRunFlags(fs *flag.FlagSet, r *runs.MixtureRun) {
	fs.IntVar(&r.Samples, "samples", 1000, "number of samples N (and of reference exact samples)")
	fs.IntVar(&r.Steps, "steps", 100, "reverse diffusion steps (respacing of the 1000-step schedule)")
	fs.Uint64Var(&r.Seed, "seed", 0, "seed of the problem (when generated), the sampler's noise and the exact draws")
	fs.Float64Var(&r.Scale, "scale", 1, "guidance step size ζ (every method)")
	fs.IntVar(&r.Projections, "projections", 1000, "sliced Wasserstein projections (seeded by --seed)")
	fs.StringVar(&r.Schedule, "schedule", "linear", "noise schedule of the 1000-step process: linear or cosine")
	fs.StringVar(&r.VarType, "var", string(diffusion.VarFixedSmall), "reverse variance: fixed_small or fixed_large")
}

// checkGMMRun validates a run's settings given by flags.
func checkGMMRun(r runs.MixtureRun) error {
	if r.Method != exactMethod {
		if !guidance.Has(r.Method) && !strings.Contains(r.Method, ":") {
			return usagef("unknown method %q (known: exact, %s)", r.Method, strings.Join(guidance.Names(), ", "))
		}
		if _, err := guidance.ParseSpec(r.Method, guidance.Options{}); err != nil {
			return usagef("--method: %v", err)
		}
	}
	if r.Samples > maxGMMSamples {
		return usagef("--samples %d: at most %d (the samples and as many reference samples are held in memory)", r.Samples, maxGMMSamples)
	}
	if err := r.Check(); err != nil {
		return usagef("%v", err)
	}
	return nil
}

// saveSamples writes samples [N,d] as a float32 safetensors file.
func saveSamples(path string, samples [][]float64) error {
	if len(samples) == 0 {
		return errors.New("no samples to save")
	}
	d := len(samples[0])
	v := make([]float32, 0, len(samples)*d)
	for _, x := range samples {
		for _, e := range x {
			v = append(v, float32(e))
		}
	}
	sd := checkpoints.NewStateDict(path)
	if err := sd.Add(checkpoints.FromFloat32("samples", []int{len(samples), d}, v)); err != nil {
		return err
	}
	if err := checkpoints.SaveSafetensors(path, sd); err != nil {
		return fmt.Errorf("saving samples: %w", err)
	}
	return nil
}
