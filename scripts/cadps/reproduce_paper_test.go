package main

import (
	"bytes"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps/imageio"
	"github.com/cadps/toolkit/cadps/metrics/fid"
	"github.com/cadps/toolkit/cadps/metrics/lpips"
	"github.com/cadps/toolkit/cadps/restore"
)

// paperHelperEnv makes the test binary act as the cadps command (its
// arguments after "--"), so that the script can run it.
const paperHelperEnv = "CADPS_TEST_AS_COMMAND"

func TestPaperHelperProcess(t *testing.T) {
	if os.Getenv(paperHelperEnv) == "" {
		t.Skip("helper process for TestPaperScript")
	}
	os.Exit(run(flag.Args(), os.Stdout, os.Stderr))
}

// toyTasks are the paper's five tasks at the small prior's 32×32: the box
// is half the side, as 128 is of 256.
const toyTasks = `super_resolution:factor=4
inpaint_box:size=16
inpaint_random:fraction=0.92
gaussian_blur:kernel_size=61,sigma=3.0
motion_blur:kernel_size=61,intensity=0.5`

// TestPaperScript runs scripts/paper/reproduce.sh end to end at toy size
// (the small prior, two images, two steps, random-weight LPIPS and FID
// networks), as two shards into one folder, and checks that the run after
// them prints the papers' table with every task and method and finite
// numbers.
func TestPaperScript(t *testing.T) {
	t.Parallel() // with the package's other long, self-contained tests, on the second core
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("needs bash")
	}
	dir := t.TempDir()
	alex := writeWeights(t, filepath.Join(dir, "alex.safetensors"), math.Sqrt2, lpips.Alex.BackboneParams())
	stem := writeWeights(t, filepath.Join(dir, "inception.safetensors"), 1.3, fid.Params(0))
	wrapper := paperCommand(t, dir)
	out := filepath.Join(dir, "out")
	var last string
	// Shards 0 and 1 of 2, then a run without a shard, which finds every
	// item finished and prints the tables again.
	for _, shard := range [][2]string{{"SHARD=0", "SHARD_COUNT=2"}, {"SHARD=1", "SHARD_COUNT=2"}, {"SHARD=", "SHARD_COUNT="}} {
		cmd := exec.Command("bash", "../paper/reproduce.sh", "-quiet", "-grid-rows", "0")
		cmd.Env = append(os.Environ(), "CADPS="+wrapper, "MODEL=small", "WEIGHTS=", "IMAGES="+smallImages,
			"COUNT=2", "STEPS=2", "OUT="+out, "LPIPS_NET=alex", "LPIPS_BACKBONE="+alex, "FID_WEIGHTS="+stem, "FID_DIMS=64",
			"TASKS="+toyTasks, shard[0], shard[1])
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s %s: %v\n%s\n%s", shard[0], shard[1], err, stdout.String(), stderr.String())
		}
		last = stdout.String()
	}
	t.Logf("the last shard printed:\n%s", last)
	cells := paperTableCells(t, last, 2)
	methods := []string{"dps", "cadps"}
	for _, task := range strings.Split(toyTasks, "\n") {
		label := restore.SpecTask(task).Label
		row, ok := cells[label]
		if !ok {
			t.Errorf("no row for %s in\n%s", label, last)
			continue
		}
		if len(row) != 4*len(methods) {
			t.Errorf("%s: %d cells, want %d", label, len(row), 4*len(methods))
		}
		for i, c := range row {
			if v, err := strconv.ParseFloat(c, 64); err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				t.Errorf("%s, column %d: %q is not a finite number", label, i, c)
			}
		}
	}
	for _, m := range methods {
		for _, col := range []string{"LPIPS", "FID", "PSNR", "SSIM"} {
			if !strings.Contains(last, m+" "+col) {
				t.Errorf("no column %s %s in\n%s", m, col, last)
			}
		}
	}
}

// paperTableCells returns the metric cells of the table in the papers'
// layout (the one whose header starts "| task | images | <method> LPIPS")
// by task, after checking that each row's images column holds want.
func paperTableCells(t *testing.T, out string, want int) map[string][]string {
	t.Helper()
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		if !strings.HasPrefix(l, "| task | images |") || !strings.Contains(l, "LPIPS ↓") {
			continue
		}
		cells := map[string][]string{}
		for _, r := range lines[i+2:] {
			if !strings.HasPrefix(r, "|") {
				break
			}
			f := strings.Split(strings.Trim(r, "|"), "|")
			for j := range f {
				f[j] = strings.TrimSpace(f[j])
			}
			if f[1] != strconv.Itoa(want) {
				t.Errorf("%s: images %q, want %d", f[0], f[1], want)
			}
			cells[f[0]] = f[2:]
		}
		return cells
	}
	t.Fatalf("no table in the papers' layout in\n%s", out)
	return nil
}

