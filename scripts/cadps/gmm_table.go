package main

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/cadps/toolkit/cadps/runs"
	"github.com/cadps/toolkit/internal/atomicfile"
)

// runGMMTable is `cadps gmm table CSV...`: the summary table of one or more
// bench CSV files, for a bench split into parts run at once (by --dims or
// --dims-y) or resumed.
func runGMMTable(args []string, stdout, stderr io.Writer) (err error) {
	fs := newFlagSet("gmm table", "CSV...", stderr)
	jsonPath := fs.String("json", "", "write the summary table as JSON to this file")
	force := addForceFlag(fs)
	paired := fs.String("paired", "", "BASE,OTHER: also print OTHER − BASE per problem (mean ± standard error, and on how many problems OTHER is closer), e.g. dps,cadps")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: cadps gmm table [-json FILE] [-paired BASE,OTHER] CSV...

Reads the runs of one or more `+"`cadps gmm bench --csv`"+` files and prints the
same Markdown summary table as the bench (mean ± std over problems per
dimension, measurement count and method, cells in increasing d and m,
methods in their first order of appearance). The files must agree on the
run settings (samples, steps, scale, and the projections, schedule and
variance where recorded) and the bench's --seed, and must not repeat a
run. With -paired it also compares two methods problem by problem
(same problem, same noise seed): the differences are far less spread than
the per-method means, whose spread is mostly between problems.

Flags:
`)
		fs.PrintDefaults()
	}
	paths, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(paths) == 0 {
		return usagef("want at least one CSV file (cadps gmm table CSV...)")
	}
	if *jsonPath == "" && *force {
		return usagef("-force replaces the -json file: give -json FILE too")
	}
	if err := checkNewFiles(*force, *jsonPath); err != nil {
		return err
	}
	var pair []string
	if *paired != "" {
		if pair = strings.Split(*paired, ","); len(pair) != 2 || pair[0] == "" || pair[1] == "" || pair[0] == pair[1] {
			return usagef("-paired %q: want two different methods, BASE,OTHER", *paired)
		}
	}
	t, err := runs.ReadMixtureTable(paths...)
	if err != nil {
		return err
	}
	// The comparison is made first, so that a method the files lack is
	// refused before anything is printed or written.
	var pairs []runs.MixturePair
	if pair != nil {
		if pairs, err = t.Paired(pair[0], pair[1]); err != nil {
			return fmt.Errorf("-paired: %w", err)
		}
	}
	if *jsonPath != "" {
		dir, derr := makeOutputFileDir(*jsonPath)
		if derr != nil {
			return derr
		}
		defer dir.undo(&err)
		doc := map[string]any{
			"command": "cadps gmm table " + strings.Join(args, " "),
			"sources": paths,
			"samples": t.Rows[0].Samples, "steps": t.Rows[0].Steps, "scale": t.Rows[0].Scale,
			"cells": t.Cells,
		}
		// CheckMixtureRows let through only runs that agree on these
		// settings, where recorded; CSV files written before they were
		// recorded lack them.
		if i := slices.IndexFunc(t.Rows, func(r runs.MixtureRow) bool { return r.Schedule != "" }); i >= 0 {
			r := t.Rows[i]
			doc["projections"], doc["schedule"], doc["var"] = r.Projections, r.Schedule, r.VarType
		}
		if err := atomicfile.WriteJSON(*jsonPath, doc); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "gmm table: wrote the table to %s\n", *jsonPath)
	}
	fmt.Fprint(stdout, runs.MixtureMarkdown(t.Cells))
	fmt.Fprint(stdout, runs.MixtureProvenance(t.Rows))
	if pair != nil {
		fmt.Fprint(stdout, "\n"+runs.PairedMixtureMarkdown(pair[0], pair[1], pairs))
	}
	return nil
}

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
