package unet

import (
	"math"
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

// TestNewHeadCounts checks the attention heads New gives the middle block
// (num_heads) and the decoder's blocks (num_heads_upsample, or num_heads
// for -1), both replaced by channels / num_head_channels when that is set,
// as guided-diffusion's UNetModel does; and that it refuses a negative
// count of heads in the decoder's blocks (num_heads_upsample below -1) and
// a negative num_head_channels other than -1, which would otherwise be
// taken for -1.
func TestNewHeadCounts(t *testing.T) {
	for _, c := range []struct {
		heads, headChannels, headsUp int
		mid, up                      int    // heads of middle_block.1 and output_blocks.0.1 (128 channels)
		want                         string // error substring; "" for success
	}{
		{1, -1, -1, 1, 1, ""},
		{2, -1, 0, 2, 2, ""},
		{1, -1, 2, 1, 2, ""},
		{4, -1, -1, 4, 4, ""},
		{1, -1, -4, 0, 0, "num_heads_upsample -4"},
		{1, 32, -4, 4, 4, ""},
		{4, 16, 2, 8, 8, ""},
		{4, -64, -1, 0, 0, "num_head_channels -64: want a positive width per head, or -1"},
		{4, -2, -1, 0, 0, "num_head_channels -2"},
		{0, -1, -1, 0, 0, "num_heads or num_head_channels must be positive"},
	} {
		cfg := Config{ImageSize: 32, NumChannels: 64, NumResBlocks: 1, ChannelMult: "1,2", AttentionResolutions: "16,32",
			NumHeads: c.heads, NumHeadChannels: c.headChannels, NumHeadsUpsample: c.headsUp}
		m, err := New(cfg)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("num_heads %d, num_head_channels %d, num_heads_upsample %d: error %v, want %q", c.heads, c.headChannels, c.headsUp, err, c.want)
		}
		if err != nil || c.want != "" {
			continue
		}
		heads := map[string]int{}
		m.visit(func(l layer) {
			if a, ok := l.(*attention); ok {
				heads[a.key] = a.heads
			}
		})
		if heads["middle_block.1"] != c.mid || heads["output_blocks.0.1"] != c.up {
			t.Errorf("num_heads %d, num_head_channels %d, num_heads_upsample %d: %d heads in the middle block, %d in the decoder; want %d and %d",
				c.heads, c.headChannels, c.headsUp, heads["middle_block.1"], heads["output_blocks.0.1"], c.mid, c.up)
		}
	}
}

// TestNewChannelCounts checks that New takes 0 for the default channel and
// class counts and refuses a negative one, naming it, rather than building
// the default network for it (in_channels -1 gave a 3-channel model), and
// one above maxChannels or maxClasses, up to which every parameter count
// fits an int.
func TestNewChannelCounts(t *testing.T) {
	for _, c := range []struct {
		name                     string
		in, out, classes         int
		wantIn, wantOut, wantCls int
		want                     string // error substring; "" for success
	}{
		{"defaults", 0, 0, 0, 3, 6, 1000, ""},
		{"given", 1, 5, 10, 1, 5, 10, ""},
		{"negative in_channels", -1, 0, 0, 0, 0, 0, "in_channels, out_channels and num_classes must not be negative"},
		{"negative out_channels", 0, -6, 0, 0, 0, 0, "must not be negative"},
		{"negative num_classes", 0, 0, -1, 0, 0, 0, "must not be negative"},
		{"the most channels and classes", 1 << 16, 1 << 16, 1 << 24, maxChannels, maxChannels, maxClasses, ""},
		{"too many in_channels", 1 << 50, 0, 0, 0, 0, 0, "in_channels 1125899906842624 is more than 65536"},
		{"too many out_channels", 0, maxChannels + 1, 0, 0, 0, 0, "out_channels 65537 is more than 65536"},
		{"too many num_classes", 0, 0, 1 << 50, 0, 0, 0, "num_classes 1125899906842624 is more than 16777216"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := Config{ImageSize: 8, NumChannels: 32, NumResBlocks: 1, ChannelMult: "1,2", NumHeads: 1, NumHeadChannels: -1,
				NumHeadsUpsample: -1, LearnSigma: true, ClassCond: true, InChannels: c.in, OutChannels: c.out, NumClasses: c.classes}
			m, err := New(cfg)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("New: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("New: error %v, want one containing %q", err, c.want)
			case c.want != "":
				return
			}
			if m.InChannels() != c.wantIn || m.OutChannels() != c.wantOut || m.NumClasses() != c.wantCls {
				t.Errorf("%d in, %d out channels, %d classes; want %d, %d, %d", m.InChannels(), m.OutChannels(), m.NumClasses(), c.wantIn, c.wantOut, c.wantCls)
			}
			if m.NumParams() <= 0 {
				t.Errorf("%d parameters", m.NumParams())
			}
		})
	}
}

