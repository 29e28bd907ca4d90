package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/imageio"
	"github.com/cadps/toolkit/cadps/metrics/fid"
	"github.com/cadps/toolkit/cadps/metrics/lpips"
	"github.com/cadps/toolkit/cadps/runs"
	"github.com/cadps/toolkit/checkpoints"
)

// TestReproduceLPIPS runs reproductions of two images on the small prior
// with random-weight LPIPS backbones, in turn into one folder: the first
// records LPIPS per item (checked against the distance recomputed from the
// saved label and reconstruction) and tabulates it; reruns with other
// LPIPS weights, or without LPIPS, are refused as other settings, naming
// the digests that differ.
func TestReproduceLPIPS(t *testing.T) {
	dir := t.TempDir()
	alex := writeWeights(t, filepath.Join(dir, "alex.safetensors"), math.Sqrt2, lpips.Alex.BackboneParams())
	if err := os.Mkdir(filepath.Join(dir, "other"), 0o755); err != nil {
		t.Fatal(err)
	}
	other := writeWeights(t, filepath.Join(dir, "other", "alex.safetensors"), 1.2, lpips.Alex.BackboneParams())
	// Linear layers other than the shipped ones: their digest comes after
	// the first 80 characters of the recorded setting, and the refusal must
	// still show it.
	lin, err := lpips.ShippedLinear(lpips.Alex)
	if err != nil {
		t.Fatal(err)
	}
	setValue(t, lin, "lin0.model.1.weight", 0, 0.5)
	otherLin := filepath.Join(dir, "lin.safetensors")
	if err := checkpoints.SaveSafetensors(otherLin, lin); err != nil {
		t.Fatal(err)
	}
	linSum, err := checkpoints.Digest(otherLin)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	args := func(extra ...string) []string {
		return append([]string{smallImages, "-limit", "2", "-task", "inpaint_box:size=12", "-methods", "dps",
			"-steps", "2", "-seed", "1", "-grid-rows", "0", "-quiet", "-out", out}, extra...)
	}
	task := filepath.Join(out, "inpaint_box_size=12", "dps")
	for _, tc := range []struct {
		name    string
		extra   []string
		wantErr string
	}{
		{"with LPIPS", []string{"-lpips-backbone", alex}, ""},
		{"rerun, same weights", []string{"-lpips-backbone", alex}, ""},
		{"other weights", []string{"-lpips-backbone", other}, "other settings (lpips:"},
		{"other linear layers", []string{"-lpips-backbone", alex, "-lpips-lin", otherLin},
			`(lpips: was "…, linear layers v0.1 (shipped)", now "…, linear layers lin.safetensors sha256 ` + shortDigest(linSum) + `")`},
		{"without LPIPS", nil, "other settings (lpips:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, err := runCmd(runReproduce, args(tc.extra...)...)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("reproduce: %v\n%s", err, stderr)
			}
		})
	}

	// Each record's LPIPS is the distance of its saved reconstruction to
	// its saved label.
	be, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	m, err := lpips.Load(be, lpips.Alex, alex, "")
	if err != nil {
		t.Fatal(err)
	}
	var recorded []float64
	for i := range 2 {
		name := "0000" + strconv.Itoa(i)
		var rec runs.Record
		if err := json.Unmarshal([]byte(readFile(t, filepath.Join(task, runs.RecordDir, name+".json"))), &rec); err != nil {
			t.Fatal(err)
		}
		if rec.LPIPS == nil {
			t.Fatalf("record %s has no LPIPS", name)
		}
		label, err := imageio.Load(filepath.Join(task, runs.LabelDir, name+".png"))
		if err != nil {
			t.Fatal(err)
		}
		recon, err := imageio.Load(filepath.Join(task, runs.ReconDir, name+".png"))
		if err != nil {
			t.Fatal(err)
		}
		d, err := m.ImageDistances([]*imageio.Image{label}, []*imageio.Image{recon}, 1)
		if err != nil {
			t.Fatal(err)
		}
		if got := float64(*rec.LPIPS); math.Abs(got-d[0]) > 1e-6 || d[0] <= 0 {
			t.Errorf("record %s: LPIPS %g, recomputed %g", name, got, d[0])
		}
		recorded = append(recorded, float64(*rec.LPIPS))
	}
	summary := readFile(t, filepath.Join(out, runs.TableFile))
	if !strings.Contains(summary, "| LPIPS |") {
		t.Errorf("table without an LPIPS column:\n%s", summary)
	}
	mean := (recorded[0] + recorded[1]) / 2
	std := math.Abs(recorded[0]-recorded[1]) / math.Sqrt2
	if want := strconv.FormatFloat(mean, 'f', 4, 64) + " ± " + strconv.FormatFloat(std, 'f', 4, 64); !strings.Contains(summary, want) {
		t.Errorf("table lacks LPIPS %s:\n%s", want, summary)
	}
	rows := readCSV(t, filepath.Join(out, runs.CSVFile))
	if col := len(rows[0]) - 1; rows[0][col] != "lpips" || rows[1][col] == "" {
		t.Errorf("metrics.csv: header %v, first row %v", rows[0], rows[1])
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(out, runs.SettingsFile))), &doc); err != nil {
		t.Fatal(err)
	}
	desc, _ := doc["lpips"].(string)
	if !strings.HasPrefix(desc, "alex: backbone alex.safetensors sha256 ") {
		t.Fatalf("reproduce.json lpips %q", desc)
	}
	// The tables name the LPIPS weights themselves: summary.md, also where
	// merge -out writes it away from reproduce.json, and the papers' table.
	merged := filepath.Join(dir, "merged")
	stdout, stderr, err := runCmd(runMerge, "-quiet", "-grid-rows", "0", "-paper-table", "-out", merged, out)
	if err != nil {
		t.Fatalf("merge: %v\n%s", err, stderr)
	}
	for _, path := range []string{filepath.Join(out, runs.TableFile), filepath.Join(merged, runs.TableFile)} {
		if s := readFile(t, path); !strings.Contains(s, "LPIPS, lower is closer, with "+desc+")") {
			t.Errorf("%s does not name the LPIPS weights %q:\n%s", path, desc, s)
		}
	}
	if !strings.Contains(stdout, "LPIPS: "+desc+". FID: not computed.") {
		t.Errorf("the papers' table does not name the LPIPS weights %q:\n%s", desc, stdout)
	}
}

