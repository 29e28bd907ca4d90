package runs

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// mixtureHeader is the header line of a bench CSV file.
const mixtureHeader = "dim,dim_y,problem,seed,sigma_y,method,samples,steps,scale,sliced_wasserstein,energy_distance,weight_tv,seconds,error,method_revision,projections,schedule,var,backend,backend_config,toolkit\n"

// mixtureRow returns a successful run of method on problem p of (d, m) with
// 100 samples, 10 steps and scale 1, and the distances sw, energy and tv.
func mixtureRow(d, m, p int, method string, sw, energy, tv float64) MixtureRow {
	return MixtureRow{Problem: p, MixtureReport: MixtureReport{Method: method, Dim: d, DimY: m, Seed: MixtureSeed(0, d, m, p),
		Samples: 100, Steps: 10, Scale: 1, SlicedWasserstein: sw, Energy: energy, WeightTV: tv, Seconds: 0.5}}
}

// TestReadMixtureCSV reads bench files of both layouts and refuses broken
// ones, naming the file (and the line).
func TestReadMixtureCSV(t *testing.T) {
	settingsHeader := strings.TrimSuffix(mixtureHeader, ",backend,backend_config,toolkit\n") + "\n"
	revisionHeader := strings.TrimSuffix(settingsHeader, ",projections,schedule,var\n") + "\n"
	legacyHeader := strings.TrimSuffix(revisionHeader, ",method_revision\n") + "\n"
	for _, tc := range []struct {
		name     string
		data     string
		revision int  // of the one row read
		settings bool // whether its projections, schedule and variance are recorded
		source   bool // whether its backend and build are recorded
		want     string
	}{
		{"current", mixtureHeader + "8,1,3,80160,0.05,tmpd,100,10,1,1.5,2.25,0.125,0.5,,2,1000,linear,fixed_small,cadps/avx2,cadps:parallelism=2,v1.2.0\n", 2, true, true, ""},
		{"settings", settingsHeader + "8,1,3,80160,0.05,tmpd,100,10,1,1.5,2.25,0.125,0.5,,2,1000,linear,fixed_small\n", 2, true, false, ""},
		{"revision", revisionHeader + "8,1,3,80160,0.05,tmpd,100,10,1,1.5,2.25,0.125,0.5,,2\n", 2, false, false, ""},
		{"legacy", legacyHeader + "8,1,3,80160,0.05,tmpd,100,10,1,1.5,2.25,0.125,0.5,\n", -1, false, false, ""},
		{"bad projections", settingsHeader + "8,1,3,80160,0.05,tmpd,100,10,1,1.5,2.25,0.125,0.5,,2,p,linear,fixed_small\n", 0, false, false, "line 2: column projections"},
		{"foreign", "a,b\n1,2\n", 0, false, false, "not a `cadps gmm bench --csv` file"},
		{"empty", "", 0, false, false, "not a `cadps gmm bench --csv` file"},
		{"bad dim", revisionHeader + "x,1,3,80160,0.05,tmpd,100,10,1,1.5,2.25,0.125,0.5,,2\n", 0, false, false, "line 2: column dim"},
		{"bad seed", revisionHeader + "8,1,3,-1,0.05,tmpd,100,10,1,1.5,2.25,0.125,0.5,,2\n", 0, false, false, "line 2: column seed"},
		{"bad distance", revisionHeader + "8,1,3,80160,0.05,tmpd,100,10,1,1.5,e,0.125,0.5,,2\n", 0, false, false, "line 2: column energy_distance"},
		{"bad revision", revisionHeader + "8,1,3,80160,0.05,tmpd,100,10,1,1.5,2.25,0.125,0.5,,r\n", 0, false, false, "line 2: column method_revision"},
		{"short row", mixtureHeader + "8,1,3\n", 0, false, false, "wrong number of fields"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bench.csv")
			if err := os.WriteFile(path, []byte(tc.data), 0o644); err != nil {
				t.Fatal(err)
			}
			rows, err := ReadMixtureCSV(path)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
					t.Errorf("error %v, want one naming %s and %q", err, path, tc.want)
				}
				return
			}
			want := mixtureRow(8, 1, 3, "tmpd", 1.5, 2.25, 0.125)
			want.SigmaY, want.Revision = 0.05, tc.revision
			if tc.settings {
				want.Projections, want.Schedule, want.VarType = 1000, "linear", "fixed_small"
			}
			if tc.source {
				want.Backend, want.BackendConfig, want.Toolkit = "cadps/avx2", "cadps:parallelism=2", "v1.2.0"
			}
			if err != nil || len(rows) != 1 || rows[0] != want {
				t.Errorf("rows %+v (%v), want %+v", rows, err, want)
			}
		})
	}
	if _, err := ReadMixtureCSV(filepath.Join(t.TempDir(), "missing.csv")); err == nil || !strings.Contains(err.Error(), "missing.csv") {
		t.Errorf("missing file: error %v", err)
	}
}

