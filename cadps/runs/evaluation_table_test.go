package runs

import (
	"math"
	"strings"
	"testing"
)

// TestEvalTableImageCounts checks the images column of table.md: one count
// when every method of a task has as many rows, and each method's count
// when they differ (a run stopped part-way, or a method added to a
// finished folder), so that means over different images are not read as
// means over the same ones.
func TestEvalTableImageCounts(t *testing.T) {
	st := EvalSettings{Tasks: []string{"sr:factor=2"}, Methods: []string{"dps", "cadps"}}
	rows := func(counts map[string]int) []EvalRow {
		var rs []EvalRow
		for _, m := range st.Methods {
			for i := range counts[m] {
				rs = append(rs, EvalRow{Task: "sr:factor=2", Method: m, Index: i, PSNR: 20, SSIM: 0.5,
					BasePSNR: 15, BaseSSIM: 0.4, LPIPS: math.NaN()})
			}
		}
		return rs
	}
	tests := []struct {
		name   string
		counts map[string]int
		cell   string
	}{
		{"equal", map[string]int{"dps": 4, "cadps": 4}, "| `sr:factor=2` | 4 |"},
		{"second behind", map[string]int{"dps": 4, "cadps": 2}, "| `sr:factor=2` | dps 4; cadps 2 |"},
		{"first behind", map[string]int{"dps": 1, "cadps": 3}, "| `sr:factor=2` | dps 1; cadps 3 |"},
		{"one not started", map[string]int{"dps": 2}, "| `sr:factor=2` | dps 2; cadps 0 |"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			table := EvalTable(st, rows(tc.counts))
			if !strings.Contains(table, tc.cell) {
				t.Errorf("table lacks %q:\n%s", tc.cell, table)
			}
		})
	}
}