// TestRestoreLPIPS restores one image on the small prior with and without
// a random-weight LPIPS backbone: with it, record.json holds the distance
// of the saved reconstruction to the saved label and names the weights;
// without it, neither.
func TestRestoreLPIPS(t *testing.T) {
	dir := t.TempDir()
	alex := writeWeights(t, filepath.Join(dir, "alex.safetensors"), math.Sqrt2, lpips.Alex.BackboneParams())
	img := filepath.Join(dir, "shirt.png")
	writeTestImage(t, img, 32, 0)
	be, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	m, err := lpips.Load(be, lpips.Alex, alex, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		extra []string
		with  bool
	}{
		{"without", nil, false},
		{"with", []string{"-lpips-backbone", alex}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(dir, tc.name)
			args := append([]string{img, "-task", "gaussian_blur:kernel_size=5", "-method", "dps", "-steps", "2", "-out", out}, tc.extra...)
			stdout, stderr, err := runCmd(runRestore, args...)
			if err != nil {
				t.Fatalf("restore: %v\n%s", err, stderr)
			}
			rec, _ := readRestoreRecord(t, out)
			if (rec.LPIPS != nil) != tc.with || (rec.LPIPSWeights != "") != tc.with || strings.Contains(stdout, ", LPIPS ") != tc.with {
				t.Fatalf("lpips %v, weights %q, stdout %q", rec.LPIPS, rec.LPIPSWeights, stdout)
			}
			if !tc.with {
				return
			}
			label, err := imageio.Load(filepath.Join(out, runs.RestoreLabelFile))
			if err != nil {
				t.Fatal(err)
			}
			recon, err := imageio.Load(filepath.Join(out, runs.RestoreReconFile))
			if err != nil {
				t.Fatal(err)
			}
			d, err := m.ImageDistances([]*imageio.Image{label}, []*imageio.Image{recon}, 1)
			if err != nil {
				t.Fatal(err)
			}
			if got := float64(*rec.LPIPS); math.Abs(got-d[0]) > 1e-6 || d[0] <= 0 {
				t.Errorf("LPIPS %g, recomputed from the files %g", got, d[0])
			}
		})
	}
}

