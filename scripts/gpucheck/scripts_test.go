package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestGPUScriptsRefuseClearly runs the GPU machine's scripts where they
// cannot work (no plugin, no build, no verb) and checks that each stops at
// once with exit status 2 and a message naming what is missing, instead of
// failing later in a less obvious way.
func TestGPUScriptsRefuseClearly(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	// A copy of the scripts in an empty tree: no build/ folder.
	bare := t.TempDir()
	if err := os.MkdirAll(filepath.Join(bare, "scripts", "gpu"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"check.sh", "train.sh", "compare.sh", "tune.sh", "precision.sh", "env.sh"} {
		b, err := os.ReadFile(filepath.Join(root, "scripts", "gpu", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(bare, "scripts", "gpu", f), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// Trees whose build folders hold placeholders, so the scripts go on to
	// look for the plugin: built has every build output, binOnly has
	// train.sh's binary without its training images.
	withBuild := func(files ...string) string {
		tree := t.TempDir()
		if err := os.CopyFS(tree, os.DirFS(bare)); err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			p := filepath.Join(tree, f)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := exec.Command("bash", "-c", `printf '#!/bin/sh\nexit 0\n' | gzip -c > "$0"`, p).Run(); err != nil {
				t.Fatal(err)
			}
		}
		return tree
	}
	built := withBuild("build/gpu/gpucheck.gz", "build/gpu/unet.test.gz", "build/gpu/cadps.test.gz", "build/gpu/gpucompare.gz",
		"build/gpu/bench/torch_reference.py", "build/gputrain/cadps.gz", "build/gputrain/data/train-images-idx3-ubyte.gz")
	binOnly := withBuild("build/gputrain/cadps.gz")
	noPlugin := filepath.Join(t.TempDir(), "xla_cuda_plugin.so")
	noFixtures := t.TempDir()
	for _, c := range []struct {
		name, tree, script, verb, want string
		env                            []string
	}{
		{"check without build", bare, "check.sh", "run", "gpucheck.gz missing", nil},
		{"train without build", bare, "train.sh", "run", "cadps.gz missing", nil},
		{"check without plugin", built, "check.sh", "run", "no xla_cuda_plugin.so found", nil},
		{"train without plugin", built, "train.sh", "run", "no xla_cuda_plugin.so found", nil},
		{"train without images", binOnly, "train.sh", "run", "train-images-idx3-ubyte.gz missing: copy build/gputrain/data", nil},
		{"train with a state folder holding no checkpoint", built, "train.sh", "run", "TRAIN_STATE=scripts holds no checkpoint.safetensors",
			[]string{"TRAIN_STATE=scripts"}},
		{"check without verb", bare, "check.sh", "", "usage: scripts/gpu/check.sh build|run", nil},
		{"train with unknown verb", bare, "train.sh", "go", "usage: scripts/gpu/train.sh build|run", nil},
		{"compare without build", bare, "compare.sh", "run", "gpucheck.gz missing", nil},
		{"compare without torch", built, "compare.sh", "run", "cannot import torch", nil},
		{"compare without verb", bare, "compare.sh", "", "usage: scripts/gpu/compare.sh build|run", nil},
		{"compare with an unknown part", built, "compare.sh", "run", "COMPARE_PARTS: unknown part '8'", []string{"COMPARE_PARTS=6 8"}},
		{"tune without build", bare, "tune.sh", "run", "gpucheck.gz missing", nil},
		{"tune without plugin", built, "tune.sh", "run", "no xla_cuda_plugin.so found", nil},
		{"tune without verb", bare, "tune.sh", "", "usage: scripts/gpu/tune.sh run", nil},
		{"precision without build", bare, "precision.sh", "run", "cadps.gz missing", nil},
		{"precision without plugin", built, "precision.sh", "run", "no xla_cuda_plugin.so found", nil},
		{"precision without verb", bare, "precision.sh", "", "usage: scripts/gpu/precision.sh run", nil},
		{"tune with a variant without flags", built, "tune.sh", "run", "TUNE_VARIANTS entry 'nhwc' is not NAME=FLAGS",
			[]string{"CHECK_BACKEND=cadps", "TUNE_VARIANTS=default= ; nhwc"}},
		{"precision with an unknown precision", built, "precision.sh", "run", "unknown precision 'fp8'",
			[]string{"CHECK_BACKEND=cadps", "PRECISION_PRECISIONS=exact fp8"}},
		// Whole-process exact float32 would run their TF32 parts exact.
		{"check with CHECK_TF32", built, "check.sh", "run", "CHECK_TF32 is not for this script", []string{"CHECK_TF32=0"}},
		{"compare with CHECK_TF32", built, "compare.sh", "run", "CHECK_TF32 is not for this script", []string{"CHECK_TF32=0"}},
		{"precision with CHECK_TF32", built, "precision.sh", "run", "CHECK_TF32 is not for this script", []string{"CHECK_TF32=0"}},
		// Refused before anything compiles.
		{"check build without fixtures", bare, "check.sh", "build", "no reference fixture " + noFixtures + "/unet-a",
			[]string{"CADPS_REFERENCE_DIR=" + noFixtures}},
		{"compare build without fixtures", bare, "compare.sh", "build", "no reference fixture " + noFixtures + "/unet-a",
			[]string{"CADPS_REFERENCE_DIR=" + noFixtures}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command("bash", filepath.Join(c.tree, "scripts", "gpu", c.script), c.verb)
			cmd.Env = append(os.Environ(), "CHECK_PLUGIN="+noPlugin, "TRAIN_BACKEND=", "OUT="+t.TempDir(), "PYTHON=false")
			cmd.Env = append(cmd.Env, c.env...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 2 {
				t.Fatalf("%s %s: err %v, want exit status 2; stderr:\n%s", c.script, c.verb, err, stderr.String())
			}
			if !strings.Contains(stderr.String(), c.want) {
				t.Errorf("%s %s: stderr %q does not say %q", c.script, c.verb, stderr.String(), c.want)
			}
		})
	}
}

func TestParseMethods(t *testing.T) {
	tests := []struct {
		in      string
		want    []methodAt
		wantErr string
	}{
		{in: "dps cadps", want: []methodAt{{spec: "dps"}, {spec: "cadps"}}},
		{in: "dps;cadps:batched=true@1,4", want: []methodAt{{spec: "dps"}, {spec: "cadps:batched=true", batches: []int{1, 4}}}},
		{in: "", want: nil},
		{in: "dps foo", wantErr: `unknown method "foo"`},
		{in: "cadps@", wantErr: "names no batch"},
		{in: "cadps@0", wantErr: "bad -methods"},
		{in: "dps:batched=true", wantErr: "batched"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseMethods(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestRunFlagErrors checks that bad flags are refused before any backend or
// model is built, with an error naming the flag.
func TestRunFlagErrors(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr string
	}{
		{[]string{"-run-method", "bogus"}, `-run-method: guidance: method spec "bogus"`},
		{[]string{"-run-method", "dps:batched=true"}, "-run-method"},
		{[]string{"-methods", "dps foo"}, `unknown method "foo"`},
		{[]string{"-noise-steps", "1"}, "-noise-steps 1"},
		{[]string{"-batches", "0"}, "-batches"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			err := run(tc.args)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

// TestNsysReport runs scripts/gpu/nsys_report.py, which tune.sh runs on a
// GPU profile, on made-up nsys reports whose answers are known: ten timed
// calls of a GEMM (100 µs) and a fusion (50 µs), 200 µs apart, a one-off
// autotuning kernel and two autotuning runs of the GEMM before them, and a
// compile pause of 1.5 s after the fifth call. The window starts at the
// first call's fusion, the first point from which every timed kernel has
// at most ten launches left.
func TestNsysReport(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3")
	}
	dir := t.TempDir()
	sum := "Time (%),Total Time (ns),Instances,Avg (ns),Med (ns),Min (ns),Max (ns),StdDev (ns),Name\n" +
		"40.0,1000000,10,100000,100000,100000,100000,0,ampere_sgemm_128x64_nn\n" +
		"20.0,500000,10,50000,50000,50000,50000,0,loop_fusion_3\n" +
		"40.0,1000000,1,1000000,1000000,1000000,1000000,0,autotune_probe\n"
	// The autotuning also tries the GEMM, 0.2 s apart, before the calls.
	trace := "Start (ns),Duration (ns),CorrId,GrdX,Strm,Name\n0,1000000,1,1,7,autotune_probe\n" +
		"200000000,100000,90,1,7,ampere_sgemm_128x64_nn\n400000000,100000,91,1,7,ampere_sgemm_128x64_nn\n"
	start := int64(2e9)
	for k := range 10 {
		if k == 5 {
			start += 1.5e9
		}
		trace += fmt.Sprintf("%d,100000,%d,1,7,ampere_sgemm_128x64_nn\n%d,50000,%d,1,7,loop_fusion_3\n", start, 2*k+2, start+100000, 2*k+3)
		start += 350000
	}
	for name, text := range map[string]string{"sum.csv": sum, "trace.csv": trace} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		verb, file string
		want       []string
	}{
		{"kernels", "sum.csv", []string{
			"kernels launched at least 10 times: 1.5 ms in 2 kinds; matrix products and convolutions 66.7 %, the rest 33.3 %",
			"left out: 1 kinds launched fewer times (the compile's autotuning, one-off copies), 1.0 ms"}},
		{"gaps", "trace.csv", []string{
			"window: 3.0 ms of the last timed calls, 1 compile pauses of a second or more left out (1.5 s)",
			"GPU busy: 46.7 % of the window",
			"waits of 20 µs or more: 8, median 200 µs, largest 200 µs, 1.6 ms in all (53.3 % of the window)"}},
	} {
		out, err := exec.Command(python, "../gpu/nsys_report.py", tc.verb, filepath.Join(dir, tc.file), "10").CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", tc.verb, err, out)
		}
		for _, w := range tc.want {
			if !strings.Contains(string(out), w) {
				t.Errorf("%s: output\n%s\nlacks %q", tc.verb, out, w)
			}
		}
	}
	// A report without the columns it needs is refused by name.
	bad := filepath.Join(dir, "bad.csv")
	if err := os.WriteFile(bad, []byte("Begin,Name\n1,x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(python, "../gpu/nsys_report.py", "gaps", bad, "10").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "no column Start (ns), Duration (ns)") {
		t.Errorf("a trace without Start and Duration: %v\n%s", err, out)
	}
}

// TestCompareScriptCalls runs scripts/gpu/compare.sh with stand-ins for
// Python and gpucheck that only record how they are called, and checks the
// calls that would go wrong only on the GPU machine: torch.compile must not
// run with --tf32 on (PyTorch 2.9 and later then refuse to compile, the flag
// being set through fp32_precision), and the exact float32 part of cadps
// must get what the torch part left of its share, not a fixed half. torch
// must take its smallest batch first (its first timing sizes the others'
// time, instead of the cold first forward), stop starting measurements 8 s
// before its SIGINT (its clock starts after `import torch`), and the setup
// must be kept in NAME-setup.log.
func TestCompareScriptCalls(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	tree := scriptTree(t, "compare.sh", "env.sh")
	calls := filepath.Join(t.TempDir(), "calls")
	record := "#!/bin/sh\necho \"%s tf32override=${NVIDIA_TF32_OVERRIDE:-} xla=${XLA_FLAGS:-} $*\" >>\"$CALLS\"\n"
	python := filepath.Join(t.TempDir(), "python")
	if err := os.WriteFile(python, []byte(fmt.Sprintf(record, "python")), 0o755); err != nil {
		t.Fatal(err)
	}
	gpu := filepath.Join(tree, "build", "gpu")
	if err := os.MkdirAll(filepath.Join(gpu, "bench"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(gpu, "bench", "torch_reference.py"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	gzipStandIns(t, gpu, map[string]string{"gpucheck": fmt.Sprintf(record, "gpucheck"), "gpucompare": "#!/bin/sh\nexit 0\n"})
	dest := t.TempDir()
	cmd := exec.Command("bash", filepath.Join(tree, "scripts", "gpu", "compare.sh"), "run")
	cmd.Env = append(os.Environ(), "CALLS="+calls, "PYTHON="+python, "CHECK_BACKEND=cadps", "COMPARE_OUT="+dest,
		"COMPARE_NAME=test", "COMPARE_EXACT=1", "COMPARE_PARTS=1 2 3 4 5 6", "COMPARE_SHARES=20 60 20 20 20 20 60",
		"COMPARE_SECONDS=1000", "COMPARE_BATCHES=16,4,1",
		// The caller's own setting must reach no part: each sets its precision.
		"NVIDIA_TF32_OVERRIDE=0", "XLA_FLAGS=--caller")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Logf("compare.sh: %v (the stand-ins write no results)", err)
	}
	b, err := os.ReadFile(calls)
	if err != nil {
		t.Fatalf("no call recorded: %v\n%s", err, out)
	}
	var compiled, exact, timed []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if strings.HasPrefix(line, "python") && strings.Contains(line, " time ") {
			timed = append(timed, line)
			if !strings.Contains(line, " --batches 1,16,4 ") {
				t.Errorf("torch called without its smallest batch first (1,16,4): %s", line)
			}
		}
		// gpucheck: the batches as given, or none (the whole runs).
		if strings.HasPrefix(line, "gpucheck") && !strings.Contains(line, " -batches 16,4,1 ") && !strings.Contains(line, " -batches  -") {
			t.Errorf("gpucheck called without the batches as given (16,4,1): %s", line)
		}
		// torch's exact float32 is its own --tf32 off, never the variable,
		// which would override the settings torch records.
		if strings.HasPrefix(line, "python") && strings.Contains(line, "--compile") {
			compiled = append(compiled, line)
		}
		exactFlags := strings.Contains(line, " xla=--caller --xla_gpu_enable_triton_gemm=false ")
		switch {
		case strings.HasPrefix(line, "gpucheck tf32override=0 ") && exactFlags:
			exact = append(exact, line)
		case strings.HasSuffix(line, " -c import torch"):
			// compare.sh asking whether torch is there, before any part.
		case strings.Contains(line, "tf32override=0") || exactFlags || !strings.Contains(line, " xla=--caller "):
			t.Errorf("a part not in exact float32 ran with the exact settings, or without the caller's XLA_FLAGS: %s", line)
		}
	}
	if len(compiled) == 0 {
		t.Errorf("no torch.compile call; calls:\n%s", b)
	}
	// The first torch part: 20 s, SIGINT at 15 s, no measurement started
	// after 7 s of torch's clock.
	if len(timed) == 0 || !strings.Contains(timed[0], " --seconds 7 ") {
		t.Errorf("the first torch part (20 s, SIGINT at 15 s) not called with --seconds 7: %q", timed)
	}
	setup, err := os.ReadFile(filepath.Join(dest, "test-setup.log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"GOMLX_BACKEND=cadps", "precision: tf32: ", "COMPARE_SHARES=20 60 20 20 20 20 60", "compare: cpu, parts 1 2 3 4 5 6 7,"} {
		if !strings.Contains(string(setup), want) {
			t.Errorf("test-setup.log lacks %q:\n%s", want, setup)
		}
	}
	for _, c := range compiled {
		if strings.Contains(c, "--tf32 on") {
			t.Errorf("torch.compile called with --tf32 on: %s", c)
		}
	}
	if len(exact) != 1 {
		t.Errorf("%d gpucheck calls in exact float32, want 1 (the 60 s share, less torch's part); output:\n%s", len(exact), out)
	}
}

// TestCompareScriptSetup runs scripts/gpu/compare.sh's setup with
// stand-ins: a Python whose `import torch` hangs, an nvidia-smi and a CUDA
// start-up that hang (a wedged GPU), and part 7 asked for with
// COMPARE_EXACT=1. The setup must end within its probes' time, leaving its
// log in the output folder; part 7 must be refused without a share, and
// with one its files must not take the default run's name.
func TestCompareScriptSetup(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	tree := scriptTree(t, "compare.sh", "env.sh")
	gpu := filepath.Join(tree, "build", "gpu")
	if err := os.MkdirAll(filepath.Join(gpu, "bench"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(gpu, "bench", "torch_reference.py"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	gzipStandIns(t, gpu, map[string]string{"gpucheck": "#!/bin/sh\nexit 0\n", "gpucompare": "#!/bin/sh\nexit 0\n"})
	fakes := t.TempDir()
	write := func(name, script string) string {
		p := filepath.Join(fakes, name)
		if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// Each hang ignores SIGTERM, as a process stuck in a driver call may.
	hang := "trap '' TERM; sleep 600"
	hungTorch := write("hung-torch", "#!/bin/sh\n"+hang+"\n")
	hungCUDA := write("hung-cuda", "#!/bin/sh\ncase \"$*\" in *get_device_name*) "+hang+" ;; esac\nexit 0\n")
	torch := write("torch", "#!/bin/sh\nexit 0\n")
	plugin := write("xla_cuda_plugin.so", "")
	smiDir := filepath.Join(fakes, "smi")
	if err := os.MkdirAll(smiDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(smiDir, "nvidia-smi"), []byte("#!/bin/sh\n"+hang+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	day := time.Now().UTC().Format("2006-01-02")
	for _, c := range []struct {
		name   string
		env    []string
		status int
		says   []string
		files  map[string]string // a file under the output folder, and what it holds
		gone   []string
	}{
		{"import torch hangs", []string{"PYTHON=" + hungTorch, "CHECK_BACKEND=cadps"}, 2,
			[]string{"cannot import torch (set PYTHON)", "did not answer within its time"},
			map[string]string{"compare-setup.log": "cannot import torch"}, nil},
		{"nvidia-smi and CUDA hang", []string{"PYTHON=" + hungCUDA, "CHECK_PLUGIN=" + plugin,
			"PATH=" + smiDir + string(os.PathListSeparator) + os.Getenv("PATH"), "COMPARE_SHARES=0 0 0 0 0 0 0"}, 0,
			[]string{"nvidia-smi did not answer within its time", "compare: unknown, parts 1 2 3 4 5"},
			map[string]string{day + "-unknown-setup.log": "nvidia-smi did not answer within its time"},
			[]string{"compare-setup.log"}},
		{"part 7 without a share", []string{"PYTHON=" + torch, "CHECK_BACKEND=cadps", "COMPARE_EXACT=1"}, 2,
			[]string{"part 7 (exact float32, COMPARE_EXACT=1) has no time", "COMPARE_SHARES"}, nil, nil},
		{"part 7 with a share", []string{"PYTHON=" + torch, "CHECK_BACKEND=cadps", "COMPARE_EXACT=1",
			"COMPARE_SHARES=0 0 0 0 0 0 30"}, -1, []string{"parts 1 2 3 4 5 7"},
			map[string]string{day + "-cpu-parts-1-2-3-4-5-7-setup.log": "COMPARE_EXACT=1"},
			[]string{day + "-cpu-setup.log", day + "-cpu-torch.log"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := t.TempDir()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, "bash", filepath.Join(tree, "scripts", "gpu", "compare.sh"), "run")
			cmd.WaitDelay = 5 * time.Second // a hung stand-in left behind holds the output open
			cmd.Env = append(append(os.Environ(), "COMPARE_OUT=", "COMPARE_NAME=", "COMPARE_PARTS=", "COMPARE_EXACT=",
				"COMPARE_SHARES=", "CHECK_BACKEND=", "CHECK_PLUGIN=", "CHECK_PROBE_SECONDS=1", "OUT="+out), c.env...)
			start := time.Now()
			printed, err := cmd.CombinedOutput()
			if d := time.Since(start); d > 20*time.Second {
				t.Errorf("compare.sh took %v: a probe had no time limit", d)
			}
			var exit *exec.ExitError
			got := 0
			if errors.As(err, &exit) {
				got = exit.ExitCode()
			}
			if c.status >= 0 && got != c.status {
				t.Errorf("compare.sh: exit status %d (%v), want %d", got, err, c.status)
			}
			for _, want := range c.says {
				if !strings.Contains(string(printed), want) {
					t.Errorf("output lacks %q:\n%s", want, printed)
				}
			}
			for f, want := range c.files {
				b, err := os.ReadFile(filepath.Join(out, f))
				if err != nil || !strings.Contains(string(b), want) {
					entries, _ := os.ReadDir(out)
					t.Errorf("%s: %v, lacks %q:\n%s\nfolder: %v", f, err, want, b, entries)
				}
			}
			for _, f := range c.gone {
				if _, err := os.Stat(filepath.Join(out, f)); err == nil {
					t.Errorf("%s is there", f)
				}
			}
		})
	}
}

// TestCompareScriptHungPart runs scripts/gpu/compare.sh with a PyTorch
// stand-in that never ends and a gpucheck stand-in that makes one
// measurement of those planned, and the real gpucompare: the hung first
// part must stop at its share, the toolkit's part after it must still run,
// and the results must hold a line with "skipped" and the reason for every
// planned measurement without a result, on both sides.
func TestCompareScriptHungPart(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a part for its 20 s share")
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	tree := scriptTree(t, "compare.sh", "env.sh")
	gpu := filepath.Join(tree, "build", "gpu")
	if err := os.MkdirAll(filepath.Join(gpu, "bench"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(gpu, "bench", "torch_reference.py"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	build := exec.Command("go", "build", "-o", filepath.Join(gpu, "gpucompare"), "../gpucompare")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build gpucompare: %v\n%s", err, out)
	}
	python := filepath.Join(t.TempDir(), "python")
	if err := os.WriteFile(python, []byte("#!/bin/sh\ncase \"$*\" in *'import torch'*) exit 0 ;; esac\nexec sleep 600\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	gpucheck := "#!/bin/sh\necho 'forward      batch  1: first call (compile+run)     10.0 ms, step      1.00 ms,     1.00 images/s,     0.01 TFLOP/s'\n"
	if err := os.WriteFile(filepath.Join(gpu, "gpucheck"), []byte(gpucheck), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"gpucheck", "gpucompare"} {
		if out, err := exec.Command("gzip", "-f", filepath.Join(gpu, name)).CombinedOutput(); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
	}
	out := t.TempDir()
	cmd := exec.Command("bash", filepath.Join(tree, "scripts", "gpu", "compare.sh"), "run")
	cmd.Env = append(os.Environ(), "PYTHON="+python, "CHECK_BACKEND=cadps", "COMPARE_OUT="+out, "COMPARE_NAME=test",
		"COMPARE_SECONDS=100", "COMPARE_SHARES=20 50 0 0 0 0 0", "COMPARE_BATCHES=1", "COMPARE_RUN_STEPS=0")
	start := time.Now()
	printed, err := cmd.CombinedOutput()
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("compare.sh took %v: the hung part did not stop at its 20 s share", d)
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Errorf("compare.sh: err %v, want exit status 1 (the hung part)\n%s", err, printed)
	}
	for _, want := range []string{"exit status 124: timed out", "== cadps (", "== torch TF32: skipped"} {
		if !strings.Contains(string(printed), want) {
			t.Errorf("output lacks %q:\n%s", want, printed)
		}
	}
	b, err := os.ReadFile(filepath.Join(out, "test.jsonl"))
	if err != nil {
		t.Fatalf("%v\n%s", err, printed)
	}
	var rows []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var r struct {
			Impl, What, Precision, Options, Skipped string
			Batch                                   int
			MS                                      *float64
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		if (r.MS == nil) == (r.Skipped == "") {
			t.Errorf("a line with ms %v and skipped %q: %s", r.MS, r.Skipped, line)
		}
		rows = append(rows, fmt.Sprintf("%s %s %d %s %s: %s", r.Impl, r.What, r.Batch, r.Precision, r.Options, r.Skipped))
	}
	stopped := "not measured: the part was stopped at its 20 s (exit status 124; see test-torch.log)"
	ended := "not measured: the part ended within its 50 s without it (see test-cadps-tf32.log)"
	notRun := "part not run: 0 s left of its share or of the whole (it needs 20)"
	var want []string
	for _, part := range []struct{ impl, precision, options, why string }{
		{"torch", "default", "", stopped}, {"cadps", "tf32", "", ended}, {"cadps", "bf16", "", ended},
		// Part 6, torch.compile, runs only when COMPARE_PARTS names it.
		{"torch", "tf32", "", notRun}, {"torch", "bf16", "", notRun},
	} {
		for _, what := range []string{"forward", "dps-step", "cadps-step"} {
			why := part.why
			if part.impl == "cadps" && part.precision == "tf32" && what == "forward" {
				why = "" // the one measurement made
			}
			want = append(want, fmt.Sprintf("%s %s 1 %s %s: %s", part.impl, what, part.precision, part.options, why))
		}
	}
	slices.Sort(rows)
	slices.Sort(want)
	if !slices.Equal(rows, want) {
		t.Errorf("results:\n%s\nwant:\n%s", strings.Join(rows, "\n"), strings.Join(want, "\n"))
	}
}

// TestFailureLines runs gpucheck where every measurement fails (48×48
// cannot be pooled five times) and checks that each failure is printed with
// its measurement and batch, as gpucompare reads them: the bfloat16 forward
// pass and steps one by one, and the whole run with its batch; the model's
// line says that such a size has no FLOP count (Model.ForwardFLOPs
// panics on it).
func TestFailureLines(t *testing.T) {
	if args := os.Getenv("GPUCHECK_TEST_ARGS"); args != "" {
		if err := run(strings.Fields(args)); err != nil {
			fmt.Println("gpucheck:", err)
		}
		os.Exit(0)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestFailureLines$")
	cmd.Env = append(os.Environ(), "GOMLX_BACKEND=",
		"GPUCHECK_TEST_ARGS=-size=48 -batches= -bf16-batches=1 -noise-steps=0 -run-steps=2 -run-batch=1 -repeat=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"model: ffhq256, 93563910 parameters, no FLOP count at 48²: unet: image size 48 is not divisible by 32", "FAILED forward-bf16 batch 1: ", "FAILED dps-bf16 step batch 1: ", "FAILED cadps-bf16 step batch 1: ",
		"FAILED whole cadps run, batch 1: ", "gpucheck: 5 measurement(s) failed"} {
		if !strings.Contains(string(out), "\n"+want) {
			t.Errorf("output lacks a line starting %q:\n%s", want, out)
		}
	}
}

// TestSetupXLAFlags runs env.sh's setup_xla_env on a stand-in of JAX's
// site-packages (a plugin file and a ptxas) and checks the XLA_FLAGS it
// exports (the CUDA folder that holds ptxas joins the caller's own flags,
// unless they name one already) and the precision prefixes: exact float32
// only in exact_env (and default_env with CHECK_TF32=0), never for the whole
// process, so that a part run with tf32_env is TF32 whatever the caller's
// NVIDIA_TF32_OVERRIDE.
func TestSetupXLAFlags(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	envSh, err := filepath.Abs("../../scripts/gpu/env.sh")
	if err != nil {
		t.Fatal(err)
	}
	site := t.TempDir()
	plugin := filepath.Join(site, "jax_plugins", "xla_cuda13", "xla_cuda_plugin.so")
	ptxas := filepath.Join(site, "nvidia", "cuda_nvcc", "bin", "ptxas")
	for _, f := range []string{plugin, ptxas} {
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	dataDir := "--xla_gpu_cuda_data_dir=" + filepath.Join(site, "nvidia", "cuda_nvcc")
	const triton = " --xla_gpu_enable_triton_gemm=false"
	tf32 := func(flags string) string { return "env -u NVIDIA_TF32_OVERRIDE XLA_FLAGS=" + flags }
	exact := func(flags string) string { return "env NVIDIA_TF32_OVERRIDE=0 XLA_FLAGS=" + flags + triton }
	for _, c := range []struct {
		name           string
		env            []string
		flags          string // XLA_FLAGS, exported for every process
		exactByDefault bool   // default_env is exact_env
	}{
		{"no flags of the caller's", nil, dataDir, false},
		{"the caller's flags kept", []string{"XLA_FLAGS=--xla_dump_to=/tmp/d"}, "--xla_dump_to=/tmp/d " + dataDir, false},
		{"the caller's CUDA folder kept", []string{"XLA_FLAGS=--xla_gpu_cuda_data_dir=/opt/cuda --xla_dump_to=/tmp/d"},
			"--xla_gpu_cuda_data_dir=/opt/cuda --xla_dump_to=/tmp/d", false},
		{"the caller's NVIDIA_TF32_OVERRIDE dropped", []string{"NVIDIA_TF32_OVERRIDE=0"}, dataDir, false},
		{"exact float32 by default", []string{"CHECK_TF32=0"}, dataDir, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command("bash", "-c", `. "$0" >/dev/null && setup_xla_env >/dev/null &&
				printf '%s\n' "$XLA_FLAGS" "${NVIDIA_TF32_OVERRIDE-unset}" "${tf32_env[*]}" "${exact_env[*]}" "${default_env[*]}"`, envSh)
			cmd.Env = append(os.Environ(), "XLA_FLAGS=", "CHECK_BACKEND=", "CHECK_TF32=", "CHECK_PLUGIN="+plugin)
			cmd.Env = append(cmd.Env, c.env...)
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("setup_xla_env: %v", err)
			}
			got := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
			def := tf32(c.flags)
			if c.exactByDefault {
				def = exact(c.flags)
			}
			want := []string{c.flags, "unset", tf32(c.flags), exact(c.flags), def}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("XLA_FLAGS, NVIDIA_TF32_OVERRIDE, tf32_env, exact_env, default_env =\n%q\nwant\n%q", got, want)
			}
		})
	}
}

// sourceEnvSh returns a bash command running script after sourcing env.sh.
func sourceEnvSh(t *testing.T, script string) *exec.Cmd {
	t.Helper()
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	envSh, err := filepath.Abs("../../scripts/gpu/env.sh")
	if err != nil {
		t.Fatal(err)
	}
	return exec.Command("bash", "-c", `set -euo pipefail; . "$0"; `+script, envSh)
}

// TestBounded checks env.sh's bounded: the command ends within its
// seconds, SIGKILL included, its whole output is logged, its filter keeps
// what a crash prints, and its exit status is printed with a timeout named.
func TestBounded(t *testing.T) {
	for _, c := range []struct {
		name, cmd string
		status    int
		says      string
	}{
		{"a failure", `echo "keep: yes"; echo "line to drop"; exit 3`, 3, "exit status 3"},
		{"a crash", `echo "keep: yes"; echo "line to drop"; echo "fatal error: unexpected signal"; echo "SIGSEGV: segmentation violation";
			echo "error while loading shared libraries: libcudnn.so.9"; exit 2`, 2, "exit status 2"},
		{"a timeout", `echo "keep: yes"; echo "line to drop"; exec sleep 30`, 124, "exit status 124: timed out"},
		{"SIGINT ignored", `trap "" INT; echo "keep: yes"; echo "line to drop"; sleep 30`, 137, "exit status 137: timed out and killed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			log := filepath.Join(t.TempDir(), "log")
			cmd := sourceEnvSh(t, `bounded 4 "$LOG" '^keep:' '' bash -c "$CMD" || echo "returned $?"`)
			cmd.Env = append(os.Environ(), "LOG="+log, "CMD="+c.cmd)
			start := time.Now()
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if d := time.Since(start); d > 6*time.Second {
				t.Errorf("bounded 4 took %v", d)
			}
			printed := string(out)
			for _, want := range []string{"keep: yes", c.says, fmt.Sprintf("returned %d", c.status)} {
				if !strings.Contains(printed, want) {
					t.Errorf("output lacks %q:\n%s", want, printed)
				}
			}
			if strings.Contains(printed, "line to drop") {
				t.Errorf("the filter let through a line it drops:\n%s", printed)
			}
			for _, crash := range []string{"fatal error:", "SIGSEGV", "error while loading shared libraries"} {
				if strings.Contains(c.cmd, crash) && !strings.Contains(printed, crash) {
					t.Errorf("the filter dropped %q:\n%s", crash, printed)
				}
			}
			b, err := os.ReadFile(log)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"$ timeout 4 s: bash -c", "keep: yes", "line to drop", c.says} {
				if !strings.Contains(string(b), want) {
					t.Errorf("log lacks %q:\n%s", want, b)
				}
			}
		})
	}
}

// TestCheckCarry checks that a build over what one GPU call carries
// (64 MiB, the carried paths together) fails, naming its size and its
// largest entries, and that one under it passes.
func TestCheckCarry(t *testing.T) {
	root := t.TempDir()
	for name, size := range map[string]int64{"a/big.gz": 40 << 20, "a/small": 1 << 20, "b/other.gz": 30 << 20} {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(p, size); err != nil { // sparse: the size counts, not the disk
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		paths string
		ok    bool
		says  []string
	}{
		{"a", true, []string{"to carry: a (41.0 MiB of the 64.0 MiB"}},
		{"a b/other.gz", false, []string{"a b/other.gz together are 74448896 bytes (71.0 MiB), over the 67108864 bytes",
			"a/big.gz  40.0 MiB", "b/other.gz  30.0 MiB"}},
	} {
		cmd := sourceEnvSh(t, `check_carry "$ROOT" $PATHS`)
		cmd.Env = append(os.Environ(), "ROOT="+root, "PATHS="+c.paths)
		out, err := cmd.CombinedOutput()
		if (err == nil) != c.ok {
			t.Errorf("check_carry %s: err %v, want ok %v\n%s", c.paths, err, c.ok, out)
		}
		for _, want := range c.says {
			if !strings.Contains(string(out), want) {
				t.Errorf("check_carry %s: output lacks %q:\n%s", c.paths, want, out)
			}
		}
	}
}

// TestCheckScriptBudget runs check.sh with stand-ins for the parity
// binaries that crash or never end, and checks that the whole stays within
// CHECK_SECONDS, that a crash's lines and a timeout are printed, that the
// hung parity part stops in time to leave the timings their least share
// (CHECK_TIMING_SECONDS) and the whole runs theirs, so that they still run,
// that the parity parts left without time say so, and that the unfiltered
// output is logged under $OUT.
func TestCheckScriptBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a hung part for 25 s")
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	tree := scriptTree(t, "check.sh", "env.sh")
	gpu := filepath.Join(tree, "build", "gpu")
	if err := os.MkdirAll(gpu, 0o755); err != nil {
		t.Fatal(err)
	}
	gzipStandIns(t, gpu, map[string]string{
		"unet.test":  "#!/bin/sh\necho 'unfiltered line'\necho 'fatal error: unexpected signal during runtime execution'\nexit 2\n",
		"cadps.test": "#!/bin/sh\nexec sleep 600\n",
		"gpucheck":   "#!/bin/sh\necho \"gpucheck ran: $*\"\n",
	})
	// 125 s in all, of which the parity parts leave 40 + 40 + 20: the
	// first (a crash) ends at once, the second hangs until its 25 s are up
	// (SIGINT at 19 s), and the
	// timings and both whole runs get the rest.
	out := t.TempDir()
	cmd := exec.Command("bash", filepath.Join(tree, "scripts", "gpu", "check.sh"), "run")
	cmd.Env = append(os.Environ(), "CHECK_BACKEND=cadps", "CHECK_SECONDS=125", "CHECK_TIMING_SECONDS=40",
		"CHECK_RUN_SECONDS=40", "CHECK_NAME=test", "OUT="+out)
	start := time.Now()
	printed, err := cmd.CombinedOutput()
	if d := time.Since(start); d > 35*time.Second {
		t.Errorf("check.sh took %v: the hung parity part did not stop at 25 s", d)
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Errorf("check.sh: err %v, want exit status 1", err)
	}
	for _, want := range []string{"fatal error: unexpected signal", "exit status 2", "exit status 124: timed out",
		"== skipped: UNet deviations with TF32", "s of them kept for the parts after it; it needs 20)",
		"== timings with TF32", "gpucheck ran: -budget", "== a whole cadps run at batch 1 ", "== a whole cadps run at batch 16 "} {
		if !strings.Contains(string(printed), want) {
			t.Errorf("output lacks %q:\n%s", want, printed)
		}
	}
	if strings.Contains(string(printed), "unfiltered line") {
		t.Errorf("the filter let a line through:\n%s", printed)
	}
	b, err := os.ReadFile(filepath.Join(out, "test.log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"unfiltered line", "fatal error: unexpected signal", "exit status 124: timed out", "== timings with TF32"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("test.log lacks %q:\n%s", want, b)
		}
	}
}

// TestCheckScriptKeep runs check.sh with stand-ins that end at once and
// checks what the exact float32 parity parts get: with the settings of
// docs/results.md's run 4 (no TF32 timings, no whole runs, exact float32
// timings at batch 16) they keep only the exact float32 timings' 60 s and
// 20 s more, not the TF32 timings' share; with every timing on and a small
// CHECK_SECONDS they keep at most four fifths of it, so that they still
// run, while the parts only logged are skipped.
func TestCheckScriptKeep(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	tree := scriptTree(t, "check.sh", "env.sh")
	gpu := filepath.Join(tree, "build", "gpu")
	if err := os.MkdirAll(gpu, 0o755); err != nil {
		t.Fatal(err)
	}
	gzipStandIns(t, gpu, map[string]string{
		"unet.test":  "#!/bin/sh\necho PASS\n",
		"cadps.test": "#!/bin/sh\necho PASS\n",
		"gpucheck":   "#!/bin/sh\necho \"gpucheck ran: $*\"\n",
	})
	for _, c := range []struct {
		name string
		env  []string
		says []string
	}{
		{"run 4", []string{"CHECK_SECONDS=250", "CHECK_BATCHES=", "CHECK_BF16_BATCHES=", "CHECK_NOISE_STEPS=0",
			"CHECK_RUN_STEPS=0", "CHECK_STRICT_BATCHES=16"}, []string{
			"UNet parity in exact float32", "logged (0 s used so far; stopped at 150 s)",
			"== step and trajectory parity in exact float32, and the graph-noise tests (0 s used so far; stopped at 150 s)",
			"== UNet deviations with TF32", "== timings in exact float32"}},
		{"every timing, 250 s", []string{"CHECK_SECONDS=250"}, []string{
			"logged (0 s used so far; stopped at 50 s)",
			"== step and trajectory parity in exact float32, and the graph-noise tests (0 s used so far; stopped at 50 s)",
			"== skipped: UNet deviations with TF32", "== timings with TF32"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command("bash", filepath.Join(tree, "scripts", "gpu", "check.sh"), "run")
			cmd.Env = append(append(os.Environ(), "CHECK_BACKEND=cadps", "CHECK_NAME=test", "OUT="+t.TempDir()), c.env...)
			printed, err := cmd.CombinedOutput()
			if err != nil {
				t.Errorf("check.sh: %v, want success (the exact float32 parity parts ran and passed)", err)
			}
			for _, want := range c.says {
				if !saysPart(string(printed), want) {
					t.Errorf("output lacks %q:\n%s", want, printed)
				}
			}
		})
	}
}

// partHeader is the end of a part's header in check.sh's output.
var partHeader = regexp.MustCompile(`\((\d+) s used so far; stopped at (\d+) s\)`)

// saysPart reports whether printed holds want, where a part's header
// "(0 s used so far; stopped at S s)" in want also matches one printed a
// few seconds into the run (bash's SECONDS can tick over while the stand-ins
// run, on a loaded machine): u s used (u ≤ 5) and stopped at S or S − u s,
// as the time left for the part shrinks.
func saysPart(printed, want string) bool {
	loc := partHeader.FindStringSubmatchIndex(want)
	if loc == nil {
		return strings.Contains(printed, want)
	}
	stop, _ := strconv.Atoi(want[loc[4]:loc[5]])
	re := regexp.MustCompile(regexp.QuoteMeta(want[:loc[0]]) + partHeader.String() + regexp.QuoteMeta(want[loc[1]:]))
	for _, m := range re.FindAllStringSubmatch(printed, -1) {
		u, _ := strconv.Atoi(m[1])
		got, _ := strconv.Atoi(m[2])
		if u <= 5 && (got == stop || got == stop-u) {
			return true
		}
	}
	return false
}

// gzipStandIns writes each stand-in program (name → shell script) into
// the build folder gpu as NAME.gz, as the build step leaves the real ones.
func gzipStandIns(t *testing.T, gpu string, programs map[string]string) {
	t.Helper()
	for name, script := range programs {
		cmd := exec.Command("bash", "-c", `printf '%s' "$1" | gzip -c >"$0"`, filepath.Join(gpu, name+".gz"), script)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
	}
}

// scriptTree returns a new folder holding copies of the named scripts of
// scripts/gpu at their place in the repository (scripts/gpu/NAME), so that
// a test can run them beside stand-ins of its own.
func scriptTree(t *testing.T, names ...string) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	tree := t.TempDir()
	for _, f := range names {
		b, err := os.ReadFile(filepath.Join(root, "scripts", "gpu", f))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(tree, "scripts", "gpu", f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return tree
}

// TestSignalStops sends the process SIGINT while gpucheck's signal watch
// runs, and checks that the measurements after it are skipped with the
// signal named, as gpucompare reads them, and that a whole run's line
// names it as the reason the run stopped.
func TestSignalStops(t *testing.T) {
	sig := &signalStop{}
	stop := sig.watch()
	defer stop()
	p, err := os.FindProcess(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Signal(os.Interrupt); err != nil {
		t.Skipf("cannot send SIGINT here: %v", err)
	}
	for deadline := time.Now().Add(5 * time.Second); sig.name() == "" && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	c := &checker{o: options{budget: time.Hour}, start: time.Now(), sig: sig}
	if !c.over() {
		t.Fatalf("over() is false after SIGINT (signal recorded: %q)", sig.name())
	}
	ran := false
	c.do("forward batch 16", func() error { ran = true; return nil })
	if ran {
		t.Error("a measurement started after SIGINT")
	}
	if got, want := c.stopCause(), "stopped by SIGINT"; got != want {
		t.Errorf("stopCause() = %q, want %q", got, want)
	}
	line := wholeRunLine("cadps", 16, 20, 50, 42*time.Second, 39400*time.Millisecond, "by SIGINT")
	if want := "whole cadps run, graph noise, batch 16: 20 steps in 42.0 s (stopped by SIGINT after 20 of 50 steps), first step (compile+run) 39.4 s"; line != want {
		t.Errorf("wholeRunLine:\n%s\nwant\n%s", line, want)
	}
	// Without a signal, the budget.
	c = &checker{o: options{budget: time.Nanosecond}, start: time.Now().Add(-time.Second)}
	if !c.over() || c.stopCause() != "the 1ns budget is spent" {
		t.Errorf("over() %v, stopCause() %q: want the budget spent", c.over(), c.stopCause())
	}
}

// TestSecondSignal checks gpucheck's signal watch against what the GPU
// scripts send: GNU timeout without --foreground (bounded) sends SIGINT to
// the process and then to its process group, so a second SIGINT follows
// the first at once; it must not end the process before it prints what it
// has. A second signal a while later (a second Ctrl-C) ends it.
func TestSecondSignal(t *testing.T) {
	if os.Getenv("GPUCHECK_SIGNAL_HELPER") == "1" {
		sig := &signalStop{}
		defer sig.watch()()
		fmt.Println("watching")
		for deadline := time.Now().Add(30 * time.Second); sig.name() == "" && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(3 * time.Second) // the step in progress
		fmt.Println("survived", sig.name())
		os.Exit(0)
	}
	if testing.Short() {
		t.Skip("sends signals to processes for seconds")
	}
	// helper starts this test's helper under the command of prefix, if any.
	helper := func(prefix ...string) (*exec.Cmd, *bufio.Reader) {
		argv := append(prefix, os.Args[0], "-test.run=^TestSecondSignal$")
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = append(os.Environ(), "GPUCHECK_SIGNAL_HELPER=1")
		cmd.Stderr = os.Stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReader(stdout)
		if line, err := r.ReadString('\n'); err != nil || line != "watching\n" {
			_ = cmd.Process.Kill()
			t.Fatalf("helper: %q, %v", line, err)
		}
		return cmd, r
	}
	rest := func(r *bufio.Reader) string { b, _ := io.ReadAll(r); return string(b) }
	t.Run("through timeout", func(t *testing.T) {
		if _, err := exec.LookPath("timeout"); err != nil {
			t.Skip("no timeout")
		}
		// The old watch died at the group's copy in some runs only.
		for i := range 5 {
			cmd, r := helper("timeout", "--signal=INT", "--kill-after=20", "0.5")
			out := rest(r)
			err := cmd.Wait()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 124 || !strings.Contains(out, "survived SIGINT") {
				t.Fatalf("run %d under timeout --signal=INT: %v (want exit status 124, timed out, after the helper's own end):\n%s", i, err, out)
			}
		}
	})
	for _, c := range []struct {
		name  string
		after time.Duration // from the first signal's line to the second signal
		ends  bool
	}{
		{"a copy at once", 0, false},
		{"a second signal later", 1500 * time.Millisecond, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			cmd, r := helper()
			first := time.Now()
			if err := cmd.Process.Signal(os.Interrupt); err != nil {
				t.Skipf("cannot send SIGINT here: %v", err)
			}
			line, err := r.ReadString('\n')
			if err != nil || !strings.HasPrefix(line, "gpucheck: SIGINT: stopping") {
				t.Fatalf("after the first SIGINT: %q, %v", line, err)
			}
			time.Sleep(c.after)
			sent := time.Since(first)
			if err := cmd.Process.Signal(os.Interrupt); err != nil {
				t.Fatal(err)
			}
			out := line + rest(r)
			err = cmd.Wait()
			if !c.ends && sent >= secondSignalWait {
				t.Skipf("the machine is too busy: the second signal went %v after the first", sent)
			}
			var exit *exec.ExitError
			switch {
			case c.ends && (!errors.As(err, &exit) || exit.ExitCode() != 130 || !strings.Contains(out, "SIGINT again: exiting now")):
				t.Errorf("second SIGINT %v after the first: %v, want exit status 130:\n%s", sent, err, out)
			case !c.ends && (err != nil || !strings.Contains(out, "survived SIGINT")):
				t.Errorf("second SIGINT %v after the first: %v, want the helper's own end:\n%s", sent, err, out)
			}
		})
	}
}

// TestSignalStopsWholeRun runs gpucheck's whole run on the pure-Go backend
// (32×32, 1000 steps: minutes) and sends it SIGINT once the model is
// built: the run must stop after the step in progress and print its line,
// naming the signal, as a GPU script's SIGINT before its SIGKILL does.
func TestSignalStopsWholeRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the FFHQ-256 network")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestFailureLines$")
	cmd.Env = append(os.Environ(), "GOMLX_BACKEND=",
		"GPUCHECK_TEST_ARGS=-size=32 -batches= -bf16-batches= -noise-steps=0 -run-steps=1000 -run-batch=1 -repeat=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	buf := make([]byte, 4096)
	for !strings.Contains(out.String(), "steps, starting (") { // the run has begun
		n, err := stdout.Read(buf)
		out.Write(buf[:n])
		if err != nil {
			t.Fatalf("no line starting the run: %v\n%s", err, out.String())
		}
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Skipf("cannot send SIGINT here: %v", err)
	}
	done := make(chan struct{})
	timer := time.AfterFunc(2*time.Minute, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := stdout.Read(b)
			out.Write(b[:n])
			if err != nil {
				close(done)
				return
			}
		}
	}()
	<-done
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"gpucheck: SIGINT: stopping", " steps in ", "(stopped by SIGINT after "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// TestGPUName checks env.sh's gpu_name where nvidia-smi fails (it must not
// stop a script under set -e, nor give its error as the name) and where it
// is missing: PyTorch's name of the card, as the PyTorch reference records
// it, else "unknown".
func TestGPUName(t *testing.T) {
	fakes := t.TempDir()
	write := func(name, script string) {
		if err := os.WriteFile(filepath.Join(fakes, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write("torchpy", "#!/bin/sh\necho 'NVIDIA H200'\n")
	write("notorch", "#!/bin/sh\necho 'ModuleNotFoundError' >&2\nexit 1\n")
	failing := filepath.Join(fakes, "failing")
	if err := os.MkdirAll(failing, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(failing, "nvidia-smi"), []byte("#!/bin/sh\necho 'NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver'\nexit 9\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, realSMI := exec.LookPath("nvidia-smi")
	for _, c := range []struct {
		name, path, python, want string
	}{
		{"nvidia-smi fails", failing + string(os.PathListSeparator) + os.Getenv("PATH"), "torchpy", "NVIDIA H200"},
		{"nvidia-smi fails, no torch", failing + string(os.PathListSeparator) + os.Getenv("PATH"), "notorch", "unknown"},
		{"no nvidia-smi", os.Getenv("PATH"), "torchpy", "NVIDIA H200"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.name == "no nvidia-smi" && realSMI == nil {
				t.Skip("nvidia-smi is on the PATH here")
			}
			cmd := sourceEnvSh(t, `output_place test "" "$DIR" ""; echo "device=$device name=$name"`)
			cmd.Env = append(os.Environ(), "PATH="+c.path, "PYTHON="+filepath.Join(fakes, c.python), "CHECK_BACKEND=", "DIR="+t.TempDir())
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("output_place stopped the script: %v\n%s", err, out)
			}
			if want := "device=" + c.want + " name="; !strings.Contains(string(out), want) {
				t.Errorf("output %q lacks %q", out, want)
			}
		})
	}
}

// TestTuneScriptProfile runs scripts/gpu/tune.sh with a gpucheck stand-in
// and checks that it says first whether there will be a kernel profile (by
// default none: the XLA settings only; with TUNE_PROFILE=1 and no nsys on
// the PATH, why not), that the variants still run, and that its log starts
// with the setup.
func TestTuneScriptProfile(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	if _, err := exec.LookPath("nsys"); err == nil {
		t.Skip("nsys is on the PATH here")
	}
	tree := scriptTree(t, "tune.sh", "env.sh")
	gpu := filepath.Join(tree, "build", "gpu")
	if err := os.MkdirAll(gpu, 0o755); err != nil {
		t.Fatal(err)
	}
	gpucheck := "#!/bin/sh\necho 'dps          batch  1: first call (compile+run)     10.0 ms, step      1.00 ms,     1.00 images/s,     0.01 TFLOP/s'\n"
	gzipStandIns(t, gpu, map[string]string{"gpucheck": gpucheck})
	for _, c := range []struct {
		profile, says string
		kernels       bool // NAME-kernels.txt written
	}{
		{"", "kernel profile: off (TUNE_PROFILE=1 turns it on where nsys is on the PATH)", false},
		{"1", "kernel profile: none, nsys is not on the PATH (TUNE_PROFILE=1)", true},
	} {
		out := t.TempDir()
		cmd := exec.Command("bash", filepath.Join(tree, "scripts", "gpu", "tune.sh"), "run")
		cmd.Env = append(os.Environ(), "CHECK_BACKEND=cadps", "TUNE_OUT="+out, "TUNE_NAME=test", "TUNE_SECONDS=60",
			"TUNE_VARIANTS=default=", "TUNE_PROFILE="+c.profile)
		printed, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("tune.sh with TUNE_PROFILE=%q: %v\n%s", c.profile, err, printed)
		}
		p := string(printed)
		if i, j := strings.Index(p, c.says), strings.Index(p, "== variant default"); i < 0 || j < 0 || i > j {
			t.Errorf("TUNE_PROFILE=%q: output does not say %q before the variants:\n%s", c.profile, c.says, p)
		}
		if !strings.Contains(p, "default dps 1 1.00") {
			t.Errorf("TUNE_PROFILE=%q: no summary line of the variant:\n%s", c.profile, p)
		}
		log, err := os.ReadFile(filepath.Join(out, "test.log"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(log), "GOMLX_BACKEND=cadps") {
			t.Errorf("TUNE_PROFILE=%q: test.log does not start with the setup:\n%s", c.profile, log)
		}
		_, err = os.Stat(filepath.Join(out, "test-kernels.txt"))
		if (err == nil) != c.kernels {
			t.Errorf("TUNE_PROFILE=%q: test-kernels.txt written: %v, want %v", c.profile, err == nil, c.kernels)
		}
	}
}

// compareTree returns a tree holding compare.sh and env.sh, a placeholder
// torch_reference.py, gpucheck.gz made of the shell script given, and the
// real gpucompare, built.
func compareTree(t *testing.T, gpucheck string) string {
	t.Helper()
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	tree := scriptTree(t, "compare.sh", "env.sh")
	gpu := filepath.Join(tree, "build", "gpu")
	if err := os.MkdirAll(filepath.Join(gpu, "bench"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(gpu, "bench", "torch_reference.py"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	build := exec.Command("go", "build", "-o", filepath.Join(gpu, "gpucompare"), "../gpucompare")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build gpucompare: %v\n%s", err, out)
	}
	if err := os.WriteFile(filepath.Join(gpu, "gpucheck"), []byte(gpucheck), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"gpucheck", "gpucompare"} {
		if out, err := exec.Command("gzip", "-f", filepath.Join(gpu, name)).CombinedOutput(); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
	}
	return tree
}

// readRows reads a JSON Lines file of gpucompare's results or of a plan
// as "impl what-or-whats batch-or-batches precision: skipped" lines, sorted.
func readRows(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if strings.Contains(line, `"batches":`) {
			var p struct {
				Impl, Precision, Skipped string
				What                     []string
				Batches                  []int
			}
			if err := json.Unmarshal([]byte(line), &p); err != nil {
				t.Fatalf("%s: %v: %s", path, err, line)
			}
			rows = append(rows, fmt.Sprintf("%s %s %v %s: %s", p.Impl, strings.Join(p.What, ","), p.Batches, p.Precision, p.Skipped))
			continue
		}
		var r struct {
			Impl, What, Precision, Skipped string
			Batch                          int
			MS                             *float64
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("%s: %v: %s", path, err, line)
		}
		if r.MS != nil {
			r.Skipped = "measured"
		}
		rows = append(rows, fmt.Sprintf("%s %s %d %s: %s", r.Impl, r.What, r.Batch, r.Precision, r.Skipped))
	}
	slices.Sort(rows)
	return rows
}

// TestCompareScriptKilled kills compare.sh, default shares and all, while
// part 2's gpucheck runs, as the end of a GPU call does: the plan must
// already hold every part (those not started saying so), and NAME.jsonl
// must be there, rebuilt while the part ran (COMPARE_MERGE_SECONDS), with
// the measurement gpucheck made and a skipped line for every other
// measurement planned. It also checks the default shares: torch's
// first part stops at 65 s and gets --seconds 47, part 2 has 245 s, and
// part 2's bfloat16 batches are the largest and the smallest.
func TestCompareScriptKilled(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "gpucheck-started")
	tree := compareTree(t, "#!/bin/sh\necho \"gpucheck $*\"\n"+
		"echo 'forward      batch 16: first call (compile+run)     10.0 ms, step      1.00 ms,     1.00 images/s,     0.01 TFLOP/s'\n"+
		"touch \"$MARKER\"\nexec sleep 600\n")
	python := filepath.Join(t.TempDir(), "python")
	if err := os.WriteFile(python, []byte("#!/bin/sh\necho \"python $*\"\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	cmd := exec.Command("bash", filepath.Join(tree, "scripts", "gpu", "compare.sh"), "run")
	cmd.Env = append(withoutSettings(), "PYTHON="+python, "CHECK_BACKEND=cadps", "COMPARE_OUT="+out, "COMPARE_NAME=test",
		"MARKER="+marker, "COMPARE_MERGE_SECONDS=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var printed bytes.Buffer
	cmd.Stdout, cmd.Stderr = &printed, &printed
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(marker); err == nil {
			break
		}
		if time.Now().After(deadline) {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			cmd.Wait()
			t.Fatalf("gpucheck not started within 30 s:\n%s", printed.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Time for NAME.jsonl's rebuild while the part runs.
	time.Sleep(2500 * time.Millisecond)
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	cmd.Wait()
	text := printed.String()
	for _, want := range []string{"stopped at 65 s): --steps-run 50", " --seconds 47 ", "stopped at 245 s)",
		"gpucheck -budget 215s -preset ffhq256 -size 256 -repeat 5 -batches 16,4,1 -bf16-batches 16,1 "} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	ended := "not measured: the part ended within its 65 s without it (see test-torch.log)"
	running := "not measured: the call ended while the part ran (see test-cadps-tf32.log)"
	notStarted := "not started: the call ended before the part began"
	want := []string{
		"torch forward,dps-step,cadps-step,cadps-run [16 4 1] default: " + ended,
		"cadps forward,dps-step,cadps-step [16 4 1] tf32: " + running,
		"cadps forward,dps-step,cadps-step [16 1] bf16: " + running,
		"cadps cadps-run [16] tf32: " + notStarted,
		"torch forward,dps-step,cadps-step [16 4 1] tf32: " + notStarted,
		"torch forward,dps-step,cadps-step [16 4 1] bf16: " + notStarted,
	}
	slices.Sort(want)
	if got := readRows(t, filepath.Join(out, "test-plan.jsonl")); !slices.Equal(got, want) {
		t.Errorf("plan:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Every planned measurement has a line, the one gpucheck made measured.
	got := readRows(t, filepath.Join(out, "test.jsonl"))
	counts := map[string]int{}
	for _, r := range got {
		_, why, _ := strings.Cut(r, ": ")
		counts[why]++
	}
	if counts[ended] != 12 || counts[running] != 14 || counts["measured"] != 1 || counts[notStarted] != 19 || len(got) != 46 {
		t.Errorf("test.jsonl: %d lines, by reason %v; want 12 ended, 14 running, 1 measured, 19 not started:\n%s", len(got), counts, strings.Join(got, "\n"))
	}
	entries, _ := os.ReadDir(out)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".tmp") {
			t.Errorf("a temporary file left: %s", e.Name())
		}
	}
}

// TestCompareScriptNoPlugin runs compare.sh where the plugin is missing and
// `import torch` takes 6 s, with a PyTorch stand-in whose time budget
// skipped some measurements: PyTorch's parts must still run, each with
// torch's margin grown to the import's time plus 4 s; the toolkit's parts
// must be skipped, saying why; the reason PyTorch's measurements are
// missing must name its own time budget; and the exit status must be 1.
func TestCompareScriptNoPlugin(t *testing.T) {
	tree := compareTree(t, "#!/bin/sh\necho \"gpucheck $*\"\n")
	python := filepath.Join(t.TempDir(), "python")
	script := "#!/bin/sh\ncase \"$*\" in '-c import torch') sleep 6; exit 0 ;; -c*) exit 0 ;; esac\n" +
		"echo \"python $*\"\necho 'dps             4  skipped (time budget --seconds 5)'\n" +
		"echo '1 measurement(s) skipped to stay within --seconds 5'\n"
	if err := os.WriteFile(python, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	cmd := exec.Command("bash", filepath.Join(tree, "scripts", "gpu", "compare.sh"), "run")
	cmd.Env = append(withoutSettings(), "PYTHON="+python, "CHECK_PLUGIN="+filepath.Join(t.TempDir(), "xla_cuda_plugin.so"),
		"PATH=/usr/bin:/bin", "COMPARE_OUT="+out, "COMPARE_NAME=test", "COMPARE_SHARES=20 30 30 20 20 0 0",
		"COMPARE_SECONDS=300", "COMPARE_BATCHES=1", "COMPARE_RUN_STEPS=3")
	printed, err := cmd.CombinedOutput()
	text := string(printed)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Errorf("compare.sh: err %v, want exit status 1 (no plugin)\n%s", err, text)
	}
	if strings.Contains(text, "gpucheck -") {
		t.Errorf("gpucheck ran without a plugin:\n%s", text)
	}
	n := 0
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "python ") && strings.Contains(line, "torch_reference.py time ") {
			n++
		}
	}
	if n != 3 {
		t.Errorf("%d torch parts ran, want 3 (parts 1, 4 and 5):\n%s", n, text)
	}
	// torch_start 10 s, 6 s of import (or 7: SECONDS counts whole seconds)
	// and 4 s more: 20 s and 2 s (or 3) more, SIGINT 5 s before the end,
	// no measurement started in the 10 s (or 11) before it.
	if !strings.Contains(text, "stopped at 22 s): --steps-run 3") && !strings.Contains(text, "stopped at 23 s): --steps-run 3") ||
		!strings.Contains(text, " --seconds 7 ") {
		t.Errorf("torch's margin and share not grown by its import's time (want 22 s or 23 s, --seconds 7):\n%s", text)
	}
	noPlugin := "no PJRT plugin: no xla_cuda_plugin.so found (set CHECK_PLUGIN to its absolute path)"
	budget := "not measured: the tool skipped it to keep to its own time budget (--seconds 5) within the part's 2"
	counts := map[string]int{}
	for _, r := range readRows(t, filepath.Join(out, "test.jsonl")) {
		_, why, _ := strings.Cut(r, ": ")
		if strings.HasPrefix(why, budget) && strings.HasSuffix(why, " s (see test-torch.log)") {
			why = budget
		}
		counts[why]++
	}
	if counts[noPlugin] != 7 || counts[budget] != 10 || len(counts) != 2 {
		t.Errorf("test.jsonl by reason: %v; want 7 %q and 10 %q…", counts, noPlugin, budget)
	}
	setup, err := os.ReadFile(filepath.Join(out, "test-setup.log"))
	if err != nil || !strings.Contains(string(setup), "import torch: ") || !strings.Contains(string(setup), noPlugin) {
		t.Errorf("test-setup.log (%v) lacks the import's time or the missing plugin:\n%s", err, setup)
	}
}

// TestBoundedLineByLine checks that bounded prints each line of its
// command as it comes, not when a block of output has gathered (mawk, the
// awk of Debian and Ubuntu, reads a pipe in blocks unless told not to).
func TestBoundedLineByLine(t *testing.T) {
	cmd := sourceEnvSh(t, `bounded 20 "$LOG" . '' bash -c 'echo first; sleep 4; echo second'`)
	cmd.Env = append(os.Environ(), "LOG="+filepath.Join(t.TempDir(), "log"))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	if !sc.Scan() || sc.Text() != "first" {
		t.Errorf("first line %q (%v)", sc.Text(), sc.Err())
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("the first line came after %v, with the second: the filter reads in blocks", d)
	}
	for sc.Scan() {
	}
	if err := cmd.Wait(); err != nil {
		t.Error(err)
	}
}

// withoutSettings returns the environment without the COMPARE_, CHECK_ and
// XLA variables of the caller, so that a script runs with its defaults.
func withoutSettings() []string {
	return slices.DeleteFunc(os.Environ(), func(e string) bool {
		return strings.HasPrefix(e, "COMPARE_") || strings.HasPrefix(e, "CHECK_") || strings.HasPrefix(e, "XLA_FLAGS=") ||
			strings.HasPrefix(e, "NVIDIA_TF32_OVERRIDE=")
	})
}
