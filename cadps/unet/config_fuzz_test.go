package unet

import (
	"strings"
	"testing"
)

// FuzzNew feeds arbitrary model configurations (create_model's JSON
// arguments, as a -model-config file holds them) to ParseConfig and New:
// neither may panic. Configurations of more than 8 residual blocks per
// level are skipped, to keep each run short.
func FuzzNew(f *testing.F) {
	for _, s := range []string{
		`{"image_size": 32, "num_channels": 32, "num_res_blocks": 1, "learn_sigma": false}`,
		`{"image_size": 256, "num_channels": 128, "num_res_blocks": 1, "attention_resolutions": "16", "num_head_channels": 64, "learn_sigma": true, "use_scale_shift_norm": true, "resblock_updown": true}`,
		`{"image_size": 64, "num_channels": 64, "num_res_blocks": 2, "channel_mult": "1,2,2", "num_heads": 4, "num_heads_upsample": 2, "attention_resolutions": "32,16,8"}`,
		`{"image_size": 28, "num_channels": 32, "num_res_blocks": 1, "channel_mult": "1,2", "class_cond": true, "num_classes": 10}`,
		`{"image_size": 64, "num_channels": 8, "num_res_blocks": 1, "channel_mult": "` + strings.TrimSuffix(strings.Repeat("1,", 65), ",") + `"}`,
		`null`, `{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig(data)
		if err != nil || cfg.NumResBlocks > 8 || strings.Count(cfg.ChannelMult, ",") > 80 {
			return
		}
		_, _ = New(cfg)
	})
}

// TestNewImageSizeLevels checks that New refuses an image size that
// channel_mult's levels do not divide, naming the power of 2, also for 64
// levels or more (where 2^levels overflows an int).
func TestNewImageSizeLevels(t *testing.T) {
	ones := func(n int) string { return strings.TrimSuffix(strings.Repeat("1,", n), ",") }
	for _, c := range []struct {
		mult string
		want string // error substring; "" for success
	}{
		{ones(3), ""},
		{ones(4), "not divisible by 2^3"},
		{ones(64), "not divisible by 2^63"},
		{ones(65), "not divisible by 2^64"},
		{ones(200), "not divisible by 2^199"},
	} {
		cfg := Config{ImageSize: 4, NumChannels: 32, NumResBlocks: 1, ChannelMult: c.mult, NumHeads: 1, NumHeadChannels: -1, NumHeadsUpsample: -1}
		_, err := New(cfg)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%d levels: error %v, want %q", strings.Count(c.mult, ",")+1, err, c.want)
		}
	}
}

// TestNewHeadCounts checks that New refuses a negative count of attention
// heads in the decoder's blocks (num_heads_upsample other than -1), which
// would give the decoder's attention layers a negative head count;
// num_head_channels, when set, decides the heads instead.
func TestNewHeadCounts(t *testing.T) {
	for _, c := range []struct {
		heads, headChannels, headsUp int
		want                         string // error substring; "" for success
	}{
		{1, -1, -1, ""},
		{2, -1, 0, ""},
		{1, -1, 2, ""},
		{1, -1, -4, "num_heads_upsample -4"},
		{1, 32, -4, ""},
		{0, -1, -1, "num_heads or num_head_channels must be positive"},
	} {
		cfg := Config{ImageSize: 32, NumChannels: 64, NumResBlocks: 1, ChannelMult: "1,2", AttentionResolutions: "16,32",
			NumHeads: c.heads, NumHeadChannels: c.headChannels, NumHeadsUpsample: c.headsUp}
		_, err := New(cfg)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("num_heads %d, num_head_channels %d, num_heads_upsample %d: error %v, want %q", c.heads, c.headChannels, c.headsUp, err, c.want)
		}
	}
}
