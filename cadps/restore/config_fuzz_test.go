package restore

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzReadTaskConfig feeds arbitrary task configs (YAML) to ReadTaskConfig
// and builds the operator of those it accepts for a 16×16 image: neither
// may panic, and ReadTaskConfig's errors name the file. Configs naming
// files (path, file) are skipped: they would read whatever path the
// fuzzer writes.
func FuzzReadTaskConfig(f *testing.F) {
	for _, s := range []string{inpaintingConfig, boxConfig, srConfig, phaseConfig,
		"measurement:\n  operator:\n    name: gaussian_blur\n    kernel_size: 5\n    intensity: 1e18\n",
		"measurement: [\n", "a: &a [*a]\n", ""} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		if strings.Contains(string(data), "path") || strings.Contains(string(data), "file") {
			t.Skip("names a file")
		}
		path := filepath.Join(dir, "task_config.yaml")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		tc, err := ReadTaskConfig(path)
		if err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		_, _ = tc.Task.Operator([]int{1, 3, 16, 16}, 1)
	})
}

// FuzzReadModelConfig feeds arbitrary model configs, JSON and YAML, to
// ReadModelConfig: it may not panic, and its errors name the file.
func FuzzReadModelConfig(f *testing.F) {
	f.Add([]byte(modelConfig), true)
	f.Add([]byte(`{"create_model_kwargs": {"image_size": 32, "num_channels": 32, "num_res_blocks": 1, "learn_sigma": false}, "note": "x"}`), false)
	f.Add([]byte(`{"image_size": 64, "attention_resolutions": 16, "model_path": "m.pt"}`), false)
	f.Add([]byte(`null`), false)
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte, yaml bool) {
		name := "model.json"
		if yaml {
			name = "model_config.yaml"
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, _, err := ReadModelConfig(path); err != nil && !strings.Contains(err.Error(), path) {
			t.Fatalf("error %q does not name the file", err)
		}
	})
}
