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

// TestEvalTableSources checks the line below table.md's table that counts
// the rows of each backend, backend configuration and build when the rows
// disagree on them (a folder resumed on another machine, with another
// GOMLX_BACKEND or by another build), and that there is none when they
// agree.
func TestEvalTableSources(t *testing.T) {
	st := EvalSettings{Tasks: []string{"sr:factor=2"}, Methods: []string{"dps"}}
	row := func(index int, backend, config, toolkit string) EvalRow {
		return EvalRow{Task: "sr:factor=2", Method: "dps", Index: index, PSNR: 20, SSIM: 0.5, BasePSNR: 15, BaseSSIM: 0.4,
			LPIPS: math.NaN(), Backend: backend, BackendConfig: config, Toolkit: toolkit}
	}
	tests := []struct {
		name string
		rows []EvalRow
		want string // the line; "" for none
	}{
		{"one source", []EvalRow{row(0, "cadps", "", "abc"), row(1, "cadps", "", "abc")}, ""},
		{"none recorded", []EvalRow{row(0, "", "", ""), row(1, "", "", "")}, ""},
		{"two configurations", []EvalRow{row(0, "xla", "xla:cuda", "abc"), row(1, "xla", "xla:cuda,tf32", "abc"), row(2, "xla", "xla:cuda", "abc")},
			"Rows from 2 backends or builds (results.csv's backend, backend_config and toolkit): " +
				"`xla`, GOMLX_BACKEND=`xla:cuda`, build `abc`: 2 rows; `xla`, GOMLX_BACKEND=`xla:cuda,tf32`, build `abc`: 1 row."},
		{"two builds", []EvalRow{row(0, "cadps", "", "abc"), row(1, "cadps", "", "def")},
			"Rows from 2 backends or builds (results.csv's backend, backend_config and toolkit): `cadps`, build `abc`: 1 row; `cadps`, build `def`: 1 row."},
		{"an earlier layout resumed", []EvalRow{row(0, "", "", ""), row(1, "", "", ""), row(2, "cadps", "", "")},
			"Rows from 2 backends or builds (results.csv's backend, backend_config and toolkit): not recorded: 2 rows; `cadps`: 1 row."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			table := EvalTable(st, tc.rows)
			has := strings.Contains(table, "Rows from")
			if tc.want == "" && has || tc.want != "" && !strings.Contains(table, "\n\n"+tc.want+"\n") {
				t.Errorf("table\n%s\nwant the line %q", table, tc.want)
			}
		})
	}
}
