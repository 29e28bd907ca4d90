package train

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/diffusion"
	"github.com/cadps/toolkit/cadps/prior/small"
	"github.com/cadps/toolkit/checkpoints"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

func tinyConfig() Config {
	return Config{UNet: tinyUNet(), Diffusion: small.Diffusion(), BatchSize: 2, LearningRate: 1e-3,
		WarmupSteps: 2, EMARate: 0.9, ClipNorm: 1, Seed: 3}
}

// tinyData is n random 8×8 gray images.
func tinyData(n int) *Dataset {
	d := &Dataset{N: n, C: 1, H: 8, W: 8, Pix: make([]float32, n*64)}
	for k := range d.Pix {
		d.Pix[k] = float32((k*37)%255)/127.5 - 1
	}
	return d
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name   string
		modify func(*Config)
		want   string
	}{
		{"batch", func(c *Config) { c.BatchSize = 0 }, "batch size"},
		{"lr", func(c *Config) { c.LearningRate = 0 }, "learning rate"},
		{"warm-up", func(c *Config) { c.WarmupSteps = -1 }, "warm-up"},
		{"weight decay", func(c *Config) { c.WeightDecay = -1 }, "weight decay"},
		{"ema", func(c *Config) { c.EMARate = 1 }, "EMA rate"},
		{"clip", func(c *Config) { c.ClipNorm = -1 }, "clip norm"},
		{"learn sigma", func(c *Config) { c.UNet.LearnSigma = false }, "learn_sigma"},
		{"class cond", func(c *Config) { c.UNet.ClassCond = true }, "class-conditional"},
		{"dropout", func(c *Config) { c.UNet.Dropout = 0.3 }, "training applies no dropout"},
		{"fp16", func(c *Config) { c.UNet.UseFP16 = true }, "use_fp16: training computes in float32"},
		{"respaced", func(c *Config) { c.Diffusion.Respacing = "100" }, "respaced"},
		{"mean type", func(c *Config) { c.Diffusion.MeanType = diffusion.MeanStartX }, "epsilon"},
		{"var type", func(c *Config) { c.Diffusion.VarType = diffusion.VarFixedSmall }, "learned_range"},
	}
	if err := tinyConfig().Validate(); err != nil {
		t.Fatalf("valid config refused: %v", err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := tinyConfig()
			c.modify(&cfg)
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}

// TestTrainerResume trains 3 steps straight and 2 + (save, resume) 1, and
// wants identical weights, EMA and losses; it also checks that training
// moves the weights, that the EMA differs from them, and that a resume
// on data of another size is refused.
func TestTrainerResume(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	data := tinyData(5)
	straight, err := New(b, tinyConfig(), data)
	if err != nil {
		t.Fatal(err)
	}
	init, err := straight.Weights()
	if err != nil {
		t.Fatal(err)
	}
	var want []StepLosses
	for range 3 {
		l, err := straight.Step()
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, l)
	}

	first, err := New(b, tinyConfig(), data)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := first.Step(); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "ckpt.safetensors")
	if err := first.SaveCheckpoint(path); err != nil {
		t.Fatal(err)
	}
	if _, err := Resume(b, path, tinyData(6)); err == nil || !strings.Contains(err.Error(), "same data") {
		t.Errorf("resume on other data: error %v", err)
	}
	// As many images, one pixel changed: other data all the same.
	other := &Dataset{N: data.N, C: data.C, H: data.H, W: data.W, Pix: slices.Clone(data.Pix), Source: "other.idx"}
	other.Pix[len(other.Pix)-1] = -other.Pix[len(other.Pix)-1]
	if _, err := Resume(b, path, other); err == nil || !strings.Contains(err.Error(), "other images") || !strings.Contains(err.Error(), "other.idx") {
		t.Errorf("resume on other images of the same size: error %v", err)
	}
	resumed, err := Resume(b, path, data)
	if err != nil {
		t.Fatal(err)
	}
	if resumed.Steps() != 2 {
		t.Fatalf("resumed at step %d, want 2", resumed.Steps())
	}
	got, err := resumed.Step()
	if err != nil {
		t.Fatal(err)
	}
	if got != want[2] {
		t.Errorf("resumed step 3 losses %+v, want %+v", got, want[2])
	}

	wa, _ := straight.Weights()
	wb, _ := resumed.Weights()
	ea, _ := straight.EMAWeights()
	eb, _ := resumed.EMAWeights()
	moved, emaDiffers := false, false
	for _, name := range wa.Names {
		if string(wa.Tensors[name].Data) != string(wb.Tensors[name].Data) {
			t.Errorf("weight %s differs after resuming", name)
		}
		if string(ea.Tensors[name].Data) != string(eb.Tensors[name].Data) {
			t.Errorf("EMA %s differs after resuming", name)
		}
		if string(wa.Tensors[name].Data) != string(init.Tensors[name].Data) {
			moved = true
		}
		if string(wa.Tensors[name].Data) != string(ea.Tensors[name].Data) {
			emaDiffers = true
		}
	}
	if !moved {
		t.Error("three steps did not change any weight")
	}
	if !emaDiffers {
		t.Error("the EMA equals the raw weights")
	}
	if ea.Metadata["step"] != "3" || ea.Metadata["unet"] == "" {
		t.Errorf("EMA metadata %v lacks the step or the config", ea.Metadata)
	}
}

