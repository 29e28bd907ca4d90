package diffusion

import (
	"encoding/json"
	"testing"
)

// FuzzConfig feeds arbitrary diffusion configs (as JSON; a
// diffusion_config.yaml decodes to the same values) to ParseConfig and New:
// neither may panic.
func FuzzConfig(f *testing.F) {
	for _, s := range []string{
		`{"sampler": "ddpm", "steps": 1000, "noise_schedule": "linear", "model_mean_type": "epsilon", "model_var_type": "learned_range", "dynamic_threshold": false, "clip_denoised": true, "rescale_timesteps": false, "timestep_respacing": 1000}`,
		`{"steps": 100, "noise_schedule": "cosine", "model_mean_type": "start_x", "model_var_type": "fixed_small", "timestep_respacing": "ddim10"}`,
		`{"steps": 100, "noise_schedule": "linear", "model_mean_type": "epsilon", "model_var_type": "fixed_large", "timestep_respacing": "10,5,3"}`,
		`{"steps": 1e15, "noise_schedule": "linear", "model_mean_type": "epsilon", "model_var_type": "fixed_large"}`,
		`{"steps": 4, "betas": [0.01, 0.02, 0.05, 0.1], "model_mean_type": "epsilon", "model_var_type": "fixed_large", "timestep_respacing": 2}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var m map[string]any
		if json.Unmarshal(data, &m) != nil {
			return
		}
		cfg, err := ParseConfig(m)
		if err != nil {
			return
		}
		_, _ = New(cfg)
	})
}
