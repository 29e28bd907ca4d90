package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cadps/toolkit/cadps/train"
	"github.com/cadps/toolkit/checkpoints"
)

// writeTinyIDX writes n 6×6 images as an (uncompressed) IDX file.
func writeTinyIDX(t *testing.T, n int) string {
	t.Helper()
	var b bytes.Buffer
	b.Write([]byte{0, 0, 0x08, 3})
	for _, d := range []uint32{uint32(n), 6, 6} {
		binary.Write(&b, binary.BigEndian, d)
	}
	for k := range n * 36 {
		b.WriteByte(byte(k * 53 % 256))
	}
	path := filepath.Join(t.TempDir(), "images-idx3-ubyte")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// tinyTrainArgs is a few-second model on 8×8 images.
func tinyTrainArgs(data, out string) []string {
	return []string{"--data", data, "--out", out, "--image-size", "8", "--channel-mult", "1,2",
		"--attention-resolutions", "4", "--batch-size", "2", "--warmup", "2", "--ema", "0.9", "--seed", "7"}
}

func runTrainArgs(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := trainCommand().run(args, &stdout, &stderr)
	return stdout.String() + stderr.String(), err
}

// TestTrainResumeMatchesUninterrupted stops a run after 2 steps, resumes it
// to 4 and compares every tensor of the checkpoint and the EMA weights, and
// the loss log, with a run of 4 steps that never stopped.
func TestTrainResumeMatchesUninterrupted(t *testing.T) {
	data := writeTinyIDX(t, 5)
	straight, stopped := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	if out, err := runTrainArgs(t, append(tinyTrainArgs(data, straight), "--steps", "4")...); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if out, err := runTrainArgs(t, append(tinyTrainArgs(data, stopped), "--steps", "2")...); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	out, err := runTrainArgs(t, "--data", data, "--out", stopped, "--steps", "4", "--resume")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "at step 2") {
		t.Errorf("resume output %q does not say it resumed at step 2", out)
	}
	for _, name := range []string{train.CheckpointFile, train.EMAFile} {
		a, err := checkpoints.LoadSafetensors(filepath.Join(straight, name))
		if err != nil {
			t.Fatal(err)
		}
		b, err := checkpoints.LoadSafetensors(filepath.Join(stopped, name))
		if err != nil {
			t.Fatal(err)
		}
		if len(a.Names) != len(b.Names) || len(a.Names) == 0 {
			t.Fatalf("%s: %d and %d tensors", name, len(a.Names), len(b.Names))
		}
		for _, n := range a.Names {
			tb, ok := b.Tensors[n]
			if !ok || !bytes.Equal(a.Tensors[n].Data, tb.Data) {
				t.Errorf("%s: tensor %s differs between the resumed and the uninterrupted run", name, n)
			}
		}
		if a.Metadata["step"] != "4" || b.Metadata["step"] != "4" {
			t.Errorf("%s: steps %s and %s, want 4", name, a.Metadata["step"], b.Metadata["step"])
		}
	}
	la, err := os.ReadFile(filepath.Join(straight, train.LossFile))
	if err != nil {
		t.Fatal(err)
	}
	lb, err := os.ReadFile(filepath.Join(stopped, train.LossFile))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(la, lb) || strings.Count(string(la), "\n") != 5 {
		t.Errorf("loss logs differ or lack steps:\n%s\n---\n%s", la, lb)
	}
	if _, err := os.Stat(filepath.Join(stopped, train.LossPlotFile)); err != nil {
		t.Errorf("no loss plot: %v", err)
	}
}

func TestTrainUsageErrors(t *testing.T) {
	data := writeTinyIDX(t, 3)
	existing := filepath.Join(t.TempDir(), "run")
	if out, err := runTrainArgs(t, append(tinyTrainArgs(data, existing), "--steps", "1")...); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	badJSON := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(badJSON, []byte(`{"image_size": 8, "num_chanels": 32}`), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		args  []string
		usage bool
		want  string
	}{
		{"no data", []string{"--out", t.TempDir()}, true, "--data"},
		{"no out", []string{"--data", data}, true, "--out"},
		{"bad steps", []string{"--data", data, "--out", t.TempDir(), "--steps", "0"}, true, "--steps"},
		{"stray argument", []string{"--data", data, "--out", t.TempDir(), "extra"}, true, "unexpected"},
		{"bad ema", []string{"--data", data, "--out", t.TempDir(), "--ema", "1"}, true, "EMA"},
		{"resume changes model", []string{"--data", data, "--out", existing, "--resume", "--num-channels", "64"}, true, "--num-channels"},
		{"config and model flags", []string{"--data", data, "--out", t.TempDir(), "--config", badJSON, "--num-channels", "64"}, true, "--config"},
		{"config typo", []string{"--data", data, "--out", t.TempDir(), "--config", badJSON}, false, "num_chanels"},
		{"resume nothing", []string{"--data", data, "--out", t.TempDir(), "--resume"}, false, "no checkpoint"},
		{"run exists", append(tinyTrainArgs(data, existing), "--steps", "2"), false, "--resume"},
		{"resume past the end", []string{"--data", data, "--out", existing, "--resume", "--steps", "1"}, false, ""},
		{"missing data", []string{"--data", filepath.Join(t.TempDir(), "none"), "--out", t.TempDir()}, false, "no such file"},
		{"bad loss weight", []string{"--data", data, "--out", t.TempDir(), "--loss-weight", "snr:5"}, true, "unknown loss weight"},
		{"resume bad lr", []string{"--data", data, "--out", existing, "--resume", "--lr", "0"}, true, "--lr"},
		{"resume bad loss weight", []string{"--data", data, "--out", existing, "--resume", "--loss-weight", "trunc-snr:0"}, true, "--loss-weight"},
		{"out is the data folder", []string{"--data", filepath.Dir(data), "--out", filepath.Dir(data)}, true, "--out " + filepath.Dir(data) + " is the --data folder"},
		{"out is the data folder, spelt otherwise", []string{"--data", filepath.Dir(data), "--out", filepath.Dir(data) + string(filepath.Separator) + "."}, true, "is the --data folder"},
		{"resume into the data folder", []string{"--data", filepath.Dir(data), "--out", filepath.Dir(data), "--resume"}, true, "is the --data folder"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := runTrainArgs(t, c.args...)
			if c.name == "resume past the end" {
				// Resuming a finished run to its own length is a no-op that succeeds.
				if err != nil {
					t.Fatalf("%v\n%s", err, out)
				}
				return
			}
			if err == nil {
				t.Fatalf("succeeded:\n%s", out)
			}
			if errors.As(err, new(usageError)) != c.usage {
				t.Errorf("usage error = %v, want %v (%v)", !c.usage, c.usage, err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not mention %q", err, c.want)
			}
		})
	}
	// The refusals into the data folder left it as it was.
	if entries, err := os.ReadDir(filepath.Dir(data)); err != nil || len(entries) != 1 {
		t.Errorf("the data folder holds %v (%v), want its IDX file alone", entries, err)
	}
}

