package runs

import (
	"bytes"
	"encoding/csv"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestReadEvalRowsV1 reads a results.csv written before the residual and
// the draw were recorded: its rows read with a NaN residual and draw 0,
// and are written back with the new columns.
func TestReadEvalRowsV1(t *testing.T) {
	path := filepath.Join(t.TempDir(), EvalResultsFile)
	old := strings.Join(evalHeaderV1, ",") + "\n" +
		"inpaint_box:size=12,dps,0,3,23.05,0.77,21.7,0.65,14.2,\"inpainting:32x32 mask\",2026-11-28T07:01:54Z\n"
	if err := os.WriteFile(path, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	rows, err := ReadEvalRows(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].Index != 3 || rows[0].PSNR != 23.05 || !math.IsNaN(rows[0].Residual) || rows[0].Draw != 0 {
		t.Fatalf("rows %+v", rows)
	}
	if err := WriteEvalRows(path, rows); err != nil {
		t.Fatal(err)
	}
	again, err := ReadEvalRows(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(again) != 1 || again[0].PSNR != 23.05 || !math.IsNaN(again[0].Residual) {
		t.Errorf("rewritten rows %+v", again)
	}
	data, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(data), strings.Join(evalHeader, ",")+"\n") {
		t.Errorf("rewritten with header %q", strings.SplitN(string(data), "\n", 2)[0])
	}
}

// TestReadEvalRowsHeaders reads results.csv files of every header
// version: rows written before LPIPS was recorded read as NaN, and rows
// written before the backend and the build were read with these empty.
// Each file is written back with the current header and read again with
// the same values.
func TestReadEvalRowsHeaders(t *testing.T) {
	row := []string{"sr", "dps", "0", "3", "20.5", "0.5", "18", "0.4", "1.5", "op", "2026-01-01T00:00:00Z", "0.25", "1"}
	for _, tc := range []struct {
		name   string
		header []string
		row    []string
		lpips  float64   // NaN: none
		source [3]string // backend, backend_config, toolkit
	}{
		{"v1", evalHeaderV1, row[:11], math.NaN(), [3]string{}},
		{"v2", evalHeaderV2, row, math.NaN(), [3]string{}},
		{"v3 with LPIPS", evalHeaderV3, append(slices.Clone(row), "0.125"), 0.125, [3]string{}},
		{"v3, no LPIPS", evalHeaderV3, append(slices.Clone(row), ""), math.NaN(), [3]string{}},
		{"current", evalHeader, append(slices.Clone(row), "0.125", "xla", "xla:cuda,tf32", "0123abc"), 0.125,
			[3]string{"xla", "xla:cuda,tf32", "0123abc"}},
		{"current, backend only", evalHeader, append(slices.Clone(row), "", "cadps", "", ""), math.NaN(), [3]string{"cadps", "", ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), EvalResultsFile)
			var data bytes.Buffer
			w := csv.NewWriter(&data)
			if err := w.WriteAll([][]string{tc.header, tc.row}); err != nil { // quotes a config with commas
				t.Fatal(err)
			}
			if err := os.WriteFile(path, data.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			var rows []EvalRow
			for _, when := range []string{"read", "rewritten"} {
				var err error
				if rows, err = ReadEvalRows(path); err != nil || len(rows) != 1 {
					t.Fatalf("%s: %d rows, %v", when, len(rows), err)
				}
				r := rows[0]
				if r.Index != 3 || r.PSNR != 20.5 || !(r.LPIPS == tc.lpips || math.IsNaN(r.LPIPS) && math.IsNaN(tc.lpips)) {
					t.Errorf("%s: row %+v, want LPIPS %g", when, r, tc.lpips)
				}
				if got := [3]string{r.Backend, r.BackendConfig, r.Toolkit}; got != tc.source {
					t.Errorf("%s: backend, backend_config and toolkit %q, want %q", when, got, tc.source)
				}
				if err := WriteEvalRows(path, rows); err != nil {
					t.Fatal(err)
				}
				if got, _, _ := strings.Cut(readText(t, path), "\n"); got != strings.Join(evalHeader, ",") {
					t.Errorf("%s: written with header %q", when, got)
				}
			}
		})
	}
}

// TestCheckEvalSettingsCorrupt checks that a settings.json that does not
// parse, or records no usable batch size, is refused naming the file, and
// that one the settings extend is accepted.
func TestCheckEvalSettingsCorrupt(t *testing.T) {
	st := EvalSettings{Data: "d", Count: 8, Batch: 2, Tasks: []string{"sr:factor=4"}, Methods: []string{"dps"},
		Steps: 10, Noise: "gaussian", Seed: 1, Model: "m", Digest: "sha256:x"}
	fields := `"data":"d","tasks":["sr:factor=4"],"methods":["dps"],"steps":10,"noise":"gaussian","seed":1,"model":"m","weights_sha256":"sha256:x","keep_images":0`
	for _, c := range []struct {
		name, file string
		want       string // error substring; "" for success
	}{
		{"extended", `{"count":4,"batch":2,` + fields + `}`, ""},
		{"batch 0", `{"count":4,"batch":0,` + fields + `}`, "is corrupt: batch 0"},
		{"negative batch", `{"count":4,"batch":-2,` + fields + `}`, "is corrupt: batch -2"},
		{"no batch", `{"count":4,` + fields + `}`, "is corrupt: batch 0"},
		{"not JSON", `{"count":`, "is corrupt"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), EvalSettingsFile)
			if err := os.WriteFile(path, []byte(c.file), 0o644); err != nil {
				t.Fatal(err)
			}
			changed, err := CheckEvalSettings(path, st)
			switch {
			case c.want == "" && (err != nil || !changed):
				t.Fatalf("changed %v, error %v; want the extension accepted", changed, err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path)):
				t.Fatalf("error %v, want one naming %s and saying %q", err, path, c.want)
			}
		})
	}
}
