package ops

import (
	"fmt"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/cadps/toolkit/internal/fixtures"
)

var (
	img256 = []int{1, 3, 256, 256}
	img32  = []int{1, 3, 32, 32}
)

func TestParse(t *testing.T) {
	kernels, err := kernelsPath()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		spec  string
		shape []int
		check func(t *testing.T, op Operator)
	}{
		{"super_resolution:factor=4", img256, func(t *testing.T, op Operator) {
			sr := op.(*SuperResolution)
			if sr.Factor() != 4 || sr.Kernel() != "cubic" {
				t.Errorf("got %v", sr)
			}
		}},
		{"sr:factor=8,kernel=lanczos3", img256, func(t *testing.T, op Operator) {
			if sr := op.(*SuperResolution); sr.Factor() != 8 || sr.Kernel() != "lanczos3" {
				t.Errorf("got %v", sr)
			}
		}},
		{"sr:scale_factor=2,kernel=bilinear", []int{2, 1, 64, 32}, func(t *testing.T, op Operator) {
			if sr := op.(*SuperResolution); sr.Factor() != 2 || sr.Kernel() != "linear" {
				t.Errorf("got %v", sr)
			}
		}},
		{"gaussian_blur", img256, func(t *testing.T, op Operator) {
			b := op.(*Blur)
			want, _ := GaussianKernel(61, 3)
			if b.Name() != "gaussian_blur" || b.Size() != 61 || b.Kernel()[30*61+30] != want[30*61+30] {
				t.Errorf("got %v", b)
			}
		}},
		{"gaussian_blur:kernel_size=9,sigma=1.5", []int{1, 3, 16, 16}, func(t *testing.T, op Operator) {
			if b := op.(*Blur); b.Size() != 9 {
				t.Errorf("got %v", b)
			}
		}},
		{"motion_blur:kernel_size=31,intensity=0.3", img256, func(t *testing.T, op Operator) {
			want, _ := MotionKernel(31, 0.3, 7)
			if b := op.(*Blur); b.Name() != "motion_blur" || b.Size() != 31 || !slices.Equal(b.Kernel(), want) {
				t.Errorf("got %v, not the seed's kernel", b)
			}
		}},
		{"motion_blur:file=" + kernels + ",kernel=levin09/3", img256, func(t *testing.T, op Operator) {
			if b := op.(*Blur); b.Size() != 27 {
				t.Errorf("got %v, want the 27x27 Levin kernel", b)
			}
		}},
		{"inpainting", img256, func(t *testing.T, op Operator) {
			if f := op.(*Inpainting).MissingFraction(); f != 0.25 {
				t.Errorf("default inpainting hides %v, want a 128x128 box (0.25)", f)
			}
		}},
		{"inpaint_box:size=64,margin=8", img256, func(t *testing.T, op Operator) {
			if f := op.(*Inpainting).MissingFraction(); f != 1.0/16 {
				t.Errorf("hides %v, want a 64x64 box", f)
			}
		}},
		{"inpaint_random:fraction=0.5", img256, func(t *testing.T, op Operator) {
			if f := op.(*Inpainting).MissingFraction(); f != 0.5 {
				t.Errorf("hides %v", f)
			}
		}},
		{"inpaint_random:min_fraction=0.8,max_fraction=0.9", img256, func(t *testing.T, op Operator) {
			if f := op.(*Inpainting).MissingFraction(); f < 0.8 || f > 0.9 {
				t.Errorf("hides %v", f)
			}
		}},
		{"inpaint_extreme", []int{1, 3, 64, 64}, func(t *testing.T, op Operator) {
			if f := op.(*Inpainting).MissingFraction(); f != 0.75 {
				t.Errorf("hides %v", f)
			}
		}},
		{"inpainting:mask_type=half,side=top", img256, func(t *testing.T, op Operator) {
			m := op.(*Inpainting).Mask()
			if m[0] != 0 || m[len(m)-1] != 1 {
				t.Errorf("top half not missing")
			}
		}},
		{"phase_retrieval", img256, func(t *testing.T, op Operator) {
			if pr := op.(*PhaseRetrieval); pr.Pad(256) != 64 {
				t.Errorf("pad %d", pr.Pad(256))
			}
		}},
		{" sr : factor=2", img256, func(t *testing.T, op Operator) {
			if sr := op.(*SuperResolution); sr.Factor() != 2 {
				t.Errorf("got %v", sr)
			}
		}},
		{"inpaint_box:margin=0,size=31", img32, func(t *testing.T, op Operator) {
			if f := op.(*Inpainting).MissingFraction(); f != 31.0*31/(32*32) {
				t.Errorf("hides %v, want a 31x31 box", f)
			}
		}},
		{"inpaint_box:margin=1,size=29", img32, func(t *testing.T, op Operator) {
			if f := op.(*Inpainting).MissingFraction(); f != 29.0*29/(32*32) {
				t.Errorf("hides %v, want a 29x29 box", f)
			}
		}},
		{"phase_retrieval:oversample=8", img32, func(t *testing.T, op Operator) {
			if out, _ := op.OutputShape(img32); out[2] != 32+2*32 {
				t.Errorf("output %v", out)
			}
		}},
		{" phase_retrieval:oversample=5 ", img256, func(t *testing.T, op Operator) {
			out, _ := op.OutputShape(img256)
			if out[2] != 256+2*160 {
				t.Errorf("output %v", out)
			}
		}},
	} {
		t.Run(c.spec, func(t *testing.T) {
			op, err := Parse(c.spec, c.shape, 7)
			if err != nil {
				t.Fatal(err)
			}
			c.check(t, op)
		})
	}
}

