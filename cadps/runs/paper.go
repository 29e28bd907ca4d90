package runs

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// PaperMarkdown renders a reproduction's results in the papers' layout: one
// row per task and, for each method, the means of LPIPS, FID, PSNR and SSIM
// over its finished items. The images column holds their number, or each
// method's ("dps 100; cadps 25") when the task's methods have not finished
// as many, as EvalTable gives it: their values are then over different
// images. Tasks and methods come in the order of
// taskOrder and methodOrder (the reproduction's), any others after them in
// the rows' order; fids may be nil (no FID). A value that was not measured
// reads "–". A line after the table names the LPIPS network and weights
// and the FID features and Inception weights (src).
func PaperMarkdown(rows []TableRow, fids []FIDRow, src MetricSources, taskOrder, methodOrder []string) string {
	var tasks, methods []string
	byKey := map[[2]string]TableRow{}
	for _, r := range rows {
		if !slices.Contains(tasks, r.Task) {
			tasks = append(tasks, r.Task)
		}
		if !slices.Contains(methods, r.Method) {
			methods = append(methods, r.Method)
		}
		byKey[[2]string{r.Task, r.Method}] = r
	}
	inOrder(tasks, taskOrder)
	inOrder(methods, methodOrder)
	fidOf := map[[2]string]float64{}
	for _, f := range fids {
		fidOf[[2]string{f.Task, f.Method}] = f.FID
	}
	var b strings.Builder
	b.WriteString("| task | images |")
	for _, m := range methods {
		fmt.Fprintf(&b, " %[1]s LPIPS ↓ | %[1]s FID ↓ | %[1]s PSNR ↑ | %[1]s SSIM ↑ |", m)
	}
	b.WriteString("\n|---|---:|" + strings.Repeat("---:|", 4*len(methods)) + "\n")
	for _, t := range tasks {
		counts := make([]int, len(methods))
		for k, m := range methods {
			counts[k] = byKey[[2]string{t, m}].N
		}
		fmt.Fprintf(&b, "| %s | %s |", t, imageCounts(methods, counts))
		for _, m := range methods {
			r, ok := byKey[[2]string{t, m}]
			lp, fd, ps, ss := math.NaN(), math.NaN(), math.NaN(), math.NaN()
			if ok && r.N > 0 {
				ps, ss = r.PSNR, r.SSIM
				if r.LPIPSN > 0 {
					lp = r.LPIPS
				}
			}
			if v, ok := fidOf[[2]string{t, m}]; ok {
				fd = v
			}
			fmt.Fprintf(&b, " %s | %s | %s | %s |", cell(lp, 3), cell(fd, 2), cell(ps, 2), cell(ss, 3))
		}
		b.WriteString("\n")
	}
	lp, fd := "not measured", "not computed"
	if slices.ContainsFunc(rows, func(r TableRow) bool { return r.LPIPSN > 0 }) {
		lp = src.lpipsNote()
	}
	if fids != nil {
		fd = src.fidNote()
	}
	fmt.Fprintf(&b, "\nLPIPS: %s. FID: %s.\n", lp, fd)
	return b.String()
}

// inOrder sorts names stably by their position in order; names not in
// order keep their order after those that are.
func inOrder(names, order []string) {
	pos := func(n string) int {
		if i := slices.Index(order, n); i >= 0 {
			return i
		}
		return len(order)
	}
	slices.SortStableFunc(names, func(a, b string) int { return pos(a) - pos(b) })
}

// cell formats v with the given decimals, or "–" for NaN.
func cell(v float64, decimals int) string {
	if math.IsNaN(v) {
		return "–"
	}
	return fmt.Sprintf("%.*f", decimals, v)
}
