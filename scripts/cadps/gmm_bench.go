package main

import (
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/gmm"
	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/cadps/runs"
	"github.com/cadps/toolkit/internal/atomicfile"
	"github.com/gomlx/gomlx/backends"
)

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

// benchConfig is what `cadps gmm bench` runs: every method on problems
// first … first+problems−1 of each (d, m) cell.
type benchConfig struct {
	dims, dimYs     []int
	first, problems int
	names           []string
	csvPath         string
	jsonPath        string
	resume          bool
	run             gmmRun
}

// benchSeed is the seed of problem p of cell (d, m) under the bench seed
// base; every run of the problem uses it for its noise too.
func benchSeed(base uint64, d, m, p int) uint64 {
	return base*1000003 + 10007*uint64(d) + 101*uint64(m) + uint64(p)
}

const benchUsage = `Usage: cadps gmm bench [flags]

Runs every method on --problems random problems of the standard setting
(gmm.Standard: MCGdiff's 25-component grid mixture) for each d in --dims and
m in --dims-y, and prints a Markdown table of mean ± std (over problems) of
the sliced Wasserstein distance, the energy distance and the weight error.
Problem p of (d, m) is generated from seed = --seed·1000003 + 10007·d + 101·m + p;
every run of it uses that seed for its noise too, so a bench may be split
into parts (by --dims, --dims-y or --first-problem) whose CSV files
` + "`cadps gmm table`" + ` joins. A run that fails (for example one that
diverges) is counted, not averaged. With --resume an interrupted bench
continues its CSV file, running only what it lacks.

Flags:
`

// parseBenchFlags reads the bench's flags.
func parseBenchFlags(args []string, stderr io.Writer) (benchConfig, error) {
	fs := newFlagSet("gmm bench", "", stderr)
	dims := fs.String("dims", "8,80,800", "comma-separated dimensions d")
	dimYs := fs.String("dims-y", "1,2,4", "comma-separated measurement counts m")
	problems := fs.Int("problems", 20, "random problems per (d, m)")
	first := fs.Int("first-problem", 0, "index of the first problem (to run the rest of a bench later: --first-problem 10 --problems 10 runs problems 10–19)")
	methods := fs.String("methods", "all", "comma-separated method specs, or all (exact and every guidance method); a spec's own key=value options continue it: dps,tmpd:diagonal=hutchinson,probes=4,mmps")
	csvPath := fs.String("csv", "", "write every run as a CSV row to this file (to FILE.partial as the bench goes, renamed when it ends); an existing FILE is refused without --resume")
	resume := fs.Bool("resume", false, "continue --csv: keep the runs FILE.partial (an interrupted bench) or else FILE already holds and run only the others; the file's settings and seed must be this bench's")
	jsonPath := fs.String("json", "", "write the summary table as JSON to this file")
	cfg := benchConfig{}
	addRunFlags(fs, &cfg.run)
	fs.Usage = func() {
		fmt.Fprint(stderr, benchUsage)
		fs.PrintDefaults()
	}
	if err := parseNoArgs(fs, args); err != nil {
		return cfg, err
	}
	var err error
	if cfg.dims, err = parseInts("--dims", *dims); err != nil {
		return cfg, err
	}
	if cfg.dimYs, err = parseInts("--dims-y", *dimYs); err != nil {
		return cfg, err
	}
	if d := slices.Max(cfg.dims); d > maxGMMDim {
		return cfg, usagef("--dims: %d is more than %d (the samplers hold dense d×d matrices)", d, maxGMMDim)
	}
	if d, m := slices.Min(cfg.dims), slices.Max(cfg.dimYs); m > d {
		return cfg, usagef("--dims-y %d is more than --dims %d: every pair (d, m) of the bench needs m ≤ d", m, d)
	}
	switch {
	case *problems < 1:
		return cfg, usagef("--problems %d: want at least 1", *problems)
	case *first < 0:
		return cfg, usagef("--first-problem %d is negative", *first)
	case *resume && *csvPath == "":
		return cfg, usagef("--resume continues the --csv file: give --csv")
	}
	cfg.first, cfg.problems, cfg.csvPath, cfg.jsonPath, cfg.resume = *first, *problems, *csvPath, *jsonPath, *resume
	cfg.names = append([]string{exactMethod}, guidance.Names()...)
	if *methods != "all" {
		cfg.names = splitMethodList(*methods)
	}
	if err := guidance.CheckDistinct(cfg.names); err != nil {
		return cfg, usagef("--methods: %v", err)
	}
	for _, n := range cfg.names {
		r := cfg.run
		r.Method = n
		if err := r.check(); err != nil {
			return cfg, err
		}
	}
	return cfg, nil
}

