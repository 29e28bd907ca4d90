package restore

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The reference's task and model configs, as the DPS repository ships
// them (PyYAML tags included).
const (
	inpaintingConfig = `conditioning:
  method: ps
  params:
    scale: 0.5

data:
  name: ffhq
  root: ./data/samples/

measurement:
  operator:
    name: inpainting
  mask_opt:
    mask_type: random
    # mask_len_range: !!python/tuple [128, 129]  # for box
    mask_prob_range: !!python/tuple [0.3, 0.7]  # for random
    image_size: 16


  noise:
    name: gaussian
    sigma: 0.05
`
	// CA-DPS's inpainting config names MCG as its method.
	boxConfig = `conditioning:
  method: mcg
  params:
    scale: 0.5

data:
  name: ffhq
  # root: ./data/samples/
  root: ./data/samples/

measurement:
  operator:
    name: inpainting
  mask_opt:
    mask_type: box
    mask_len_range: !!python/tuple [8, 9]  # for box
    # mask_prob_range: !!python/tuple [0.1, 0.2]  # for random
    image_size: 16


  noise:
    name: gaussian
    sigma: 0.05
`
	srConfig = `conditioning:
  method: ps
  params:
    scale: 0.3

data:
  name: ffhq
  root: ./data/samples/

measurement:
  operator:
    name: super_resolution
    in_shape: !!python/tuple [1, 3, 16, 16]
    scale_factor: 4
  
  noise: 
    name: gaussian
    sigma: 0.05
`
	phaseConfig = `conditioning:
  method: ps
  params:
    scale: 1.0

data:
  name: ffhq
  root: ./data/samples/

measurement:
  operator:
    name: phase_retrieval
    oversample: 2.0

  noise: 
    name: poisson
    rate: 1.0`
	modelConfig = `# Defaults for image training.

image_size: 256
num_channels: 128
num_res_blocks: 1
channel_mult: ""
learn_sigma: True
class_cond: False
use_checkpoint: False
attention_resolutions: 16
num_heads: 4
num_head_channels: 64
num_heads_upsample: -1
use_scale_shift_norm: True
dropout: 0.0
resblock_updown: True
use_fp16: False
use_new_attention_order: False

model_path: models/ffhq_10m.pt
`
	diffusionConfig = `sampler: ddpm
steps: 1000
noise_schedule: linear
model_mean_type: epsilon 
model_var_type: learned_range
dynamic_threshold: False
clip_denoised: True
rescale_timesteps: False
timestep_respacing: 1000
`
)

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestReadYAMLErrors checks that a YAML file that does not parse, or
// whose top level is not a mapping, is refused in one line naming the
// file, with the yaml package's prefix once.
func TestReadYAMLErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ name, text, want string }{
		{"unparsed", "a: [1,\n", ": yaml: line 1: did not find expected node content"},
		{"list", "- a\n- b\n", ": yaml: line 1: cannot unmarshal !!seq into map[string]interface {}"},
		{"scalar", "hello\n", ": yaml: line 1: cannot unmarshal !!str `hello` into map[string]interface {}"},
		{"empty", "", ": yaml: empty document"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, dir, tc.name+".yaml", tc.text)
			_, err := ReadYAML(path)
			if err == nil {
				t.Fatal("no error")
			}
			if msg := err.Error(); msg != "restore: "+path+tc.want {
				t.Errorf("error %q, want %q", msg, "restore: "+path+tc.want)
			}
		})
	}
}

func TestReadTaskConfig(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		file, text string
		label, op  string
		method     string
		scale      float64
		noise      string
		outH       int
	}{
		{"inpainting_config.yaml", inpaintingConfig, "inpainting", "inpainting", "dps", 0.5, "gaussian", 16},
		{"box_config.yml", boxConfig, "box", "inpainting", "mcg", 0.5, "gaussian", 16},
		{"super_resolution_config.yaml", srConfig, "super_resolution", "super_resolution", "dps", 0.3, "gaussian", 4},
		{"phase_retrieval_config.yaml", phaseConfig, "phase_retrieval", "phase_retrieval", "dps", 1.0, "poisson", 24},
	} {
		t.Run(tc.file, func(t *testing.T) {
			c, err := ReadTaskConfig(writeFile(t, dir, tc.file, tc.text))
			if err != nil {
				t.Fatal(err)
			}
			if c.Task.Label != tc.label || c.Task.Name() != tc.op || c.Method != tc.method || !c.HasScale || c.Scale != tc.scale ||
				c.Noise == nil || c.Noise.Name() != tc.noise || c.DataRoot != "./data/samples/" {
				t.Errorf("got %+v (task %q, noise %v)", c, c.Task.Name(), c.Noise)
			}
			op, err := c.Task.Operator([]int{1, 3, 16, 16}, 3)
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := op.OutputShape([]int{1, 3, 16, 16}); got[2] != tc.outH {
				t.Errorf("output shape %v, want height %d", got, tc.outH)
			}
		})
	}
	if _, err := ReadTaskConfig(writeFile(t, dir, "bad.yaml", "conditioning: {method: ps}\n")); err == nil || !strings.Contains(err.Error(), "no measurement") {
		t.Errorf("config without measurement: error %v", err)
	}
	if _, err := ReadTaskConfig(writeFile(t, dir, "broken.yaml", "measurement: [\n")); err == nil {
		t.Error("broken YAML: no error")
	}
}