func TestResumeErrors(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	notCkpt := filepath.Join(dir, "x.safetensors")
	if err := os.WriteFile(notCkpt, []byte("junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{notCkpt, filepath.Join(dir, "missing.safetensors")} {
		if _, err := Resume(b, path, tinyData(2)); err == nil {
			t.Errorf("Resume(%s) succeeded", path)
		}
	}
}

func TestLossLogTruncation(t *testing.T) {
	path := filepath.Join(t.TempDir(), LossFile)
	var pts []LossPoint
	for s := int64(1); s <= 5; s++ {
		pts = append(pts, LossPoint{Step: s, StepLosses: StepLosses{Loss: float64(s), MSE: 1, VB: 0.5, GradNorm: 2}})
	}
	if err := writeLossLog(path, pts); err != nil {
		t.Fatal(err)
	}
	for _, upTo := range []int64{0, 3, 5, 9} {
		got, err := ReadLossLog(path, upTo)
		if err != nil {
			t.Fatal(err)
		}
		if want := min(upTo, 5); int64(len(got)) != want {
			t.Errorf("upTo %d: %d points, want %d", upTo, len(got), want)
		}
		for k, p := range got {
			if p != pts[k] {
				t.Errorf("point %d: %+v, want %+v", k, p, pts[k])
			}
		}
	}
	// A run killed while writing leaves its last line cut short, at any
	// byte: the line is dropped, the steps before it kept.
	whole, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lastStart := strings.LastIndexByte(strings.TrimSuffix(string(whole), "\n"), '\n') + 1
	for cut := lastStart + 1; cut < len(whole); cut++ {
		if err := os.WriteFile(path, whole[:cut], 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := ReadLossLog(path, 3)
		if err != nil || len(got) != 3 {
			t.Errorf("log cut at byte %d (%q): %d points, %v; want the 3 up to the checkpoint", cut, whole[lastStart:cut], len(got), err)
		}
	}
	// An empty file (a log lost, or made by hand) is a log without steps.
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadLossLog(path, 10); err != nil || len(got) != 0 {
		t.Errorf("empty log: %d points, %v; want none and no error", len(got), err)
	}
	if err := os.WriteFile(path, []byte("bad header\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadLossLog(path, 10); err == nil {
		t.Error("a log with a bad header was accepted")
	}
	if err := os.WriteFile(path, append(whole[:lastStart], "5,1,1\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadLossLog(path, 10); err == nil {
		t.Error("a whole line of 3 fields was accepted")
	}
}

// TestRunCheck refuses writes through RunOptions.Check, as a run that lost
// its claim on its folder does: Run returns Check's error and writes
// nothing from then on, the files of earlier checkpoints staying as they
// were.
func TestRunCheck(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	lost := errors.New("lost the folder")
	for _, tc := range []struct {
		name      string
		refuseAt  int64    // Check refuses once the trainer is at this step
		wantSteps int      // rows of the loss log afterwards
		want      []string // the files in the folder afterwards
	}{
		{"refused at once", 0, -1, nil},
		{"refused at the third checkpoint", 3, 2, []string{CheckpointFile, EMAFile, LossPlotFile, LossFile}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := New(b, tinyConfig(), tinyData(5))
			if err != nil {
				t.Fatal(err)
			}
			out := t.TempDir()
			err = tr.Run(RunOptions{Steps: 5, OutDir: out, CheckpointEvery: 1, Check: func() error {
				if tr.Steps() >= tc.refuseAt {
					return lost
				}
				return nil
			}})
			if !errors.Is(err, lost) || err.Error() != lost.Error() {
				t.Fatalf("Run: %v, want Check's error as it is", err)
			}
			entries, err := os.ReadDir(out)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range entries {
				got = append(got, e.Name())
			}
			slices.Sort(got)
			want := slices.Sorted(slices.Values(tc.want))
			if !slices.Equal(got, want) {
				t.Errorf("files %v, want %v", got, want)
			}
			if tc.wantSteps >= 0 {
				log, err := ReadLossLog(filepath.Join(out, LossFile), 100)
				if err != nil || len(log) != tc.wantSteps {
					t.Errorf("loss log of %d steps (%v), want %d", len(log), err, tc.wantSteps)
				}
			}
		})
	}
}

// TestRunSavesOnceAtStop stops a run at step 2 with a checkpoint due at
// that step too: it must be saved once, with as many writes (counted by
// RunOptions.Check) as a run that stops there with no checkpoint due.
func TestRunSavesOnceAtStop(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	const stopAt = 2
	writesAtStop := func(every int64) int {
		tr, err := New(b, tinyConfig(), tinyData(4))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		err = tr.Run(RunOptions{Steps: 5, OutDir: t.TempDir(), CheckpointEvery: every,
			Stop: func() bool { return tr.Steps() == stopAt },
			Check: func() error {
				if tr.Steps() == stopAt {
					n++
				}
				return nil
			}})
		if !errors.Is(err, ErrStopped) {
			t.Fatalf("Run: %v, want ErrStopped", err)
		}
		return n
	}
	want := writesAtStop(0)
	for _, every := range []int64{1, 2} {
		if got := writesAtStop(every); got != want {
			t.Errorf("checkpoint every %d: %d checked writes at the stop, want %d (one save)", every, got, want)
		}
	}
}

// TestEMAUpdate checks the EMA after each step against its definition:
// e ← d·e + (1−d)·w with w the weights after the step and the decay
// d = min(EMARate, (1+n)/(10+n)) after step n (n counted from 1), starting
// from the initial weights.
func TestEMAUpdate(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	for _, rate := range []float64{0, 0.3, 0.9} {
		t.Run(fmt.Sprint(rate), func(t *testing.T) {
			cfg := tinyConfig()
			cfg.EMARate = rate
			tr, err := New(b, cfg, tinyData(6))
			if err != nil {
				t.Fatal(err)
			}
			floats := func(sd *checkpoints.StateDict) map[string][]float32 {
				m := map[string][]float32{}
				for _, name := range sd.Names {
					if m[name], err = sd.Tensors[name].Float32(); err != nil {
						t.Fatal(err)
					}
				}
				return m
			}
			w0, err := tr.Weights()
			if err != nil {
				t.Fatal(err)
			}
			ema := floats(w0)
			for n := 1; n <= 4; n++ {
				if _, err := tr.Step(); err != nil {
					t.Fatal(err)
				}
				ws, err := tr.Weights()
				if err != nil {
					t.Fatal(err)
				}
				es, err := tr.EMAWeights()
				if err != nil {
					t.Fatal(err)
				}
				w, got := floats(ws), floats(es)
				d := min(rate, float64(1+n)/float64(10+n))
				worst, scale := 0.0, 0.0
				for name, wv := range w {
					for k := range wv {
						want := d*float64(ema[name][k]) + (1-d)*float64(wv[k])
						worst = max(worst, math.Abs(want-float64(got[name][k])))
						scale = max(scale, math.Abs(float64(wv[k])-float64(ema[name][k])))
					}
				}
				if worst > 1e-6 || scale == 0 {
					t.Fatalf("step %d: EMA is off its definition (decay %.4g) by up to %.3g; weights moved by up to %.3g", n, d, worst, scale)
				}
				ema = got
			}
		})
	}
}

// TestRunStopsAtNonFiniteStep gives one image a value that makes a step's
// loss NaN, or keeps the loss finite but makes the gradient NaN: the run
// must stop at the first step that sees the image with an error naming
// that step, and the checkpoint and the EMA weights saved at the step
// before must stay as they were, finite.
func TestRunStopsAtNonFiniteStep(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		value float32
		want  string
	}{
		{"NaN loss", float32(math.NaN()), "the loss is NaN"},
		{"finite loss, NaN gradient", 1e20, "the gradient's norm is"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr, first := poisonedTrainer(t, b, c.value)
			out := t.TempDir()
			err = tr.Run(RunOptions{Steps: first + 2, OutDir: out, CheckpointEvery: 1})
			if want := fmt.Sprintf("step %d: %s", first, c.want); err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("run error %v, want one containing %q", err, want)
			}
			for _, name := range []string{CheckpointFile, EMAFile} {
				sd, err := checkpoints.LoadSafetensors(filepath.Join(out, name))
				if err != nil {
					t.Fatal(err)
				}
				if got := sd.Metadata["step"]; got != fmt.Sprint(first-1) {
					t.Errorf("%s is at step %s, want %d", name, got, first-1)
				}
				for _, n := range sd.Names {
					if sd.Tensors[n].DType != checkpoints.F32 {
						continue
					}
					v, err := sd.Tensors[n].Float32()
					if err != nil {
						t.Fatal(err)
					}
					if k := slices.IndexFunc(v, func(x float32) bool { return math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) }); k >= 0 {
						t.Fatalf("%s: %s[%d] is %v", name, n, k, v[k])
					}
				}
			}
		})
	}
}