// TestEvaluateLPIPS evaluates two test images on the small prior with a
// random-weight LPIPS backbone: results.csv holds each image's distance
// (that of the saved reconstruction to the saved truth), table.md its mean
// ± std and names the LPIPS weights settings.json records; a rerun without
// LPIPS is refused as other settings.
func TestEvaluateLPIPS(t *testing.T) {
	dir := t.TempDir()
	alex := writeWeights(t, filepath.Join(dir, "alex.safetensors"), math.Sqrt2, lpips.Alex.BackboneParams())
	out := filepath.Join(dir, "out")
	args := []string{"-model", "small", "-data", testImagesDir(t), "-count", "2", "-batch", "2", "-jobs", "1",
		"-steps", "2", "-tasks", "inpaint_box:size=12", "-methods", "dps", "-keep", "2", "-quiet", "-out", out}
	for _, tc := range []struct {
		name    string
		extra   []string
		wantErr string
	}{
		{"with LPIPS", []string{"-lpips-backbone", alex}, ""},
		{"without LPIPS", nil, "other settings (lpips:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, err := runCmd(runEvaluate, append(slices.Clone(args), tc.extra...)...)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("evaluate: %v\n%s", err, stderr)
			}
		})
	}
	be, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	m, err := lpips.Load(be, lpips.Alex, alex, "")
	if err != nil {
		t.Fatal(err)
	}
	rows, err := runs.ReadEvalRows(filepath.Join(out, runs.EvalResultsFile))
	if err != nil || len(rows) != 2 {
		t.Fatalf("results: %d rows, %v", len(rows), err)
	}
	var got []float64
	for _, r := range rows {
		images := filepath.Join(out, runs.EvalImagesDir, runs.EvalLabel(r.Task))
		truth, err := imageio.Load(filepath.Join(images, fmt.Sprintf("truth-%05d.png", r.Index)))
		if err != nil {
			t.Fatal(err)
		}
		recon, err := imageio.Load(filepath.Join(images, fmt.Sprintf("%s-%05d.png", runs.EvalLabel(r.Method), r.Index)))
		if err != nil {
			t.Fatal(err)
		}
		d, err := m.ImageDistances([]*imageio.Image{truth}, []*imageio.Image{recon}, 1)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(r.LPIPS-d[0]) > 1e-6 || d[0] <= 0 {
			t.Errorf("image %d: LPIPS %g, recomputed from the files %g", r.Index, r.LPIPS, d[0])
		}
		got = append(got, r.LPIPS)
	}
	table := readFile(t, filepath.Join(out, runs.EvalTableFile))
	var mean, ss float64
	for _, v := range got {
		mean += v / float64(len(got))
	}
	for _, v := range got {
		ss += (v - mean) * (v - mean)
	}
	cell := fmt.Sprintf("%.4f ± %.4f", mean, math.Sqrt(ss/float64(len(got)-1)))
	if !strings.Contains(table, "dps LPIPS") || !strings.Contains(table, cell) {
		t.Errorf("table lacks LPIPS %s:\n%s", cell, table)
	}
	var st runs.EvalSettings
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(out, runs.EvalSettingsFile))), &st); err != nil {
		t.Fatal(err)
	}
	if note := "LPIPS (lower is closer) with " + st.LPIPS + "."; !strings.HasPrefix(st.LPIPS, "alex: backbone alex.safetensors sha256 ") || !strings.Contains(table, note) {
		t.Errorf("table.md does not name the LPIPS weights of settings.json (%q):\n%s", st.LPIPS, table)
	}
}

