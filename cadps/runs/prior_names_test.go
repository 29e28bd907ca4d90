package runs

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps/prior/small"
	"github.com/cadps/toolkit/cadps/restore"
)

// TestEvaluationPriorNames runs evaluations of the shipped prior under
// both of its names: a new folder's settings.json names it fmnist32
// whichever name the settings give, and testdata/evaluate-v1, whose
// settings.json names it small, resumes under either name without
// redoing a row or rewriting its settings.
func TestEvaluationPriorNames(t *testing.T) {
	_, prior := shippedPrior(t)
	digest, noise := evalSetup(t, prior)
	for _, tc := range []struct {
		name, fixture, model string
	}{
		{"new folder, small", "", restore.SmallPriorName},
		{"new folder, fmnist32", "", small.Name},
		{"folder naming small, resumed as fmnist32", "testdata/evaluate-v1", small.Name},
		{"folder naming small, resumed as small", "testdata/evaluate-v1", restore.SmallPriorName},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			count, methods := 1, []string{"dps"}
			var before string
			if tc.fixture != "" {
				if err := os.CopyFS(out, os.DirFS(tc.fixture)); err != nil {
					t.Fatal(err)
				}
				before = readText(t, filepath.Join(out, EvalSettingsFile))
				count, methods = 2, []string{"dps", "cadps"}
			}
			var log bytes.Buffer
			ev := &Evaluation{
				Out: out, Noise: noise, Prior: prior, PriorSpec: restore.ModelSpec{Name: tc.model}, Jobs: 1, Log: &log,
				Images: testSetImages(t, "../prior/small/testimages", count, prior.ImageShape()),
				Settings: EvalSettings{Data: "cadps/prior/small/testimages", Count: count, Batch: 1, Tasks: []string{"inpaint_box:size=12"},
					Methods: methods, Steps: 2, Noise: "gaussian:sigma=0.05", Model: tc.model, Digest: digest, Keep: 1},
			}
			if _, err := ev.Run(); err != nil {
				t.Fatal(err)
			}
			got := readText(t, filepath.Join(out, EvalSettingsFile))
			if tc.fixture != "" {
				if got != before {
					t.Errorf("settings.json changed:\n%s\nwas\n%s", got, before)
				}
				if log.Len() != 0 {
					t.Errorf("the resumed run did\n%s\nwant nothing", log.String())
				}
				return
			}
			var st EvalSettings
			if err := json.Unmarshal([]byte(got), &st); err != nil {
				t.Fatal(err)
			}
			if st.Model != small.Name {
				t.Errorf("settings.json names the model %q, want %q", st.Model, small.Name)
			}
		})
	}
}

// TestResumePriorNamedSmall resumes testdata/reproduce-v2 with its
// reproduce.json naming the shipped prior small, the name the -model flag
// takes, rather than fmnist32: the settings are the same, every item is
// kept, and reproduce.json is left as it was.
func TestResumePriorNamedSmall(t *testing.T) {
	out := filepath.Join(t.TempDir(), "v2")
	if err := os.CopyFS(out, os.DirFS("testdata/reproduce-v2")); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(out, SettingsFile)
	was := readText(t, path)
	named := strings.Replace(was, `"model": "fmnist32"`, `"model": "small"`, 1)
	if named == was {
		t.Fatalf("%s does not name the model fmnist32:\n%s", SettingsFile, was)
	}
	if err := os.WriteFile(path, []byte(named), 0o644); err != nil {
		t.Fatal(err)
	}
	b, prior := shippedPrior(t)
	images, err := filepath.Glob("../prior/small/testimages/*.png")
	if err != nil || len(images) < 2 {
		t.Fatalf("test images: %v, %v", images, err)
	}
	rep := &Reproduction{
		Out: out, Backend: b, Prior: prior, Options: restore.Options{Steps: 2, Draws: 2},
		Tasks:   []TaskSetup{{Task: restore.SpecTask("inpaint_box:size=12")}},
		Methods: []string{"dps", "cadps"}, Images: images[:2], Seed: 3, GridRows: 1,
	}
	sum, err := rep.Run()
	if err != nil {
		t.Fatal(err)
	}
	if sum.Done != 0 || sum.Skipped != 4 || sum.Failed != 0 {
		t.Errorf("resume ran %d (%d failed) and kept %d items, want 0, 0 and 4", sum.Done, sum.Failed, sum.Skipped)
	}
	if got := readText(t, path); got != named {
		t.Errorf("reproduce.json changed:\n%s\nwas\n%s", got, named)
	}
}
