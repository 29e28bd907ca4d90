package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func f(v float64) *float64 { return &v }

// TestParseCadpsH200 reads gpucheck's output of a TF32 run on an H200
// (testdata/gpucheck-h200.log: the timings and whole runs of
// docs/gpu-runs/2026-11-28-h200-run3.log and the bfloat16 lines of run 1,
// with parity output before them).
func TestParseCadpsH200(t *testing.T) {
	got := parseTestFile(t, "gpucheck-h200.log", func(r *os.File) ([]Result, error) {
		return ParseCadps(r, "tf32", "NVIDIA H200")
	})
	want := []Result{
		{What: "forward", Batch: 1, Precision: "tf32", MS: f(8.42), FirstCallMS: f(11033.9), TFLOPS: f(46.05)},
		{What: "dps-step", Batch: 1, Precision: "tf32", MS: f(12.23)},
		{What: "cadps-step", Batch: 1, Precision: "tf32", MS: f(16.38)},
		{What: "cadps-step", Batch: 1, Precision: "tf32", MS: f(17.05), Options: "batched=true"},
		{What: "forward", Batch: 4, Precision: "tf32", MS: f(22.27)},
		{What: "dps-step", Batch: 4, Precision: "tf32", MS: f(28.49)},
		{What: "cadps-step", Batch: 4, Precision: "tf32", MS: f(38.16)},
		{What: "cadps-step", Batch: 4, Precision: "tf32", MS: f(48.39), Options: "batched=true"},
		{What: "forward", Batch: 16, Precision: "tf32", MS: f(59.61)},
		{What: "dps-step", Batch: 16, Precision: "tf32", MS: f(92.28)},
		{What: "cadps-step", Batch: 16, Precision: "tf32", MS: f(140.10)},
		{What: "cadps-run", Batch: 1, Precision: "tf32", MS: f(17.32), Steps: 1000, SPerImage: f(17.32), CompileS: f(24.1)},
		{What: "cadps-run", Batch: 16, Precision: "tf32", MS: f(142.10), Steps: 1000, SPerImage: f(8.88125), CompileS: f(39.4)},
		{What: "forward", Batch: 16, Precision: "bf16", MS: f(37.67)},
		{What: "dps-step", Batch: 16, Precision: "bf16", MS: f(60.82)},
	}
	compare(t, got, want, "cadps", "NVIDIA H200")
}

// TestParseCadpsCPU reads gpucheck's output on the pure-Go backend
// (testdata/gpucheck-cpu.log: -size 32 -batches 1 -bf16-batches 1
// -noise-steps 0 -run-steps 3 -run-batch 1 -repeat 1).
func TestParseCadpsCPU(t *testing.T) {
	got := parseTestFile(t, "gpucheck-cpu.log", func(r *os.File) ([]Result, error) {
		return ParseCadps(r, "fp32", "cpu")
	})
	var whats []string
	for _, r := range got {
		whats = append(whats, r.What+"/"+r.Precision)
		if r.MS == nil || *r.MS <= 0 {
			t.Errorf("%s %s: ms %v, want a positive time", r.What, r.Precision, r.MS)
		}
	}
	want := "forward/fp32 dps-step/fp32 cadps-step/fp32 forward/bf16 dps-step/bf16 cadps-step/bf16 cadps-run/fp32"
	if s := strings.Join(whats, " "); s != want {
		t.Errorf("measurements %s, want %s", s, want)
	}
	if run := got[len(got)-1]; run.Steps != 3 || run.SPerImage == nil || *run.SPerImage != *run.MS*3/1e3 {
		t.Errorf("whole run %+v: want 3 steps and s_per_image = 3 × ms / 1000", run)
	}
}

