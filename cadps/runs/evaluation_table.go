package runs

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/cadps/toolkit/cadps/imageio"
	"github.com/cadps/toolkit/cadps/restore"
	"github.com/cadps/toolkit/internal/num"
)

// EvalTable is the Markdown table: per task, the baseline and each method
// as mean ± standard deviation over the images done so far. The images
// column holds their number, or each method's ("dps 100; cadps 25") when
// the methods of the task have not done as many, as in a run stopped
// part-way: their means are then over different images. A task whose
// measurement has no baseline (phase retrieval) shows "–" there. With an
// LPIPS column, a line below the table names the LPIPS network and
// weights (st.LPIPS). When the rows disagree on the backend, its
// configuration or the build (a folder resumed elsewhere), a line below
// the table counts the rows of each (provenanceNote).
func EvalTable(st EvalSettings, rows []EvalRow) string {
	withLPIPS := slices.ContainsFunc(rows, func(r EvalRow) bool { return !math.IsNaN(r.LPIPS) })
	var b strings.Builder
	fmt.Fprintf(&b, "| task | images | baseline PSNR | baseline SSIM |")
	for _, m := range st.Methods {
		fmt.Fprintf(&b, " %s PSNR | %s SSIM |%s %s s/image |", m, m, cond(withLPIPS, " "+m+" LPIPS |"), m)
	}
	b.WriteString("\n|---|---|---|---|")
	for range st.Methods {
		b.WriteString("---|---|" + cond(withLPIPS, "---|") + "---|")
	}
	b.WriteString("\n")
	for _, task := range st.Tasks {
		var base [2][]float64
		seen := map[int]bool{}
		cells := make([]string, 0, 3*len(st.Methods))
		counts := make([]int, len(st.Methods))
		for k, m := range st.Methods {
			var p, s, sec, lp []float64
			for _, r := range rows {
				if r.Task != task || r.Method != m {
					continue
				}
				p, s, sec = append(p, r.PSNR), append(s, r.SSIM), append(sec, r.SecondsPerImage)
				if !math.IsNaN(r.LPIPS) {
					lp = append(lp, r.LPIPS)
				}
				if !seen[r.Index] && !math.IsNaN(r.BasePSNR) { // NaN: no baseline (phase retrieval)
					seen[r.Index] = true
					base[0], base[1] = append(base[0], r.BasePSNR), append(base[1], r.BaseSSIM)
				}
			}
			counts[k] = len(p)
			cells = append(cells, formatMeanStd(p, 2), formatMeanStd(s, 3))
			if withLPIPS {
				cells = append(cells, formatMeanStd(lp, 4))
			}
			cells = append(cells, formatMeanStd(sec, 1))
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", task, imageCounts(st.Methods, counts), formatMeanStd(base[0], 2), formatMeanStd(base[1], 3), strings.Join(cells, " | "))
	}
	if withLPIPS {
		fmt.Fprintf(&b, "\nLPIPS (lower is closer) with %s.\n", MetricSources{LPIPS: st.LPIPS}.lpipsNote())
	}
	sources := make([]source, len(rows))
	for i, r := range rows {
		sources[i] = source{r.Backend, r.BackendConfig, r.Toolkit}
	}
	b.WriteString(provenanceNote(sources, "results.csv's backend, backend_config and toolkit"))
	return b.String()
}

// source is where a row was computed: the backend, its configuration
// (GOMLX_BACKEND) and the toolkit's build, as the row records them ("" when
// it does not).
type source struct{ backend, config, toolkit string }

// provenanceNote is the line below a table when its rows come from more
// than one source, each with its number of rows in the order of its first
// row; "" when they all agree. columns names where the rows record their
// source ("results.csv's backend, backend_config and toolkit").
func provenanceNote(sources []source, columns string) string {
	count := map[source]int{}
	var order []source
	for _, s := range sources {
		if count[s] == 0 {
			order = append(order, s)
		}
		count[s]++
	}
	if len(order) < 2 {
		return ""
	}
	each := make([]string, len(order))
	for k, s := range order {
		var d []string
		if s.backend != "" {
			d = append(d, "`"+s.backend+"`")
		}
		if s.config != "" {
			d = append(d, "GOMLX_BACKEND=`"+s.config+"`")
		}
		if s.toolkit != "" {
			d = append(d, "build `"+s.toolkit+"`")
		}
		if len(d) == 0 {
			d = append(d, "not recorded")
		}
		each[k] = fmt.Sprintf("%s: %d row%s", strings.Join(d, ", "), count[s], cond(count[s] != 1, "s"))
	}
	return fmt.Sprintf("\nRows from %d backends or builds (%s): %s.\n", len(order), columns, strings.Join(each, "; "))
}

// imageCounts formats the images column of a task: the number of images
// its methods have done when they all have as many, else each method's.
func imageCounts(methods []string, counts []int) string {
	if len(counts) == 0 {
		return "0"
	}
	if !slices.ContainsFunc(counts, func(n int) bool { return n != counts[0] }) {
		return strconv.Itoa(counts[0])
	}
	each := make([]string, len(methods))
	for k, m := range methods {
		each[k] = fmt.Sprintf("%s %d", m, counts[k])
	}
	return strings.Join(each, "; ")
}

// formatMeanStd formats mean ± sample standard deviation with the given
// decimals, or "–" when v is empty.
func formatMeanStd(v []float64, decimals int) string {
	if len(v) == 0 {
		return "–"
	}
	mean, sd := num.MeanStd(v)
	return fmt.Sprintf("%.*f ± %.*f", decimals, mean, decimals, sd)
}

// EvalLabel turns a task spec into a file-name-safe label.
func EvalLabel(spec string) string {
	return strings.NewReplacer(":", "_", ",", "_", "=", "", "/", "_", " ", "").Replace(spec)
}

// saveEvalImages keeps one test image's truth, measurement, baseline and
// reconstruction as images/<task>/{truth,measurement,baseline,<method>}-<index>.png
// (task and method specs with their ':', ',' and '=' replaced).
func saveEvalImages(out, task, method string, index int, it restore.BatchItem) error {
	dir := filepath.Join(out, EvalImagesDir, EvalLabel(task))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	files := map[string]*imageio.Image{"truth": it.Truth, "measurement": it.Measurement, "baseline": it.Baseline, method: it.Reconstruction}
	for name, im := range files {
		if im == nil {
			continue
		}
		if err := imageio.Save(filepath.Join(dir, fmt.Sprintf("%s-%05d.png", EvalLabel(name), index)), im); err != nil {
			return err
		}
	}
	return nil
}

// writeEvalGrids writes images/<task>.png for every task: one row per kept
// test image, with the truth, the measurement, the baseline (when the task
// has one) and each method's reconstruction.
func writeEvalGrids(out string, st EvalSettings) error {
	if st.Keep == 0 {
		return nil
	}
	cols := append([]string{"truth", "measurement", "baseline"}, st.Methods...)
	for _, task := range st.Tasks {
		dir := filepath.Join(out, EvalImagesDir, EvalLabel(task))
		var rows [][]*imageio.Image
		found := false
		for k := st.Offset; k < st.Offset+min(st.Keep, st.Count); k++ {
			row := make([]*imageio.Image, len(cols))
			for c, name := range cols {
				im, err := imageio.Load(filepath.Join(dir, fmt.Sprintf("%s-%05d.png", EvalLabel(name), k)))
				if err != nil && !errors.Is(err, fs.ErrNotExist) {
					return err
				}
				row[c], found = im, found || im != nil
			}
			rows = append(rows, row)
		}
		if !found { // nothing kept yet for this task
			continue
		}
		if b := slices.Index(cols, "baseline"); !slices.ContainsFunc(rows, func(r []*imageio.Image) bool { return r[b] != nil }) {
			for k := range rows { // no baseline (phase retrieval): no empty column
				rows[k] = slices.Delete(rows[k], b, b+1)
			}
		}
		grid, err := imageio.Grid(rows, 2)
		if err != nil {
			return err
		}
		if grid, err = imageio.Upsample(grid, 2); err != nil {
			return err
		}
		if err := imageio.Save(filepath.Join(out, EvalImagesDir, EvalLabel(task)+".png"), grid); err != nil {
			return err
		}
	}
	return nil
}

// cond returns s when ok, else "".
func cond(ok bool, s string) string {
	if ok {
		return s
	}
	return ""
}
