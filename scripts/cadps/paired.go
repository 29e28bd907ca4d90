package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/cadps/toolkit/cadps/runs"
)

// pairedCommand is `cadps paired -base FOLDER:METHOD FOLDER:METHOD...`:
// methods of evaluation folders against a base, test image by test image.
func pairedCommand() command {
	return command{
		name:    "paired",
		summary: "paired differences between methods of evaluation folders, image by image",
		run:     runPaired,
	}
}

// pairedSide is one method of one evaluation folder.
type pairedSide struct {
	folder, method string
	rows           []runs.EvalRow
}

func runPaired(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("paired", "-base FOLDER:METHOD FOLDER:METHOD...", stderr)
	base := fs.String("base", "", "the base: an evaluation folder and one of its methods, FOLDER:METHOD (required)")
	metric := fs.String("metric", "psnr", "psnr, ssim or lpips (lower is better: its wins are the images where the other scores lower)")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: cadps paired -base FOLDER:METHOD FOLDER:METHOD...

Compares methods of cadps evaluate folders with a base method, test image
by test image: for every task of the base, a column per other method of
the mean difference other − base over the images both restored, its
standard error and the images where the other scores better (higher PSNR
or SSIM, lower LPIPS); "–" and why where the other has none of the task's
images. Tasks match however their parameters are ordered. The folders
must have restored the same measurements (the same data, tasks, batch and
seed): an image whose baselines differ is refused. FOLDER:METHOD splits at
the first ':' (METHOD is the method as results.csv names it, e.g. dps or
mmps:solver=gcr).

Flags:
`)
		fs.PrintDefaults()
	}
	others, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	switch {
	case *base == "":
		return usagef("-base FOLDER:METHOD is required")
	case len(others) == 0:
		return usagef("want at least one FOLDER:METHOD to compare with the base")
	case *metric != "psnr" && *metric != "ssim" && *metric != "lpips":
		return usagef("-metric %q: want psnr, ssim or lpips", *metric)
	}
	var sides []pairedSide
	for _, arg := range append([]string{*base}, others...) {
		folder, method, ok := strings.Cut(arg, ":")
		if !ok || folder == "" || method == "" {
			return usagef("%q: want FOLDER:METHOD, e.g. out/quality:dps", arg)
		}
		if err := refuseRepeatedSide(sides, folder, method); err != nil {
			return err
		}
		rows, err := runs.ReadEvalRows(filepath.Join(folder, runs.EvalResultsFile))
		if err != nil {
			return err
		}
		if len(rows) == 0 {
			return fmt.Errorf("%s holds no %s: is it a cadps evaluate folder?", folder, runs.EvalResultsFile)
		}
		sides = append(sides, pairedSide{folder, method, rows})
	}
	labels := pairedLabels(sides)
	var tasks []string // the base's, in its order
	cells := map[string][]string{}
	for k, s := range sides[1:] {
		pairs, err := runs.PairEvaluations(s.rows, s.method, sides[0].rows, sides[0].method)
		if err != nil {
			return fmt.Errorf("%s against %s: %w", labels[k+1], labels[0], err)
		}
		lpips := false
		for _, p := range pairs {
			if _, ok := cells[p.Task]; !ok {
				tasks = append(tasks, p.Task)
				cells[p.Task] = make([]string, len(sides)-1)
			}
			d := map[string]runs.EvalDifference{"psnr": p.PSNR, "ssim": p.SSIM, "lpips": p.LPIPS}[*metric]
			cells[p.Task][k] = d.String()
			lpips = lpips || p.LPIPS.Images > 0
		}
		if *metric == "lpips" && !lpips {
			return fmt.Errorf("%s against %s: no image has LPIPS recorded on both sides (cadps evaluate records it with -lpips)", labels[k+1], labels[0])
		}
	}
	better := "higher"
	if *metric == "lpips" {
		better = "lower, lower being better"
	}
	fmt.Fprintf(stdout, "%s, other − %s per test image (mean ± standard error; images where the other scores %s / images compared):\n\n",
		strings.ToUpper(*metric), labels[0], better)
	fmt.Fprint(stdout, "| task |")
	for _, l := range labels[1:] {
		fmt.Fprintf(stdout, " %s − %s |", l, labels[0])
	}
	fmt.Fprint(stdout, "\n|---|"+strings.Repeat("---|", len(sides)-1)+"\n")
	for _, task := range tasks {
		fmt.Fprintf(stdout, "| `%s` |", task)
		for _, c := range cells[task] {
			fmt.Fprintf(stdout, " %s |", c)
		}
		fmt.Fprintln(stdout)
	}
	return nil
}

// refuseRepeatedSide refuses a side (folder and method) that one of sides
// already names, as the base or as another side: a method compared with
// itself differs by 0 on every image.
func refuseRepeatedSide(sides []pairedSide, folder, method string) error {
	for i, s := range sides {
		if s.method != method {
			continue
		}
		same, err := samePath(s.folder, folder)
		if err != nil {
			return err
		}
		switch {
		case same && i == 0:
			return usagef("%s:%s is the base: compared with itself it differs by 0 on every image; give another method or folder", folder, method)
		case same:
			return usagef("%s:%s is given twice", folder, method)
		}
	}
	return nil
}

// pairedLabels names each side by its method, or by its folder's name and
// method where two sides share a method.
func pairedLabels(sides []pairedSide) []string {
	count := map[string]int{}
	for _, s := range sides {
		count[s.method]++
	}
	labels := make([]string, len(sides))
	for i, s := range sides {
		labels[i] = s.method
		if count[s.method] > 1 {
			labels[i] = filepath.Base(filepath.Clean(s.folder)) + ":" + s.method
		}
	}
	return labels
}
