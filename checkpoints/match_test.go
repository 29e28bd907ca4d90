package checkpoints_test

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

// fakeStateDict makes a state dict of the given specs (no data: Match only
// looks at names, shapes and dtypes).
func fakeStateDict(source string, specs []checkpoints.Spec, rename func(string) string) *checkpoints.StateDict {
	sd := checkpoints.NewStateDict(source)
	for _, s := range specs {
		name := s.Name
		if rename != nil {
			name = rename(name)
		}
		sd.Add(&checkpoints.Tensor{Name: name, DType: checkpoints.F32, Shape: s.Shape})
	}
	return sd
}

func TestMatch(t *testing.T) {
	l := layouts(t)
	ffhq, imagenet := l["ffhq_10m"], l["imagenet256_uncond"]
	nf, ni := len(ffhq), len(imagenet)
	first := "input_blocks.0.0.weight"
	outW := slices.Clone(shapeOf(t, ffhq, "out.2.weight"))
	outW[0] = 3
	small := []checkpoints.Spec{{"a.weight", []int{4, 3}}, {"a.bias", []int{4}}, {"b.weight", []int{2, 4}}}
	tests := []struct {
		name   string
		sd     *checkpoints.StateDict
		want   []checkpoints.Spec
		substr []string // nil: a match
		not    []string
	}{
		{name: "exact", sd: fakeStateDict("ok.pt", ffhq, nil), want: ffhq},
		{name: "half precision is fine", sd: func() *checkpoints.StateDict {
			sd := fakeStateDict("h.pt", small, nil)
			sd.Tensors["a.bias"].DType = checkpoints.F16
			return sd
		}(), want: small},
		{name: "every category", sd: func() *checkpoints.StateDict {
			sd := fakeStateDict("x.pt", small[1:], nil)
			sd.Tensors["b.weight"].Shape = []int{4, 2}
			sd.Tensors["a.bias"].DType = checkpoints.I64
			sd.Add(&checkpoints.Tensor{Name: "c.extra", DType: checkpoints.F32, Shape: []int{1}})
			return sd
		}(), want: small, substr: []string{
			"x.pt does not match config tiny", "1 missing, 1 unexpected, 1 with the wrong shape, 1 not floating-point",
			"missing (1):\n    a.weight", "unexpected (1):\n    c.extra",
			"wrong shape (1):\n    b.weight: file [4 2], config tiny wants [2 4]", "not floating-point (1):\n    a.bias (I64)",
		}},
		{name: "DataParallel prefix", sd: fakeStateDict("dp.pt", ffhq, func(s string) string { return "module." + s }), want: ffhq, substr: []string{
			fmt.Sprintf("%d missing, %d unexpected", nf, nf), fmt.Sprintf("... and %d more", nf-20),
			"keys start with 'module.'", fmt.Sprintf("without it, %d of %d keys match", nf, nf),
		}},
		{name: "ImageNet file for the FFHQ preset", sd: fakeStateDict("256x256_diffusion_uncond.pt", imagenet, nil), want: ffhq, substr: []string{
			fmt.Sprintf("256x256_diffusion_uncond.pt does not match config tiny (%d tensors in the file, %d expected)", ni, nf),
			fmt.Sprintf("%s: file %v, config tiny wants %v", first, shapeOf(t, imagenet, first), shapeOf(t, ffhq, first)),
			"these keys look like the ImageNet-256 unconditional layout",
		}, not: []string{"FFHQ-256 (ffhq_10m) layout", "learn_sigma"}},
		{name: "FFHQ file for the ImageNet preset", sd: fakeStateDict("ffhq_10m.pt", ffhq, nil), want: imagenet, substr: []string{
			"these keys look like the FFHQ-256 (ffhq_10m) layout",
		}},
		{name: "learn_sigma", sd: fakeStateDict("s.pt", ffhq, nil), want: func() []checkpoints.Spec {
			w := append([]checkpoints.Spec(nil), ffhq...)
			w[len(w)-2] = checkpoints.Spec{Name: "out.2.weight", Shape: outW}
			w[len(w)-1] = checkpoints.Spec{Name: "out.2.bias", Shape: []int{3}}
			return w
		}(), substr: []string{"learn_sigma=True", "2 with the wrong shape"}},
		{name: "class-conditional", sd: fakeStateDict("c.pt", append([]checkpoints.Spec{{"label_emb.weight", []int{1000, 512}}}, ffhq...), nil), want: ffhq, substr: []string{
			"1 unexpected", "class_cond=True",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := checkpoints.Match(tc.sd, tc.want, "tiny")
			if tc.substr == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
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
			if n := strings.Count(msg, "\n"); n > 4*20+12 {
				t.Errorf("error of %d lines:\n%s", n, msg)
			}
		})
	}
}

// ExampleMatch shows the error for a state dict saved from DataParallel.
func ExampleMatch() {
	sd := checkpoints.NewStateDict("model.pt")
	sd.Add(checkpoints.FromFloat32("module.out.weight", []int{2}, []float32{1, 2}))
	err := checkpoints.Match(sd, []checkpoints.Spec{{Name: "out.weight", Shape: []int{2}}}, "demo")
	fmt.Println(err)
	// Output:
	// checkpoints: model.pt does not match config demo (1 tensors in the file, 1 expected): 1 missing, 1 unexpected
	//   hint: keys start with 'module.': the checkpoint was saved from a DataParallel/DistributedDataParallel model (save model.module.state_dict(), or strip the prefix); every key of the file starts with "module."; without it, 1 of 1 keys match
	//   missing (1):
	//     out.weight
	//   unexpected (1):
	//     module.out.weight
}