// TestBlurString: a blur's String names the parameters that made its
// kernel, and is a spec that Parse reads back to the same kernel.
func TestBlurString(t *testing.T) {
	kernels, err := kernelsPath()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ spec, want string }{
		{"gaussian_blur", "gaussian_blur:kernel_size=61,intensity=3"},
		{"gaussian_blur:kernel_size=3,intensity=2", "gaussian_blur:kernel_size=3,intensity=2"},
		{"gaussian_blur:kernel_size=9,sigma=1.5", "gaussian_blur:kernel_size=9,intensity=1.5"},
		{"motion_blur:kernel_size=9,intensity=0.3", "motion_blur:kernel_size=9,intensity=0.3,seed=7"},
		{"motion_blur:kernel_size=9,intensity=0.3,seed=4", "motion_blur:kernel_size=9,intensity=0.3,seed=4"},
		{"motion_blur:file=" + kernels + ",kernel=levin09/3", "motion_blur:kernel_size=27,file=" + kernels + ",kernel=levin09/3"},
	} {
		t.Run(c.spec, func(t *testing.T) {
			op, err := Parse(c.spec, img256, 7)
			if err != nil {
				t.Fatal(err)
			}
			got := op.(*Blur).String()
			if got != c.want {
				t.Fatalf("String() = %s, want %s", got, c.want)
			}
			// Another seed: the spec holds the drawn kernel's.
			again, err := Parse(got, img256, 8)
			if err != nil {
				t.Fatalf("Parse(String()): %v", err)
			}
			if !slices.Equal(again.(*Blur).Kernel(), op.(*Blur).Kernel()) {
				t.Errorf("Parse(%s) gives another kernel", got)
			}
		})
	}
}

func kernelsPath() (string, error) {
	return fixtures.SharedPath("data", "kernels", "blur_kernels.safetensors")
}

// TestFromConfig reads the reference task configs' measurement mappings as
// a YAML decoder gives them.
func TestFromConfig(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  map[string]any
		want string
	}{
		{"sr", map[string]any{"name": "super_resolution", "in_shape": []any{1, 3, 256, 256}, "scale_factor": 4},
			"super_resolution:factor=4,kernel=cubic"},
		{"gaussian", map[string]any{"name": "gaussian_blur", "kernel_size": 61, "intensity": 3.0}, "gaussian_blur:kernel_size=61,intensity=3"},
		{"motion", map[string]any{"name": "motion_blur", "kernel_size": 61, "intensity": 0.5}, "motion_blur:kernel_size=61,intensity=0.5"},
		{"phase", map[string]any{"name": "phase_retrieval", "oversample": 2.0}, "phase_retrieval:oversample=2"},
		{"measurement", map[string]any{
			"operator": map[string]any{"name": "inpainting"},
			"mask_opt": map[string]any{"mask_type": "random", "mask_prob_range": []any{0.3, 0.7}, "image_size": 256},
			"noise":    map[string]any{"name": "gaussian", "sigma": 0.05},
		}, "inpainting:"},
		{"box", map[string]any{"name": "inpainting", "mask_opt": map[string]any{
			"mask_type": "box", "mask_len_range": []any{128, 129}, "image_size": 256, "margin": []any{16, 16}}},
			"inpainting:mask_type=box,size=128,margin=16,seed=3"},
		// The DPS configs carry both ranges whatever the mask type.
		{"box with both ranges", map[string]any{"name": "inpainting", "mask_opt": map[string]any{
			"mask_type": "box", "mask_len_range": []any{128, 129}, "mask_prob_range": []any{0.3, 0.7}, "image_size": 256}},
			"inpainting:mask_type=box,size=128,margin=16,seed=3"},
		{"random with both ranges", map[string]any{"name": "inpainting", "mask_opt": map[string]any{
			"mask_type": "random", "mask_len_range": []any{128, 129}, "mask_prob_range": []any{0.5, 0.5}, "image_size": 256, "margin": []any{16, 16}}},
			"inpainting:mask_type=random,fraction=0.5,seed=3"},
		{"box with two margins", map[string]any{"name": "inpainting", "mask_opt": map[string]any{
			"mask_type": "box", "mask_len_range": []any{128, 129}, "image_size": 256, "margin": []any{16, 8}}},
			"inpainting:256x256 mask, 25.0% missing"},
	} {
		t.Run(c.name, func(t *testing.T) {
			op, err := FromConfig(c.cfg, img256, 3)
			if err != nil {
				t.Fatal(err)
			}
			if s := op.(interface{ String() string }).String(); !strings.HasPrefix(s, c.want) {
				t.Errorf("got %s, want %s...", s, c.want)
			}
		})
	}
}

func TestTaskAliases(t *testing.T) {
	for _, task := range Tasks() {
		if task.Params == "" {
			t.Errorf("task %+v lacks a parameter doc", task)
		}
		for _, a := range task.Aliases {
			if a == "inpaint_file" || a == "sr" {
				continue // they need a parameter
			}
			if _, err := Parse(a, img256, 0); err != nil {
				t.Errorf("alias %s: %v", a, err)
			}
		}
	}
}