// TestReproduceFID runs a reproduction of three images on the small prior
// with -fid and random-weight Inception stem weights: the printed FID of
// each task and method equals the distance computed from the folder's
// reconstructions and clean images, and the one `cadps fid` computes over
// its recon/ and label/ folders with the same weights; the table names the
// weights' SHA-256; a bad -fid-dims is refused.
func TestReproduceFID(t *testing.T) {
	dir := t.TempDir()
	stem := writeWeights(t, filepath.Join(dir, "stem.safetensors"), 1.3, fid.Params(0))
	out := filepath.Join(dir, "out")
	args := []string{smallImages, "-limit", "3", "-task", "inpaint_box:size=12", "-methods", "dps",
		"-steps", "2", "-seed", "1", "-grid-rows", "0", "-quiet", "-out", out, "-fid", stem}
	for _, tc := range []struct {
		name    string
		extra   []string
		wantErr string
	}{
		{"bad dims", []string{"-fid-dims", "100"}, "-fid-dims 100"},
		{"64-d", []string{"-fid-dims", "64"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, err := runCmd(runReproduce, append(slices.Clone(args), tc.extra...)...)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("reproduce: %v\n%s", err, stderr)
			}
			be, err := backend.New()
			if err != nil {
				t.Fatal(err)
			}
			m, err := fid.Load(be, stem, 0)
			if err != nil {
				t.Fatal(err)
			}
			tab, err := runs.ReadTable([]string{out})
			if err != nil {
				t.Fatal(err)
			}
			recons, labels, err := tab.FinishedImages("inpaint_box_size=12", "dps")
			if err != nil || len(recons) != 3 {
				t.Fatalf("%d finished images, %v", len(recons), err)
			}
			var stats [2]*fid.Stats
			for i, imgs := range [][]*imageio.Image{recons, labels} {
				f, err := m.ImageFeatures(imgs, 2, nil)
				if err != nil {
					t.Fatal(err)
				}
				if stats[i], err = fid.Statistics(f[0]); err != nil {
					t.Fatal(err)
				}
			}
			d, err := fid.FrechetDistance(stats[0], stats[1])
			if err != nil {
				t.Fatal(err)
			}
			want := fmt.Sprintf("| inpaint_box_size=12 | dps | 3 | %.2f |", d.FD)
			if d.FD <= 0 || !strings.Contains(stdout, "FID (64-d)") || !strings.Contains(stdout, want) {
				t.Errorf("stdout lacks %q:\n%s", want, stdout)
			}
			// The table names the weights, and cadps fid over the task's
			// recon/ and label/ folders gives the same FID from the same
			// weights.
			digest, err := checkpoints.Digest(stem)
			if err != nil {
				t.Fatal(err)
			}
			if note := "64-d features of pytorch-fid's Inception, weights " + digest; !strings.Contains(stdout, note) {
				t.Errorf("stdout lacks %q:\n%s", note, stdout)
			}
			rows, err := tab.FID(m, fidBatch)
			if err != nil || len(rows) != 1 {
				t.Fatalf("FID rows %+v, %v", rows, err)
			}
			task := filepath.Join(out, "inpaint_box_size=12", "dps")
			js, stderr, err := runFIDArgs("-weights", stem, "-dims", "64", "-quiet", filepath.Join(task, runs.ReconDir), filepath.Join(task, runs.LabelDir))
			if err != nil {
				t.Fatalf("cadps fid: %v\n%s", err, stderr)
			}
			var rep fidReport
			if err := json.Unmarshal([]byte(js), &rep); err != nil {
				t.Fatal(err)
			}
			if rep.FID != rows[0].FID || rep.Dims != 64 || !slices.Equal(rep.Weights, []string{digest, digest}) || !slices.Equal(rep.Images, []int{3, 3}) {
				t.Errorf("cadps fid printed %s; the reproduction's FID is %.17g (64-d, weights %s, 3 images each)", js, rows[0].FID, digest)
			}
		})
	}
}
