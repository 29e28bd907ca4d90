package unet

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/cadps/toolkit/checkpoints"
	"github.com/cadps/toolkit/internal/fixtures"
)

// layouts reads the key layouts of the public checkpoints (ffhq_10m and
// imagenet256_uncond) from the checkpoint-layout fixtures; it skips when no
// fixture records both.
func layouts(t *testing.T) map[string][]checkpoints.Spec {
	t.Helper()
	out := map[string][]checkpoints.Spec{}
	for _, f := range fixtures.OfKind(t, "checkpoint-layout", nil) {
		var fx struct {
			Layouts []struct {
				Name string
				Keys [][2]json.RawMessage
			}
		}
		if err := f.Decode(&fx); err != nil {
			t.Fatal(err)
		}
		for _, l := range fx.Layouts {
			var specs []checkpoints.Spec
			for _, k := range l.Keys {
				var s checkpoints.Spec
				if err := json.Unmarshal(k[0], &s.Name); err != nil {
					t.Fatal(err)
				}
				if err := json.Unmarshal(k[1], &s.Shape); err != nil {
					t.Fatal(err)
				}
				specs = append(specs, s)
			}
			out[l.Name] = specs
		}
	}
	for _, name := range []string{"ffhq_10m", "imagenet256_uncond"} {
		if len(out[name]) <= 20 {
			t.Skipf("no checkpoint-layout fixture records the layout %s", name)
		}
	}
	return out
}

// shapeOf returns the shape of the named key of a layout.
func shapeOf(t *testing.T, specs []checkpoints.Spec, name string) []int {
	t.Helper()
	for _, s := range specs {
		if s.Name == name {
			return s.Shape
		}
	}
	t.Fatalf("the layout has no key %s", name)
	return nil
}

// layoutStateDict makes a state dict of the given specs (no data: Match
// only looks at names, shapes and dtypes).
func layoutStateDict(source string, specs []checkpoints.Spec) *checkpoints.StateDict {
	sd := checkpoints.NewStateDict(source)
	for _, s := range specs {
		sd.Add(&checkpoints.Tensor{Name: s.Name, DType: checkpoints.F32, Shape: s.Shape})
	}
	return sd
}

// TestMatchHints checks the hints a UNet adds to a mismatch: the public
// checkpoint a file's keys look like, and learn_sigma and class_cond set
// otherwise than in the file.
func TestMatchHints(t *testing.T) {
	l := layouts(t)
	ffhq, imagenet := l["ffhq_10m"], l["imagenet256_uncond"]
	nf, ni := len(ffhq), len(imagenet)
	first := "input_blocks.0.0.weight"
	outW := slices.Clone(shapeOf(t, ffhq, "out.2.weight"))
	outW[0] = 3
	tests := []struct {
		name   string
		sd     *checkpoints.StateDict
		want   []checkpoints.Spec
		substr []string
		not    []string
	}{
		{name: "ImageNet file for the FFHQ preset", sd: layoutStateDict("256x256_diffusion_uncond.pt", imagenet), want: ffhq, substr: []string{
			fmt.Sprintf("256x256_diffusion_uncond.pt does not match config tiny (%d tensors in the file, %d expected)", ni, nf),
			fmt.Sprintf("%s: file %v, config tiny wants %v", first, shapeOf(t, imagenet, first), shapeOf(t, ffhq, first)),
			"these keys look like the ImageNet-256 unconditional layout",
		}, not: []string{"FFHQ-256 (ffhq_10m) layout", "learn_sigma"}},
		{name: "FFHQ file for the ImageNet preset", sd: layoutStateDict("ffhq_10m.pt", ffhq), want: imagenet, substr: []string{
			"these keys look like the FFHQ-256 (ffhq_10m) layout",
		}},
		{name: "learn_sigma", sd: layoutStateDict("s.pt", ffhq), want: func() []checkpoints.Spec {
			w := append([]checkpoints.Spec(nil), ffhq...)
			w[len(w)-2] = checkpoints.Spec{Name: "out.2.weight", Shape: outW}
			w[len(w)-1] = checkpoints.Spec{Name: "out.2.bias", Shape: []int{3}}
			return w
		}(), substr: []string{"learn_sigma=True", "2 with the wrong shape"}},
		{name: "class-conditional", sd: layoutStateDict("c.pt", append([]checkpoints.Spec{{Name: "label_emb.weight", Shape: []int{1000, 512}}}, ffhq...)), want: ffhq, substr: []string{
			"1 unexpected", "class_cond=True",
		}},
		{name: "unconditional", sd: layoutStateDict("u.pt", ffhq), want: append([]checkpoints.Spec{{Name: "label_emb.weight", Shape: []int{1000, 512}}}, ffhq...), substr: []string{
			"1 missing", "class_cond=False",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := checkpoints.Match(tc.sd, tc.want, "tiny", MatchHints)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			for _, s := range tc.substr {
				if !strings.Contains(msg, s) {
					t.Errorf("error does not contain %q:\n%s", s, msg)
				}
			}
			for _, s := range tc.not {
				if strings.Contains(msg, s) {
					t.Errorf("error contains %q:\n%s", s, msg)
				}
			}
		})
	}
}