// TestTrainLossWeightSwitch resumes a uniform run with --loss-weight and
// wants the switch announced and recorded in the weights it writes.
func TestTrainLossWeightSwitch(t *testing.T) {
	data := writeTinyIDX(t, 5)
	dir := filepath.Join(t.TempDir(), "run")
	if out, err := runTrainArgs(t, append(tinyTrainArgs(data, dir), "--steps", "2")...); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	out, err := runTrainArgs(t, "--data", data, "--out", dir, "--steps", "3", "--resume", "--loss-weight", "trunc-snr:100", "--lr", "1e-4")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"loss weight trunc-snr:100 from step 3 on (was uniform)", "learning rate 0.0001 from step 3 on (was 0.0002)"} {
		if !strings.Contains(out, want) {
			t.Errorf("output %q does not announce %q", out, want)
		}
	}
	ema, err := checkpoints.LoadSafetensors(filepath.Join(dir, train.EMAFile))
	if err != nil {
		t.Fatal(err)
	}
	if ema.Metadata["loss_weight"] != "trunc-snr:100" || ema.Metadata["step"] != "3" ||
		!strings.Contains(ema.Metadata["history"], `{"step":2,"setting":"lr","from":"0.0002","to":"0.0001"}`) {
		t.Errorf("EMA metadata %v", ema.Metadata)
	}
	// Resuming again without the flag keeps the weighting.
	out, err = runTrainArgs(t, "--data", data, "--out", dir, "--steps", "4", "--resume")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if strings.Contains(out, "loss weight") || strings.Contains(out, "learning rate") {
		t.Errorf("a plain resume announced a switch: %q", out)
	}
	ckpt, err := checkpoints.LoadSafetensors(filepath.Join(dir, train.CheckpointFile))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ckpt.Metadata["config"], `"loss_weight":"trunc-snr:100","history":[{"step":2,"setting":"lr"`) {
		t.Errorf("checkpoint config %s", ckpt.Metadata["config"])
	}
}

// TestTrainLeavesNoGoroutine checks that a training run, once it returns,
// leaves no goroutine of its own behind: the one that turns SIGINT and
// SIGTERM into a stop after the current step ends with the run.
func TestTrainLeavesNoGoroutine(t *testing.T) {
	data := writeTinyIDX(t, 3)
	if out, err := runTrainArgs(t, append(tinyTrainArgs(data, filepath.Join(t.TempDir(), "run")), "--steps", "1")...); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var stacks string
	for range 100 {
		buf := make([]byte, 1<<20)
		stacks = string(buf[:runtime.Stack(buf, true)])
		if !strings.Contains(stacks, ".runTrain.") {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Errorf("a goroutine of the run is still there after it returned:\n%s", stacks)
}

// TestTrainResumeRefusesNonFinite: a checkpoint holding a NaN is refused
// by --resume, naming the file and the tensor, before any step.
func TestTrainResumeRefusesNonFinite(t *testing.T) {
	data, out := writeTinyIDX(t, 4), filepath.Join(t.TempDir(), "run")
	if log, err := runTrainArgs(t, append(tinyTrainArgs(data, out), "--steps", "1")...); err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	ckpt := filepath.Join(out, train.CheckpointFile)
	sd, err := checkpoints.LoadSafetensors(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	k := slices.IndexFunc(sd.Names, func(n string) bool { return sd.Tensors[n].DType == checkpoints.F32 })
	if k < 0 {
		t.Fatal("no float32 tensor in the checkpoint")
	}
	bad := sd.Tensors[sd.Names[k]]
	binary.LittleEndian.PutUint32(bad.Data, math.Float32bits(float32(math.NaN())))
	if err := checkpoints.SaveSafetensors(ckpt, sd); err != nil {
		t.Fatal(err)
	}
	_, err = runTrainArgs(t, "--data", data, "--out", out, "--steps", "2", "--resume")
	want := ckpt + `: tensor "` + bad.Name + `" holds a non-finite value, NaN, at element 0 of `
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error %v, want one containing %q", err, want)
	}
}