// poisonedTrainer returns a trainer on 4 tiny images one of which is all
// value, and the first step that draws that image (at least 2).
func poisonedTrainer(t *testing.T, b backends.Backend, value float32) (*Trainer, int64) {
	t.Helper()
	const bad = 3 // the image that breaks the step
	data := tinyData(4)
	tr, err := New(b, tinyConfig(), data)
	if err != nil {
		t.Fatal(err)
	}
	per := data.C * data.H * data.W
	marker := float32(7) // found in a batch only where image bad is
	data.Pix[bad*per] = marker
	first := int64(-1)
	for s := int64(0); first < 0 && s < 10; s++ {
		x0, _, _ := tr.batch(s)
		if slices.Contains(tensors.MustCopyFlatData[float32](x0), marker) {
			first = s + 1
		}
	}
	if first < 2 {
		t.Fatalf("image %d is first drawn at step %d; the test needs a step before it", bad, first)
	}
	for k := range per {
		data.Pix[bad*per+k] = value
	}
	return tr, first
}

// TestRunLogsFailedStep runs into a step whose loss or gradient is not
// finite: the loss log must hold every step up to that one, the failing
// step's own line included (the grad-norm history that explains a
// blow-up), whether or not a checkpoint flushed the log before; a resume
// from the last checkpoint cuts the failing step off again.
func TestRunLogsFailedStep(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		value float32
		every int64
		bad   func(LossPoint) bool
	}{
		{"NaN loss, no checkpoint", float32(math.NaN()), 0, func(p LossPoint) bool { return math.IsNaN(p.Loss) }},
		{"NaN loss, checkpoint every step", float32(math.NaN()), 1, func(p LossPoint) bool { return math.IsNaN(p.Loss) }},
		{"NaN gradient, no checkpoint", 1e20, 0, func(p LossPoint) bool { return !isFinite(p.GradNorm) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			tr, first := poisonedTrainer(t, b, c.value)
			out := t.TempDir()
			if err := tr.Run(RunOptions{Steps: first + 2, OutDir: out, CheckpointEvery: c.every}); err == nil {
				t.Fatal("the run went past a non-finite step")
			}
			log, err := ReadLossLog(filepath.Join(out, LossFile), 100)
			if err != nil {
				t.Fatal(err)
			}
			if int64(len(log)) != first {
				t.Fatalf("loss log of %d steps, want the %d up to the failing one", len(log), first)
			}
			for k, p := range log {
				if p.Step != int64(k+1) || c.bad(p) != (p.Step == first) {
					t.Errorf("line %d: %+v; only step %d should be non-finite", k+1, p, first)
				}
			}
			if c.every == 0 {
				return
			}
			resumed, err := Resume(b, filepath.Join(out, CheckpointFile), tr.data)
			if err != nil {
				t.Fatal(err)
			}
			if err := resumed.Run(RunOptions{Steps: first - 1, OutDir: out}); err != nil {
				t.Fatal(err)
			}
			log, err = ReadLossLog(filepath.Join(out, LossFile), 100)
			if err != nil || int64(len(log)) != first-1 {
				t.Errorf("after a resume from step %d: loss log of %d steps (%v)", first-1, len(log), err)
			}
		})
	}
}

