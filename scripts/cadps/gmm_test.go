package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/cadps/toolkit/cadps/runs"
	"github.com/cadps/toolkit/checkpoints"
)

// runGMMArgs runs `cadps gmm` with args and decodes its JSON report.
func runGMMArgs(t *testing.T, args ...string) (runs.MixtureReport, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := gmmCommand().run(args, &out, &errOut)
	if err != nil {
		return runs.MixtureReport{}, err
	}
	var rep runs.MixtureReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("output %q is not one JSON object: %v", out.String(), err)
	}
	return rep, nil
}

// TestGMMEndToEnd runs one small setting through the command: the exact
// sampler and one guidance method, the problem saved and read back, the
// samples written.
func TestGMMEndToEnd(t *testing.T) {
	dir := t.TempDir()
	problem := filepath.Join(dir, "problem.safetensors")
	samples := filepath.Join(dir, "samples.safetensors")
	common := []string{"--samples", "200", "--steps", "50", "--seed", "4", "--projections", "200"}

	exact, err := runGMMArgs(t, append([]string{"--method", "exact", "--dim", "8", "--dim-y", "2", "--save-problem", problem}, common...)...)
	if err != nil {
		t.Fatal(err)
	}
	if exact.Dim != 8 || exact.DimY != 2 || exact.Components != 25 || exact.Samples != 200 {
		t.Errorf("report %+v", exact)
	}
	// Two independent sets of 200 exact samples: SW₂ is sampling error only.
	if exact.SlicedWasserstein > 0.5 || exact.WeightTV > 0.1 {
		t.Errorf("exact sampler far from its own posterior: %+v", exact)
	}

	dps, err := runGMMArgs(t, append([]string{"--method", "dps", "--problem", problem, "--out", samples}, common...)...)
	if err != nil {
		t.Fatal(err)
	}
	if dps.Method != "dps" || dps.Steps != 50 || dps.SigmaY != exact.SigmaY {
		t.Errorf("report %+v (exact σ_y %g)", dps, exact.SigmaY)
	}
	for _, v := range []float64{dps.SlicedWasserstein, dps.Energy, dps.WeightTV} {
		if !(v >= -1) || v > 1e6 {
			t.Errorf("implausible distance in %+v", dps)
		}
	}
	sd, err := checkpoints.LoadSafetensors(samples)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sd.Get("samples")
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Shape) != 2 || st.Shape[0] != 200 || st.Shape[1] != 8 {
		t.Errorf("samples shape %v, want [200 8]", st.Shape)
	}
	// The saved problem is the one evaluated: the exact run of the file is
	// the exact run of the generated problem, number for number.
	exactAgain, err := runGMMArgs(t, append([]string{"--method", "exact", "--problem", problem}, common...)...)
	if err != nil {
		t.Fatal(err)
	}
	exact.Seconds, exactAgain.Seconds = 0, 0
	if exactAgain != exact {
		t.Errorf("run of the saved problem %+v, want the generated one's %+v", exactAgain, exact)
	}
	// Same seed and problem file: the same run.
	again, err := runGMMArgs(t, append([]string{"--method", "dps", "--problem", problem}, common...)...)
	if err != nil {
		t.Fatal(err)
	}
	if again.SlicedWasserstein != dps.SlicedWasserstein {
		t.Errorf("rerun gave SW %g, first run %g", again.SlicedWasserstein, dps.SlicedWasserstein)
	}
}

func TestGMMErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.safetensors")
	sd := checkpoints.NewStateDict("bad")
	for _, tn := range []*checkpoints.Tensor{
		checkpoints.FromFloat32("weights", []int{2}, []float32{0.5, 0.6}),
		checkpoints.FromFloat32("means", []int{2, 1}, []float32{0, 1}),
		checkpoints.FromFloat32("covs", []int{2, 1, 1}, []float32{1, 1}),
		checkpoints.FromFloat32("A", []int{1, 1}, []float32{1}),
		checkpoints.FromFloat32("y", []int{1}, []float32{0}),
		checkpoints.FromFloat32("sigma_y", []int{1}, []float32{1}),
	} {
		if err := sd.Add(tn); err != nil {
			t.Fatal(err)
		}
	}
	if err := checkpoints.SaveSafetensors(bad, sd); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		args  []string
		usage bool
		want  string
	}{
		{"no method", []string{}, true, "--method is required"},
		{"unknown method", []string{"--method", "nope"}, true, "unknown method"},
		{"too few steps", []string{"--method", "exact", "--steps", "1"}, true, "steps 1: want 2 … 1000"},
		{"too few steps for a method", []string{"--method", "dps", "--steps", "1"}, true, "steps 1: want 2 … 1000"},
		{"no samples for a method", []string{"--method", "dps", "--samples", "0"}, true, "samples 0: want at least 2"},
		{"negative scale", []string{"--method", "tmpd:probes=2", "--scale", "-1"}, true, "step size ζ = -1 must be finite"},
		{"infinite scale", []string{"--method", "dps", "--scale", "+Inf"}, true, "step size ζ = +Inf must be finite"},
		{"m > d", []string{"--method", "exact", "--dim", "2", "--dim-y", "3"}, true, "1 ≤ m ≤ d"},
		{"unknown schedule", []string{"--method", "exact", "--schedule", "Linear"}, true, `schedule "Linear": want "linear" or "cosine"`},
		{"weights", []string{"--method", "exact", "--problem", bad}, false, "weights sum to 1.1"},
		{"dim with a problem file", []string{"--method", "exact", "--problem", bad, "--dim", "80"}, true, "--dim and --dim-y describe a generated problem; --problem " + bad + " gives its own"},
		{"dim-y with a problem file", []string{"--method", "exact", "--problem", bad, "--dim-y", "2"}, true, "--dim and --dim-y describe a generated problem"},
		{"missing file", []string{"--method", "exact", "--problem", filepath.Join(dir, "none.safetensors")}, false, "none.safetensors"},
		{"bench dims", []string{"bench", "--dims", "8,x"}, true, "--dims"},
		{"bench resume without csv", []string{"bench", "--resume"}, true, "--resume continues the --csv file: give --csv"},
		{"bench dims too large", []string{"bench", "--dims", "8,100000"}, true, "--dims: 100000 is more than 4096"},
		{"method option", []string{"--method", "tmpd:diagonal=diag"}, true, `unknown diagonal estimator "diag"`},
		{"bench method option", []string{"bench", "--methods", "dps,tmpd:probes=4,cg=0"}, true, "0: want a value in [1, 1000]"},
		{"bench repeated method", []string{"bench", "--methods", "dps,tmpd:probes=4,dps"}, true, "--methods: method dps is given twice"},
		// Refused before anything is written (nothing appears in dir/new).
		{"too many samples", []string{"--method", "exact", "--samples", "1000001", "--steps", "1", "--out", filepath.Join(dir, "new", "x.safetensors")}, true, "--samples 1000001: at most 1000000"},
		{"bench too many samples", []string{"bench", "--samples", "2000000000", "--steps", "1", "--csv", filepath.Join(dir, "new", "x.csv")}, true, "--samples 2000000000: at most 1000000"},
		{"bench unknown schedule", []string{"bench", "--dims", "4", "--dims-y", "1", "--problems", "1", "--methods", "exact,dps", "--samples", "4", "--steps", "2", "--schedule", "cos", "--csv", filepath.Join(dir, "new", "x.csv")}, true, `schedule "cos": want "linear" or "cosine"`},
		{"bench m > d", []string{"bench", "--dims", "4", "--dims-y", "10", "--methods", "exact", "--csv", filepath.Join(dir, "new", "x.csv")}, true, "--dims-y 10 is more than --dims 4"},
		{"bench m > d in one pair", []string{"bench", "--dims", "16,4", "--dims-y", "2,8", "--methods", "exact", "--json", filepath.Join(dir, "new", "x.json")}, true, "--dims-y 8 is more than --dims 4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runGMMArgs(t, tc.args...)
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			if got := errors.As(err, new(usageError)); got != tc.usage {
				t.Errorf("usage error = %v, want %v (%v)", got, tc.usage, err)
			}
			if _, err := os.Stat(filepath.Join(dir, "new")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("the refused run left %s (%v)", filepath.Join(dir, "new"), err)
				os.RemoveAll(filepath.Join(dir, "new"))
			}
		})
	}
}