// TestParseCadpsLines covers what the captured logs lack: a run stopped at
// the budget, failures, and lines of other measurements.
func TestParseCadpsLines(t *testing.T) {
	tests := []struct {
		name, in string
		want     []Result
		wantErr  string
	}{
		// s_per_image is a whole run's at the time per step, for the steps
		// asked for (1000), not those run (507).
		{name: "stopped run", in: "whole cadps run, graph noise, batch 16: 507 steps in 83.9 s (stopped at the budget after 507 of 1000 steps), first step (compile+run) 11.4 s\n" +
			"whole cadps run, batch 16: 142.00 ms per step after the first; 1000 steps ≈ 142.0 s per batch, 8.88 s per image\n",
			want: []Result{{What: "cadps-run", Batch: 16, Precision: "tf32", MS: f(142), Steps: 507, StepsPlanned: 1000, SPerImage: f(142 * 1000 / 1e3 / 16), CompileS: f(11.4)}}},
		{name: "failed step", in: "FAILED cadps step batch 16: out of memory\nFAILED forward batch 4: boom\nFAILED bfloat16 parity batch 16: ignored\n",
			want: []Result{{What: "cadps-step", Batch: 16, Precision: "tf32", Error: "out of memory"}, {What: "forward", Batch: 4, Precision: "tf32", Error: "boom"}}},
		// The first four lines: gpucheck -size 48 -batches "" -bf16-batches 1 -noise-steps 0
		// -run-steps 2 -run-batch 1 -repeat 1 -methods "cadps:batched=true" (48 cannot be pooled five times).
		{name: "failed bfloat16 and whole run", in: "FAILED forward-bf16 batch 1: unet: average pooling needs even sizes, got [1 512 3 3]\n" +
			"FAILED cadps:batched=true-bf16 step batch 1: cadps: cadps step at index 1: unet: average pooling needs even sizes, got [2 512 3 3]\n" +
			"FAILED bfloat16 parity batch 1: unet: average pooling needs even sizes, got [1 512 3 3]\n" +
			"FAILED whole cadps run, batch 1: cadps: cadps step at index 1 (graph noise): unet: average pooling needs even sizes, got [1 512 3 3]\n" +
			"FAILED whole dps run, batch 1: not compared\n",
			want: []Result{{What: "forward", Batch: 1, Precision: "bf16", Error: "unet: average pooling needs even sizes, got [1 512 3 3]"},
				{What: "cadps-step", Batch: 1, Precision: "bf16", Options: "batched=true", Error: "cadps: cadps step at index 1: unet: average pooling needs even sizes, got [2 512 3 3]"},
				{What: "cadps-run", Batch: 1, Precision: "tf32", Error: "cadps: cadps step at index 1 (graph noise): unet: average pooling needs even sizes, got [1 512 3 3]"}}},
		{name: "skipped", in: "skipped forward batch 16: the 2m0s budget is spent\n" +
			"skipped cadps:batched=true-bf16 step batch 4: the 2m0s budget is spent\n" +
			"skipped bfloat16 parity batch 16: the 2m0s budget is spent\n" +
			"skipped cadps run, graph noise: the 2m0s budget is spent\n" +
			"skipped whole cadps run, batch 16: the 2m0s budget is spent\n" +
			"skipped whole dps run, batch 16: the 2m0s budget is spent\n",
			want: []Result{{What: "forward", Batch: 16, Precision: "tf32", Skipped: "the 2m0s budget is spent"},
				{What: "cadps-step", Batch: 4, Precision: "bf16", Options: "batched=true", Skipped: "the 2m0s budget is spent"},
				{What: "cadps-run", Batch: 16, Precision: "tf32", Skipped: "the 2m0s budget is spent"}}},
		// The budget ended after the first step (the compile): no time per
		// step, which the line says instead of leaving ms null unexplained.
		{name: "run stopped after the compile step", in: "whole cadps run, graph noise, batch 16: 1 steps in 44.1 s (stopped at the budget after 1 of 50 steps), first step (compile+run) 44.1 s\n",
			want: []Result{{What: "cadps-run", Batch: 16, Precision: "tf32", Steps: 1, StepsPlanned: 50, CompileS: f(44.1),
				Skipped: "stopped after the compile step (1 of 50 steps run): no time per step"}}},
		{name: "run stopped by a signal", in: "whole cadps run, graph noise, batch 16: 20 steps in 42.0 s (stopped by SIGINT after 20 of 50 steps), first step (compile+run) 39.4 s\n" +
			"whole cadps run, batch 16: 142.00 ms per step after the first; 1000 steps ≈ 142.0 s per batch, 8.88 s per image\n",
			want: []Result{{What: "cadps-run", Batch: 16, Precision: "tf32", MS: f(142), Steps: 20, StepsPlanned: 50, SPerImage: f(142 * 50 / 1e3 / 16), CompileS: f(39.4)}}},
		{name: "run cut off before its time per step", in: "whole cadps run, graph noise, batch 16: 20 steps in 42.0 s (stopped by SIGINT after 20 of 50 steps), first step (compile+run) 39.4 s\n",
			want: []Result{{What: "cadps-run", Batch: 16, Precision: "tf32", Steps: 20, StepsPlanned: 50, CompileS: f(39.4),
				Skipped: "no time per step in the output (20 steps run)"}}},
		{name: "other lines", in: "dps          batch 16: graph noise, 10 steps: first step (compile+run)   8555.7 ms, then     95.26 ms per step,   167.97 images/s\n"},
		{name: "per step without run", in: "whole cadps run, batch 1: 17.32 ms per step after the first; 1000 steps ≈ 17.3 s per batch, 17.32 s per image\n", wantErr: "first line is missing"},
		{name: "unknown label", in: "mcg          batch  1: first call (compile+run)   1.0 ms, step      2.00 ms,     1.00 images/s,    1.00 TFLOP/s\n", wantErr: `unknown measurement "mcg"`},
		{name: "dps run", in: "whole dps run, graph noise, batch 1: 3 steps in 1.0 s, first step (compile+run) 0.5 s\n", wantErr: "only CA-DPS runs"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseCadps(strings.NewReader(tc.in), "tf32", "dev")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			compare(t, got, tc.want, "cadps", "dev")
		})
	}
}