// TestPaperScriptWithoutMetrics runs scripts/paper/reproduce.sh with
// LPIPS_DIR and FID_WEIGHTS set and empty, as a dry run without the metric
// weights does: the table then has PSNR and SSIM, and "–" for LPIPS and
// FID.
func TestPaperScriptWithoutMetrics(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("needs bash")
	}
	dir := t.TempDir()
	wrapper := paperCommand(t, dir)
	cmd := exec.Command("bash", "../paper/reproduce.sh", "-quiet", "-grid-rows", "0")
	cmd.Env = append(os.Environ(), "CADPS="+wrapper, "MODEL=small", "WEIGHTS=", "IMAGES="+smallImages,
		"COUNT=1", "STEPS=2", "OUT="+filepath.Join(dir, "out"), "LPIPS_DIR=", "LPIPS_BACKBONE=", "FID_WEIGHTS=",
		"TASKS=sr:factor=2", "SHARD=", "SHARD_COUNT=")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	row := paperTableCells(t, stdout.String(), 1)["sr_factor=2"]
	if len(row) != 8 {
		t.Fatalf("row %q, want 8 cells in\n%s", row, stdout.String())
	}
	for i, c := range row {
		metric := i % 4 // LPIPS, FID, PSNR, SSIM
		if _, err := strconv.ParseFloat(c, 64); (metric < 2) != (err != nil) {
			t.Errorf("column %d: %q; want – for LPIPS and FID, a number for PSNR and SSIM", i, c)
		}
	}
}

// TestPaperScriptNamesCPUBackend checks that scripts/paper/reproduce.sh
// says, before it starts, that a model other than the shipped small prior
// runs on the CPU when GOMLX_BACKEND is unset, and says nothing when a
// backend is set or the model is the small prior. The command is `true`,
// so that only the script runs.
func TestPaperScriptNamesCPUBackend(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("needs bash")
	}
	truePath, err := exec.LookPath("true")
	if err != nil {
		t.Skip("needs true")
	}
	for _, tc := range []struct {
		name     string
		env      []string
		wantNote bool
	}{
		{"ffhq256 without a backend", []string{"MODEL=ffhq256"}, true},
		{"ffhq256 with an empty backend", []string{"MODEL=ffhq256", "GOMLX_BACKEND="}, true},
		{"ffhq256 on XLA", []string{"MODEL=ffhq256", "GOMLX_BACKEND=xla:/opt/xla_cuda_plugin.so"}, false},
		{"the small prior without a backend", []string{"MODEL=small"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var env []string
			for _, kv := range os.Environ() {
				if !strings.HasPrefix(kv, "GOMLX_BACKEND=") && !strings.HasPrefix(kv, "MODEL=") {
					env = append(env, kv)
				}
			}
			cmd := exec.Command("bash", "../paper/reproduce.sh")
			cmd.Env = append(env, append([]string{"CADPS=" + truePath, "SHARD=", "SHARD_COUNT="}, tc.env...)...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("%v\n%s", err, stderr.String())
			}
			if got := strings.Contains(stderr.String(), "GOMLX_BACKEND is unset"); got != tc.wantNote {
				t.Errorf("note about the CPU backend: %v, want %v; stderr:\n%s", got, tc.wantNote, stderr.String())
			}
		})
	}
}

// TestPaperScriptShardCount checks that scripts/paper/reproduce.sh passes
// SHARD_COUNT on without SHARD, inside a job array or not, so that cadps
// takes the array's index or refuses a count without one, instead of the
// script dropping it and every worker running every item; and that it
// runs where HOME is unset.
func TestPaperScriptShardCount(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("needs bash")
	}
	dir := t.TempDir()
	fake := filepath.Join(dir, "cadps")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\necho \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		env  []string
		want string
	}{
		{"count alone", []string{"SHARD_COUNT=3"}, "-shard-count 3"},
		{"count in a Slurm array", []string{"SHARD_COUNT=3", "SLURM_ARRAY_TASK_ID=1"}, "-shard-count 3"},
		{"index and count", []string{"SHARD=1", "SHARD_COUNT=3"}, "-shard 1/3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var env []string
			for _, kv := range os.Environ() {
				if !strings.HasPrefix(kv, "HOME=") && !strings.HasPrefix(kv, "SHARD") && !strings.HasPrefix(kv, "SLURM_") && !strings.HasPrefix(kv, "JOB_COMPLETION_INDEX=") {
					env = append(env, kv)
				}
			}
			cmd := exec.Command("bash", "../paper/reproduce.sh")
			cmd.Env = append(env, append([]string{"CADPS=" + fake, "MODEL=small", "OUT=" + filepath.Join(dir, "out")}, tc.env...)...)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Errorf("cadps got\n%s\nwant %q among its arguments", out, tc.want)
			}
		})
	}
}