func isFinite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// TestRunRemovesStaleTemps starts a run in a folder where a killed run
// left temporary files of each of its outputs: they are removed, and a
// temporary file of another name is kept.
func TestRunRemovesStaleTemps(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	for _, tc := range []struct {
		name string
		keep bool
	}{
		{"." + CheckpointFile + ".tmp1234", false},
		{"." + EMAFile + ".tmp1", false},
		{"." + LossFile + ".tmp22", false},
		{"." + LossPlotFile + ".tmp333", false},
		{".notes.txt.tmp4", true},
	} {
		if err := os.WriteFile(filepath.Join(out, tc.name), []byte("half"), 0o644); err != nil {
			t.Fatal(err)
		}
		defer func() {
			_, err := os.Stat(filepath.Join(out, tc.name))
			if kept := err == nil; kept != tc.keep {
				t.Errorf("%s kept: %v, want %v", tc.name, kept, tc.keep)
			}
		}()
	}
	tr, err := New(b, tinyConfig(), tinyData(3))
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Run(RunOptions{Steps: 1, OutDir: out}); err != nil {
		t.Fatal(err)
	}
}

// TestRunStopAtLastStep: a stop asked for during the last step comes when
// the run has ended; Run saves and returns no error (ErrStopped would have
// a caller report a finished run as one to resume).
func TestRunStopAtLastStep(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	tr, err := New(b, tinyConfig(), tinyData(4))
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Run(RunOptions{Steps: 2, OutDir: t.TempDir(), Stop: func() bool { return tr.Steps() == 2 }}); err != nil {
		t.Fatalf("Run stopped at its last step: %v, want nil", err)
	}
	if tr.Steps() != 2 {
		t.Errorf("%d steps run, want 2", tr.Steps())
	}
}

