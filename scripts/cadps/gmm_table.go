package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
)

// benchColumns is the header of the CSV that `cadps gmm bench --csv` writes.
var benchColumns = []string{"dim", "dim_y", "problem", "seed", "sigma_y", "method", "samples", "steps", "scale",
	"sliced_wasserstein", "energy_distance", "weight_tv", "seconds", "error"}

// runGMMTable is `cadps gmm table CSV...`: the summary table of one or more
// bench CSV files, for a bench split into parts run at once (by --dims or
// --dims-y) or resumed.
func runGMMTable(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("gmm table", "CSV...", stderr)
	jsonPath := fs.String("json", "", "write the summary table as JSON to this file")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: cadps gmm table [-json FILE] CSV...

Reads the runs of one or more `+"`cadps gmm bench --csv`"+` files and prints the
same Markdown summary table as the bench (mean ± std over problems per
dimension, measurement count and method, cells in increasing d and m,
methods in their first order of appearance). The files must agree on the
run settings (samples, steps, scale) and must not repeat a run.

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
	var rows []benchRow
	for _, p := range paths {
		r, err := readBenchCSV(p)
		if err != nil {
			return err
		}
		rows = append(rows, r...)
	}
	if err := checkBenchRows(rows); err != nil {
		return err
	}
	var ds, ms []int
	var names []string
	for _, r := range rows {
		if !slices.Contains(ds, r.Dim) {
			ds = append(ds, r.Dim)
		}
		if !slices.Contains(ms, r.DimY) {
			ms = append(ms, r.DimY)
		}
		if !slices.Contains(names, r.Method) {
			names = append(names, r.Method)
		}
	}
	slices.Sort(ds)
	slices.Sort(ms)
	var cells []benchCell
	for _, c := range summarise(rows, ds, ms, names) {
		if c.Runs > 0 {
			cells = append(cells, c)
		}
	}
	if *jsonPath != "" {
		doc := map[string]any{
			"command": "cadps gmm table " + strings.Join(args, " "),
			"sources": paths,
			"samples": rows[0].Samples, "steps": rows[0].Steps, "scale": rows[0].Scale,
			"cells": cells,
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
	return nil
}

// readBenchCSV reads the runs of a bench CSV file.
func readBenchCSV(path string) ([]benchRow, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if len(recs) == 0 || !slices.Equal(recs[0], benchColumns) {
		return nil, fmt.Errorf("%s: not a `cadps gmm bench --csv` file (want the header %s)", path, strings.Join(benchColumns, ","))
	}
	rows := make([]benchRow, 0, len(recs)-1)
	for i, rec := range recs[1:] {
		r, err := parseBenchRecord(rec)
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, i+2, err)
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// parseBenchRecord parses one CSV record in benchColumns order.
func parseBenchRecord(rec []string) (benchRow, error) {
	var r benchRow
	ints := []*int{&r.Dim, &r.DimY, &r.Problem}
	for i, p := range ints {
		v, err := strconv.Atoi(rec[i])
		if err != nil {
			return r, fmt.Errorf("column %s: %w", benchColumns[i], err)
		}
		*p = v
	}
	seed, err := strconv.ParseUint(rec[3], 10, 64)
	if err != nil {
		return r, fmt.Errorf("column seed: %w", err)
	}
	r.Seed = seed
	r.Method = rec[5]
	if r.Samples, err = strconv.Atoi(rec[6]); err != nil {
		return r, fmt.Errorf("column samples: %w", err)
	}
	if r.Steps, err = strconv.Atoi(rec[7]); err != nil {
		return r, fmt.Errorf("column steps: %w", err)
	}
	floats := map[int]*float64{4: &r.SigmaY, 8: &r.Scale, 9: &r.SlicedWasserstein, 10: &r.Energy, 11: &r.WeightTV, 12: &r.Seconds}
	for i, p := range floats {
		v, err := strconv.ParseFloat(rec[i], 64)
		if err != nil {
			return r, fmt.Errorf("column %s: %w", benchColumns[i], err)
		}
		*p = v
	}
	r.Error = rec[13]
	return r, nil
}

// checkBenchRows rejects runs of different settings and repeated runs: a
// table of them would average things that are not comparable, or count a
// problem twice.
func checkBenchRows(rows []benchRow) error {
	type key struct {
		dim, dimY, problem int
		method             string
	}
	seen := map[key]bool{}
	for _, r := range rows {
		if r.Samples != rows[0].Samples || r.Steps != rows[0].Steps || r.Scale != rows[0].Scale {
			return fmt.Errorf("runs with different settings: %d samples, %d steps, scale %g and %d, %d, %g",
				rows[0].Samples, rows[0].Steps, rows[0].Scale, r.Samples, r.Steps, r.Scale)
		}
		k := key{r.Dim, r.DimY, r.Problem, r.Method}
		if seen[k] {
			return fmt.Errorf("run d=%d m=%d problem %d %s appears twice", r.Dim, r.DimY, r.Problem, r.Method)
		}
		seen[k] = true
	}
	if len(rows) == 0 {
		return fmt.Errorf("no runs in the CSV files")
	}
	return nil
}