// TestPaperCostClaims checks what docs/reproduce-paper.md tells a user to
// expect of the whole table (1000 images, 5 tasks, DPS and CA-DPS, 1000
// steps at 256×256): the GPU time follows from docs/cuda.md's batch-1
// times of a DPS and a CA-DPS image (reproduce samples one image at a
// time), and the disk from the files each item writes, the progress strip
// laid out as restore lays it out.
func TestPaperCostClaims(t *testing.T) {
	read := func(name string) string {
		data, err := os.ReadFile(filepath.Join("..", "..", "docs", name))
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(strings.Fields(string(data)), " ")
	}
	cuda, paper := read("cuda.md"), read("reproduce-paper.md")
	// batch1 returns the seconds of a row's batch-1 cell in cuda.md's
	// table ("| ROW | 17.3 s | …").
	batch1 := func(row string) float64 {
		_, rest, ok := strings.Cut(cuda, "| "+row+" | ")
		if !ok {
			t.Fatalf("docs/cuda.md has no row %q", row)
		}
		cell, _, _ := strings.Cut(rest, " s")
		v, err := strconv.ParseFloat(cell, 64)
		if err != nil {
			t.Fatalf("docs/cuda.md, row %q: batch-1 cell %q: %v", row, cell, err)
		}
		return v
	}
	dps := batch1("DPS, 1000 × one step call (noise uploaded as inputs, not drawn), per image")
	cadps := batch1("CA-DPS, whole 1000-step run, graph noise, per image")
	const images, tasks, methods, side = 1000, 5, 2, 256
	hours := float64(images*tasks) * (dps + cadps) / 3600

	// 1000 steps keep x̂0 every 100 steps: ten frames (restore.Options.ProgressEvery).
	frame, err := imageio.New(3, side, side)
	if err != nil {
		t.Fatal(err)
	}
	res := restore.Result{Progress: make([]restore.Snapshot, 10)}
	for i := range res.Progress {
		res.Progress[i] = restore.Snapshot{Step: 100 * (i + 1), Image: frame}
	}
	strip, err := res.ProgressStrip()
	if err != nil {
		t.Fatal(err)
	}
	imageBytes := 3 * side * side
	stripBytes := strip.C * strip.H * strip.W
	item := 3*imageBytes + stripBytes // clean image, measurement, reconstruction, strip
	total := float64(images * tasks * methods * item)
	for _, c := range []struct{ what, want string }{
		{"seconds per image", fmt.Sprintf("a DPS image takes about %.1f s and a CA-DPS image about %.1f s", dps, cadps)},
		{"GPU hours", fmt.Sprintf("about %.0f hours of that GPU (%d × %.1f s + %d × %.1f s)", hours, images*tasks, dps, images*tasks, cadps)},
		{"bytes per item", fmt.Sprintf("up to about %.1f MB", float64(item)/1e6)},
		{"bytes per image", fmt.Sprintf("at most %s bytes each", thousands(int64(imageBytes)))},
		{"the strip", fmt.Sprintf("(%d×%d, %s bytes)", strip.W, strip.H, thousands(int64(stripBytes)))},
		{"the whole table", fmt.Sprintf("up to about %.0f GB for the %s items", total/1e9, strings.ReplaceAll(thousands(images*tasks*methods), ",", " "))},
	} {
		if !strings.Contains(paper, c.want) {
			t.Errorf("docs/reproduce-paper.md, %s: want %q", c.what, c.want)
		}
	}
}

// TestPaperScriptCountGrows runs scripts/paper/reproduce.sh as
// docs/reproduce-paper.md says to get the table over the released metric
// scripts' first images and then go on to the rest: a run with a small
// COUNT tables that many images, a rerun with a larger COUNT into the
// same OUT goes on to it, and a rerun with the small COUNT again still
// tables every finished image.
func TestPaperScriptCountGrows(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("needs bash")
	}
	dir := t.TempDir()
	wrapper := paperCommand(t, dir)
	out := filepath.Join(dir, "out")
	for _, c := range []struct {
		count, want int
	}{
		{1, 1}, // the first images, as COUNT=150 of the 1000
		{2, 2}, // the same OUT goes on to more
		{1, 2}, // a smaller COUNT still tables every finished image
	} {
		cmd := exec.Command("bash", "../paper/reproduce.sh", "-quiet", "-grid-rows", "0")
		cmd.Env = append(os.Environ(), "CADPS="+wrapper, "MODEL=small", "WEIGHTS=", "IMAGES="+smallImages,
			"COUNT="+strconv.Itoa(c.count), "STEPS=2", "OUT="+out, "LPIPS_DIR=", "LPIPS_BACKBONE=", "FID_WEIGHTS=",
			"TASKS=sr:factor=2", "SHARD=", "SHARD_COUNT=")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("COUNT=%d: %v\n%s\n%s", c.count, err, stdout.String(), stderr.String())
		}
		if _, ok := paperTableCells(t, stdout.String(), c.want)["sr_factor=2"]; !ok {
			t.Errorf("COUNT=%d: no row for sr_factor=2 in\n%s", c.count, stdout.String())
		}
	}
}

// paperCommand writes, in dir, the script the paper script runs as
// CADPS: this test binary as TestPaperHelperProcess, which runs the
// command with the arguments it is given. It returns the script's path.
func paperCommand(t *testing.T, dir string) string {
	t.Helper()
	wrapper := filepath.Join(dir, "cadps")
	script := fmt.Sprintf("#!/bin/sh\n%s=1 exec %q -test.run '^TestPaperHelperProcess$' -- \"$@\"\n", paperHelperEnv, os.Args[0])
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return wrapper
}