func runGMMBench(args []string, stdout, stderr io.Writer) (err error) {
	cfg, err := parseBenchFlags(args, stderr)
	if err != nil {
		return err
	}
	b, err := backend.New()
	if err != nil {
		return err
	}
	// The output files' folders are made (and checked) before the work.
	dirs, err := makeOutputFileDirs(cfg.csvPath, cfg.jsonPath)
	if err != nil {
		return err
	}
	defer dirs.undo(&err) // the command's error
	var out *benchCSV
	if cfg.csvPath != "" {
		claimer := &runs.Claimer{Worker: "cadps gmm bench"}
		defer stopOnSignal(claimer, "gmm bench", cfg.csvPath+" is free again; --resume continues it", stderr)()
		if out, err = openBenchCSV(cfg, claimer); err != nil {
			return err
		}
		defer out.close()
	}
	start := time.Now()
	rows, err := cfg.runAll(b, out, stderr)
	if err != nil {
		return err
	}
	if err := out.finish(); err != nil {
		return err
	}
	cells := summarise(rows, cfg.dims, cfg.dimYs, cfg.names)
	wall := time.Since(start)
	if cfg.jsonPath != "" {
		r := cfg.run
		doc := map[string]any{
			"command":      "cadps gmm bench " + strings.Join(args, " "),
			"wall_seconds": wall.Seconds(),
			"samples":      r.Samples, "steps": r.Steps, "scale": r.Scale,
			"projections": r.Projections, "schedule": r.Schedule, "var": r.VarType,
			"problems": cfg.problems, "first_problem": cfg.first, "cells": cells,
		}
		if err := atomicfile.WriteJSON(cfg.jsonPath, doc); err != nil {
			return err
		}
	}
	writeBenchTable(stdout, cells)
	fmt.Fprintf(stdout, "\nwall time %s\n", wall.Round(time.Second))
	return nil
}

// runAll runs every problem of every cell, writing each new run to out
// (nil: no CSV) and taking the runs out already holds from it. It returns
// the rows of the whole bench.
func (cfg benchConfig) runAll(b backends.Backend, out *benchCSV, stderr io.Writer) ([]benchRow, error) {
	var rows []benchRow
	for _, d := range cfg.dims {
		for _, m := range cfg.dimYs {
			for p := cfg.first; p < cfg.first+cfg.problems; p++ {
				r, err := cfg.runProblem(b, d, m, p, out, stderr)
				if err != nil {
					return nil, err
				}
				rows = append(rows, r...)
			}
		}
	}
	return rows, nil
}

// runProblem runs every method on problem p of cell (d, m), except those
// whose run out already holds.
func (cfg benchConfig) runProblem(b backends.Backend, d, m, p int, out *benchCSV, stderr io.Writer) ([]benchRow, error) {
	var rows []benchRow
	var todo []string
	for _, name := range cfg.names {
		if row, ok := out.done(d, m, p, name); ok {
			rows = append(rows, row)
		} else {
			todo = append(todo, name)
		}
	}
	if len(todo) == 0 {
		return rows, nil
	}
	seed := benchSeed(cfg.run.Seed, d, m, p)
	prob, err := gmm.Standard(d, m, seed)
	if err != nil {
		return nil, usagef("%v", err)
	}
	post, err := prob.Posterior()
	if err != nil {
		return nil, fmt.Errorf("problem d=%d m=%d #%d: %w", d, m, p, err)
	}
	r := cfg.run
	r.Seed = seed
	ref := post.Sample(r.Samples, rand.New(rand.NewPCG(seed, referenceStream)))
	for _, name := range todo {
		r.Method = name
		rep, _, err := evaluate(b, prob, post, ref, r)
		row := benchRow{gmmReport: rep, Problem: p}
		if err != nil {
			row.Error = err.Error()
		}
		rows = append(rows, row)
		fmt.Fprintf(stderr, "d=%d m=%d problem %d %-13s SW %.4g energy %.4g TV %.3f %.1fs %s\n",
			d, m, p, name, rep.SlicedWasserstein, rep.Energy, rep.WeightTV, rep.Seconds, row.Error)
		if err := out.write(row); err != nil {
			return nil, err
		}
	}
	return rows, nil
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