// TestResumeRefusesWeights checks that Resume refuses, naming the weight,
// a checkpoint whose weight or EMA weight is missing or has a shape or
// dtype other than the model's: an EMA weight of another length
// panicked in EMAWeights as the run saved, and a wrong weight failed the
// first step.
func TestResumeRefusesWeights(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	data := tinyData(5)
	tr, err := New(b, tinyConfig(), data)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ckpt.safetensors")
	if err := tr.SaveCheckpoint(path); err != nil {
		t.Fatal(err)
	}
	const weight, ema = "/time_embed/0/weight", "/ema/time_embed/0/weight"
	shorter := func(ct *checkpoints.Tensor) {
		ct.Shape[0]--
		ct.Data = ct.Data[:len(ct.Data)-4*ct.Shape[1]]
	}
	cases := []struct {
		name   string
		tensor string
		change func(sd *checkpoints.StateDict, ct *checkpoints.Tensor)
		want   string // the error after "train: " and the file
	}{
		{"EMA weight shorter", ema, func(_ *checkpoints.StateDict, ct *checkpoints.Tensor) { shorter(ct) },
			`: weight "/ema/time_embed/0/weight" is (Float32)[127 32], the model wants (Float32)[128 32]`},
		{"EMA weight transposed", ema, func(_ *checkpoints.StateDict, ct *checkpoints.Tensor) {
			ct.Shape[0], ct.Shape[1] = ct.Shape[1], ct.Shape[0]
		},
			`: weight "/ema/time_embed/0/weight" is (Float32)[32 128], the model wants (Float32)[128 32]`},
		{"EMA weight missing", ema, func(sd *checkpoints.StateDict, ct *checkpoints.Tensor) {
			delete(sd.Tensors, ct.Name)
			sd.Names = slices.DeleteFunc(sd.Names, func(n string) bool { return n == ct.Name })
		}, ` lacks weight "/ema/time_embed/0/weight"`},
		{"weight shorter", weight, func(_ *checkpoints.StateDict, ct *checkpoints.Tensor) { shorter(ct) },
			`: weight "/time_embed/0/weight" is (Float32)[127 32], the model wants (Float32)[128 32]`},
		{"weight of integers", weight, func(_ *checkpoints.StateDict, ct *checkpoints.Tensor) {
			ct.DType = checkpoints.I64
			ct.Data = append(ct.Data, ct.Data...)
		}, `: weight "/time_embed/0/weight" is (Int64)[128 32], the model wants (Float32)[128 32]`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sd, err := checkpoints.LoadSafetensors(path)
			if err != nil {
				t.Fatal(err)
			}
			ct, err := sd.Get(c.tensor)
			if err != nil {
				t.Fatal(err)
			}
			c.change(sd, ct)
			bad := filepath.Join(t.TempDir(), "bad.safetensors")
			if err := checkpoints.SaveSafetensors(bad, sd); err != nil {
				t.Fatal(err)
			}
			_, err = Resume(b, bad, data)
			if want := "train: " + bad + c.want; err == nil || err.Error() != want {
				t.Fatalf("error %v, want %q", err, want)
			}
		})
	}
}
