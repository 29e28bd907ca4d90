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
			fmt.Sprintf("%s: file %v, wanted %v", first, shapeOf(t, imagenet, first), shapeOf(t, ffhq, first)),
			"these keys look like the ImageNet-256 unconditional layout", "use its preset, imagenet256",
		}, not: []string{"FFHQ-256 (ffhq_10m) layout", "learn_sigma", " -model"}},
		{name: "FFHQ file for the ImageNet preset", sd: layoutStateDict("ffhq_10m.pt", ffhq), want: imagenet, substr: []string{
			"these keys look like the FFHQ-256 (ffhq_10m) layout", "use its preset, ffhq256",
		}, not: []string{" -model"}},
		{name: "ImageNet-64 file for the ImageNet preset", sd: layoutStateDict("64x64_diffusion.pt", knownSpecs(t, "64x64_diffusion.pt")), want: imagenet, substr: []string{
			"these keys look like the ImageNet-64 class-conditional layout (64x64_diffusion.pt: 541 tensors, 295904454 parameters)",
			`give a model config, a JSON file of its create_model arguments, {"image_size":64,"num_channels":192,"num_res_blocks":3,`,
			`"use_new_attention_order":true`, "class_cond=True",
		}, not: []string{"trained with other attention_resolutions", " -model"}},
		{name: "ImageNet-512 file for the ImageNet preset", sd: layoutStateDict("512x512_diffusion.pt", knownSpecs(t, "512x512_diffusion.pt")), want: imagenet, substr: []string{
			"ImageNet-512 class-conditional layout (512x512_diffusion.pt: 645 tensors, 558997638 parameters)", `"image_size":512,`,
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

// knownSpecs returns the layout of the known checkpoint file, as the
// model of its published create_model arguments holds it.
func knownSpecs(t *testing.T, file string) []checkpoints.Spec {
	t.Helper()
	for _, l := range knownLayouts() {
		if l.file != file {
			continue
		}
		m, err := New(l.cfg)
		if err != nil {
			t.Fatal(err)
		}
		var specs []checkpoints.Spec
		for _, p := range m.Params() {
			specs = append(specs, checkpoints.Spec{Name: p.Name, Shape: p.Shape})
		}
		return specs
	}
	t.Fatalf("no known layout of %s", file)
	return nil
}

// TestKnownLayouts checks the network each released checkpoint's published
// create_model arguments build: its tensors and parameters (counted from
// guided-diffusion's UNetModel, block by block, for those arguments), the
// attention blocks and the heads of the middle one (num_head_channels
// heads of 64 channels, or the 128×128 model's 4 heads of any width).
func TestKnownLayouts(t *testing.T) {
	tests := []struct {
		file                             string
		tensors, params, attention, head int
	}{
		{"ffhq_10m.pt", 362, 93563910, 4, 8},
		{"256x256_diffusion_uncond.pt, or an LSUN model such as lsun_bedroom.pt", 566, 552814086, 16, 16},
		{"256x256_diffusion.pt", 567, 553838086, 16, 16},
		{"64x64_diffusion.pt", 541, 295904454, 22, 12},
		{"128x128_diffusion.pt", 493, 421529606, 16, 4},
		{"512x512_diffusion.pt", 645, 558997638, 16, 16},
	}
	layouts := knownLayouts()
	if len(layouts) != len(tests) {
		t.Errorf("%d known layouts, %d tested", len(layouts), len(tests))
	}
	for i, tc := range tests {
		if i >= len(layouts) || layouts[i].file != tc.file {
			t.Errorf("known layout %d is not %s", i, tc.file)
			continue
		}
		m, err := New(layouts[i].cfg)
		if err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		blocks, head := 0, 0
		m.visit(func(l layer) {
			if a, ok := l.(*attention); ok {
				blocks++
				if a.key == "middle_block.1" {
					head = a.heads
				}
			}
		})
		if got := len(m.Params()); got != tc.tensors || m.NumParams() != tc.params || blocks != tc.attention || head != tc.head {
			t.Errorf("%s: %d tensors, %d parameters, %d attention blocks, %d heads in the middle; want %d, %d, %d, %d",
				tc.file, got, m.NumParams(), blocks, head, tc.tensors, tc.params, tc.attention, tc.head)
		}
	}
}

// TestMatchHintsOptions checks the hints for architecture options that a
// file's keys and shapes reveal: use_scale_shift_norm (the timestep
// projection's rows), resblock_updown (convolutions or residual blocks
// that resample) and attention_resolutions (attention blocks one side
// lacks, with their resolution), each set otherwise in the model than in
// the file.
func TestMatchHintsOptions(t *testing.T) {
	base := Config{ImageSize: 32, NumChannels: 32, NumResBlocks: 1, ChannelMult: "1,2,2", AttentionResolutions: "16",
		NumHeads: 1, NumHeadChannels: -1, NumHeadsUpsample: -1, UseScaleShiftNorm: true, ResblockUpdown: true}
	tests := []struct {
		name        string
		file, model func(c *Config) // change base for the file, for the model
		substr      []string
		not         []string
		prefix      string // of the file's keys
	}{
		{name: "use_scale_shift_norm off in the file", file: func(c *Config) { c.UseScaleShiftNorm = false }, substr: []string{
			"a shift alone, as many rows as their channels (input_blocks.1.0.emb_layers.1.weight: file [32 128], wanted [64 128])", "use_scale_shift_norm=False",
		}, not: []string{"resblock_updown", "attention_resolutions"}},
		{name: "use_scale_shift_norm on in the file", model: func(c *Config) { c.UseScaleShiftNorm = false }, substr: []string{
			"a scale and a shift, twice their channels", "use_scale_shift_norm=True",
		}},
		{name: "wider in the file", file: func(c *Config) { c.NumChannels = 64 }, not: []string{"use_scale_shift_norm", "resblock_updown", "attention_resolutions"}},
		{name: "saved from DataParallel", file: func(c *Config) { c.AttentionResolutions = "16,8" }, prefix: "module.", substr: []string{
			"keys start with 'module.'",
		}, not: []string{"use_scale_shift_norm", "resblock_updown", "attention_resolutions"}},
		{name: "resblock_updown off in the file", file: func(c *Config) { c.ResblockUpdown = false }, substr: []string{
			"plain convolutions (input_blocks.2.0, input_blocks.4.0, output_blocks.1.1 and 1 more) where the model has residual blocks", "resblock_updown=False",
		}, not: []string{"use_scale_shift_norm", "attention_resolutions"}},
		{name: "resblock_updown on in the file", model: func(c *Config) { c.ResblockUpdown = false }, substr: []string{
			"are residual blocks (input_blocks.2.0", "resblock_updown=True",
		}},
		{name: "more attention in the file", file: func(c *Config) { c.AttentionResolutions = "16,8" }, substr: []string{
			"the file has attention blocks where the model has none (input_blocks.5.1, output_blocks.0.1, output_blocks.1.1), at resolution 8", "attention_resolutions",
		}, not: []string{"the model has attention blocks"}},
		{name: "less attention in the file", file: func(c *Config) { c.AttentionResolutions = "" }, substr: []string{
			"the model has attention blocks where the file has none (input_blocks.3.1, output_blocks.2.1, output_blocks.3.1), at resolution 16", "attention_resolutions",
		}},
		{name: "more residual blocks per level in the file", file: func(c *Config) { c.NumResBlocks = 2 }, substr: []string{
			"the file has 9 input blocks (input_blocks.0 to input_blocks.8), the model 6", "num_res_blocks",
		}, not: []string{"attention_resolutions"}},
		{name: "fewer levels in the file", file: func(c *Config) { c.ChannelMult = "1,2"; c.AttentionResolutions = "32" }, substr: []string{
			"the file has 4 input blocks (input_blocks.0 to input_blocks.3), the model 6", "channel_mult",
		}, not: []string{"attention_resolutions"}},
		{name: "channels change at other blocks in the file", file: func(c *Config) { c.NumResBlocks = 2; c.ChannelMult = "1,2" }, model: func(c *Config) { c.NumResBlocks = 1; c.ChannelMult = "1,1,2" }, substr: []string{
			"the file's residual blocks change the channel count at other blocks than the model's (file: input_blocks.4.0; model: input_blocks.5.0)", "num_res_blocks or channel_mult",
		}, not: []string{"attention_resolutions"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fileCfg, modelCfg := base, base
			for _, c := range []struct {
				cfg    *Config
				change func(*Config)
			}{{&fileCfg, tc.file}, {&modelCfg, tc.model}} {
				if c.change != nil {
					c.change(c.cfg)
				}
			}
			file, err := New(fileCfg)
			if err != nil {
				t.Fatal(err)
			}
			model, err := New(modelCfg)
			if err != nil {
				t.Fatal(err)
			}
			specs := make([]checkpoints.Spec, 0, len(file.Params()))
			for _, p := range file.Params() {
				specs = append(specs, checkpoints.Spec{Name: tc.prefix + p.Name, Shape: p.Shape})
			}
			err = model.Match(layoutStateDict("f.pt", specs))
			if err == nil {
				t.Fatal("no error")
			}
			var hints []string
			for _, l := range strings.Split(err.Error(), "\n") {
				if h, ok := strings.CutPrefix(strings.TrimSpace(l), "hint: "); ok {
					hints = append(hints, h)
				}
			}
			msg := strings.Join(hints, "\n")
			for _, s := range tc.substr {
				if !strings.Contains(msg, s) {
					t.Errorf("hints do not contain %q:\n%s", s, msg)
				}
			}
			for _, s := range tc.not {
				if strings.Contains(msg, s) {
					t.Errorf("hints contain %q:\n%s", s, msg)
				}
			}
		})
	}
}

// TestMatchHintsNoStateDict checks that MatchHints, exported as a
// checkpoints.Hint that callers may call themselves, gives no hints for a
// nil state dict (with or without a mismatch) instead of panicking.
func TestMatchHintsNoStateDict(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    checkpoints.Mismatch
	}{
		{"no mismatch", checkpoints.Mismatch{}},
		{"missing keys", checkpoints.Mismatch{Missing: []string{"out.2.weight"}, Want: []checkpoints.Spec{{Name: "out.2.weight", Shape: []int{3, 128, 3, 3}}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if p := recover(); p != nil {
					t.Fatalf("panicked: %v", p)
				}
			}()
			if h := MatchHints(nil, tc.m); len(h) != 0 {
				t.Errorf("hints %q for no state dict, want none", h)
			}
		})
	}
}