func TestParseErrors(t *testing.T) {
	kernels, err := kernelsPath()
	if err != nil {
		t.Fatal(err)
	}
	small := []int{1, 3, 30, 30} // reflection padding 30 needs sides above 30
	for _, c := range []struct {
		spec  string
		shape []int
		want  string
	}{
		{"", img256, "names no task"},
		{"deblur", img256, "unknown operator"},
		{"sr", img256, "missing parameter factor"},
		{"sr:factor=0", img256, "positive"},
		{"sr:factor=-2", img256, "positive"},
		{"sr:factor=3", img256, "does not divide"},
		{"sr:factor=2.5", img256, "not an integer"},
		{"sr:factor=four", img256, "not an integer"},
		{"sr:factor=4,kernel=nearest", img256, "unknown resize kernel"},
		{"sr:factor=4,foo=1", img256, "unknown parameter"},
		{"sr:factor=4,factor=2", img256, "given twice"},
		{"sr:factor", img256, "not key=value"},
		{"sr:factor=2", []int{3, 256, 256}, "not NCHW"},
		{"sr:factor=2", []int{1, 3, 0, 256}, "non-positive"},
		{"gaussian_blur:kernel_size=0", img256, "positive odd"},
		{"inpaint_half:seed=3", img256, "mask_type half takes none of seed (mask_type box or random or extreme)"},
		{"inpaint_box:seed=-1", img256, `inpainting: parameter seed: "-1" is not a non-negative integer`},
		{"motion_blur:kernel_size=9,seed=x", img256, `motion_blur: parameter seed: "x" is not a non-negative integer`},
		{"motion_blur:file=" + kernels + ",seed=2", img256, "motion_blur: seed sets the drawn kernel, and file="},
		{"gaussian_blur:seed=2", img256, "unknown parameter"},
		{"gaussian_blur:kernel_size=-3", img256, "positive odd"},
		{"gaussian_blur:kernel_size=60", img256, "odd"},
		{"gaussian_blur:intensity=0", img256, "positive"},
		{"gaussian_blur:intensity=-1", img256, "positive"},
		{"gaussian_blur:intensity=NaN", img256, "positive"},
		{"gaussian_blur", small, "too large"},
		{"motion_blur:intensity=1.5", img256, "[0,1]"},
		{"motion_blur:intensity=-0.1", img256, "[0,1]"},
		{"motion_blur:kernel_size=0", img256, "positive"},
		{"motion_blur:kernel_size=62", img256, "odd"},
		{"motion_blur", small, "too large"},
		{"motion_blur:kernel=levin09/0", img256, "needs file"},
		{"motion_blur:file=/nonexistent.safetensors,kernel=a", img256, "reading kernel file"},
		{"motion_blur:file=" + kernels + ",kernel=nope", img256, "no tensor"},
		{"motion_blur:file=" + kernels, img256, "name one"},
		{"motion_blur:file=" + kernels + ",kernel=levin09/0,kernel_size=61", img256, "kernel_size=61"},
		{"inpainting:mask_type=circle", img256, "unknown mask type"},
		{"inpaint_box:size=0", img256, "positive"},
		{"inpaint_box:size=-5", img256, "positive"},
		{"inpaint_box:size=250", img256, "side + 2·margin must be below the height, here 250 + 2·16 = 282 for a height of 256"},
		{"inpaint_box:margin=0,size=32", img32, "side + 2·margin must be below the height, here 32 + 2·0 = 32"},
		{"inpaint_box:margin=1,size=30", img32, "side + 2·margin must be below the height, here 30 + 2·1 = 32"},
		{"inpaint_box:margin=1,size=30", []int{1, 3, 64, 32}, "side + 2·margin must be below the width, here 30 + 2·1 = 32 for a width of 32"},
		{"sr:factor=2,scale_factor=4", img256, "parameters factor and scale_factor name the same setting; give only one"},
		{"gaussian_blur:kernel_size=3,sigma=0.5,intensity=2", img256, "parameters intensity and sigma name the same setting"},
		{"inpaint_box:fraction=0.9", img256, "mask_type box takes none of fraction (mask_type random); its parameters are size,"},
		{"inpaint_box:side=left", img256, "takes none of side (mask_type half)"},
		{"inpaint_box:path=/x.png", img256, "takes none of path (mask_type file)"},
		{"inpaint_extreme:min_fraction=0.2", img256, "mask_type extreme takes none of min_fraction (mask_type random)"},
		{"inpaint_random:size=4", img256, "mask_type random takes none of size (mask_type box or extreme)"},
		{"inpaint_random:margin=4", img256, "mask_type random takes none of margin (mask_type box or extreme)"},
		{"inpaint_random:mask_len_range=4", img256, "takes none of mask_len_range"},
		{"inpaint_half:size=3", img256, "mask_type half takes none of size"},
		{"inpaint_file:path=/x.png,side=left", img256, "mask_type file takes none of side"},
		{"inpainting:mask_type=random,size=4", img256, "mask_type random takes none of size"},
		{"motion_blur:file=" + kernels + ",kernel=levin09/0,intensity=0.9", img256, "drop intensity"},
		{"inpaint_random:fraction=0.5,min_fraction=0.1", img256, "fraction and min_fraction both set the missing fraction; give only one of fraction, min_fraction/max_fraction, mask_prob_range"},
		{"inpaint_random:fraction=0.5,mask_prob_range=0.5", img256, "fraction and mask_prob_range both set the missing fraction"},
		{"inpaint_box:size=10,min_size=4", img32, "size and min_size both set the box side; give only one of size, min_size/max_size, mask_len_range"},
		{"inpaint_box:size=10,mask_len_range=4", img32, "size and mask_len_range both set the box side"},
		{"inpaint_extreme:max_size=10,mask_len_range=4", img32, "max_size and mask_len_range both set the box side"},
		{"inpaint_box:size=10,min_size=4,max_size=12,mask_len_range=4", img32, "size, min_size/max_size and mask_len_range all set the box side"},
		{"phase_retrieval:oversample=1000", img32, "oversample 1000 is above 8"},
		{"phase_retrieval:oversample=8.5", img32, "oversample 8.5 is above 8"},
		{"inpaint_box:margin=-1", img256, "negative"},
		{"inpaint_box:min_size=100,max_size=50", img256, "min_size 100 is above max_size 50"},
		{"inpaint_box:max_size=20", []int{1, 3, 64, 48}, "min_size 24 is above max_size 20 (min_size not given: min(H,W)/2 = 24)"},
		{"inpaint_extreme:min_size=30", []int{1, 3, 64, 48}, "min_size 30 is above max_size 24 (max_size not given: min(H,W)/2 = 24)"},
		{"inpaint_box:margin=2.5", img256, `parameter margin: "2.5" is not an integer`},
		{"inpaint_box:margin=NaN", img256, `parameter margin: "NaN" is not an integer`},
		{"inpaint_random:fraction=1.5", img256, "parameter fraction must lie in [0, 1], got 1.5"},
		{"inpaint_random:fraction=-0.1", img256, "parameter fraction must lie in [0, 1], got -0.1"},
		{"inpaint_random:fraction=NaN", img256, "parameter fraction must lie in [0, 1], got NaN"},
		{"inpaint_random:min_fraction=-inf", img256, "parameter min_fraction must lie in [0, 1], got -Inf"},
		{"inpaint_random:max_fraction=Inf", img256, "parameter max_fraction must lie in [0, 1], got +Inf"},
		{"inpaint_random:min_fraction=0.7,max_fraction=0.3", img256, "min_fraction 0.7 is above max_fraction 0.3"},
		{"inpaint_random:max_fraction=0.1", img256, "min_fraction 0.3 is above max_fraction 0.1 (min_fraction not given: 0.3)"},
		{"inpaint_random:min_fraction=0.8", img256, "min_fraction 0.8 is above max_fraction 0.7 (max_fraction not given: 0.7)"},
		{"inpaint_half:side=middle", img256, "not left, right"},
		{"inpaint_file", img256, "no path"},
		{"inpaint_file:path=/nonexistent.png", img256, "mask file"},
		{"inpaint_box:mask_type=random", img256, "sets mask_type=box"},
		{"phase_retrieval:oversample=-1", img256, "not negative"},
		{"phase_retrieval:oversample=x", img256, "not a number"},
		{"phase_retrieval:oversample=inf", img256, "finite"},
		// A task config's lists: a spec's value is one string, never a list.
		{"sr:factor=2,in_shape=1", img256, "super_resolution: in_shape is a task config's list, which a spec cannot give; the operator is checked against the image's shape"},
		{"inpaint_box:mask_len_range=8", img32, "inpainting: mask_len_range is a task config's list, which a spec cannot give; give size, or min_size and max_size"},
		{"inpaint_random:mask_prob_range=0.5", img32, "inpainting: mask_prob_range is a task config's list, which a spec cannot give; give fraction, or min_fraction and max_fraction"},
		{"inpaint_box:fraction=0.5", img32, "its parameters are size, min_size, max_size, margin"},
		{"sr:factor=2,foo=1", img256, "unknown parameter(s) foo (known: factor, kernel, scale_factor)"},
	} {
		t.Run(c.spec, func(t *testing.T) {
			op, err := Parse(c.spec, c.shape, 1)
			if err == nil {
				t.Fatalf("accepted, gave %v", op)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not mention %q", err, c.want)
			}
		})
	}
}

func TestFromConfigErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  map[string]any
		want string
	}{
		{"no name", map[string]any{"scale_factor": 4}, "no name"},
		{"name type", map[string]any{"name": 4}, "not a string"},
		{"unknown", map[string]any{"name": "nonlinear_blur", "opt_yml_path": "x"}, "unknown operator"},
		{"in_shape", map[string]any{"name": "super_resolution", "in_shape": []any{1, 3, 128, 128}, "scale_factor": 4}, "does not match"},
		{"in_shape type", map[string]any{"name": "super_resolution", "in_shape": "big", "scale_factor": 4}, "not a list"},
		{"scale type", map[string]any{"name": "super_resolution", "scale_factor": []any{4}}, "not an integer"},
		{"mask_opt elsewhere", map[string]any{"name": "gaussian_blur", "mask_opt": map[string]any{"mask_type": "box"}}, "only inpainting"},
		{"mask_opt type", map[string]any{"name": "inpainting", "mask_opt": "box"}, "want a mapping"},
		{"image_size", map[string]any{"name": "inpainting", "mask_opt": map[string]any{"mask_type": "box", "image_size": 512}}, "does not match"},
		{"len range", map[string]any{"name": "inpainting", "mask_opt": map[string]any{"mask_type": "box", "mask_len_range": []any{128}}}, "want 2"},
		{"prob range", map[string]any{"name": "inpainting", "mask_opt": map[string]any{"mask_type": "random", "mask_prob_range": []any{0.3, 1.7}}}, "<= 1"},
		{"len range for random", map[string]any{"name": "inpainting", "mask_opt": map[string]any{"mask_type": "random", "mask_len_range": []any{128}}}, "want 2"},
		{"size for random", map[string]any{"name": "inpainting", "mask_opt": map[string]any{"mask_type": "random", "size": 4}}, "mask_type random takes none of size"},
		{"size and len range", map[string]any{"name": "inpainting", "mask_opt": map[string]any{"mask_type": "box", "mask_len_range": []any{4, 5}, "size": 4}},
			"size and mask_len_range both set the box side"},
		{"fraction and prob range", map[string]any{"name": "inpainting", "mask_opt": map[string]any{"mask_type": "random", "mask_prob_range": []any{0.3, 0.7}, "fraction": 0.5}},
			"fraction and mask_prob_range both set the missing fraction"},
		{"scale_factor and factor", map[string]any{"name": "super_resolution", "scale_factor": 4, "factor": 2}, "factor and scale_factor name the same setting"},
		{"oversample", map[string]any{"name": "phase_retrieval", "oversample": 16.0}, "above 8"},
		{"pad", map[string]any{"name": "phase_retrieval", "oversample": 2.0, "pad": 32}, "pad=32"},
		{"operator type", map[string]any{"operator": "sr"}, "want a mapping"},
	} {
		t.Run(c.name, func(t *testing.T) {
			op, err := FromConfig(c.cfg, img256, 1)
			if err == nil {
				t.Fatalf("accepted, gave %v", op)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not mention %q", err, c.want)
			}
		})
	}
}