// TestParseTorchCPU reads torch_reference.py time --json lines of a CPU run
// (testdata/torch-cpu.jsonl: see testdata/README.md for the commands), one
// call per precision.
func TestParseTorchCPU(t *testing.T) {
	got := parseTestFile(t, "torch-cpu.jsonl", func(r *os.File) ([]Result, error) { return ParseTorch(r) })
	counts := map[string]int{}
	for _, r := range got {
		counts[r.What+"/"+r.Precision+"/"+r.Options]++
		if r.Device != "cpu" || r.Impl != "torch" {
			t.Errorf("%+v: want impl torch on device cpu", r)
		}
		if r.Error == "" && (r.MS == nil || *r.MS <= 0) {
			t.Errorf("%s %s: ms %v, want a positive time", r.What, r.Precision, r.MS)
		}
		if r.What == "cadps-run" && (r.Steps != 3 || r.SPerImage == nil || *r.SPerImage <= 0) {
			t.Errorf("whole run %+v: want 3 steps and s_per_image", r)
		}
	}
	for _, k := range []string{"forward/default/", "dps-step/default/", "cadps-step/default/", "cadps-run/default/",
		"forward/tf32/", "forward/fp32/", "forward/bf16/"} {
		if counts[k] == 0 {
			t.Errorf("no %s measurement; got %v", k, counts)
		}
	}
}

