package main

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/diffusion"
	"github.com/cadps/toolkit/cadps/gmm"
	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/checkpoints"
	"github.com/gomlx/gomlx/backends"
)

// exactMethod is the method name that draws from the exact posterior.
const exactMethod = "exact"

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

// gmmRun is one sampling run's settings.
type gmmRun struct {
	Method      string
	Samples     int
	Steps       int
	Seed        uint64
	Scale       float64
	Projections int
	Schedule    string
	VarType     string
}

// gmmReport is the JSON object `cadps gmm` prints, and one row of the bench.
type gmmReport struct {
	Method string `json:"method"`
	// Revision is the method's guidance.Revision (0 for exact); -1 in rows
	// read from a bench CSV written before revisions were recorded.
	Revision   int     `json:"method_revision"`
	Dim        int     `json:"dim"`
	DimY       int     `json:"dim_y"`
	Components int     `json:"components"`
	SigmaY     float64 `json:"sigma_y"`
	Samples    int     `json:"samples"`
	Steps      int     `json:"steps"`
	Seed       uint64  `json:"seed"`
	Scale      float64 `json:"scale"`
	// SlicedWasserstein is SW₂ to an independent set of as many exact
	// posterior samples.
	SlicedWasserstein float64 `json:"sliced_wasserstein"`
	// Energy is the (unbiased) energy distance to the same set.
	Energy float64 `json:"energy_distance"`
	// WeightTV is ½ Σ_k |fraction assigned to k − w'_k|.
	WeightTV float64 `json:"weight_tv"`
	// Seconds is the sampling wall time (without the distances).
	Seconds float64 `json:"seconds"`
}