func TestParseNoiseErrors(t *testing.T) {
	for _, c := range []struct{ spec, want string }{
		{"laplace", "unknown noise"},
		{"gaussian:sigma=-1", "not negative"},
		{"gaussian:std=0.1", "unknown parameter"},
		{"poisson:rate=0", "positive"},
		{"poisson:rate=abc", "not a number"},
		{"clean:sigma=1", "unknown parameter(s) sigma; clean noise takes no parameters"},
	} {
		if n, err := ParseNoise(c.spec); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseNoise(%q) = %v, %v; want an error mentioning %q", c.spec, n, err, c.want)
		}
	}
	n, err := NoiseFromConfig(map[string]any{"name": "poisson", "rate": 1.0})
	if err != nil || n.Name() != "poisson" {
		t.Errorf("NoiseFromConfig: %v, %v", n, err)
	}
	if _, err := NoiseFromConfig(map[string]any{"sigma": 0.05}); err == nil {
		t.Error("a noise config without a name was accepted")
	}
}

// TestNoiseString: a noise model's String is a spec ParseNoise reads back
// to the same model.
func TestNoiseString(t *testing.T) {
	for _, spec := range []string{"gaussian:sigma=0.05", "gaussian:sigma=1e-05", "poisson:rate=0.5"} {
		n, err := ParseNoise(spec)
		if err != nil {
			t.Fatal(err)
		}
		s, ok := n.(fmt.Stringer)
		if !ok || s.String() != spec {
			t.Fatalf("%s: String gives %v (a Stringer: %v)", spec, s, ok)
		}
	}
}

// TestParseNoiseSpaces: as in an operator spec, the noise's name, keys and
// values may be padded with spaces.
func TestParseNoiseSpaces(t *testing.T) {
	for _, c := range []struct {
		spec, name string
		sigma      float64
	}{
		{" gaussian : sigma = 0.1 ", "gaussian", 0.1},
		{"gaussian :sigma=0.2", "gaussian", 0.2},
		{"poisson : rate=0.5", "poisson", 2 * math.Sqrt(0.5/(255*0.5))},
		{" clean ", "clean", 0},
		{"clean :", "clean", 0},
	} {
		n, err := ParseNoise(c.spec)
		if err != nil {
			t.Errorf("ParseNoise(%q): %v", c.spec, err)
			continue
		}
		if n.Name() != c.name || math.Abs(n.Sigma()-c.sigma) > 1e-12 {
			t.Errorf("ParseNoise(%q) = %s with σ_y %g, want %s with %g", c.spec, n.Name(), n.Sigma(), c.name, c.sigma)
		}
	}
}

