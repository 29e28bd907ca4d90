package main

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/cadps/toolkit/internal/atomicfile"
)

// benchColumns is the header of the CSV that `cadps gmm bench --csv` writes.
var benchColumns = []string{"dim", "dim_y", "problem", "seed", "sigma_y", "method", "samples", "steps", "scale",
	"sliced_wasserstein", "energy_distance", "weight_tv", "seconds", "error", "method_revision"}

// legacyBenchColumns is the header of bench CSV files written before the
// method's revision was recorded.
var legacyBenchColumns = slices.Clip(benchColumns[:len(benchColumns)-1])

// runGMMTable is `cadps gmm table CSV...`: the summary table of one or more
// bench CSV files, for a bench split into parts run at once (by --dims or
// --dims-y) or resumed.
func runGMMTable(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("gmm table", "CSV...", stderr)
	jsonPath := fs.String("json", "", "write the summary table as JSON to this file")
	paired := fs.String("paired", "", "BASE,OTHER: also print OTHER − BASE per problem (mean ± standard error, and on how many problems OTHER is closer), e.g. dps,cadps")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: cadps gmm table [-json FILE] [-paired BASE,OTHER] CSV...

Reads the runs of one or more `+"`cadps gmm bench --csv`"+` files and prints the
same Markdown summary table as the bench (mean ± std over problems per
dimension, measurement count and method, cells in increasing d and m,
methods in their first order of appearance). The files must agree on the
run settings (samples, steps, scale) and must not repeat a run. With
-paired it also compares two methods problem by problem (same problem, same
noise seed): the differences are far less spread than the per-method
means, whose spread is mostly between problems.

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
	var pair []string
	if *paired != "" {
		if pair = strings.Split(*paired, ","); len(pair) != 2 || pair[0] == "" || pair[1] == "" || pair[0] == pair[1] {
			return usagef("-paired %q: want two different methods, BASE,OTHER", *paired)
		}
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
		if err := atomicfile.WriteJSON(*jsonPath, doc); err != nil {
			return err
		}
	}
	writeBenchTable(stdout, cells)
	if pair != nil {
		diffs, err := pairedDifferences(rows, ds, ms, pair[0], pair[1])
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "\n%s − %s per problem (mean ± standard error; problems where %s is closer / problems compared):\n\n", pair[1], pair[0], pair[1])
		fmt.Fprintln(stdout, "| d | m | Δ SW₂ | Δ energy | Δ weight TV |")
		fmt.Fprintln(stdout, "|---|---|---|---|---|")
		for _, d := range diffs {
			fmt.Fprintf(stdout, "| %d | %d | %s | %s | %s |\n", d.dim, d.dimY, d.sw, d.energy, d.tv)
		}
	}
	return nil
}

// pairedCell is one (d, m) row of a paired comparison, formatted.
type pairedCell struct {
	dim, dimY      int
	sw, energy, tv string
}

// pairedDifferences returns other − base per problem for each (d, m) where
// both ran without error on at least one problem.
func pairedDifferences(rows []benchRow, ds, ms []int, base, other string) ([]pairedCell, error) {
	type key struct{ dim, dimY, problem int }
	byMethod := map[string]map[key]benchRow{base: {}, other: {}}
	for _, r := range rows {
		if m, ok := byMethod[r.Method]; ok && r.Error == "" {
			m[key{r.Dim, r.DimY, r.Problem}] = r
		}
	}
	for _, name := range []string{base, other} {
		if len(byMethod[name]) == 0 {
			return nil, fmt.Errorf("-paired: no successful runs of %q in the CSV files", name)
		}
	}
	maxProblem := 0
	for _, r := range rows {
		maxProblem = max(maxProblem, r.Problem)
	}
	format := func(v []float64, better int) string {
		mean, std := meanStd(v)
		return fmt.Sprintf("%+.3g ± %.2g (%d/%d)", mean, std/math.Sqrt(float64(len(v))), better, len(v))
	}
	var out []pairedCell
	for _, d := range ds {
		for _, m := range ms {
			var sw, en, tv []float64
			var swBetter, enBetter, tvBetter int
			for p := range maxProblem + 1 { // in problem order, for reproducible sums
				k := key{d, m, p}
				b, okB := byMethod[base][k]
				o, okO := byMethod[other][k]
				if !okB || !okO {
					continue
				}
				sw, en, tv = append(sw, o.SlicedWasserstein-b.SlicedWasserstein), append(en, o.Energy-b.Energy), append(tv, o.WeightTV-b.WeightTV)
				swBetter += boolInt(o.SlicedWasserstein < b.SlicedWasserstein)
				enBetter += boolInt(o.Energy < b.Energy)
				tvBetter += boolInt(o.WeightTV < b.WeightTV)
			}
			if len(sw) > 0 {
				out = append(out, pairedCell{d, m, format(sw, swBetter), format(en, enBetter), format(tv, tvBetter)})
			}
		}
	}
	return out, nil
}

// boolInt is 1 for true.
func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// readBenchCSV reads the runs of a bench CSV file.
func readBenchCSV(path string) ([]benchRow, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseBenchCSV(path, data)
}

// parseBenchCSV parses the runs of the bench CSV file path holding data.
func parseBenchCSV(path string, data []byte) ([]benchRow, error) {
	recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if len(recs) == 0 || !slices.Equal(recs[0], benchColumns) && !slices.Equal(recs[0], legacyBenchColumns) {
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
	r.Revision = -1
	if len(rec) > 14 {
		if r.Revision, err = strconv.Atoi(rec[14]); err != nil {
			return r, fmt.Errorf("column method_revision: %w", err)
		}
	}
	return r, nil
}

// showRevision formats a method revision of a bench row.
func showRevision(r int) string {
	if r < 0 {
		return "one not recorded"
	}
	return "revision " + strconv.Itoa(r)
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
	revision := map[string]int{}
	for _, r := range rows {
		if was, ok := revision[r.Method]; !ok {
			revision[r.Method] = r.Revision
		} else if was != r.Revision {
			return fmt.Errorf("the %s runs come from two revisions of the method (%s and %s), whose results differ (guidance.Revision); table them apart",
				r.Method, showRevision(was), showRevision(r.Revision))
		}
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
