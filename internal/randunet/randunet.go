// Package randunet writes UNets with seeded random weights
// (unet.Model.InitRandom) as the files a prior loads from: a create_model
// JSON config and a safetensors weights file, so that tests can run the
// toolkit's loaders and commands on networks of any configuration, such as
// a tiny class-conditional one, without released checkpoints.
package randunet

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cadps/toolkit/cadps/unet"
	"github.com/cadps/toolkit/checkpoints"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// Write writes the network cfg describes, with random weights drawn from
// seed, into dir as NAME.json (its configuration) and NAME.safetensors
// (its weights), and returns their paths.
func Write(dir, name string, cfg unet.Config, seed uint64) (config, weights string, err error) {
	m, err := unet.New(cfg)
	if err != nil {
		return "", "", fmt.Errorf("randunet: %w", err)
	}
	ctx := context.New()
	if err := m.InitRandom(ctx, seed); err != nil {
		return "", "", fmt.Errorf("randunet: %w", err)
	}
	sd, err := m.StateDict(ctx)
	if err != nil {
		return "", "", fmt.Errorf("randunet: %w", err)
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		return "", "", fmt.Errorf("randunet: %w", err)
	}
	config, weights = filepath.Join(dir, name+".json"), filepath.Join(dir, name+".safetensors")
	if err := os.WriteFile(config, raw, 0o644); err != nil {
		return "", "", fmt.Errorf("randunet: %w", err)
	}
	if err := checkpoints.SaveSafetensors(weights, sd); err != nil {
		return "", "", fmt.Errorf("randunet: %w", err)
	}
	return config, weights, nil
}

// Tiny returns the configuration of a 16×16 RGB UNet, the
// smallest the toolkit's metrics take, conditioned on classes classes
// (unconditional when classes is 0).
func Tiny(classes int) unet.Config {
	return unet.Config{ImageSize: 16, NumChannels: 32, NumResBlocks: 1, ChannelMult: "1,2", LearnSigma: true,
		ClassCond: classes > 0, NumClasses: classes, NumHeads: 1, NumHeadChannels: -1, NumHeadsUpsample: -1}
}
