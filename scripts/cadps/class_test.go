package main

import (
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/imageio"
	"github.com/cadps/toolkit/cadps/restore"
	"github.com/cadps/toolkit/cadps/runs"
	"github.com/cadps/toolkit/internal/randunet"
)

// classModel writes a 16×16 RGB UNet with random weights (randunet.Tiny),
// class-conditional with 4 classes or, for classes 0, unconditional, and
// returns its -model-config and -weights flags.
func classModel(t *testing.T, classes int) []string {
	t.Helper()
	config, weights, err := randunet.Write(t.TempDir(), "tiny", randunet.Tiny(classes), 5)
	if err != nil {
		t.Fatal(err)
	}
	return []string{"-model-config", config, "-weights", weights}
}

// TestRestoreClass restores an image with a class-conditional prior and
// -class: the reconstruction is, bit for bit, the library's with
// Prior.Class set to the label, record.json records the label, and
// another label gives another reconstruction.
func TestRestoreClass(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "x.png")
	writeTestImage(t, img, 16, 0.2)
	model := classModel(t, 4)
	restoreClass := func(label string) (restoreRecord, *imageio.Image) {
		t.Helper()
		out := filepath.Join(dir, "out"+label)
		args := append([]string{img, "-task", "super_resolution:factor=2", "-method", "cadps", "-steps", "2",
			"-seed", "3", "-class", label, "-quiet", "-out", out}, model...)
		if _, stderr, err := runCmd(runRestore, args...); err != nil {
			t.Fatalf("restore -class %s: %v\n%s", label, err, stderr)
		}
		rec, _ := readRestoreRecord(t, out)
		recon, err := imageio.Load(filepath.Join(out, runs.RestoreReconFile))
		if err != nil {
			t.Fatal(err)
		}
		return rec, recon
	}
	rec, got := restoreClass("2")
	if c := rec.Settings.Class; c == nil || *c != 2 {
		t.Errorf("record.json has settings.class %v, want 2", c)
	}

	prior, err := restore.LoadPrior(restore.ModelSpec{ConfigPath: model[1], Weights: model[3]})
	if err != nil {
		t.Fatal(err)
	}
	label := 2
	prior.Class = &label
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	r, err := restore.New(b, prior, restore.Options{Task: restore.SpecTask("super_resolution:factor=2"), Method: "cadps", Steps: 2})
	if err != nil {
		t.Fatal(err)
	}
	truth, err := restore.LoadImage(img, prior.ImageShape(), restore.FitNone)
	if err != nil {
		t.Fatal(err)
	}
	want, err := r.Restore(truth, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Pix, want.Reconstruction.Pix) {
		t.Error("recon.png of -class 2 differs from the library's restoration with Prior.Class 2")
	}
	if _, other := restoreClass("1"); slices.Equal(other.Pix, got.Pix) {
		t.Error("-class 1 restores as -class 2 does: the label does not reach the network")
	}
}

// TestSampleClass draws samples of a class-conditional prior: another
// -class gives another grid.
func TestSampleClass(t *testing.T) {
	dir := t.TempDir()
	model := classModel(t, 4)
	grid := func(label string) *imageio.Image {
		t.Helper()
		out := filepath.Join(dir, "grid"+label+".png")
		args := append([]string{"-n", "2", "-steps", "2", "-jobs", "2", "-zoom", "1", "-class", label, "-out", out}, model...)
		if _, _, err := runCmd(runSample, args...); err != nil {
			t.Fatalf("sample -class %s: %v", label, err)
		}
		im, err := imageio.Load(out)
		if err != nil {
			t.Fatal(err)
		}
		return im
	}
	if slices.Equal(grid("0").Pix, grid("3").Pix) {
		t.Error("-class 0 and -class 3 give the same samples: the label does not reach the network")
	}
}

// TestClassRefusals checks that restore and sample refuse a
// class-conditional prior without -class (saying how to give one), -class
// for an unconditional prior, and a label outside the classes (naming
// their range), writing nothing (sample once, not in each of its parts);
// and that evaluate, reproduce and trace,
// which take no -class, refuse a class-conditional prior saying why.
func TestClassRefusals(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "x.png")
	writeTestImage(t, img, 16, 0)
	cond, uncond := classModel(t, 4), classModel(t, 0)
	out := filepath.Join(dir, "out")
	restoreArgs := func(model []string, extra ...string) []string {
		return append(append([]string{img, "-task", "super_resolution:factor=2", "-steps", "2", "-quiet", "-out", out}, model...), extra...)
	}
	sampleArgs := func(model []string, extra ...string) []string {
		return append(append([]string{"-n", "2", "-jobs", "2", "-steps", "2", "-out", filepath.Join(out, "grid.png")}, model...), extra...)
	}
	const noLabel, outside = "give one from 0 to 3 (Prior.Class), or use an unconditional checkpoint (for ImageNet 256×256, 256x256_diffusion_uncond.pt); -class N gives it", "outside the model's 4 classes (0 to 3)"
	const noClasses = "class label 0 given to a model without classes (class_cond=False)"
	const takesNone = "runs one network over a set of images, which may be of many classes, and takes no class label (-class)"
	for _, c := range []struct {
		name string
		run  func([]string, io.Writer, io.Writer) error
		args []string
		want string
	}{
		{"restore without -class", runRestore, restoreArgs(cond), noLabel},
		{"restore -class 4", runRestore, restoreArgs(cond, "-class", "4"), outside},
		{"restore -class -1", runRestore, restoreArgs(cond, "-class", "-1"), outside},
		{"restore -class of an unconditional prior", runRestore, restoreArgs(uncond, "-class", "0"), noClasses},
		{"sample without -class", runSample, sampleArgs(cond), noLabel},
		{"sample -class 4", runSample, sampleArgs(cond, "-class", "4"), outside},
		{"sample -class of an unconditional prior", runSample, sampleArgs(uncond, "-class", "0"), noClasses},
		{"evaluate", runEvaluate, append([]string{"-data", testImagesDir(t), "-count", "1", "-steps", "2",
			"-tasks", "inpaint_box:size=4", "-methods", "dps", "-out", out}, cond...), "evaluate " + takesNone},
		{"reproduce", runReproduce, append([]string{dir, "-task", "inpaint_box:size=4", "-methods", "dps",
			"-steps", "2", "-out", out}, cond...), "reproduce " + takesNone},
		{"trace", runTrace, append([]string{"-data", testImagesDir(t), "-count", "1", "-steps", "2",
			"-task", "inpaint_box:size=4", "-method", "dps", "-out", filepath.Join(out, "trace.csv")}, cond...), "trace " + takesNone},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := runCmd(c.run, c.args...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
			if strings.Contains(err.Error(), "parts failed") {
				t.Errorf("error %q: sample's parts each refused the prior, which it should refuse once before they start", err)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("the refused run left %s", out)
			}
		})
	}
}