// TestNewResBlocks checks that New refuses more than maxResBlocks residual
// blocks per level, naming num_res_blocks (a mistyped count allocated
// blocks until memory ran out), and builds the largest network it takes,
// maxResBlocks blocks on each of 63 levels of maxChannels channels, with
// a parameter count that fits an int.
func TestNewResBlocks(t *testing.T) {
	for _, c := range []struct {
		name   string
		blocks int
		levels int
		want   string // error substring; "" for success
	}{
		{"the published most", 3, 2, ""},
		{"the most, on the most levels", maxResBlocks, 63, ""},
		{"one too many", maxResBlocks + 1, 2, "num_res_blocks 65 is more than 64"},
		{"mistyped", 1_000_000_000, 2, "num_res_blocks 1000000000 is more than 64"},
		{"the largest int", math.MaxInt, 2, "num_res_blocks 9223372036854775807 is more than 64"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := Config{ImageSize: 1 << (c.levels - 1), NumChannels: maxChannels, NumResBlocks: c.blocks,
				ChannelMult: strings.Repeat("1,", c.levels-1) + "1", NumHeads: 1, NumHeadChannels: -1, NumHeadsUpsample: -1}
			m, err := New(cfg)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("New: %v", err)
			case c.want != "":
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("New: error %v, want one containing %q", err, c.want)
				}
				return
			}
			// Each residual block between maxChannels channels, or from
			// twice as many at a skip connection, has fewer than 2^38
			// parameters.
			blocks := c.levels*(2*c.blocks+2) + 4
			if n := m.NumParams(); n <= 0 || n > blocks<<38 {
				t.Errorf("%d parameters for %d blocks", n, blocks)
			}
		})
	}
}

// TestNewChannelMult checks that New refuses a channel_mult entry that is
// not a positive finite number, and one that gives a level no channels or
// more than maxChannels, naming it: NaN, Inf or 1e30 built a model whose
// parameter count overflowed to a negative number, and 0.001 one with
// 0-channel layers.
func TestNewChannelMult(t *testing.T) {
	for _, c := range []struct {
		mult     string
		channels int    // num_channels; 0 for 32
		want     string // error substring; "" for success
	}{
		{"1,2", 0, ""},
		{"1,3", 0, ""},
		{"1,NaN", 0, `bad channel_mult "1,NaN": "NaN" is not a positive finite number`},
		{"1,Inf", 0, `"Inf" is not a positive finite number`},
		{"1,-2", 0, `"-2" is not a positive finite number`},
		{"1,2,", 0, `"" is not a positive finite number`},
		{"1,0.001", 0, "channel_mult 0.001 of level 1 gives 0.001 × 32 = 0.032 channels, want 1 to 65536"},
		{"1,1e30", 0, "channel_mult 1e+30 of level 1 gives"},
		// Levels of 20000 channels, but a time embedding of 4·num_channels:
		// its 16·num_channels² weights overflowed the parameter count.
		{"0.00001", 2_000_000_000, "num_channels 2000000000 is more than 65536"},
		{"1", 1 << 16, ""},
	} {
		t.Run(c.mult, func(t *testing.T) {
			channels := c.channels
			if channels == 0 {
				channels = 32
			}
			m, err := New(Config{ImageSize: 8, NumChannels: channels, NumResBlocks: 1, ChannelMult: c.mult, NumHeads: 1, NumHeadChannels: -1, NumHeadsUpsample: -1})
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("New: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				n := 0
				if m != nil {
					n = m.NumParams()
				}
				t.Fatalf("New = model of %d parameters, error %v; want an error containing %q", n, err, c.want)
			case c.want == "" && m.NumParams() <= 0:
				t.Fatalf("%d parameters", m.NumParams())
			}
		})
	}
}

// TestNewAttentionResolutions checks that New names the entry of
// attention_resolutions that is not a positive integer, where its error
// gave the whole list only.
func TestNewAttentionResolutions(t *testing.T) {
	for _, c := range []struct {
		res  string
		want string // error substring; "" for success
	}{
		{"4", ""},
		{"4, 8", ""},
		{"4,0", `bad attention_resolutions "4,0": "0" is not a positive integer`},
		{"-16", `"-16" is not a positive integer`},
		{"4,x", `"x" is not a positive integer`},
		{"4,", `"" is not a positive integer`},
	} {
		t.Run(c.res, func(t *testing.T) {
			_, err := New(Config{ImageSize: 8, NumChannels: 32, NumResBlocks: 1, ChannelMult: "1,2", AttentionResolutions: c.res,
				NumHeads: 1, NumHeadChannels: -1, NumHeadsUpsample: -1})
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("New: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("New: error %v, want one containing %q", err, c.want)
			}
		})
	}
}
