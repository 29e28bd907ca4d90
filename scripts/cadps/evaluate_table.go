package main

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// evalTable is the Markdown table: per task, the baseline and each method
// as mean ± standard deviation over the images done so far. A task whose
// measurement has no baseline (phase retrieval) shows "–" there.
func evalTable(st evalSettings, rows []evalRow) string {
	withLPIPS := slices.ContainsFunc(rows, func(r evalRow) bool { return !math.IsNaN(r.lpips) })
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
		n := 0
		for _, m := range st.Methods {
			var p, s, sec, lp []float64
			for _, r := range rows {
				if r.task != task || r.method != m {
					continue
				}
				p, s, sec = append(p, r.psnr), append(s, r.ssim), append(sec, r.secondsPerImage)
				if !math.IsNaN(r.lpips) {
					lp = append(lp, r.lpips)
				}
				if !seen[r.index] && !math.IsNaN(r.basePSNR) { // NaN: no baseline (phase retrieval)
					seen[r.index] = true
					base[0], base[1] = append(base[0], r.basePSNR), append(base[1], r.baseSSIM)
				}
			}
			n = max(n, len(p))
			cells = append(cells, formatMeanStd(p, 2), formatMeanStd(s, 3))
			if withLPIPS {
				cells = append(cells, formatMeanStd(lp, 4))
			}
			cells = append(cells, formatMeanStd(sec, 1))
		}
		fmt.Fprintf(&b, "| `%s` | %d | %s | %s | %s |\n", task, n, formatMeanStd(base[0], 2), formatMeanStd(base[1], 3), strings.Join(cells, " | "))
	}
	return b.String()
}

// formatMeanStd formats mean ± sample standard deviation with the given
// decimals, or "–" when v is empty.
func formatMeanStd(v []float64, decimals int) string {
	if len(v) == 0 {
		return "–"
	}
	mean, sd := meanStd(v)
	return fmt.Sprintf("%.*f ± %.*f", decimals, mean, decimals, sd)
}
