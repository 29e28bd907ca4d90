package runs

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps/imageio"
	"github.com/cadps/toolkit/cadps/metrics"
)

// writeItem writes an item's outputs and record as a run would.
func writeItem(t *testing.T, dir string, rec Record) {
	t.Helper()
	it := Item{Task: rec.Task, Method: rec.Method, Index: rec.Index}
	for _, folder := range []string{InputDir, ReconDir, LabelDir, RecordDir} {
		if err := os.MkdirAll(filepath.Dir(it.Path(dir, folder)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := imageio.Save(it.Path(dir, LabelDir), testImage(3, 8, 0)); err != nil {
		t.Fatal(err)
	}
	if rec.HasInput {
		if err := imageio.Save(it.Path(dir, InputDir), testImage(3, 4, 0)); err != nil {
			t.Fatal(err)
		}
	}
	if rec.Status == StatusOK {
		if err := imageio.Save(it.Path(dir, ReconDir), testImage(3, 8, 1)); err != nil {
			t.Fatal(err)
		}
	}
	data, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(it.Path(dir, RecordDir), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestMerge(t *testing.T) {
	root := t.TempDir()
	a, b := filepath.Join(root, "a"), filepath.Join(root, "b")
	ok := func(method string, index int, psnr, ssim float64) Record {
		return Record{Task: "sr", Method: method, Index: index, Status: StatusOK, PSNR: metrics.Number(psnr), SSIM: metrics.Number(ssim), HasInput: true, ImageBase: "x.png"}
	}
	writeItem(t, a, ok("dps", 0, 20, 0.5))
	writeItem(t, a, ok("dps", 1, 22, 0.7))
	writeItem(t, b, ok("dps", 2, 24, 0.9))
	writeItem(t, b, ok("dps", 1, 99, 0.1)) // a duplicate: a's record counts
	writeItem(t, b, ok("cadps", 0, 25, 0.8))
	writeItem(t, b, Record{Task: "sr", Method: "cadps", Index: 1, Status: StatusFailed, Error: "sampling diverged"})
	out := filepath.Join(root, "out")
	tab, err := Merge([]string{a, b}, out, 8)
	if err != nil {
		t.Fatal(err)
	}
	if tab.Duplicates != 1 || len(tab.Records) != 5 || len(tab.Rows) != 2 {
		t.Fatalf("duplicates %d, records %d, rows %+v", tab.Duplicates, len(tab.Records), tab.Rows)
	}
	cadps, dps := tab.Rows[0], tab.Rows[1]
	if cadps.Method != "cadps" || cadps.N != 1 || cadps.Failed != 1 || cadps.PSNR != 25 || cadps.PSNRStd != 0 {
		t.Errorf("cadps row %+v", cadps)
	}
	if dps.N != 3 || dps.PSNR != 22 || math.Abs(dps.PSNRStd-2) > 1e-12 || math.Abs(dps.SSIM-0.7) > 1e-12 || math.Abs(dps.SSIMStd-0.2) > 1e-12 {
		t.Errorf("dps row %+v, want PSNR 22 ± 2, SSIM 0.7 ± 0.2", dps)
	}
	md := tab.Markdown()
	for _, want := range []string{"| sr | cadps | 1 | 25.00 ± 0.00 | 0.8000 ± 0.0000 | 1 |", "| sr | dps | 3 | 22.00 ± 2.00 | 0.7000 ± 0.2000 | 0 |"} {
		if !strings.Contains(md, want) {
			t.Errorf("table lacks %q:\n%s", want, md)
		}
	}
	csv, err := os.ReadFile(filepath.Join(out, CSVFile))
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(string(csv)), "\n"); len(lines) != 6 || !strings.HasPrefix(lines[2], "sr,cadps,1,,failed,,,") {
		t.Errorf("CSV:\n%s", csv)
	}
	// Rows: images 0, 1, 2; columns: measurement, cadps, dps, truth; 8-pixel cells.
	grid, err := imageio.Load(filepath.Join(out, GridFile("sr")))
	if err != nil {
		t.Fatal(err)
	}
	if grid.H != 3*8+4*2 || grid.W != 4*8+5*2 {
		t.Errorf("grid %s", grid.Size())
	}
	// Files names what Write wrote: the CSV, the table and the task's grid.
	entries, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	var wrote []string
	for _, e := range entries {
		wrote = append(wrote, e.Name())
	}
	if want := tab.Files(8); !slices.Equal(wrote, slices.Sorted(slices.Values(want))) || !slices.Contains(want, GridFile("sr")) {
		t.Errorf("Write wrote %v, Files(8) names %v", wrote, want)
	}
	if got := tab.Files(0); !slices.Equal(got, []string{CSVFile, TableFile}) {
		t.Errorf("Files(0) = %v, want the CSV and the table alone", got)
	}
	// A record whose outputs are gone is reported, not skipped.
	os.Remove(Item{Task: "sr", Method: "dps", Index: 2}.Path(b, ReconDir))
	if _, err := Merge([]string{b}, out, 8); err == nil || !strings.Contains(err.Error(), "missing although its record exists") {
		t.Errorf("missing output: error %v", err)
	}
	if _, err := Merge([]string{filepath.Join(root, "none")}, out, 8); err == nil {
		t.Error("merge of a missing folder: no error")
	}
}

// TestMergeRefusesMisplacedRecord checks that a record whose task, method
// or index disagree with its folder and file name is refused, naming the
// file, before anything is written: the grids' and images' paths are
// built from them.
func TestMergeRefusesMisplacedRecord(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Record)
	}{
		{"task escaping the folder", func(r *Record) { r.Task = "/../../x" }},
		{"task with a separator", func(r *Record) { r.Task = "sr/x" }},
		{"empty task", func(r *Record) { r.Task = "" }},
		{"task of another folder", func(r *Record) { r.Task = "blur" }},
		{"method escaping the folder", func(r *Record) { r.Method = ".." }},
		{"method of another folder", func(r *Record) { r.Method = "cadps" }},
		{"index of another file", func(r *Record) { r.Index = 1 }},
		{"negative index", func(r *Record) { r.Index = -1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			dir, out := filepath.Join(root, "run"), filepath.Join(root, "run", "out")
			rec := Record{Task: "sr", Method: "dps", Index: 0, Status: StatusOK, PSNR: 20, SSIM: 0.5, ImageBase: "x.png"}
			writeItem(t, dir, rec)
			writeItem(t, dir, Record{Task: "sr", Method: "dps", Index: 1, Status: StatusOK, PSNR: 21, SSIM: 0.6, ImageBase: "y.png"})
			tc.edit(&rec)
			data, err := json.Marshal(rec)
			if err != nil {
				t.Fatal(err)
			}
			path := Item{Task: "sr", Method: "dps", Index: 0}.Path(dir, RecordDir)
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err = Merge([]string{dir}, out, 8)
			if err == nil || !strings.Contains(err.Error(), path) {
				t.Fatalf("merge: error %v, want one naming %s", err, path)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("a refused merge created %s", out)
			}
			if left, _ := filepath.Glob(filepath.Join(root, "*.png")); len(left) > 0 {
				t.Errorf("a refused merge wrote %v", left)
			}
		})
	}
}