// TestMixtureRecordRoundTrip: a row written as a CSV record reads back as
// itself (to the CSV's six significant digits), errors with commas included.
func TestMixtureRecordRoundTrip(t *testing.T) {
	r := mixtureRow(80, 4, 17, "tmpd:diagonal=hutchinson,probes=4", 0.123456, 7, 0.5)
	r.Error, r.Revision, r.SigmaY = `gmm: diverged, "NaN" at step 3`, 2, 0.05
	r.Projections, r.Schedule, r.VarType = 1000, "cosine", "fixed_large"
	r.Backend, r.BackendConfig, r.Toolkit = "xla", "xla:/opt/pjrt, cuda.so", "v0.3.0-dirty"
	rec := mixtureRecord(r)
	if len(rec) != len(mixtureColumns) {
		t.Fatalf("%d fields, want %d", len(rec), len(mixtureColumns))
	}
	got, err := parseMixtureRecord(rec)
	if err != nil || got != r {
		t.Errorf("read back %+v (%v), want %+v", got, err, r)
	}
	if s := formatFloat(1.0 / 3); s != "0.333333" {
		t.Errorf("formatFloat(1/3) = %q, want 0.333333", s)
	}
}

// withSettings returns copies of rows whose projections, schedule and
// variance are recorded as 1000, linear and fixed_small unless set.
func withSettings(rows []MixtureRow) []MixtureRow {
	out := slices.Clone(rows)
	for i := range out {
		if out[i].Projections == 0 {
			out[i].Projections = 1000
		}
		if out[i].Schedule == "" {
			out[i].Schedule = "linear"
		}
		if out[i].VarType == "" {
			out[i].VarType = "fixed_small"
		}
	}
	return out
}

// withSeed returns r as a run of the bench of seed base.
func withSeed(r MixtureRow, base uint64) MixtureRow {
	r.Seed = MixtureSeed(base, r.Dim, r.DimY, r.Problem)
	return r
}

