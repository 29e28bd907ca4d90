package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cadps/toolkit/cadps/runs"
)

// settingFlag names the flags that set a setting a run folder records
// (reproduce.json, settings.json), by the setting's key.
func settingFlag(key string) (string, bool) {
	switch key {
	case "batch", "class", "count", "data", "draws", "eta", "lpips", "noise", "offset", "ramp", "scale", "seed", "steps", "task", "weights":
		return "-" + key, true
	case "bfloat16":
		return "-bf16", true
	case "diffusion":
		return "-diffusion-config", true
	case "fit":
		return "-resize or -crop", true
	case "graph_noise":
		return "-graph-noise", true
	case "image_shape", "model":
		return "-model or -model-config", true
	case "keep_images":
		return "-keep", true
	case "method":
		return "-methods", true
	case "method_revision":
		return "the build (another revision of the method)", true
	case "respacing":
		return "-steps or -respacing", true
	case "sampler":
		return "-ddim or the -diffusion-config's sampler", true
	case "sigma_y":
		return "-sigma-y", true
	case "task_spec":
		return "-task", true
	case "task_config":
		return "-task-config", true
	case "weights_sha256":
		return "-weights (the file's content)", true
	}
	return "", false
}

// withSettingFlag adds to err, when it refuses a rerun into a folder made
// with other settings (a runs.DiffError), the flags that set the setting
// that differs: runs[0].respacing is set by -steps or -respacing.
func withSettingFlag(err error) error {
	var diff *runs.DiffError
	if !errors.As(err, &diff) {
		return err
	}
	key := diff.Path
	if strings.HasPrefix(key, "runs[") { // a reproduction's run k
		_, key, _ = strings.Cut(key, "].")
	}
	key, _, _ = strings.Cut(key, ".")
	key, _, _ = strings.Cut(key, "[")
	if f, ok := settingFlag(key); ok {
		return fmt.Errorf("%w (%s is set by %s)", err, diff.Path, f)
	}
	return err
}