// TestStringRoundTrip checks that the String of every task's operator is a
// spec that Parse, given another seed, turns back into the same operator.
func TestStringRoundTrip(t *testing.T) {
	shape := []int{1, 3, 32, 32}
	dir := t.TempDir()
	maskPath := filepath.Join(dir, "mask.png")
	img := image.NewGray(image.Rect(0, 0, 32, 32))
	for i := range img.Pix {
		img.Pix[i] = uint8(255 * (i % 3 / 2))
	}
	f, err := os.Create(maskPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	specs := []string{
		"super_resolution:factor=2",
		"sr:factor=4,kernel=lanczos3",
		"gaussian_blur:kernel_size=9,sigma=1.5",
		"motion_blur:kernel_size=9,intensity=0.3",
		"motion_blur:kernel_size=9,seed=11",
		"inpainting",
		"inpaint_box:size=12,margin=2",
		"inpaint_box:min_size=8,max_size=12",
		"inpaint_extreme:size=10",
		"inpaint_random:fraction=0.4",
		"inpaint_random:min_fraction=0.25,max_fraction=0.75",
		"inpaint_random:seed=5",
		"inpaint_half:side=top",
		"inpaint_file:path=" + maskPath,
		"phase_retrieval:oversample=1.5",
	}
	if kernels, err := kernelsPath(); err == nil {
		specs = append(specs, "motion_blur:file="+kernels+",kernel=levin09/3")
	} else {
		t.Logf("no stored kernel checked: %v", err)
	}
	for _, spec := range specs {
		t.Run(spec, func(t *testing.T) {
			op, err := Parse(spec, shape, 7)
			if err != nil {
				t.Fatal(err)
			}
			s := op.(fmt.Stringer).String()
			again, err := Parse(s, shape, 8)
			if err != nil {
				t.Fatalf("Parse(%q): %v", s, err)
			}
			if !sameOperator(again, op) {
				t.Errorf("Parse(%q) with another seed gives another operator", s)
			}
			if s2 := again.(fmt.Stringer).String(); s2 != s {
				t.Errorf("String() of Parse(%q) = %q", s, s2)
			}
		})
	}
}

// sameOperator reports whether a and b are the same operator: equal
// fields, a resize kernel (a function) compared by its name.
func sameOperator(a, b Operator) bool {
	if sa, ok := a.(*SuperResolution); ok {
		sb, ok := b.(*SuperResolution)
		return ok && sa.Factor() == sb.Factor() && sa.Kernel() == sb.Kernel()
	}
	return reflect.DeepEqual(a, b)
}

// TestCanonicalTask checks the one form of a task spec: parameters sorted,
// spaces dropped, every other difference kept; and its refusals.
func TestCanonicalTask(t *testing.T) {
	for _, c := range []struct {
		spec, want, err string
	}{
		{"sr:factor=2", "sr:factor=2", ""},
		{" sr : factor = 2 ", "sr:factor=2", ""},
		{"gaussian_blur:intensity=1,kernel_size=9", "gaussian_blur:intensity=1,kernel_size=9", ""},
		{"gaussian_blur:kernel_size=9,intensity=1", "gaussian_blur:intensity=1,kernel_size=9", ""},
		{"phase_retrieval", "phase_retrieval", ""},
		{"phase_retrieval:", "phase_retrieval", ""},
		{"super_resolution:factor=2", "super_resolution:factor=2", ""}, // not the alias's form: another spelling of the task
		{"", "", `operator spec "": names no task`},
		{"blur:size=9", "", `operator spec "blur:size=9": unknown operator "blur"`},
		{"sr:factor", "", `parameter "factor" is not key=value`},
		{"sr:factor=2,factor=4", "", `parameter "factor" given twice`},
	} {
		got, err := CanonicalTask(c.spec)
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("CanonicalTask(%q) = %q, %v; want an error containing %q", c.spec, got, err, c.err)
		case c.err == "" && (err != nil || got != c.want):
			t.Errorf("CanonicalTask(%q) = %q, %v; want %q", c.spec, got, err, c.want)
		}
	}
}