func runGMM(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "bench" {
		return runGMMBench(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "table" {
		return runGMMTable(args[1:], stdout, stderr)
	}
	fs := newFlagSet("gmm", "", stderr)
	problemPath := fs.String("problem", "", "problem file (safetensors: weights [K], means [K,d], covs [K,d,d], A [m,d], y [m], sigma_y [1]); absent: generate the standard setting from --dim, --dim-y and --seed")
	savePath := fs.String("save-problem", "", "write the problem used to this safetensors file")
	dim := fs.Int("dim", 8, "dimension d of a generated problem")
	dimY := fs.Int("dim-y", 2, "number of measurements m of a generated problem")
	method := fs.String("method", "", "exact, or a guidance method spec NAME[:key=value,...] (e.g. tmpd:diagonal=hutchinson,probes=4); NAME one of "+strings.Join(guidance.Names(), ", "))
	out := fs.String("out", "", "write the samples [N,d] to this safetensors file")
	run := gmmRun{}
	addRunFlags(fs, &run)
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: cadps gmm --method NAME [flags]
       cadps gmm bench [flags]   (run `+"`cadps gmm bench -h`"+`)
       cadps gmm table CSV...    (the bench's table from its CSV files)

Samples the posterior of a linear Gaussian measurement y = A x + σ_y n under a
Gaussian-mixture prior, whose exact ε(x_t, t) is the diffusion network, with
METHOD over --steps respaced steps of the 1000-step linear schedule, and
prints one JSON object with the distances of the samples to the exact
posterior: sliced_wasserstein (SW₂ to as many independent exact samples),
energy_distance (to the same set) and weight_tv (total variation between the
fractions of samples assigned to each posterior component and its weight).
Method "exact" draws from the exact posterior: its distances are the floor
that sampling error alone gives.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usagef("unexpected arguments %q", fs.Args())
	}
	if *method == "" {
		return usagef("--method is required (exact, %s)", strings.Join(guidance.Names(), ", "))
	}
	run.Method = *method
	if err := run.check(); err != nil {
		return err
	}
	var problem *gmm.Problem
	var err error
	if *problemPath != "" {
		if problem, err = gmm.LoadProblem(*problemPath); err != nil {
			return err
		}
	} else if problem, err = gmm.Standard(*dim, *dimY, run.Seed); err != nil {
		return usagef("%v", err)
	}
	if *savePath != "" {
		if err := problem.Save(*savePath); err != nil {
			return err
		}
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
	ref := post.Sample(run.Samples, rand.New(rand.NewPCG(run.Seed, referenceStream)))
	rep, samples, err := evaluate(b, problem, post, ref, run)
	if err != nil {
		return err
	}
	if *out != "" {
		if err := saveSamples(*out, samples); err != nil {
			return err
		}
	}
	enc, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, string(enc))
	return err
}

// Streams of the exact draws: the method "exact" and the reference set.
const (
	exactStream     = 0xe4ac7
	referenceStream = 0x4ef
)

// addRunFlags registers the flags shared by `gmm` and `gmm bench`.
func addRunFlags(fs *flag.FlagSet, r *gmmRun) {
	fs.IntVar(&r.Samples, "samples", 1000, "number of samples N (and of reference exact samples)")
	fs.IntVar(&r.Steps, "steps", 100, "reverse diffusion steps (respacing of the 1000-step schedule)")
	fs.Func("seed", "seed of the problem (when generated), the sampler's noise and the exact draws (default 0)", func(s string) error {
		v, err := strconv.ParseUint(s, 10, 64)
		r.Seed = v
		return err
	})
	fs.Float64Var(&r.Scale, "scale", 1, "guidance step size ζ (every method)")
	fs.IntVar(&r.Projections, "projections", 1000, "sliced Wasserstein projections (seeded by --seed)")
	fs.StringVar(&r.Schedule, "schedule", "linear", "noise schedule of the 1000-step process: linear or cosine")
	fs.StringVar(&r.VarType, "var", string(diffusion.VarFixedSmall), "reverse variance: fixed_small or fixed_large")
}

// check validates a run's settings.
func (r gmmRun) check() error {
	switch {
	case r.Method != exactMethod && !guidance.Has(r.Method) && !strings.Contains(r.Method, ":"):
		return usagef("unknown method %q (known: exact, %s)", r.Method, strings.Join(guidance.Names(), ", "))
	case r.Method != exactMethod:
		if _, err := guidance.ParseSpec(r.Method, guidance.Options{}); err != nil {
			return usagef("--method: %v", err)
		}
	case r.Samples < 2:
		return usagef("--samples %d: need at least 2", r.Samples)
	case r.Steps < 2 || r.Steps > 1000:
		return usagef("--steps %d: want 2 … 1000", r.Steps)
	case r.Projections < 1:
		return usagef("--projections %d: want at least 1", r.Projections)
	case math.IsNaN(r.Scale) || r.Scale < 0:
		return usagef("--scale %v: want a non-negative number", r.Scale)
	case r.VarType != string(diffusion.VarFixedSmall) && r.VarType != string(diffusion.VarFixedLarge):
		return usagef("--var %q: want fixed_small or fixed_large", r.VarType)
	}
	return nil
}

// evaluate draws r.Samples samples with r.Method and measures them against
// the exact posterior and the reference set ref.
func evaluate(b backends.Backend, p *gmm.Problem, post *gmm.Posterior, ref [][]float64, r gmmRun) (gmmReport, [][]float64, error) {
	rep := gmmReport{
		Method: r.Method, Revision: methodRevision(r.Method), Dim: p.Prior.Dim(), DimY: len(p.A), Components: p.Prior.K(), SigmaY: p.SigmaY,
		Samples: r.Samples, Steps: r.Steps, Seed: r.Seed, Scale: r.Scale,
	}
	start := time.Now()
	samples, err := sampleGMM(b, p, post, r)
	if err != nil {
		return rep, nil, err
	}
	rep.Seconds = time.Since(start).Seconds()
	if rep.SlicedWasserstein, err = gmm.SlicedWasserstein(samples, ref, r.Projections, r.Seed); err != nil {
		return rep, nil, err
	}
	if rep.Energy, err = gmm.EnergyDistance(samples, ref); err != nil {
		return rep, nil, err
	}
	if rep.WeightTV, _, err = gmm.WeightError(post, samples); err != nil {
		return rep, nil, err
	}
	return rep, samples, nil
}

// methodRevision returns the guidance.Revision of a method spec (0 for
// exact or an invalid spec, which the run reports).
func methodRevision(spec string) int {
	m, err := guidance.ParseSpec(spec, guidance.Options{})
	if err != nil {
		return 0
	}
	return guidance.Revision(m)
}

// sampleGMM draws the samples of one run: exact draws, or the guidance
// method on the mixture's exact ε network.
func sampleGMM(b backends.Backend, p *gmm.Problem, post *gmm.Posterior, r gmmRun) ([][]float64, error) {
	if r.Method == exactMethod {
		return post.Sample(r.Samples, rand.New(rand.NewPCG(r.Seed, exactStream))), nil
	}
	return p.SampleMethod(b, gmm.RunOptions{Method: r.Method, Samples: r.Samples, Steps: r.Steps, Seed: r.Seed,
		Scale: r.Scale, Schedule: r.Schedule, VarType: r.VarType})
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

// benchRow is one run of the bench, as the CSV holds it.
type benchRow struct {
	gmmReport
	Problem int    `json:"problem"`
	Error   string `json:"error,omitempty"`
}

// benchCell is the summary of one (d, m, method) cell over its problems.
type benchCell struct {
	Dim      int     `json:"dim"`
	DimY     int     `json:"dim_y"`
	Method   string  `json:"method"`
	Runs     int     `json:"runs"`
	Failures int     `json:"failures"`
	SWMean   float64 `json:"sw_mean"`
	SWStd    float64 `json:"sw_std"`
	EMean    float64 `json:"energy_mean"`
	EStd     float64 `json:"energy_std"`
	TVMean   float64 `json:"weight_tv_mean"`
	TVStd    float64 `json:"weight_tv_std"`
	Seconds  float64 `json:"seconds_mean"`
}

func runGMMBench(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("gmm bench", "", stderr)
	dims := fs.String("dims", "8,80,800", "comma-separated dimensions d")
	dimYs := fs.String("dims-y", "1,2,4", "comma-separated measurement counts m")
	problems := fs.Int("problems", 20, "random problems per (d, m)")
	first := fs.Int("first-problem", 0, "index of the first problem (to run the rest of a bench later: --first-problem 10 --problems 10 runs problems 10–19)")
	methods := fs.String("methods", "all", "comma-separated method specs, or all (exact and every guidance method); a spec's own key=value options continue it: dps,tmpd:diagonal=hutchinson,probes=4,mmps")
	csvPath := fs.String("csv", "", "write every run as a CSV row to this file (to FILE.partial as the bench goes, renamed when it ends)")
	jsonPath := fs.String("json", "", "write the summary table as JSON to this file")
	run := gmmRun{}
	addRunFlags(fs, &run)
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: cadps gmm bench [flags]

Runs every method on --problems random problems of the standard setting
(gmm.Standard: MCGdiff's 25-component grid mixture) for each d in --dims and
m in --dims-y, and prints a Markdown table of mean ± std (over problems) of
the sliced Wasserstein distance, the energy distance and the weight error.
Problem p of (d, m) is generated from seed = --seed·1000003 + 10007·d + 101·m + p;
every run of it uses that seed for its noise too, so a bench may be split
into parts (by --dims, --dims-y or --first-problem) whose CSV files
`+"`cadps gmm table`"+` joins. A run that fails (for example one that
diverges) is counted, not averaged.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usagef("unexpected arguments %q", fs.Args())
	}
	ds, err := parseInts("--dims", *dims)
	if err != nil {
		return err
	}
	ms, err := parseInts("--dims-y", *dimYs)
	if err != nil {
		return err
	}
	if *problems < 1 {
		return usagef("--problems %d: want at least 1", *problems)
	}
	if *first < 0 {
		return usagef("--first-problem %d is negative", *first)
	}
	names := append([]string{exactMethod}, guidance.Names()...)
	if *methods != "all" {
		names = splitMethodList(*methods)
	}
	for _, n := range names {
		r := run
		r.Method = n
		if err := r.check(); err != nil {
			return err
		}
	}
	b, err := backend.New()
	if err != nil {
		return err
	}
	// The rows go to PATH.partial as the bench runs, so that an interrupted
	// bench keeps what it measured, and replace PATH only when it ends.
	var cw *csv.Writer
	var partial *os.File
	if *csvPath != "" {
		name := *csvPath + ".partial"
		partial, err = os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%s exists: a bench into %s stopped before it ended; move it away or remove it", name, *csvPath)
		}
		if err != nil {
			return fmt.Errorf("--csv: %w", err)
		}
		defer partial.Close()
		cw = csv.NewWriter(partial)
		_ = cw.Write(benchColumns)
	}
	start := time.Now()
	var rows []benchRow
	for _, d := range ds {
		for _, m := range ms {
			for p := *first; p < *first+*problems; p++ {
				seed := run.Seed*1000003 + 10007*uint64(d) + 101*uint64(m) + uint64(p)
				prob, err := gmm.Standard(d, m, seed)
				if err != nil {
					return usagef("%v", err)
				}
				post, err := prob.Posterior()
				if err != nil {
					return fmt.Errorf("problem d=%d m=%d #%d: %w", d, m, p, err)
				}
				r := run
				r.Seed = seed
				ref := post.Sample(r.Samples, rand.New(rand.NewPCG(seed, referenceStream)))
				for _, name := range names {
					r.Method = name
					rep, _, err := evaluate(b, prob, post, ref, r)
					row := benchRow{gmmReport: rep, Problem: p}
					if err != nil {
						row.Error = err.Error()
					}
					rows = append(rows, row)
					fmt.Fprintf(stderr, "d=%d m=%d problem %d %-13s SW %.4g energy %.4g TV %.3f %.1fs %s\n",
						d, m, p, name, rep.SlicedWasserstein, rep.Energy, rep.WeightTV, rep.Seconds, row.Error)
					if cw != nil {
						_ = cw.Write([]string{strconv.Itoa(d), strconv.Itoa(m), strconv.Itoa(p), strconv.FormatUint(seed, 10),
							fmtF(rep.SigmaY), name, strconv.Itoa(r.Samples), strconv.Itoa(r.Steps), fmtF(r.Scale),
							fmtF(rep.SlicedWasserstein), fmtF(rep.Energy), fmtF(rep.WeightTV), fmtF(rep.Seconds), row.Error,
							strconv.Itoa(rep.Revision)})
						cw.Flush()
						if err := cw.Error(); err != nil {
							return fmt.Errorf("writing %s: %w", partial.Name(), err)
						}
					}
				}
			}
		}
	}
	if partial != nil {
		if err := partial.Sync(); err != nil {
			return fmt.Errorf("writing %s: %w", partial.Name(), err)
		}
		if err := partial.Close(); err != nil {
			return fmt.Errorf("writing %s: %w", partial.Name(), err)
		}
		if err := os.Rename(partial.Name(), *csvPath); err != nil {
			return fmt.Errorf("--csv: %w", err)
		}
	}
	cells := summarise(rows, ds, ms, names)
	wall := time.Since(start)
	if *jsonPath != "" {
		doc := map[string]any{
			"command":      "cadps gmm bench " + strings.Join(args, " "),
			"wall_seconds": wall.Seconds(),
			"samples":      run.Samples, "steps": run.Steps, "scale": run.Scale,
			"projections": run.Projections, "schedule": run.Schedule, "var": run.VarType,
			"problems": *problems, "first_problem": *first, "cells": cells,
		}
		raw, err := json.MarshalIndent(doc, "", "  ")
		if err != nil {
			return err
		}
		if err := writeFileAtomic(*jsonPath, append(raw, '\n')); err != nil {
			return err
		}
	}
	writeBenchTable(stdout, cells)
	fmt.Fprintf(stdout, "\nwall time %s\n", wall.Round(time.Second))
	return nil
}

// splitMethodList splits a comma-separated list of method specs. A part
// holding '=' is an option of the spec before it, so specs with several
// options need no quoting: "dps,tmpd:diagonal=hutchinson,probes=4,mmps" is
// dps, tmpd:diagonal=hutchinson,probes=4 and mmps.
func splitMethodList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if strings.Contains(part, "=") && !strings.Contains(part, ":") && len(out) > 0 {
			out[len(out)-1] += "," + part
			continue
		}
		out = append(out, part)
	}
	return out
}

