package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps/restore"
	"github.com/cadps/toolkit/cadps/runs"
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
					got = runs.EvalDifference{Mean: mean, StdErr: std / math.Sqrt(float64(len(d))), Wins: wins, Images: len(d)}.String() // as cadps paired prints it
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

// storedEvaluations returns the evaluation folders stored under docs/ (those
// holding a settings.json and a results.csv), relative to root.
func storedEvaluations(t *testing.T, root string) []string {
	t.Helper()
	var dirs []string
	err := filepath.WalkDir(filepath.Join(root, "docs"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "settings.json" {
			return err
		}
		if _, err := os.Stat(filepath.Join(filepath.Dir(p), "results.csv")); err == nil {
			rel, err := filepath.Rel(root, filepath.Dir(p))
			if err != nil {
				return err
			}
			dirs = append(dirs, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return dirs
}

// readEvalSettings returns a stored evaluation's settings.json, the
// shipped prior named as a resumed evaluation reads it (folders made
// before it was recorded as fmnist32 call it small).
func readEvalSettings(t *testing.T, dir string) runs.EvalSettings {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "settings.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st runs.EvalSettings
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	st.Model = restore.RecordName(st.Model, st.Weights)
	return st
}

// TestDocumentedEvaluations checks that every documented `cadps evaluate`
// command whose -out out/NAME is the name of an evaluation folder stored
// under docs/ (docs/…/NAME) would make that folder: the settings its flags
// give are the folder's settings.json (the weights' digest, the methods'
// revisions and the LPIPS weights aside), so that a documented number read
// from the folder comes with the command that reproduces it.
func TestDocumentedEvaluations(t *testing.T) {
	root := filepath.Join("..", "..")
	stored := storedEvaluations(t, root)
	docs, err := documents(root)
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, doc := range docs {
		blocks, _, err := readBlocks(root, doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range blocks {
			for _, words := range cadpsCommands(goRunCadps.ReplaceAllString(b.text, "cadps")) {
				if words[1] != "evaluate" {
					continue
				}
				args := words[2:]
				if i := slices.IndexFunc(args, separator); i >= 0 {
					args = args[:i]
				}
				fs := flag.NewFlagSet("evaluate", flag.ContinueOnError)
				fs.SetOutput(io.Discard)
				f := addEvalFlags(fs)
				if err := fs.Parse(args); err != nil {
					t.Errorf("%s:%d: cadps evaluate %s: %v", doc, b.line, strings.Join(args, " "), err)
					continue
				}
				name, ok := strings.CutPrefix(*f.out, "out/")
				if !ok {
					continue
				}
				i := slices.IndexFunc(stored, func(d string) bool { return strings.HasSuffix(d, "/"+name) })
				if i < 0 {
					continue
				}
				got, _, err := f.settings()
				if err != nil {
					t.Errorf("%s:%d: cadps evaluate %s: %v", doc, b.line, strings.Join(args, " "), err)
					continue
				}
				want := readEvalSettings(t, filepath.Join(root, stored[i]))
				want.Digest, want.Revisions, want.LPIPS = "", nil, ""
				checked++
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s:%d: cadps evaluate -out %s gives the settings\n%+v\nbut %s was made with\n%+v", doc, b.line, *f.out, got, stored[i], want)
				}
			}
		}
	}
	if checked < 40 {
		t.Errorf("checked %d documented evaluate commands against stored folders, want at least 40", checked)
	}
}

// folderLink matches a table cell's link to a stored evaluation folder.
var folderLink = regexp.MustCompile(`^\[[^]]*\]\(([^)]+)/\)$`)

// TestDocumentedFolderRows checks the rows of docs/results.md's tables
// that end with a link to their evaluation folder (the step-size, seed and
// phase-retrieval tables) against that folder: the steps, ζ, ramp, seed and
// draws columns against its settings.json, and the image count, the
// baseline's mean PSNR (– where there is none) and each method's mean PSNR
// (mean SSIM) against its results.csv (an empty cell: the folder has no
// such method).
func TestDocumentedFolderRows(t *testing.T) {
	root := filepath.Join("..", "..")
	text, err := os.ReadFile(filepath.Join(root, "docs", "results.md"))
	if err != nil {
		t.Fatal(err)
	}
	columns := map[string]string{"DPS": "dps", "CA-DPS": "cadps"}
	var header []string
	checked := 0
	for n, line := range strings.Split(string(text), "\n") {
		cells := tableCells(line)
		switch {
		case cells == nil:
			header = nil
			continue
		case cells[0] == "task":
			header = cells
			continue
		case header == nil || len(cells) != len(header):
			continue
		}
		link := folderLink.FindStringSubmatch(cells[len(cells)-1])
		if link == nil {
			continue
		}
		dir := filepath.Join(root, "docs", filepath.FromSlash(link[1]))
		st := readEvalSettings(t, dir)
		task := strings.Trim(cells[0], "`")
		byMethod := readScores(t, filepath.Join(dir, "results.csv"))[task]
		if byMethod == nil || !slices.Contains(st.Tasks, task) {
			t.Errorf("docs/results.md:%d: %s holds no records of task %s", n+1, link[1], task)
			continue
		}
		ramp := "–"
		if st.Ramp != "" {
			ramp = "`" + st.Ramp + "`"
		}
		var images []int
		baseline := "–"
		for _, m := range st.Methods {
			images = append(images, len(byMethod[m]))
		}
		if first := byMethod[st.Methods[0]]; len(first) > 0 {
			var b []float64
			for _, r := range first {
				b = append(b, r.baselinePSNR)
			}
			if mean, _ := num.MeanStd(b); !math.IsNaN(mean) {
				baseline = fmt.Sprintf("%.2f", mean)
			}
		}
		for k, h := range header[1 : len(header)-1] {
			want, got := cells[k+1], ""
			switch h {
			case "steps":
				got = strconv.Itoa(st.Steps)
			case "ζ":
				got = strconv.FormatFloat(st.Scale, 'g', -1, 64)
			case "ramp":
				got = ramp
			case "seed":
				got = strconv.FormatUint(st.Seed, 10)
			case "draws":
				got = strconv.Itoa(max(st.Draws, 1))
			case "images":
				got = fmt.Sprint(images[0])
				if slices.Min(images) != slices.Max(images) {
					got = fmt.Sprint(images)
				}
			case "baseline":
				got = baseline
			default:
				m, ok := columns[h]
				if !ok {
					t.Fatalf("docs/results.md:%d: unknown column %q", n+1, h)
				}
				if rs := byMethod[m]; len(rs) > 0 {
					var p, s []float64
					for _, key := range slices.Sorted(maps.Keys(rs)) {
						p, s = append(p, rs[key].psnr), append(s, rs[key].ssim)
					}
					mp, _ := num.MeanStd(p)
					ms, _ := num.MeanStd(s)
					got = fmt.Sprintf("%.2f (%.3f)", mp, ms)
				}
			}
			checked++
			if got != want {
				t.Errorf("docs/results.md:%d: %s, %s: the page says %q, %s gives %q", n+1, task, h, want, link[1], got)
			}
		}
	}
	if checked < 35*7 {
		t.Errorf("checked %d cells, want the 35 rows that link a folder, at least 7 cells each", checked)
	}
}

// TestDocumentedOutputs runs each documented ```sh block that the line
// "prints" and a ```text block follow, and checks that its cadps commands
// print that text (to stdout; each command in the module root, in this
// process). A block that reads ../shared is skipped where it is missing.
func TestDocumentedOutputs(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	docs, err := documents(root)
	if err != nil {
		t.Fatal(err)
	}
	run := map[string]func([]string, io.Writer, io.Writer) error{}
	for _, c := range commands() {
		run[c.name] = c.run
	}
	t.Chdir(root)
	checked := 0
	for _, doc := range docs {
		data, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(data), "\n")
		for n := 0; n < len(lines); n++ {
			if strings.TrimSpace(lines[n]) != "```sh" {
				continue
			}
			start := n
			var script, want []string
			for n++; n < len(lines) && strings.TrimSpace(lines[n]) != "```"; n++ {
				script = append(script, lines[n])
			}
			next := func() string {
				for n++; n < len(lines) && strings.TrimSpace(lines[n]) == ""; n++ {
				}
				if n < len(lines) {
					return strings.TrimSpace(lines[n])
				}
				return ""
			}
			if next() != "prints" || next() != "```text" {
				continue
			}
			for n++; n < len(lines) && strings.TrimSpace(lines[n]) != "```"; n++ {
				want = append(want, lines[n])
			}
			text := strings.Join(script, "\n")
			if strings.Contains(text, "../shared") {
				if _, err := os.Stat(filepath.Join(root, "..", "shared")); err != nil {
					t.Logf("%s:%d: skipped: ../shared is missing", doc, start+1)
					continue
				}
			}
			var out bytes.Buffer
			for _, words := range cadpsCommands(goRunCadps.ReplaceAllString(text, "cadps")) {
				f := run[words[1]]
				if f == nil {
					t.Fatalf("%s:%d: no cadps command %q", doc, start+1, words[1])
				}
				args := words[2:]
				if i := slices.IndexFunc(args, separator); i >= 0 {
					args = args[:i]
				}
				if err := f(args, &out, io.Discard); err != nil {
					t.Fatalf("%s:%d: %s: %v", doc, start+1, strings.Join(words, " "), err)
				}
			}
			checked++
			if got := strings.TrimSpace(out.String()); got != strings.TrimSpace(strings.Join(want, "\n")) {
				t.Errorf("%s:%d: the page says the commands print\n%s\nthey print\n%s", doc, start+1, strings.Join(want, "\n"), got)
			}
		}
	}
	if checked == 0 {
		t.Error("no documented command is followed by what it prints")
	}
}

// TestDocumentedQualityTables checks the tables of docs/results.md's "DPS's
// step sizes, 50 and 100 steps" against the folder the line before each
// links to: per task the image count and, for the baseline and each
// method, PSNR and SSIM as mean ± standard deviation over the images.
func TestDocumentedQualityTables(t *testing.T) {
	root := filepath.Join("..", "..")
	text, err := os.ReadFile(filepath.Join(root, "docs", "results.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(text), "### DPS's step sizes, 50 and 100 steps\n")
	if !ok {
		t.Fatal(`docs/results.md has no "DPS's step sizes, 50 and 100 steps" section`)
	}
	section, _, _ = strings.Cut(section, "\n### ")
	link := regexp.MustCompile(`\]\(([^)]+)/\)\):$`)
	var header []string
	var scores map[string]map[string]map[string]imageScore
	var folder string
	checked, fenced := 0, false
	for _, line := range strings.Split(section, "\n") {
		if strings.HasPrefix(line, "```") {
			fenced = !fenced
			continue
		}
		if fenced {
			continue
		}
		if m := link.FindStringSubmatch(line); m != nil {
			folder = m[1]
			scores = readScores(t, filepath.Join(root, "docs", filepath.FromSlash(folder), "results.csv"))
			continue
		}
		cells := tableCells(line)
		switch {
		case cells == nil:
			header = nil
			continue
		case cells[0] == "task":
			header = cells
			continue
		case header == nil || strings.HasPrefix(cells[0], "---"):
			continue
		case scores == nil:
			t.Fatalf("docs/results.md: a table row before any folder link: %q", line)
		}
		task := strings.Trim(cells[0], "`")
		byMethod := scores[task]
		if byMethod == nil {
			t.Errorf("%s holds no records of task %s", folder, task)
			continue
		}
		for k := 1; k < len(header) && k < len(cells); k++ {
			who, metric, _ := strings.Cut(header[k], " ")
			var got string
			if who == "images" {
				got = strconv.Itoa(len(byMethod["dps"]))
			} else {
				m := strings.ToLower(strings.ReplaceAll(who, "-", ""))
				if who == "baseline" {
					m = "dps"
				}
				var v []float64
				for _, key := range slices.Sorted(maps.Keys(byMethod[m])) {
					r := byMethod[m][key]
					switch {
					case who == "baseline" && metric == "PSNR":
						v = append(v, r.baselinePSNR)
					case who == "baseline":
						v = append(v, r.baselineSSIM)
					case metric == "PSNR":
						v = append(v, r.psnr)
					default:
						v = append(v, r.ssim)
					}
				}
				mean, std := num.MeanStd(v)
				got = fmt.Sprintf("%.2f ± %.2f", mean, std)
				if metric == "SSIM" {
					got = fmt.Sprintf("%.3f ± %.3f", mean, std)
				}
			}
			checked++
			if got != cells[k] {
				t.Errorf("docs/results.md, %s, %s: the page says %q, %s gives %q", task, header[k], cells[k], folder, got)
			}
		}
	}
	if checked < 2*3*7 {
		t.Errorf("checked %d cells, want the two tables' 3 rows of 7 cells", checked)
	}
}

// TestDocumentedGainsOverDPS checks the range of DDRM's, DiffPIR's and
// DAPS's mean PSNR gain over DPS at 50 steps (per task, image by image,
// as cadps paired computes it) that the README and docs/results.md give,
// against the folders the gains come from.
func TestDocumentedGainsOverDPS(t *testing.T) {
	root := filepath.Join("..", "..")
	dps := readScores(t, filepath.Join(root, "docs", "small-prior-quality", "results.csv"))
	others := readScores(t, filepath.Join(root, "docs", "small-prior-quality-ddrm-diffpir-daps", "results.csv"))
	lo, hi := math.Inf(1), math.Inf(-1)
	for task, byMethod := range others {
		for _, m := range []string{"ddrm", "diffpir", "daps"} {
			var d []float64
			for key, r := range byMethod[m] {
				if base, ok := dps[task]["dps"][key]; ok {
					d = append(d, r.psnr-base.psnr)
				}
			}
			if len(d) == 0 {
				t.Fatalf("task %s, %s: no image in common with DPS", task, m)
			}
			mean, _ := num.MeanStd(d)
			lo, hi = min(lo, mean), max(hi, mean)
		}
	}
	want := fmt.Sprintf("%.1f–%.1f dB", lo, hi)
	for _, c := range []struct {
		doc    string
		phrase *regexp.Regexp
	}{
		{"README.md", regexp.MustCompile(`DDRM, DiffPIR and DAPS with their released hyperparameters, at DPS's 50 steps, beat DPS with its released ζ by ([0-9.]+–[0-9.]+ dB)`)},
		{filepath.Join("docs", "results.md"), regexp.MustCompile(`all three beat DPS with its released ζ, by ([0-9.]+–[0-9.]+ dB) on average`)},
	} {
		t.Run(c.doc, func(t *testing.T) {
			text, err := os.ReadFile(filepath.Join(root, c.doc))
			if err != nil {
				t.Fatal(err)
			}
			m := c.phrase.FindStringSubmatch(strings.Join(strings.Fields(string(text)), " "))
			if m == nil {
				t.Fatalf("%s no longer says %q", c.doc, c.phrase)
			}
			if m[1] != want {
				t.Errorf("%s says the three beat DPS by %s; the folders give %s", c.doc, m[1], want)
			}
		})
	}
}
