// Package prior holds the record a prior's weights file keeps of itself:
// the network and the diffusion process it was trained with, written into
// the file's safetensors metadata by cadps train, so that the file alone
// is enough to sample with. The shipped prior is in the subpackage small.
package prior

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/cadps/toolkit/cadps/diffusion"
	"github.com/cadps/toolkit/cadps/unet"
)

// Format is the metadata "format" value of every file a training run
// writes: its priors (ema.safetensors) and its checkpoints.
const Format = "cadps-train"

// Metadata keys of the record.
const (
	// KeyFormat holds Format.
	KeyFormat = "format"
	// KeyUNet holds the network's unet.Config as JSON.
	KeyUNet = "unet"
	// KeyDiffusion holds the diffusion.Config as JSON.
	KeyDiffusion = "diffusion"
	// KeyStep holds the number of training steps taken, in decimal.
	KeyStep = "step"
	// KeyTrainingConfig, present only in a training checkpoint (the run's
	// whole state), holds the run's configuration.
	KeyTrainingConfig = "config"
)

// Metadata returns the record of a network u trained for step steps with
// the diffusion process d, as safetensors metadata. A negative step is an
// error.
func Metadata(u unet.Config, d diffusion.Config, step int64) (map[string]string, error) {
	if step < 0 {
		return nil, fmt.Errorf("prior: %d training steps: the count must not be negative", step)
	}
	uj, err := json.Marshal(u)
	if err != nil {
		return nil, fmt.Errorf("prior: the network record: %w", err)
	}
	dj, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("prior: the diffusion record: %w", err)
	}
	return map[string]string{
		KeyFormat:    Format,
		KeyUNet:      string(uj),
		KeyDiffusion: string(dj),
		KeyStep:      strconv.FormatInt(step, 10),
	}, nil
}

// Recorded returns the network and the diffusion process that the
// metadata md of a prior file records, and false for the metadata of any
// other file. A training checkpoint, which holds a run's whole state
// rather than a network's weights, is an error that points to the prior
// beside it. Both records must be there and hold exactly the fields a
// training run writes: a missing process or an unknown field is an error,
// which the caller completes with the file's name.
func Recorded(md map[string]string) (unet.Config, diffusion.Config, bool, error) {
	if md[KeyFormat] != Format || md[KeyUNet] == "" {
		return unet.Config{}, diffusion.Config{}, false, nil
	}
	if md[KeyTrainingConfig] != "" {
		return unet.Config{}, diffusion.Config{}, false, errors.New("prior: a training checkpoint, the run's whole state; its prior is the ema.safetensors beside it")
	}
	var u unet.Config
	var d diffusion.Config
	if err := decodeStrict(md[KeyUNet], &u); err != nil {
		return u, d, false, fmt.Errorf("prior: the network record (metadata %q): %w", KeyUNet, err)
	}
	if md[KeyDiffusion] == "" {
		return u, d, false, fmt.Errorf("prior: the file records its network but not its diffusion process (no metadata %q, which cadps train writes): give the network as a JSON model config, with the file as its weights", KeyDiffusion)
	}
	if err := decodeStrict(md[KeyDiffusion], &d); err != nil {
		return u, d, false, fmt.Errorf("prior: the diffusion record (metadata %q): %w", KeyDiffusion, err)
	}
	return u, d, true, nil
}

// decodeStrict decodes the JSON object s into v: a field v lacks, or
// anything after the object, is an error.
func decodeStrict(s string, v any) error {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("more than one JSON value")
	}
	return nil
}

// Steps returns the number of training steps md records. A missing
// record, and one that is not a count (a negative or malformed number),
// are errors naming it.
func Steps(md map[string]string) (int64, error) {
	v, ok := md[KeyStep]
	if !ok {
		return 0, fmt.Errorf("prior: no step record (metadata %q)", KeyStep)
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("prior: the step record (metadata %q) is %q, not a count of steps", KeyStep, v)
	}
	return n, nil
}