func TestParseTorchLines(t *testing.T) {
	base := `"record": "measurement", "device": "NVIDIA H100 80GB HBM3", "dtype": "float32", "compile": true, "channels_last": true, "cudnn_benchmark": true, "attn_recompute": "off", "matmul_fp32": "tf32", "cudnn_conv_fp32": "tf32"`
	tests := []struct {
		name, in string
		want     []Result
		wantErr  string
	}{
		{name: "compiled step", in: `{` + base + `, "kind": "dps", "batch": 16, "ms": 210.5, "ms_min": 209.0}` + "\n" + `{"record": "setup", "params": 1}`,
			want: []Result{{What: "dps-step", Batch: 16, Precision: "tf32", MS: f(210.5), MSMin: f(209), Options: "compile,channels-last,cudnn-benchmark,attn-recompute-off"}}},
		// s_per_image as cadps's: ms_per_step × the steps asked for / batch,
		// not torch's wall time of the steps it ran.
		{name: "stopped loop", in: `{` + base + `, "kind": "cadps_loop", "batch": 4, "steps": 50, "steps_done": 20, "wall_s": 2.0, "s_per_image": 0.5, "ms_per_step": 100.0}`,
			want: []Result{{What: "cadps-run", Batch: 4, Precision: "tf32", MS: f(100), Steps: 20, StepsPlanned: 50, SPerImage: f(100 * 50 / 1e3 / 4), Options: "compile,channels-last,cudnn-benchmark,attn-recompute-off"}}},
		{name: "failure", in: `{` + base + `, "kind": "cadps", "batch": 16, "error": "CUDA out of memory"}`,
			want: []Result{{What: "cadps-step", Batch: 16, Precision: "tf32", Error: "CUDA out of memory", Options: "compile,channels-last,cudnn-benchmark,attn-recompute-off"}}},
		// An odd record loses only its own line.
		{name: "loop without its time", in: `{` + base + `, "kind": "cadps_loop", "batch": 4, "steps": 50, "steps_done": 20}` + "\n" + `{` + base + `, "kind": "forward", "batch": 1, "ms": 2}`,
			want: []Result{{What: "cadps-run", Batch: 4, Precision: "tf32", Steps: 20, Error: "a whole run from torch_reference.py without ms_per_step, steps or batch, not compared", Options: "compile,channels-last,cudnn-benchmark,attn-recompute-off"},
				{What: "forward", Batch: 1, Precision: "tf32", MS: f(2), Options: "compile,channels-last,cudnn-benchmark,attn-recompute-off"}}},
		{name: "not json", in: "forward 1 2.0\n", wantErr: "torch line 1"},
		// torch_reference.py spells a failed loop's kind with a hyphen.
		{name: "failed loop", in: `{` + base + `, "kind": "cadps-loop", "batch": 16, "error": "CUDA out of memory"}` + "\n" + `{` + base + `, "kind": "forward", "batch": 1, "ms": 2}`,
			want: []Result{{What: "cadps-run", Batch: 16, Precision: "tf32", Error: "CUDA out of memory", Options: "compile,channels-last,cudnn-benchmark,attn-recompute-off"},
				{What: "forward", Batch: 1, Precision: "tf32", MS: f(2), Options: "compile,channels-last,cudnn-benchmark,attn-recompute-off"}}},
		// A kind gpucompare does not know loses only its own line.
		{name: "unknown kind", in: `{` + base + `, "kind": "sample", "batch": 1, "ms": 1}` + "\n" + `{` + base + `, "kind": "forward", "batch": 1, "ms": 2}`,
			want: []Result{{What: "sample", Batch: 1, Precision: "tf32", Error: `unknown kind "sample" from torch_reference.py, not compared`, Options: "compile,channels-last,cudnn-benchmark,attn-recompute-off"},
				{What: "forward", Batch: 1, Precision: "tf32", MS: f(2), Options: "compile,channels-last,cudnn-benchmark,attn-recompute-off"}}},
		{name: "mixed tf32", in: `{"record": "measurement", "device": "NVIDIA H100 80GB HBM3", "kind": "forward", "batch": 1, "ms": 1, "dtype": "float32", "matmul_fp32": "tf32", "cudnn_conv_fp32": "ieee"}` + "\n" + `{` + base + `, "kind": "forward", "batch": 1, "ms": 2}`,
			want: []Result{{What: "forward", Batch: 1, Precision: "unknown", Error: `matmul_fp32 "tf32" with cudnn_conv_fp32 "ieee" is no precision of the comparison, not compared`},
				{What: "forward", Batch: 1, Precision: "tf32", MS: f(2), Options: "compile,channels-last,cudnn-benchmark,attn-recompute-off"}}},
		{name: "unknown dtype", in: `{"record": "measurement", "device": "NVIDIA H100 80GB HBM3", "kind": "dps", "batch": 16, "ms": 1, "dtype": "float8", "error": "odd"}`,
			want: []Result{{What: "dps-step", Batch: 16, Precision: "unknown", Error: `unknown dtype "float8", not compared: odd`}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseTorch(strings.NewReader(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			compare(t, got, tc.want, "torch", "NVIDIA H100 80GB HBM3")
		})
	}
}

// TestRunWritesJSONL converts both captured CPU outputs and checks that
// every line has the fields the comparison needs.
func TestRunWritesJSONL(t *testing.T) {
	out := filepath.Join(t.TempDir(), "cpu.jsonl")
	err := run([]string{"-device", "cpu", "-out", out, "-torch", filepath.Join("testdata", "torch-cpu.jsonl"),
		"-cadps", "fp32=" + filepath.Join("testdata", "gpucheck-cpu.log")}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	impls := map[string]int{}
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		for _, k := range []string{"impl", "what", "batch", "precision", "ms", "device"} {
			if _, ok := m[k]; !ok {
				t.Errorf("line %q has no %q", sc.Text(), k)
			}
		}
		if m["what"] == "cadps-run" && (m["steps"] == nil || m["s_per_image"] == nil) {
			t.Errorf("whole run %q without steps or s_per_image", sc.Text())
		}
		impls[m["impl"].(string)]++
	}
	if impls["torch"] == 0 || impls["cadps"] == 0 {
		t.Errorf("lines per impl %v, want both", impls)
	}
}

func TestRunRefuses(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "x.jsonl")
	tests := []struct {
		args    []string
		wantErr string
	}{
		{[]string{"-torch", "a"}, "-out is required"},
		{[]string{"-out", out}, "nothing to convert"},
		{[]string{"-out", out, "-cadps", "tf32=a"}, "-device is required"},
		{[]string{"-out", out, "-device", "d", "-cadps", "bf16=a"}, "want tf32=FILE or fp32=FILE"},
		{[]string{"-out", out, "-torch", filepath.Join(dir, "missing.jsonl")}, "missing.jsonl"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			err := run(tc.args, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("%s written despite the error", out)
			}
		})
	}
}