// TestReadTaskConfigNumbers checks that the numbers of one task config
// follow one rule, whether they belong to the operator or to the
// conditioning: a quoted number reads as the number, anything else is
// refused naming the key and the value.
func TestReadTaskConfigNumbers(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, scale, factor string
		want                float64 // the scale
		err                 string  // substring of the error; "" for success
	}{
		{"plain", "0.3", "4", 0.3, ""},
		{"quoted scale", `"0.3"`, "4", 0.3, ""},
		{"quoted factor", "0.3", `"4"`, 0.3, ""},
		{"both quoted", `"0.3"`, `"4"`, 0.3, ""},
		{"integer scale", "2", "4", 2, ""},
		{"word for the scale", "strong", "4", 0, `conditioning params scale: "strong" is not a number`},
		{"list for the scale", "[0.3]", "4", 0, "conditioning params scale: [0.3] ([]interface {}) is not a number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := strings.Replace(srConfig, "scale: 0.3", "scale: "+tc.scale, 1)
			text = strings.Replace(text, "scale_factor: 4", "scale_factor: "+tc.factor, 1)
			c, err := ReadTaskConfig(writeFile(t, dir, "super_resolution_config.yaml", text))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !c.HasScale || c.Scale != tc.want {
				t.Errorf("scale %v (given %v), want %v", c.Scale, c.HasScale, tc.want)
			}
			op, err := c.Task.Operator([]int{1, 3, 16, 16}, 3)
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := op.OutputShape([]int{1, 3, 16, 16}); got[2] != 4 {
				t.Errorf("output shape %v, want height 4 (scale_factor 4)", got)
			}
		})
	}
}

func TestReadModelConfig(t *testing.T) {
	dir := t.TempDir()
	cfg, weights, err := ReadModelConfig(writeFile(t, dir, "model_config.yaml", modelConfig))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ImageSize != 256 || cfg.AttentionResolutions != "16" || !cfg.LearnSigma || cfg.NumHeadChannels != 64 || weights != "models/ffhq_10m.pt" {
		t.Errorf("got %+v, weights %q", cfg, weights)
	}
	cfg, weights, err = ReadModelConfig(writeFile(t, dir, "c.json", `{"create_model_kwargs": {"image_size": 32, "num_channels": 32, "num_res_blocks": 1, "learn_sigma": false}, "note": "x"}`))
	if err != nil || cfg.ImageSize != 32 || weights != "" {
		t.Errorf("JSON with create_model_kwargs: %+v, %q, %v", cfg, weights, err)
	}
	if _, _, err := ReadModelConfig(writeFile(t, dir, "typo.json", `{"image_sise": 32}`)); err == nil || !strings.Contains(err.Error(), "image_sise") {
		t.Errorf("unknown key: error %v", err)
	}
	// A key left blank reads as null: refused, not taken for the key's
	// default.
	blank := strings.Replace(modelConfig, "num_heads: 4", "num_heads:", 1)
	if _, _, err := ReadModelConfig(writeFile(t, dir, "blank.yaml", blank)); err == nil || !strings.Contains(err.Error(), "blank.yaml: unet: config: num_heads has no value (null)") {
		t.Errorf("key without a value: error %v", err)
	}
	p := &Prior{}
	if _, err := p.withDiffusionFile(writeFile(t, dir, "diffusion_config.yaml", diffusionConfig)); err != nil {
		t.Fatal(err)
	}
	if p.Diffusion.Steps != 1000 || p.Diffusion.Respacing != "1000" || !p.Diffusion.ClipDenoised {
		t.Errorf("diffusion config %+v", p.Diffusion)
	}
	const ownBetas = "steps: 4\nbetas: [0.01, 0.02, 0.05, 0.1]\nmodel_mean_type: epsilon\nmodel_var_type: fixed_large\n"
	if _, err := p.withDiffusionFile(writeFile(t, dir, "own_betas.yaml", ownBetas)); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.Diffusion.Betas, []float64{0.01, 0.02, 0.05, 0.1}) || p.DiffusionFile == "" {
		t.Errorf("diffusion config with betas %+v (file %q)", p.Diffusion, p.DiffusionFile)
	}
}

func TestSpecTaskLabel(t *testing.T) {
	for spec, want := range map[string]string{
		"super_resolution:factor=4":          "super_resolution_factor=4",
		"gaussian_blur":                      "gaussian_blur",
		"sr:factor=8,kernel=lanczos3":        "sr_factor=8_kernel=lanczos3",
		"inpaint_file:path=/masks/m one.png": "inpaint_file_path=_masks_m_one.png",
	} {
		if got := SpecTask(spec).Label; got != want {
			t.Errorf("label of %q = %q, want %q", spec, got, want)
		}
	}
}