// TestCanonicalTaskForms pins CanonicalTask's output, which stored
// records hold, for specs spelt in many ways (spaces, tabs, keys out of
// order, empty and repeated parts): each gives this form or this error.
func TestCanonicalTaskForms(t *testing.T) {
	for _, c := range []struct{ spec, want, err string }{
		{"sr:factor=2", "sr:factor=2", ""},
		{" sr : factor = 2 ", "sr:factor=2", ""},
		{"\tsr\t:\tfactor=2\t", "sr:factor=2", ""},
		{"sr:factor=2 ", "sr:factor=2", ""},
		{"sr:kernel=box,factor=4", "sr:factor=4,kernel=box", ""},
		{"sr: kernel = box , factor = 4", "sr:factor=4,kernel=box", ""},
		{"sr:factor=2,factor=4", "", "operator spec \"sr:factor=2,factor=4\": parameter \"factor\" given twice"},
		{"sr:factor=2, factor =4", "", "operator spec \"sr:factor=2, factor =4\": parameter \"factor\" given twice"},
		{"sr:factor=2,,kernel=box", "", "operator spec \"sr:factor=2,,kernel=box\": parameter \"\" is not key=value"},
		{"sr:factor=2,", "", "operator spec \"sr:factor=2,\": parameter \"\" is not key=value"},
		{"sr:factor=", "sr:factor=", ""},
		{"sr:=2", "", "operator spec \"sr:=2\": parameter \"=2\" is not key=value"},
		{"sr:factor", "", "operator spec \"sr:factor\": parameter \"factor\" is not key=value"},
		{"sr:factor ", "", "operator spec \"sr:factor \": parameter \"factor \" is not key=value"},
		{"sr:factor=2=3", "sr:factor=2=3", ""},
		{"sr:Factor=2,factor=3", "sr:Factor=2,factor=3", ""},
		{"sr:factor=2;kernel=box", "sr:factor=2;kernel=box", ""},
		{"sr:c=3,b=2,a=1", "sr:a=1,b=2,c=3", ""},
		{"super_resolution:scale_factor=4,kernel=lanczos3", "super_resolution:kernel=lanczos3,scale_factor=4", ""},
		{"inpaint_box", "inpaint_box", ""},
		{"inpaint_box:", "inpaint_box", ""},
		{"inpaint_box:  ", "inpaint_box", ""},
		{" inpaint_box ", "inpaint_box", ""},
		{"inpainting:seed=3,mask_type=box,size=12,margin=2", "inpainting:margin=2,mask_type=box,seed=3,size=12", ""},
		{"inpaint_random:max_fraction=0.7,min_fraction=0.3", "inpaint_random:max_fraction=0.7,min_fraction=0.3", ""},
		{"gaussian_blur:sigma=3,kernel_size=61", "gaussian_blur:kernel_size=61,sigma=3", ""},
		{"gaussian_blur:intensity=3.0,kernel_size=61", "gaussian_blur:intensity=3.0,kernel_size=61", ""},
		{"inpaint_file:path=a b.png", "inpaint_file:path=a b.png", ""},
		{"inpaint_file:path= m/a.png ", "inpaint_file:path=m/a.png", ""},
		{"motion_blur:kernel=levin09/0,file=k.safetensors", "motion_blur:file=k.safetensors,kernel=levin09/0", ""},
		{"phase_retrieval:oversample=2.0", "phase_retrieval:oversample=2.0", ""},
		{"phase_retrieval", "phase_retrieval", ""},
		{"unknown:x=1", "", "operator spec \"unknown:x=1\": unknown operator \"unknown\" (known: super_resolution, gaussian_blur, motion_blur, inpainting, phase_retrieval, sr, inpaint_box, inpaint_extreme, inpaint_file, inpaint_half, inpaint_random)"},
		{"blur", "", "operator spec \"blur\": unknown operator \"blur\" (known: super_resolution, gaussian_blur, motion_blur, inpainting, phase_retrieval, sr, inpaint_box, inpaint_extreme, inpaint_file, inpaint_half, inpaint_random)"},
		{"", "", "operator spec \"\": names no task"},
		{" : ", "", "operator spec \" : \": names no task"},
		{":factor=2", "", "operator spec \":factor=2\": names no task"},
		{"sr::factor=2", "sr::factor=2", ""},
		{"sr:factor:2", "", "operator spec \"sr:factor:2\": parameter \"factor:2\" is not key=value"},
		{"dps", "", "operator spec \"dps\": unknown operator \"dps\" (known: super_resolution, gaussian_blur, motion_blur, inpainting, phase_retrieval, sr, inpaint_box, inpaint_extreme, inpaint_file, inpaint_half, inpaint_random)"},
	} {
		got, err := CanonicalTask(c.spec)
		gotErr := ""
		if err != nil {
			gotErr = err.Error()
		}
		if got != c.want || gotErr != c.err {
			t.Errorf("CanonicalTask(%q) = %q, %q; want %q, %q", c.spec, got, gotErr, c.want, c.err)
		}
	}
}

// TestCheckTask refuses the specs that are wrong on their face, naming
// the problem, and takes those that only an image or a file can refute
// (a factor that does not divide the image, a kernel larger than it, a
// mask file that is not there), which it neither knows nor reads.
func TestCheckTask(t *testing.T) {
	for _, tc := range []struct {
		spec string
		want string // the error's text, "" for none
	}{
		{"sr:factor=2", ""},
		{"sr:factor=3", ""},
		{"gaussian_blur:kernel_size=999", ""},
		{"motion_blur:kernel_size=999,intensity=0.3,seed=4", ""},
		{"motion_blur:file=/nonexistent/kernels.safetensors,kernel=k0", ""},
		{"inpaint_box:size=5000,margin=3", ""},
		{"inpaint_box:min_size=40", ""},
		{"inpaint_extreme:max_size=2", ""},
		{"inpaint_random:min_fraction=0.2", ""},
		{"inpaint_half:side=top", ""},
		{"inpaint_file:path=/nonexistent/mask.png", ""},
		{"inpainting:mask_type=box,image_size=999", ""},
		{"phase_retrieval:oversample=2,pad=999", ""},
		{"", `operator spec "": names no task`},
		{"blur", `unknown operator "blur"`},
		{"sr:factor", `parameter "factor" is not key=value`},
		{"sr:factor=abc", `parameter factor: "abc" is not an integer`},
		{"sr:factor=0", "factor must be a positive integer, got 0"},
		{"sr:fator=2", "missing parameter factor"},
		{"sr:factor=2,fator=2", "fator"},
		{"sr:factor=2,kernel=sinc", "sinc"},
		{"gaussian_blur:intensity=-1", "intensity (σ) must be positive and finite, got -1"},
		{"gaussian_blur:kernel_size=-3", "kernel"},
		{"motion_blur:intensity=2", "intensity"},
		{"motion_blur:kernel=k0", "needs file=PATH"},
		{"inpaint_box:size=0", "inpainting: parameter size must be positive, got 0"},
		{"inpaint_extreme:size=-3", "inpainting: parameter size must be positive, got -3"},
		{"inpaint_box:margin=-1", "margin"},
		{"inpaint_box:min_size=9,max_size=3", "min_size 9 is above max_size 3"},
		{"inpaint_box:min_size=0", "inpainting: parameter min_size must be positive, got 0"},
		{"inpaint_extreme:max_size=-2", "inpainting: parameter max_size must be positive, got -2"},
		{"inpaint_box:min_size=0,max_size=5", "inpainting: parameter min_size must be positive, got 0"},
		{"inpaint_box:min_size=5,max_size=0", "inpainting: parameter max_size must be positive, got 0"},
		{"inpaint_box:min_size=-1,max_size=-4", "inpainting: parameter min_size must be positive, got -1"},
		{"inpaint_random:fraction=2", "fraction must lie in [0, 1], got 2"},
		{"inpaint_half:side=middle", `side "middle" is not left, right, top or bottom`},
		{"inpaint_file", "mask file: no path given"},
		{"inpaint_box:fraction=0.5", "mask_type box takes none of fraction"},
		{"phase_retrieval:oversample=9", "oversample 9 is above 8"},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			err := CheckTask(tc.spec)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("CheckTask: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("CheckTask: %v, want an error containing %q", err, tc.want)
			}
			// A spec wrong on its face gets the same error from Parse.
			if _, perr := Parse(tc.spec, []int{1, 3, 64, 64}, 1); tc.want != "" && (perr == nil || perr.Error() != err.Error()) {
				t.Errorf("Parse: %v, CheckTask: %v; want the same error", perr, err)
			}
		})
	}
}

