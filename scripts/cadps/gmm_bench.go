package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/cadps/runs"
	"github.com/cadps/toolkit/internal/atomicfile"
)

// benchConfig is what `cadps gmm bench` runs, and where its summary goes.
type benchConfig struct {
	bench    runs.MixtureBench
	jsonPath string
	// lease is the lease of the claim on the --csv file.
	lease leaseFlag
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
	methods := fs.String("methods", "all", "comma-separated method specs NAME[:key=value,...], or all (exact and every guidance method); a spec's own key=value options continue it: dps,tmpd:diagonal=hutchinson,probes=4,mmps; NAME exact or one of "+strings.Join(guidance.Names(), ", "))
	csvPath := fs.String("csv", "", "write every run as a CSV row to this file (to FILE.partial as the bench goes, renamed when it ends); an existing FILE is refused without --resume")
	resume := fs.Bool("resume", false, "continue --csv: keep the runs FILE.partial (an interrupted bench) or else FILE already holds and run only the others; the file's settings and seed must be this bench's")
	jsonPath := fs.String("json", "", "write the summary table as JSON to this file (an existing FILE is refused without --resume, which replaces it with the resumed bench's table)")
	cfg := benchConfig{lease: addLeaseFlag(fs)}
	mb := &cfg.bench
	addRunFlags(fs, &mb.Settings)
	fs.Usage = func() {
		fmt.Fprint(stderr, benchUsage)
		fs.PrintDefaults()
	}
	if err := parseFlagsOnly(fs, args); err != nil {
		return cfg, err
	}
	if err := cfg.lease.check(); err != nil {
		return cfg, err
	}
	var err error
	if mb.Dims, err = parseInts("--dims", *dims); err != nil {
		return cfg, err
	}
	if mb.DimYs, err = parseInts("--dims-y", *dimYs); err != nil {
		return cfg, err
	}
	if d := slices.Max(mb.Dims); d > maxGMMDim {
		return cfg, usagef("--dims: %d is more than %d (the samplers hold dense d×d matrices)", d, maxGMMDim)
	}
	if d, m := slices.Min(mb.Dims), slices.Max(mb.DimYs); m > d {
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
	if st, err := os.Stat(*jsonPath); *jsonPath != "" && !*resume && err == nil && !st.IsDir() {
		return cfg, fmt.Errorf("output file %s exists: remove it or choose another file (--resume replaces it with the resumed bench's table)", *jsonPath)
	}
	mb.First, mb.Problems, mb.CSV, mb.Resume, cfg.jsonPath = *first, *problems, *csvPath, *resume, *jsonPath
	mb.Methods = append([]string{exactMethod}, guidance.Names()...)
	if *methods != "all" {
		mb.Methods = splitMethodList(*methods)
	}
	if err := guidance.CheckDistinct(mb.Methods); err != nil {
		return cfg, usagef("--methods: %v", err)
	}
	for _, n := range mb.Methods {
		r := mb.Settings
		r.Method = n
		if err := checkGMMRun(r); err != nil {
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
	mb := cfg.bench
	mb.Log = stderr
	var outputs []output
	if mb.CSV != "" {
		mb.Claims = cfg.lease.claimer("cadps gmm bench")
		outputs = append(outputs, outputContinued(mb.CSV, "is free again; --resume continues it"))
	}
	if cfg.jsonPath != "" {
		outputs = append(outputs, outputFile(cfg.jsonPath))
	}
	sig := stopOnSignalOutputs(mb.Claims, "gmm bench", stderr, outputs...)
	defer sig.stop()
	// The output files' folders are made (and checked) before the work; a
	// bench that fails or is stopped leaves none it made that holds
	// nothing (a --csv file's folder holds its runs).
	dirs, err := sig.makeOutputFileDirs(mb.CSV, cfg.jsonPath)
	if err != nil {
		return err
	}
	defer dirs.undo(&err) // the command's error
	start := time.Now()
	rows, err := mb.Run(b)
	if err != nil {
		return err
	}
	// Cells in increasing d and m, as cadps gmm table gives them.
	cells := runs.SummariseMixture(rows, slices.Sorted(slices.Values(mb.Dims)), slices.Sorted(slices.Values(mb.DimYs)), mb.Methods)
	wall := time.Since(start)
	if cfg.jsonPath != "" {
		r := mb.Settings
		doc := map[string]any{
			"command":      "cadps gmm bench " + strings.Join(args, " "),
			"wall_seconds": wall.Seconds(),
			"samples":      r.Samples, "steps": r.Steps, "scale": r.Scale,
			"projections": r.Projections, "schedule": r.Schedule, "var": r.VarType,
			"problems": mb.Problems, "first_problem": mb.First, "cells": cells,
		}
		if err := sig.finish(func() error { return atomicfile.WriteJSON(cfg.jsonPath, doc) }); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "gmm bench: wrote the table to %s\n", cfg.jsonPath)
	}
	if mb.CSV != "" {
		fmt.Fprintf(stderr, "gmm bench: wrote %d runs to %s\n", len(rows), mb.CSV)
	}
	fmt.Fprint(stdout, runs.MixtureMarkdown(cells))
	fmt.Fprint(stdout, runs.MixtureProvenance(rows))
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
