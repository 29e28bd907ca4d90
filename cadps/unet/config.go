package unet

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Config holds the arguments of guided-diffusion's create_model, with the
// same names (JSON tags) so that a reference config decodes directly, plus
// the channel counts that create_model fixes (3 in, 3 or 6 out).
type Config struct {
	ImageSize            int     `json:"image_size"`
	NumChannels          int     `json:"num_channels"`
	NumResBlocks         int     `json:"num_res_blocks"`
	ChannelMult          string  `json:"channel_mult"`          // "" = the per-size default, else e.g. "1,2,2"
	LearnSigma           bool    `json:"learn_sigma"`           // 2× output channels (ε and variance values)
	ClassCond            bool    `json:"class_cond"`            // label embedding for NumClasses classes
	AttentionResolutions string  `json:"attention_resolutions"` // spatial sizes with attention, e.g. "32,16,8"
	NumHeads             int     `json:"num_heads"`
	NumHeadChannels      int     `json:"num_head_channels"`  // -1: use NumHeads
	NumHeadsUpsample     int     `json:"num_heads_upsample"` // -1: NumHeads
	UseScaleShiftNorm    bool    `json:"use_scale_shift_norm"`
	Dropout              float64 `json:"dropout"` // training only; inference ignores it
	ResblockUpdown       bool    `json:"resblock_updown"`
	UseFP16              bool    `json:"use_fp16"` // accepted; computed in float32
	UseNewAttentionOrder bool    `json:"use_new_attention_order"`
	UseCheckpoint        bool    `json:"use_checkpoint"` // gradient checkpointing in PyTorch; no effect here

	// InChannels is the number of image channels (0 means 3, as create_model).
	InChannels int `json:"in_channels,omitempty"`
	// OutChannels overrides the output channels (0 means InChannels, doubled with LearnSigma).
	OutChannels int `json:"out_channels,omitempty"`
	// NumClasses is the number of labels with ClassCond (0 means 1000, as guided-diffusion).
	NumClasses int `json:"num_classes,omitempty"`
}

// FFHQ256 is the configuration of ffhq_10m.pt, the FFHQ 256×256 model used by
// DPS and CA-DPS (93,563,910 parameters).
func FFHQ256() Config {
	return Config{
		ImageSize: 256, NumChannels: 128, NumResBlocks: 1, LearnSigma: true,
		AttentionResolutions: "16", NumHeads: 4, NumHeadChannels: 64, NumHeadsUpsample: -1,
		UseScaleShiftNorm: true, ResblockUpdown: true,
	}
}

// ImageNet256 is the configuration of guided-diffusion's unconditional
// ImageNet 256×256 model, 256x256_diffusion_uncond.pt (552,814,086 parameters).
func ImageNet256() Config {
	return Config{
		ImageSize: 256, NumChannels: 256, NumResBlocks: 2, LearnSigma: true,
		AttentionResolutions: "32,16,8", NumHeads: 4, NumHeadChannels: 64, NumHeadsUpsample: -1,
		UseScaleShiftNorm: true, ResblockUpdown: true, UseFP16: true,
	}
}

// Presets lists the named configurations.
func Presets() map[string]Config {
	return map[string]Config{
		"ffhq256":     FFHQ256(),
		"imagenet256": ImageNet256(),
	}
}

// Preset returns a named configuration.
func Preset(name string) (Config, error) {
	c, ok := Presets()[name]
	if !ok {
		names := make([]string, 0)
		for n := range Presets() {
			names = append(names, n)
		}
		slices.Sort(names)
		return Config{}, fmt.Errorf("unet: unknown preset %q (known: %s)", name, strings.Join(names, ", "))
	}
	return c, nil
}

// ParseConfig decodes a JSON object of create_model arguments. Keys left
// out take create_model's defaults; unknown keys and null values (a YAML
// key without a value) are errors, so that neither a typo nor a value
// left blank silently builds a network with a default.
func ParseConfig(data []byte) (Config, error) {
	c := Config{NumHeads: 1, NumHeadChannels: -1, NumHeadsUpsample: -1, AttentionResolutions: "16"}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Config{}, fmt.Errorf("unet: config: %w", err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return Config{}, fmt.Errorf("unet: config: %w", err)
	}
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		if string(fields[k]) == "null" {
			return Config{}, fmt.Errorf("unet: config: %s has no value (null): give one, or leave the key out for create_model's default", k)
		}
	}
	return c, nil
}

// String renders the configuration compactly, for error messages and records.
func (c Config) String() string {
	b, _ := json.Marshal(c)
	return string(b)
}

// ImageChannels returns the number of channels of the images the network
// takes: InChannels, or 3 when it is 0, as create_model.
func (c Config) ImageChannels() int {
	if c.InChannels > 0 {
		return c.InChannels
	}
	return 3
}

// outChannels returns the number of output channels.
func (c Config) outChannels() int {
	if c.OutChannels > 0 {
		return c.OutChannels
	}
	if c.LearnSigma {
		return 2 * c.ImageChannels()
	}
	return c.ImageChannels()
}

// numClasses returns the number of class labels (0 without ClassCond).
func (c Config) numClasses() int {
	if !c.ClassCond {
		return 0
	}
	if c.NumClasses > 0 {
		return c.NumClasses
	}
	return 1000
}

// channelMult returns the per-level channel multipliers, with
// create_model's defaults for an empty string.
func (c Config) channelMult() ([]float64, error) {
	if strings.TrimSpace(c.ChannelMult) == "" {
		switch c.ImageSize {
		case 512:
			return []float64{0.5, 1, 1, 2, 2, 4, 4}, nil
		case 256:
			return []float64{1, 1, 2, 2, 4, 4}, nil
		case 128:
			return []float64{1, 1, 2, 3, 4}, nil
		case 64:
			return []float64{1, 2, 3, 4}, nil
		}
		return nil, fmt.Errorf("unet: no default channel_mult for image_size %d: give channel_mult", c.ImageSize)
	}
	var out []float64
	for _, f := range strings.Split(c.ChannelMult, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || !(v > 0) || math.IsInf(v, 1) {
			return nil, fmt.Errorf("unet: bad channel_mult %q: %q is not a positive finite number", c.ChannelMult, strings.TrimSpace(f))
		}
		out = append(out, v)
	}
	return out, nil
}

// attentionDownsampleRates converts attention resolutions (spatial sizes) to
// the downsampling rates ds = image_size / resolution, as create_model does.
func (c Config) attentionDownsampleRates() (map[int]bool, error) {
	out := map[int]bool{}
	if strings.TrimSpace(c.AttentionResolutions) == "" {
		return out, nil
	}
	for _, f := range strings.Split(c.AttentionResolutions, ",") {
		r, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || r <= 0 {
			return nil, fmt.Errorf("unet: bad attention_resolutions %q: %q is not a positive integer", c.AttentionResolutions, strings.TrimSpace(f))
		}
		out[c.ImageSize/r] = true
	}
	return out, nil
}