// summarise groups the rows by (d, m, method) in the order given.
func summarise(rows []benchRow, ds, ms []int, names []string) []benchCell {
	var cells []benchCell
	for _, d := range ds {
		for _, m := range ms {
			for _, name := range names {
				c := benchCell{Dim: d, DimY: m, Method: name}
				var sw, e, tv, secs []float64
				for _, r := range rows {
					if r.Dim != d || r.DimY != m || r.Method != name {
						continue
					}
					c.Runs++
					if r.Error != "" {
						c.Failures++
						continue
					}
					sw, e, tv, secs = append(sw, r.SlicedWasserstein), append(e, r.Energy), append(tv, r.WeightTV), append(secs, r.Seconds)
				}
				c.SWMean, c.SWStd = meanStd(sw)
				c.EMean, c.EStd = meanStd(e)
				c.TVMean, c.TVStd = meanStd(tv)
				c.Seconds, _ = meanStd(secs)
				cells = append(cells, c)
			}
		}
	}
	return cells
}

// meanStd returns the mean and the sample standard deviation (NaN when
// empty; 0 std for one value).
func meanStd(v []float64) (float64, float64) {
	if len(v) == 0 {
		return math.NaN(), math.NaN()
	}
	s := 0.0
	for _, x := range v {
		s += x
	}
	mean := s / float64(len(v))
	if len(v) == 1 {
		return mean, 0
	}
	q := 0.0
	for _, x := range v {
		q += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(q / float64(len(v)-1))
}

// writeBenchTable prints the cells as a Markdown table.
func writeBenchTable(w io.Writer, cells []benchCell) {
	fmt.Fprintln(w, "| d | m | method | SW₂ | energy | weight TV | s/run | failed |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
	for _, c := range cells {
		fmt.Fprintf(w, "| %d | %d | %s | %s | %s | %s | %.2f | %d/%d |\n", c.Dim, c.DimY, c.Method,
			pm(c.SWMean, c.SWStd, 3), pm(c.EMean, c.EStd, 3), pm(c.TVMean, c.TVStd, 3), c.Seconds, c.Failures, c.Runs)
	}
}

// pm formats mean ± std with the given significant digits.
func pm(mean, std float64, digits int) string {
	if math.IsNaN(mean) {
		return "—"
	}
	return fmt.Sprintf("%.*g ± %.*g", digits, mean, 2, std)
}

// fmtF formats a float for the CSV.
func fmtF(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }

// parseInts parses a comma-separated list of positive integers.
func parseInts(flagName, s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v < 1 {
			return nil, usagef("%s: %q is not a positive integer", flagName, f)
		}
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out, nil
}