// TestCheckTaskImageSize: a spec giving image_size tells CheckTask the
// images' size, so it judges a box against that size as Parse does for an
// image of it, with the same error: one end of the side range against the
// default of the other, and the box and its margin against the image.
func TestCheckTaskImageSize(t *testing.T) {
	for _, tc := range []struct {
		spec string
		size int    // the image Parse is given, size×size
		want string // the error's text, "" for none
	}{
		{"inpaint_box:image_size=32", 32, ""},
		{"inpaint_box:image_size=32,min_size=10", 32, ""},
		{"inpaint_box:image_size=32,max_size=20", 32, ""},
		{"inpaint_box:image_size=128,min_size=40", 128, ""},
		{"inpaint_extreme:image_size=32,max_size=27,margin=2", 32, ""},
		{"inpaint_random:image_size=32,fraction=0.5", 32, ""},
		{"inpaint_half:image_size=32,side=top", 32, ""},
		{"inpaint_box:image_size=32,min_size=400", 32, "inpainting: min_size 400 is above max_size 16 (max_size not given: min(H,W)/2 = 16)"},
		{"inpaint_box:image_size=64,min_size=40", 64, "inpainting: min_size 40 is above max_size 32 (max_size not given: min(H,W)/2 = 32)"},
		{"inpaint_extreme:image_size=32,max_size=8", 32, "inpainting: min_size 16 is above max_size 8 (min_size not given: min(H,W)/2 = 16)"},
		{"inpaint_box:image_size=32,max_size=28", 32, "a box of side up to 28 with a margin of 2 rows has no position to be drawn at"},
		{"inpaint_box:image_size=32,margin=8", 32, "a box of side up to 16 with a margin of 8 rows has no position to be drawn at"},
		{"inpaint_box:image_size=32,size=40,margin=0", 32, "a box of side up to 40 with a margin of 0 rows"},
		{"inpaint_box:image_size=32,min_size=4,max_size=31", 32, "a box of side up to 31 with a margin of 2 rows"},
		{"inpainting:mask_type=box,image_size=0", 32, "inpainting: parameter image_size must be positive, got 0"},
		{"inpaint_random:image_size=-3", 32, "inpainting: parameter image_size must be positive, got -3"},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			err := CheckTask(tc.spec)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("CheckTask: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("CheckTask: %v, want an error containing %q", err, tc.want)
			}
			_, perr := Parse(tc.spec, []int{1, 3, tc.size, tc.size}, 1)
			if (perr == nil) != (err == nil) || err != nil && perr.Error() != err.Error() {
				t.Errorf("Parse: %v, CheckTask: %v; want the same", perr, err)
			}
		})
	}
}

// TestParseNeedsImageShape: the builders' check for any image (CheckTask's)
// is not reached from Parse or FromConfig, which refuse a missing image
// shape instead of returning no operator.
func TestParseNeedsImageShape(t *testing.T) {
	for _, spec := range []string{"inpaint_box", "sr:factor=2", "gaussian_blur:kernel_size=5,intensity=1"} {
		if op, err := Parse(spec, nil, 1); err == nil || op != nil {
			t.Errorf("Parse(%q) without an image shape: %v, %v; want an error", spec, op, err)
		}
	}
	cfg := map[string]any{"name": "inpainting", "mask_opt": map[string]any{"mask_type": "box", "mask_len_range": []any{8, 9}}}
	if op, err := FromConfig(cfg, nil, 1); err == nil || op != nil {
		t.Errorf("FromConfig without an image shape: %v, %v; want an error", op, err)
	}
}

// TestMaskTypesReadTheirParameters: each mask type reads its own
// parameters (read), and the ways a spec gives its setting are among them,
// so that a mask type is one entry of maskTypes, with no switch over
// types to extend.
func TestMaskTypesReadTheirParameters(t *testing.T) {
	for _, mt := range maskTypes() {
		t.Run(mt.name, func(t *testing.T) {
			if mt.read == nil {
				t.Fatal("the mask type has no read")
			}
			if (mt.setting == "") != (len(mt.ways) == 0) {
				t.Errorf("setting %q with ways %q: want both or neither", mt.setting, mt.ways)
			}
			for _, way := range mt.ways {
				for _, k := range strings.Split(way, "/") {
					if !slices.Contains(mt.params, k) {
						t.Errorf("way %s names %s, which is not among the parameters %v", way, k, mt.params)
					}
				}
			}
		})
	}
}
