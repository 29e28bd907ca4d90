package main

import (
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cadps/toolkit/internal/num"
)

// imageScore is one restored image's row of a results.csv.
type imageScore struct {
	psnr, ssim, baselinePSNR, baselineSSIM float64
}

// readScores returns a results.csv's rows keyed by task, method and
// "batch/index".
func readScores(t *testing.T, path string) map[string]map[string]map[string]imageScore {
	t.Helper()
	rows := readCSV(t, path)
	if len(rows) < 2 {
		t.Fatalf("%s: no records", path)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	num := func(r []string, name string) float64 {
		v, err := strconv.ParseFloat(r[col[name]], 64)
		if err != nil {
			t.Fatalf("%s: %s: %v", path, name, err)
		}
		return v
	}
	out := map[string]map[string]map[string]imageScore{}
	for _, r := range rows[1:] {
		task, method := r[col["task"]], r[col["method"]]
		if out[task] == nil {
			out[task] = map[string]map[string]imageScore{}
		}
		if out[task][method] == nil {
			out[task][method] = map[string]imageScore{}
		}
		out[task][method][r[col["batch"]]+"/"+r[col["index"]]] = imageScore{
			num(r, "psnr"), num(r, "ssim"), num(r, "baseline_psnr"), num(r, "baseline_ssim")}
	}
	return out
}

// TestDocumentedImageTables checks the tables of docs/results.md's "DDRM,
// DiffPIR and DAPS at 50 steps" against the records they come from: each
// cell's PSNR mean ± standard deviation and mean SSIM over the images, the
// baseline, and the paired differences (mean ± standard error, wins), with
// every image's baseline the same in both folders (to 1e-4 in PSNR and
// SSIM: the baseline is recomputed from the same measurement).
func TestDocumentedImageTables(t *testing.T) {
	root := filepath.Join("..", "..")
	text, err := os.ReadFile(filepath.Join(root, "docs", "results.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(text), "### DDRM, DiffPIR and DAPS at 50 steps\n")
	if !ok {
		t.Fatal(`docs/results.md has no "DDRM, DiffPIR and DAPS at 50 steps" section`)
	}
	section, _, _ = strings.Cut(section, "\n### ")
	scores := readScores(t, filepath.Join(root, "docs", "small-prior-quality", "results.csv"))
	for task, methods := range readScores(t, filepath.Join(root, "docs", "small-prior-quality-ddrm-diffpir-daps", "results.csv")) {
		for m, s := range methods {
			if scores[task] == nil {
				t.Fatalf("task %s has no DPS records", task)
			}
			scores[task][m] = s
		}
	}
	method := func(heading string) string { return strings.ToLower(strings.ReplaceAll(heading, "-", "")) }
	var header []string
	checked := 0
	for _, line := range strings.Split(section, "\n") {
		cells := tableCells(line)
		switch {
		case cells == nil:
			header = nil
		case cells[0] == "task":
			header = cells
		case header == nil || strings.HasPrefix(cells[0], "---"):
		default:
			task := strings.Trim(cells[0], "`")
			byMethod := scores[task]
			if byMethod == nil {
				t.Errorf("%q: no records of task %s", line, task)
				continue
			}
			for k := 1; k < len(header); k++ {
				want, got := cells[k], ""
				switch first, second, isPair := strings.Cut(header[k], " − "); {
				case header[k] == "images":
					got = strconv.Itoa(len(byMethod["dps"]))
				case header[k] == "baseline":
					var p, s []float64
					for _, key := range slices.Sorted(maps.Keys(byMethod["dps"])) {
						r := byMethod["dps"][key]
						p, s = append(p, r.baselinePSNR), append(s, r.baselineSSIM)
						for m, rs := range byMethod {
							if o, ok := rs[key]; ok && (math.Abs(o.baselinePSNR-r.baselinePSNR) > 1e-4 || math.Abs(o.baselineSSIM-r.baselineSSIM) > 1e-4) {
								t.Errorf("%s, image %s: %s's baseline differs from DPS's: not the same measurement", task, key, m)
							}
						}
					}
					mp, _ := num.MeanStd(p)
					ms, _ := num.MeanStd(s)
					got = fmt.Sprintf("%.2f (%.3f)", mp, ms)
				case isPair:
					a, b := byMethod[method(first)], byMethod[method(second)]
					var d []float64
					wins := 0
					for _, key := range slices.Sorted(maps.Keys(a)) {
						ra := a[key]
						if rb, ok := b[key]; ok {
							d = append(d, ra.psnr-rb.psnr)
							if ra.psnr > rb.psnr {
								wins++
							}
						}
					}
					mean, std := num.MeanStd(d)
					got = fmt.Sprintf("%+.2f ± %.2f (%d/%d)", mean, std/math.Sqrt(float64(len(d))), wins, len(d)) // as cadps paired prints it
				default:
					var p, s []float64
					rs := byMethod[method(header[k])]
					for _, key := range slices.Sorted(maps.Keys(rs)) {
						p, s = append(p, rs[key].psnr), append(s, rs[key].ssim)
					}
					if len(p) < 2 {
						t.Errorf("%s: %s has %d records", task, header[k], len(p))
						continue
					}
					mp, sp := num.MeanStd(p)
					ms, _ := num.MeanStd(s)
					got = fmt.Sprintf("%.2f ± %.2f (%.3f)", mp, sp, ms)
				}
				checked++
				if got != want {
					t.Errorf("%s, %s: the page says %q, the records give %q", task, header[k], want, got)
				}
			}
		}
	}
	if checked < 2*3*6 {
		t.Errorf("checked %d cells, want the two tables' 3 rows of at least 6 cells", checked)
	}
}
