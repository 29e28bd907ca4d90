package unet

import (
	"strings"
	"testing"
)

// TestParseConfig checks that keys left out take create_model's defaults,
// and that an unknown key and a key given no value (null, as a YAML key
// left blank reads) are refused, naming the key, rather than building a
// network with a default the file did not ask for.
func TestParseConfig(t *testing.T) {
	for _, c := range []struct {
		name, json string
		want       Config
		err        string // error substring; "" for success
	}{
		{"defaults", `{"image_size": 64, "num_channels": 32, "num_res_blocks": 1}`,
			Config{ImageSize: 64, NumChannels: 32, NumResBlocks: 1, AttentionResolutions: "16", NumHeads: 1, NumHeadChannels: -1, NumHeadsUpsample: -1}, ""},
		{"given", `{"image_size": 64, "num_channels": 32, "num_res_blocks": 1, "num_heads": 4, "attention_resolutions": "32,16", "learn_sigma": true}`,
			Config{ImageSize: 64, NumChannels: 32, NumResBlocks: 1, AttentionResolutions: "32,16", NumHeads: 4, NumHeadChannels: -1, NumHeadsUpsample: -1, LearnSigma: true}, ""},
		{"unknown key", `{"image_size": 64, "num_channel": 32}`, Config{}, `unknown field "num_channel"`},
		{"null num_heads", `{"image_size": 64, "num_channels": 32, "num_res_blocks": 1, "num_heads": null}`, Config{},
			"num_heads has no value (null): give one, or leave the key out"},
		{"null channel_mult", `{"image_size": 64, "channel_mult": null, "num_channels": 32, "num_res_blocks": 1}`, Config{}, "channel_mult has no value (null)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseConfig([]byte(c.json))
			switch {
			case c.err == "" && err != nil:
				t.Fatal(err)
			case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
				t.Fatalf("error %v, want %q", err, c.err)
			case c.err == "" && got != c.want:
				t.Errorf("got %s, want %s", got, c.want)
			}
		})
	}
}