// TestRunNamesEmptyInputs gives inputs from which no measurement comes (a
// part that never ran or wrote nothing; torch's JSON lines given as
// gpucheck's output): each is named on stderr, and what the others hold is
// still written.
func TestRunNamesEmptyInputs(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.log")
	if err := os.WriteFile(empty, []byte("== cadps: skipped\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	none := filepath.Join(dir, "none.jsonl")
	if err := os.WriteFile(none, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	torch := filepath.Join("testdata", "torch-cpu.jsonl")
	tests := []struct {
		name      string
		args      []string
		wantNamed []string // files named on stderr
		wantLines bool     // measurements written
	}{
		{"a skipped cadps part", []string{"-torch", torch, "-cadps", "tf32=" + empty}, []string{empty}, true},
		{"torch's output as gpucheck's", []string{"-cadps", "tf32=" + torch}, []string{torch}, false},
		{"a torch part that wrote nothing", []string{"-torch", none, "-cadps", "fp32=" + filepath.Join("testdata", "gpucheck-cpu.log")}, []string{none}, true},
		{"both with measurements", []string{"-torch", torch, "-cadps", "fp32=" + filepath.Join("testdata", "gpucheck-cpu.log")}, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "x.jsonl")
			var stderr bytes.Buffer
			if err := run(append([]string{"-device", "cpu", "-out", out}, tc.args...), &stderr); err != nil {
				t.Fatal(err)
			}
			for _, f := range tc.wantNamed {
				if !strings.Contains(stderr.String(), f+": no measurement") {
					t.Errorf("stderr %q does not name %s", stderr.String(), f)
				}
			}
			if tc.wantNamed == nil && stderr.Len() > 0 {
				t.Errorf("stderr %q, want nothing", stderr.String())
			}
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if got := len(b) > 0; got != tc.wantLines {
				t.Errorf("%d bytes written, want measurements: %v", len(b), tc.wantLines)
			}
		})
	}
}

func parseTestFile(t *testing.T, name string, parse func(*os.File) ([]Result, error)) []Result {
	t.Helper()
	r, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, err := parse(r)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// compare checks got against want field by field; a nil pointer in want
// (other than MS) is not checked.
func compare(t *testing.T, got, want []Result, impl, device string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d results, want %d:\n%s", len(got), len(want), dump(got))
	}
	for i, w := range want {
		g := got[i]
		if g.Impl != impl || g.Device != device || g.What != w.What || g.Batch != w.Batch || g.Precision != w.Precision ||
			g.Options != w.Options || g.Steps != w.Steps || g.StepsPlanned != w.StepsPlanned || g.Error != w.Error ||
			g.Skipped != w.Skipped {
			t.Errorf("result %d: got %s, want %s", i, dump([]Result{g}), dump([]Result{w}))
			continue
		}
		for _, p := range []struct {
			name      string
			got, want *float64
			always    bool
		}{{"ms", g.MS, w.MS, true}, {"ms_min", g.MSMin, w.MSMin, false}, {"first_call_ms", g.FirstCallMS, w.FirstCallMS, false},
			{"tflops", g.TFLOPS, w.TFLOPS, false}, {"s_per_image", g.SPerImage, w.SPerImage, false}, {"compile_s", g.CompileS, w.CompileS, false}} {
			switch {
			case p.want == nil && !p.always:
			case p.want == nil || p.got == nil:
				if p.got != p.want {
					t.Errorf("result %d %s %d: %s = %v, want %v", i, w.What, w.Batch, p.name, p.got, p.want)
				}
			case abs(*p.got-*p.want) > 1e-9*max(1, abs(*p.want)):
				t.Errorf("result %d %s %d: %s = %g, want %g", i, w.What, w.Batch, p.name, *p.got, *p.want)
			}
		}
	}
}

func abs(x float64) float64 { return max(x, -x) }

func dump(rs []Result) string {
	var b bytes.Buffer
	_ = WriteJSONL(&b, rs)
	return b.String()
}
