// Package small ships the toolkit's own small diffusion prior, fmnist32: a
// guided-diffusion UNet trained by this toolkit (package train, `cadps
// train`) as a DDPM on Fashion-MNIST, padded from 28×28 to 32×32 gray
// images. It exists so that every method can be run end to end on a CPU
// in seconds, without the FFHQ and ImageNet checkpoints.
//
// The weights (the EMA of training, PyTorch checkpoint keys, float32) are
// embedded in the binary; their safetensors metadata records the UNet and
// diffusion configurations and the training step. docs/small-prior.md is
// the model card.
package small

import (
	"bytes"
	"crypto/sha256"
	_ "embed" // the weights
	"encoding/hex"
	"fmt"

	"github.com/cadps/toolkit/cadps/diffusion"
	"github.com/cadps/toolkit/cadps/prior"
	"github.com/cadps/toolkit/cadps/unet"
	"github.com/cadps/toolkit/checkpoints"
)

// Name is the prior's name, and the base name of its weights file.
const Name = "fmnist32"

//go:embed fmnist32.safetensors
var weights []byte

// Config returns the UNet configuration of the prior: 32×32×1 images, 32
// base channels, channel_mult 1,1,2, one residual block per level,
// self-attention at 8×8 with 32-channel heads, learned variance,
// scale-shift norm and residual up/down-sampling (983,746 parameters).
func Config() unet.Config {
	return unet.Config{
		ImageSize: 32, InChannels: 1, NumChannels: 32, ChannelMult: "1,1,2", NumResBlocks: 1,
		AttentionResolutions: "8", NumHeads: 1, NumHeadChannels: 32, NumHeadsUpsample: -1,
		LearnSigma: true, UseScaleShiftNorm: true, ResblockUpdown: true,
	}
}

// Diffusion returns the process the prior was trained with: 1000 linear
// steps, ε prediction, learned_range variance, no respacing. Samplers may
// set Respacing (e.g. "100") and ClipDenoised on the returned value.
func Diffusion() diffusion.Config {
	return diffusion.Config{Steps: 1000, NoiseSchedule: "linear", MeanType: diffusion.MeanEpsilon, VarType: diffusion.VarLearnedRange}
}

// Weights parses the embedded weights. Each call returns a fresh copy.
func Weights() (*checkpoints.StateDict, error) {
	sd, err := checkpoints.ReadSafetensors(bytes.NewReader(weights), int64(len(weights)), Name+".safetensors (embedded)")
	if err != nil {
		return nil, fmt.Errorf("small: %w", err)
	}
	return sd, nil
}

// Digest returns the SHA-256 of the embedded weights file as
// "sha256:" and 64 hex digits: it tells results made with one release of
// the prior from those of another.
func Digest() string {
	sum := sha256.Sum256(weights)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// TrainedSteps returns the number of training steps the embedded weights
// had, from their metadata.
func TrainedSteps() (int, error) {
	sd, err := Weights()
	if err != nil {
		return 0, err
	}
	n, err := prior.Steps(sd.Metadata)
	if err != nil {
		return 0, fmt.Errorf("small: the embedded weights: %w", err)
	}
	return int(n), nil
}