// TestGMMBench runs a one-problem bench and checks its table and CSV.
func TestGMMBench(t *testing.T) {
	dir := t.TempDir()
	csvPath := filepath.Join(dir, "runs.csv")
	jsonPath := filepath.Join(dir, "table.json")
	var out, errOut bytes.Buffer
	err := gmmCommand().run([]string{"bench", "--dims", "8", "--dims-y", "1,2", "--problems", "2", "--methods", "exact,unconditional",
		"--samples", "100", "--steps", "20", "--projections", "100", "--csv", csvPath, "--json", jsonPath}, &out, &errOut)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	for _, want := range []string{"| 8 | 1 | exact |", "| 8 | 2 | unconditional |", "wall time"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	recs := readCSV(t, csvPath)
	if len(recs) != 1+2*2*2 {
		t.Errorf("CSV has %d records, want header + 8 runs", len(recs))
	}
	doc := struct{ Cells []runs.MixtureCell }{readCells(t, jsonPath)}
	if len(doc.Cells) != 4 {
		t.Fatalf("%d cells, want 4", len(doc.Cells))
	}
	for _, c := range doc.Cells {
		if c.Runs != 2 || c.Failures != 0 {
			t.Errorf("cell %+v", c)
		}
		// The exact sampler must beat the prior on its own posterior.
		if c.Method == "unconditional" {
			for _, e := range doc.Cells {
				if e.Method == exactMethod && e.DimY == c.DimY && !(e.SWMean < c.SWMean) {
					t.Errorf("m=%d: exact SW %g not below unconditional %g", c.DimY, e.SWMean, c.SWMean)
				}
			}
		}
	}

	// The rows went to runs.csv.partial and were renamed when the bench
	// ended. A partial file left by an interrupted bench is neither
	// overwritten nor allowed to replace the finished CSV.
	if _, err := os.Stat(csvPath + ".partial"); !os.IsNotExist(err) {
		t.Errorf("%s.partial is still there (%v)", csvPath, err)
	}
	finished := readFile(t, csvPath)
	if err := os.WriteFile(csvPath+".partial", []byte("interrupted\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err = gmmCommand().run([]string{"bench", "--dims", "8", "--dims-y", "1", "--problems", "1", "--methods", "exact",
		"--samples", "10", "--steps", "5", "--projections", "10", "--csv", csvPath}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "runs.csv.partial exists") {
		t.Errorf("bench beside a partial CSV: error %v", err)
	}
	if readFile(t, csvPath) != finished || readFile(t, csvPath+".partial") != "interrupted\n" {
		t.Error("a refused bench changed the CSV or its partial file")
	}
}

// TestSplitMethodList checks that options continue the spec before them.
func TestSplitMethodList(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"dps", []string{"dps"}},
		{"exact, dps ,mmps", []string{"exact", "dps", "mmps"}},
		{"dps,tmpd:diagonal=hutchinson,probes=4,mmps", []string{"dps", "tmpd:diagonal=hutchinson,probes=4", "mmps"}},
		{"tmpd:diagonal=exact,cadps-gauss:diagonal=exact,cg=40", []string{"tmpd:diagonal=exact", "cadps-gauss:diagonal=exact,cg=40"}},
	} {
		if got := splitMethodList(c.in); !slices.Equal(got, c.want) {
			t.Errorf("splitMethodList(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestGMMTable checks that the table of a bench run in two parts (by m)
// has the cells, and the numbers, of the parts' own summaries, and that
// repeated runs and foreign files are refused.
func TestGMMTable(t *testing.T) {
	dir := t.TempDir()
	var parts [][]runs.MixtureCell
	var csvs []string
	for _, m := range []string{"1", "2"} {
		csvPath, jsonPath := filepath.Join(dir, "m"+m+".csv"), filepath.Join(dir, "m"+m+".json")
		var out, errOut bytes.Buffer
		err := gmmCommand().run([]string{"bench", "--dims", "8", "--dims-y", m, "--problems", "2", "--methods", "exact,dps",
			"--samples", "50", "--steps", "10", "--projections", "50", "--csv", csvPath, "--json", jsonPath}, &out, &errOut)
		if err != nil {
			t.Fatalf("%v\n%s", err, errOut.String())
		}
		parts, csvs = append(parts, readCells(t, jsonPath)), append(csvs, csvPath)
	}
	jsonPath := filepath.Join(dir, "all.json")
	var out, errOut bytes.Buffer
	if err := gmmCommand().run(append([]string{"table", "-json", jsonPath}, csvs...), &out, &errOut); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	if !strings.Contains(errOut.String(), "gmm table: wrote the table to "+jsonPath+"\n") {
		t.Errorf("stderr does not name the -json file:\n%s", errOut.String())
	}
	cells := readCells(t, jsonPath)
	benchDoc, tableDoc := readJSONObject(t, filepath.Join(dir, "m1.json")), readJSONObject(t, jsonPath)
	for _, k := range []string{"samples", "steps", "scale", "projections", "schedule", "var"} {
		if b, ok := tableDoc[k]; !ok || b != benchDoc[k] {
			t.Errorf("table JSON %s = %v, want the bench's %v", k, b, benchDoc[k])
		}
	}
	want := append(parts[0], parts[1]...)
	if len(cells) != len(want) {
		t.Fatalf("%d cells, want %d:\n%s", len(cells), len(want), out.String())
	}
	for i, c := range cells {
		w := want[i]
		if c.Dim != w.Dim || c.DimY != w.DimY || c.Method != w.Method || c.Runs != w.Runs ||
			math.Abs(c.SWMean-w.SWMean) > 1e-5*w.SWMean || math.Abs(c.TVMean-w.TVMean) > 1e-5 {
			t.Errorf("cell %d: %+v, want %+v", i, c, w)
		}
	}
	if !strings.Contains(out.String(), "| 8 | 2 | dps |") {
		t.Errorf("table lacks the m = 2 dps row:\n%s", out.String())
	}

	// A part made of problem 1 alone (--first-problem) repeats problem 1's
	// runs exactly: joined with the m = 1 part it is a repeated run.
	onlyP1 := filepath.Join(dir, "p1.csv")
	if err := gmmCommand().run([]string{"bench", "--dims", "8", "--dims-y", "1", "--first-problem", "1", "--problems", "1",
		"--methods", "exact,dps", "--samples", "50", "--steps", "10", "--projections", "50", "--csv", onlyP1}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	p1Rows, err := runs.ReadMixtureCSV(onlyP1)
	if err != nil {
		t.Fatal(err)
	}
	allRows, err := runs.ReadMixtureCSV(csvs[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range p1Rows {
		i := slices.IndexFunc(allRows, func(a runs.MixtureRow) bool { return a.Problem == 1 && a.Method == r.Method })
		if r.Problem != 1 || i < 0 || allRows[i].SlicedWasserstein != r.SlicedWasserstein || allRows[i].Seed != r.Seed {
			t.Errorf("--first-problem 1 run %+v does not repeat problem 1 of the full bench", r)
		}
	}

	// Paired: exact against dps on the same problems, two per m.
	out.Reset()
	if err := gmmCommand().run(append([]string{"table", "-paired", "dps,exact"}, csvs...), &out, &errOut); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	for _, m := range []string{"1", "2"} {
		line := ""
		for _, l := range strings.Split(out.String(), "\n") {
			if strings.HasPrefix(l, "| 8 | "+m+" | ") && strings.Count(l, "|") == 6 {
				line = l
			}
		}
		// The exact sampler is closer than DPS in SW₂: a negative mean.
		if !strings.Contains(line, "/2)") || !strings.HasPrefix(line, "| 8 | "+m+" | -") {
			t.Errorf("paired row for m = %s is %q:\n%s", m, line, out.String())
		}
	}
	checkTableRevisions(t, dir, csvs)
}

// checkTableRevisions checks that a run records its method's revision,
// that a file from before revisions were recorded reads as "not
// recorded", and that the table refuses to join the bench CSV files csvs
// with such a file, with themselves or with foreign files.
func checkTableRevisions(t *testing.T, dir string, csvs []string) {
	t.Helper()
	// Revisions: a tmpd run records its method's revision; a file from
	// before revisions were recorded reads as "not recorded" and is not
	// tabled with recorded runs of the same method.
	tmpdCSV := filepath.Join(dir, "tmpd.csv")
	if err := gmmCommand().run([]string{"bench", "--dims", "8", "--dims-y", "1", "--problems", "1", "--methods", "tmpd",
		"--samples", "20", "--steps", "5", "--projections", "20", "--csv", tmpdCSV}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	if rows, err := runs.ReadMixtureCSV(tmpdCSV); err != nil || len(rows) != 1 || rows[0].Revision != 2 {
		t.Errorf("tmpd bench rows %+v (%v), want one with revision 2", rows, err)
	}
	legacy := filepath.Join(dir, "legacy.csv")
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(readFile(t, csvs[1])), "\n") {
		f := strings.Split(l, ",") // without method_revision and the settings and sources after it
		lines = append(lines, strings.Join(f[:14], ","))
	}
	if err := os.WriteFile(legacy, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if rows, err := runs.ReadMixtureCSV(legacy); err != nil || len(rows) != 4 || rows[0].Revision != -1 {
		t.Errorf("legacy rows %+v (%v), want 4 with revision -1", rows, err)
	}

	foreign := filepath.Join(dir, "foreign.csv")
	if err := os.WriteFile(foreign, []byte("a,b\n1,2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"table", csvs[0], csvs[0]}, "appears twice"},
		{[]string{"table", csvs[0], legacy}, "the exact runs come from two revisions of the method (revision 0 and an unrecorded revision)"},
		{[]string{"table", foreign}, "not a `cadps gmm bench --csv` file"},
		{[]string{"table", filepath.Join(dir, "missing.csv")}, "missing.csv"},
		{[]string{"table"}, "want at least one CSV file"},
		{[]string{"table", "-paired", "dps", csvs[0]}, "want two different methods"},
		{[]string{"table", "-paired", "dps,magic", csvs[0]}, `no successful runs of "magic"`},
	} {
		err := gmmCommand().run(c.args, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one containing %q", c.args, err, c.want)
		}
	}
}

// readJSONObject reads a JSON file holding one object.
func readJSONObject(t *testing.T, path string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return doc
}

// readCells reads the cells of a bench or table JSON file.
func readCells(t *testing.T, path string) []runs.MixtureCell {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Cells []runs.MixtureCell `json:"cells"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Cells
}

// TestGMMTableRefusesBeforeOutput checks that a table refused for its
// -paired methods prints no table and writes no -json file.
func TestGMMTableRefusesBeforeOutput(t *testing.T) {
	dir := t.TempDir()
	csvPath := filepath.Join(dir, "runs.csv")
	if err := gmmCommand().run([]string{"bench", "--dims", "4", "--dims-y", "1", "--problems", "1", "--methods", "exact,dps",
		"--samples", "10", "--steps", "2", "--projections", "10", "--csv", csvPath}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	jsonPath := filepath.Join(dir, "table.json")
	var out bytes.Buffer
	err := gmmCommand().run([]string{"table", "-json", jsonPath, "-paired", "dps,magic", csvPath}, &out, io.Discard)
	if err == nil || !strings.Contains(err.Error(), `no successful runs of "magic"`) {
		t.Fatalf("error %v, want one naming the method magic", err)
	}
	if out.Len() > 0 {
		t.Errorf("the refused table printed:\n%s", out.String())
	}
	if _, err := os.Stat(jsonPath); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the refused table wrote %s (%v)", jsonPath, err)
	}
}

// TestGMMJSONFailedCell: a cell none of whose runs succeeded (dps
// diverging at ζ = 1e30) is written to the bench's --json and the table's
// -json with null means; the file used not to be written at all (JSON has
// no NaN), after the whole bench had run.
func TestGMMJSONFailedCell(t *testing.T) {
	dir := t.TempDir()
	csvPath := filepath.Join(dir, "runs.csv")
	benchJSON, tableJSON := filepath.Join(dir, "bench.json"), filepath.Join(dir, "table.json")
	for _, tc := range []struct {
		name, json string
		args       []string
	}{
		{"bench --json", benchJSON, []string{"bench", "--dims", "4", "--dims-y", "1", "--problems", "1", "--methods", "exact,dps", "--scale", "1e30",
			"--samples", "10", "--steps", "2", "--projections", "10", "--csv", csvPath, "--json", benchJSON}},
		{"table -json", tableJSON, []string{"table", "-json", tableJSON, csvPath}},
	} {
		var out, errOut bytes.Buffer
		if err := gmmCommand().run(tc.args, &out, &errOut); err != nil {
			t.Fatalf("%s: %v\n%s", tc.name, err, errOut.String())
		}
		if !strings.Contains(out.String(), "| 4 | 1 | dps | — | — | — | NaN | 1/1 |") {
			t.Errorf("%s: the table does not show the failed cell:\n%s", tc.name, out.String())
		}
		cells := readCells(t, tc.json)
		if len(cells) != 2 || cells[1].Method != "dps" || cells[1].Failures != 1 || !math.IsNaN(cells[1].SWMean) || math.IsNaN(cells[0].SWMean) {
			t.Errorf("%s: cells %+v, want exact's numbers and dps's failure without means", tc.name, cells)
		}
		if text := readFile(t, tc.json); !strings.Contains(text, `"sw_mean": null`) {
			t.Errorf("%s: %s does not hold the failed cell's mean as null:\n%s", tc.name, tc.json, text)
		}
	}
}

// TestDocumentedStepSizeBlowUp checks what docs/posterior-fidelity.md says
// of CA-DPS at ζ = 10 against docs/gmm-scale-10.csv: it blows up on the
// problems it quotes at m = 2 and 4 (SW₂ over 100, and on no other
// problem) and not at m = 1, whose means it quotes.
func TestDocumentedStepSizeBlowUp(t *testing.T) {
	root := filepath.Join("..", "..")
	doc := strings.Join(strings.Fields(readFile(t, filepath.Join(root, "docs", "posterior-fidelity.md"))), " ")
	const claim = "at ζ = 10 CA-DPS blows up on some problems at m = 2 and 4 (its multiplier 1 + Δε amplifies the step): " +
		"SW₂ 170 and 347 on two of the five problems at m = 2 and 182 on one at m = 4, where DPS has 13.5, 16.0 and 9.5; " +
		"at m = 1 it stays near DPS (6.79 against 6.18)."
	if !strings.Contains(doc, claim) {
		t.Fatalf("docs/posterior-fidelity.md does not say %q", claim)
	}
	rows, err := runs.ReadMixtureCSV(filepath.Join(root, "docs", "gmm-scale-10.csv"))
	if err != nil {
		t.Fatal(err)
	}
	sw := map[string]map[[2]int]float64{"cadps": {}, "dps": {}}
	for _, r := range rows {
		if m, ok := sw[r.Method]; ok && r.Scale == 10 && r.Dim == 8 {
			m[[2]int{r.DimY, r.Problem}] = r.SlicedWasserstein
		}
	}
	for _, tc := range []struct {
		m          int
		blowUps    []string // cadps's SW₂ and DPS's, as quoted, on the problems where cadps's is over 100
		cadps, dps string   // the means over the problems, as quoted ("" where not quoted)
	}{
		{m: 1, cadps: "6.79", dps: "6.18"},
		{m: 2, blowUps: []string{"170 13.5", "347 16.0"}},
		{m: 4, blowUps: []string{"182 9.5"}},
	} {
		var got []string
		var cadps, dps float64
		for p := range 5 {
			c, d := sw["cadps"][[2]int{tc.m, p}], sw["dps"][[2]int{tc.m, p}]
			if c > 100 {
				got = append(got, fmt.Sprintf("%.0f %.1f", c, d))
			}
			cadps, dps = cadps+c/5, dps+d/5
		}
		if !slices.Equal(got, tc.blowUps) {
			t.Errorf("m = %d: CA-DPS over 100 (and DPS) on %q, the page says %q", tc.m, got, tc.blowUps)
		}
		if tc.cadps != "" && (fmt.Sprintf("%.3g", cadps) != tc.cadps || fmt.Sprintf("%.3g", dps) != tc.dps) {
			t.Errorf("m = %d: mean SW₂ %.3g (CA-DPS) and %.3g (DPS), the page says %s and %s", tc.m, cadps, dps, tc.cadps, tc.dps)
		}
	}
}

// TestGMMUsageSchedule: the help of cadps gmm names the schedule as
// --schedule chooses it (it said "the 1000-step linear schedule" whatever
// --schedule was).
func TestGMMUsageSchedule(t *testing.T) {
	var help bytes.Buffer
	if err := gmmCommand().run([]string{"-h"}, io.Discard, &help); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("cadps gmm -h: %v", err)
	}
	text := strings.Join(strings.Fields(help.String()), " ")
	for _, tc := range []struct {
		phrase string
		want   bool
	}{
		{"the 1000-step process of --schedule (linear unless --schedule cosine is given)", true},
		{"the 1000-step linear schedule", false},
	} {
		if strings.Contains(text, tc.phrase) != tc.want {
			t.Errorf("cadps gmm -h says %q: %v, want %v:\n%s", tc.phrase, !tc.want, tc.want, help.String())
		}
	}
}

// TestGMMUsageWraps: the description of cadps gmm -h is wrapped as one
// paragraph at 78 columns, the width of its first line: no line is wider,
// and no line but the last ends where the next line's first word would
// still have fitted.
func TestGMMUsageWraps(t *testing.T) {
	const width = 78
	var help bytes.Buffer
	if err := gmmCommand().run([]string{"-h"}, io.Discard, &help); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("cadps gmm -h: %v", err)
	}
	_, rest, ok := strings.Cut(help.String(), "\nSamples the posterior")
	if !ok {
		t.Fatalf("cadps gmm -h has no description:\n%s", help.String())
	}
	para, _, _ := strings.Cut("Samples the posterior"+rest, "\n\n")
	lines := strings.Split(para, "\n")
	for i, line := range lines {
		n := utf8.RuneCountInString(line)
		if n > width {
			t.Errorf("line %d is %d columns wide, more than %d: %q", i+1, n, width, line)
		}
		if i+1 < len(lines) {
			next, _, _ := strings.Cut(lines[i+1], " ")
			if m := n + 1 + utf8.RuneCountInString(next); m <= width {
				t.Errorf("line %d ends at column %d, where %q still fits: %q", i+1, n, next, line)
			}
		}
	}
}

// TestGMMBenchTableAsGMMTable: a bench's --json table and that of cadps
// gmm table on its CSV file are the same, cell for cell in increasing d
// and m, whatever order --dims and --dims-y give.
func TestGMMBenchTableAsGMMTable(t *testing.T) {
	for _, tc := range []struct {
		name        string
		dims, dimYs string
	}{
		{"increasing", "8,9", "1,2"},
		{"decreasing", "9,8", "2,1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			csvPath, benchJSON, tableJSON := filepath.Join(dir, "b.csv"), filepath.Join(dir, "bench.json"), filepath.Join(dir, "table.json")
			var errOut bytes.Buffer
			if err := gmmCommand().run([]string{"bench", "--dims", tc.dims, "--dims-y", tc.dimYs, "--problems", "2", "--methods", "exact,dps",
				"--samples", "20", "--steps", "4", "--projections", "10", "--csv", csvPath, "--json", benchJSON}, io.Discard, &errOut); err != nil {
				t.Fatalf("%v\n%s", err, errOut.String())
			}
			if err := gmmCommand().run([]string{"table", "-json", tableJSON, csvPath}, io.Discard, &errOut); err != nil {
				t.Fatalf("%v\n%s", err, errOut.String())
			}
			if bench, table := readCells(t, benchJSON), readCells(t, tableJSON); !slices.Equal(bench, table) {
				t.Errorf("bench cells\n%+v\nwant gmm table's\n%+v", bench, table)
			}
		})
	}
}