// TestCheckMixtureRows refuses what a table must not join.
func TestCheckMixtureRows(t *testing.T) {
	ok := []MixtureRow{mixtureRow(8, 1, 0, "dps", 1, 1, 0.1), mixtureRow(8, 1, 1, "dps", 1, 1, 0.1), mixtureRow(8, 1, 0, ExactMethod, 1, 1, 0.1)}
	edit := func(i int, f func(*MixtureRow)) []MixtureRow {
		rows := append([]MixtureRow(nil), ok...)
		f(&rows[i])
		return rows
	}
	for _, tc := range []struct {
		name string
		rows []MixtureRow
		want string // "" for none
	}{
		{"comparable", ok, ""},
		{"none", nil, "no runs in the CSV files"},
		{"repeated", append(ok, ok[1]), "run d=8 m=1 problem 1 dps appears twice"},
		{"other steps", edit(2, func(r *MixtureRow) { r.Steps = 20 }), "runs with different settings: 100 samples, 10 steps, scale 1 and 100, 20, 1"},
		{"other scale", edit(1, func(r *MixtureRow) { r.Scale = 0.5 }), "runs with different settings"},
		{"two revisions", edit(1, func(r *MixtureRow) { r.Revision = -1 }), "the dps runs come from two revisions of the method (revision 0 and an unrecorded revision)"},
		{"other projections", withSettings(edit(1, func(r *MixtureRow) { r.Projections = 10 })),
			"runs with different settings: 1000 projections, the linear schedule and the fixed_small variance and 10, linear and fixed_small"},
		{"other variance", withSettings(edit(2, func(r *MixtureRow) { r.VarType = "fixed_large" })), "the fixed_small variance and 1000, linear and fixed_large"},
		{"other schedule", withSettings(edit(0, func(r *MixtureRow) { r.Schedule = "cosine" })), "the cosine schedule"},
		{"unrecorded settings beside recorded ones", append(withSettings(ok[:2]), ok[2]), ""},
		{"other bench seed", edit(2, func(r *MixtureRow) { r.Seed = MixtureSeed(1, 8, 1, 0) }), "runs of benches with different seeds: d=8 m=1 problem 0 dps has seed 80157, d=8 m=1 problem 0 exact seed 1080160"},
		{"other bench seed, first row", edit(0, func(r *MixtureRow) { r.Seed = MixtureSeed(7, 8, 1, 0) }), "runs of benches with different seeds"},
		{"one bench seed but 0", []MixtureRow{withSeed(mixtureRow(8, 1, 0, "dps", 1, 1, 0.1), 5), withSeed(mixtureRow(80, 4, 3, "dps", 1, 1, 0.1), 5)}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckMixtureRows(tc.rows)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}

// TestMixtureTable checks the cells of a table (increasing d and m,
// methods in their first order, failures counted and not averaged, cells
// without runs left out) and its Markdown.
func TestMixtureTable(t *testing.T) {
	failed := mixtureRow(80, 1, 1, "dps", 99, 99, 0.9)
	failed.Error = "diverged"
	rows := []MixtureRow{
		mixtureRow(80, 1, 0, "dps", 2, 3, 0.2), failed,
		mixtureRow(8, 2, 0, ExactMethod, 1, 0, 0.1), mixtureRow(8, 2, 0, "dps", 1, 5, 0.3), mixtureRow(8, 2, 1, "dps", 3, 7, 0.5),
	}
	tab, err := NewMixtureTable(rows)
	if err != nil {
		t.Fatal(err)
	}
	if len(tab.Dims) != 2 || tab.Dims[0] != 8 || tab.Dims[1] != 80 || len(tab.Methods) != 2 || tab.Methods[0] != "dps" {
		t.Errorf("dims %v, methods %v, want [8 80] and [dps exact]", tab.Dims, tab.Methods)
	}
	want := []MixtureCell{
		{Dim: 8, DimY: 2, Method: "dps", Runs: 2, SWMean: 2, SWStd: math.Sqrt2, EMean: 6, EStd: math.Sqrt2, TVMean: 0.4, TVStd: math.Sqrt(0.02), Seconds: 0.5},
		{Dim: 8, DimY: 2, Method: ExactMethod, Runs: 1, SWMean: 1, EMean: 0, TVMean: 0.1, Seconds: 0.5},
		{Dim: 80, DimY: 1, Method: "dps", Runs: 2, Failures: 1, SWMean: 2, EMean: 3, TVMean: 0.2, Seconds: 0.5},
	}
	if len(tab.Cells) != len(want) {
		t.Fatalf("cells %+v, want %+v", tab.Cells, want)
	}
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-12 }
	for i, c := range tab.Cells {
		w := want[i]
		if c.Dim != w.Dim || c.DimY != w.DimY || c.Method != w.Method || c.Runs != w.Runs || c.Failures != w.Failures ||
			!near(c.SWMean, w.SWMean) || !near(c.SWStd, w.SWStd) || !near(c.EMean, w.EMean) || !near(c.EStd, w.EStd) ||
			!near(c.TVMean, w.TVMean) || !near(c.TVStd, w.TVStd) || !near(c.Seconds, w.Seconds) {
			t.Errorf("cell %d: %+v, want %+v", i, c, w)
		}
	}
	// A cell of failures alone: no means (NaN, printed as such for the
	// seconds), and the bench's order kept.
	cells := SummariseMixture([]MixtureRow{failed}, []int{80}, []int{1}, []string{ExactMethod, "dps"})
	if len(cells) != 2 || cells[0].Runs != 0 || cells[1].Failures != 1 || !math.IsNaN(cells[1].SWMean) {
		t.Errorf("cells of a failure %+v", cells)
	}
	wantMD := "| d | m | method | SW₂ | energy | weight TV | s/run | failed |\n" +
		"|---|---|---|---|---|---|---|---|\n" +
		"| 8 | 2 | dps | 2 ± 1.4 | 6 ± 1.4 | 0.4 ± 0.14 | 0.50 | 0/2 |\n" +
		"| 80 | 1 | dps | — | — | — | NaN | 1/1 |\n"
	md := MixtureMarkdown([]MixtureCell{tab.Cells[0], cells[1]})
	if md != wantMD {
		t.Errorf("Markdown\n%s\nwant\n%s", md, wantMD)
	}
}

// TestMixtureCellJSON: a cell none of whose runs succeeded has NaN means,
// which JSON cannot hold: they are written as null (the bench's and the
// table's JSON file failed to be written) and read back as NaN; other
// cells keep their numbers.
func TestMixtureCellJSON(t *testing.T) {
	failed := mixtureRow(8, 1, 0, "dps", 0, 0, 0)
	failed.Error = "diverged"
	rows := []MixtureRow{mixtureRow(8, 1, 0, ExactMethod, 0.5, -0.01, 0.02), failed}
	cells := SummariseMixture(rows, []int{8}, []int{1}, []string{ExactMethod, "dps"})
	for _, tc := range []struct {
		cell MixtureCell
		want string // in its JSON
	}{
		{cells[0], `"sw_mean":0.5,"sw_std":0,"energy_mean":-0.01,`},
		{cells[1], `"failures":1,"sw_mean":null,"sw_std":null,"energy_mean":null,"energy_std":null,"weight_tv_mean":null,"weight_tv_std":null,"seconds_mean":null}`},
	} {
		data, err := json.Marshal(tc.cell)
		if err != nil {
			t.Fatalf("cell %+v: %v", tc.cell, err)
		}
		if !strings.Contains(string(data), tc.want) {
			t.Errorf("cell %+v as JSON %s, want it to hold %s", tc.cell, data, tc.want)
		}
		var back MixtureCell
		if err := json.Unmarshal(data, &back); err != nil {
			t.Fatal(err)
		}
		if got, want := fmt.Sprintf("%#v", back), fmt.Sprintf("%#v", tc.cell); got != want { // NaN as NaN
			t.Errorf("read back %s, want %s", got, want)
		}
	}
}

// TestMixturePaired checks paired differences: per (d, m) the mean and
// standard error of other − base over the problems where both succeeded,
// and how often other is closer.
func TestMixturePaired(t *testing.T) {
	failed := mixtureRow(8, 1, 2, "dps", 0, 0, 0)
	failed.Error = "diverged"
	rows := []MixtureRow{
		mixtureRow(8, 1, 0, "dps", 2, 4, 0.5), mixtureRow(8, 1, 0, "cadps", 1, 5, 0.25),
		mixtureRow(8, 1, 1, "dps", 3, 4, 0.5), mixtureRow(8, 1, 1, "cadps", 1, 3, 0.25),
		failed, mixtureRow(8, 1, 2, "cadps", 9, 9, 0.9), // not compared
		mixtureRow(8, 2, 0, "dps", 1, 1, 0.1), // no cadps run: no row
		mixtureRow(80, 1, 0, "dps", 1, 1, 0.1), mixtureRow(80, 1, 0, "cadps", 1.5, 1, 0.1),
	}
	tab, err := NewMixtureTable(rows)
	if err != nil {
		t.Fatal(err)
	}
	pairs, err := tab.Paired("dps", "cadps")
	if err != nil {
		t.Fatal(err)
	}
	want := []MixturePair{
		{8, 1, PairedDifference{-1.5, 0.5, 2, 2}, PairedDifference{0, 1, 1, 2}, PairedDifference{-0.25, 0, 2, 2}},
		{80, 1, PairedDifference{0.5, math.NaN(), 0, 1}, PairedDifference{0, math.NaN(), 0, 1}, PairedDifference{0, math.NaN(), 0, 1}}, // one problem: no standard error
	}
	if len(pairs) != len(want) {
		t.Fatalf("pairs %+v, want %+v", pairs, want)
	}
	for i := range want {
		if got, want := fmt.Sprintf("%#v", pairs[i]), fmt.Sprintf("%#v", want[i]); got != want { // NaN as NaN
			t.Errorf("pair %d: %s, want %s", i, got, want)
		}
	}
	wantMD := "cadps − dps per problem (mean ± standard error; problems where cadps is closer / problems compared):\n\n" +
		"| d | m | Δ SW₂ | Δ energy | Δ weight TV |\n|---|---|---|---|---|\n" +
		"| 8 | 1 | -1.50 ± 0.50 (2/2) | +0.0 ± 1.0 (1/2) | -0.250 ± 0 (2/2) |\n" +
		"| 80 | 1 | +0.500 (0/1) | +0 (0/1) | +0 (0/1) |\n"
	if md := PairedMixtureMarkdown("dps", "cadps", pairs); md != wantMD {
		t.Errorf("Markdown\n%s\nwant\n%s", md, wantMD)
	}
	if _, err := tab.Paired("dps", "magic"); err == nil || !strings.Contains(err.Error(), `no successful runs of "magic"`) {
		t.Errorf("paired with a method without runs: error %v", err)
	}
}
