package train

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/cadps/toolkit/cadps/prior"
	"github.com/cadps/toolkit/cadps/unet"
	"github.com/cadps/toolkit/checkpoints"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// Weights returns the current (raw) weights with the checkpoint keys.
func (t *Trainer) Weights() (*checkpoints.StateDict, error) { return t.model.StateDict(t.ctx) }

// EMAWeights returns the EMA of the weights with the checkpoint keys, with
// the model and diffusion configuration and the step count in the
// safetensors metadata: the file to sample with.
func (t *Trainer) EMAWeights() (*checkpoints.StateDict, error) {
	sd := checkpoints.NewStateDict("ema")
	for _, p := range t.model.Params() {
		scope, name := unet.KeyScope(p.Name)
		v := t.ctx.GetVariableByScopeAndName(emaScope+scope, name)
		if v == nil {
			return nil, fmt.Errorf("train: no EMA weight for %q", p.Name)
		}
		value, err := v.Value()
		if err != nil {
			return nil, fmt.Errorf("train: EMA weight %q: %w", p.Name, err)
		}
		if err := sd.Add(checkpoints.FromFloat32(p.Name, p.Shape, tensors.MustCopyFlatData[float32](value))); err != nil {
			return nil, err
		}
	}
	meta, err := t.metadata()
	if err != nil {
		return nil, err
	}
	meta["ema_rate"] = strconv.FormatFloat(t.cfg.EMARate, 'g', -1, 64)
	sd.Metadata = meta
	return sd, nil
}

// metadata returns the records every file of the run carries: the
// prior's record (package prior) and the run's loss weighting and history.
func (t *Trainer) metadata() (map[string]string, error) {
	meta, err := prior.Metadata(t.cfg.UNet, t.cfg.Diffusion, t.step)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	if t.cfg.LossWeight != "" {
		meta["loss_weight"] = t.cfg.LossWeight
	}
	if len(t.cfg.History) > 0 {
		h, err := json.Marshal(t.cfg.History)
		if err != nil {
			return nil, fmt.Errorf("train: %w", err)
		}
		meta["history"] = string(h)
	}
	return meta, nil
}

// checkpointVariableName is the tensor name of a context variable in a
// training checkpoint: its scope and name joined by "/".
func checkpointVariableName(v *context.Variable) string {
	if v.Scope() == "/" {
		return "/" + v.Name()
	}
	return v.Scope() + "/" + v.Name()
}

// SaveCheckpoint writes the whole training state to path atomically: every
// context variable (weights, EMA, AdamW moments, step counters, learning
// rate) under its scope path, and in the metadata the configuration, the
// step and the size of the data set.
func (t *Trainer) SaveCheckpoint(path string) error {
	sd := checkpoints.NewStateDict(path)
	for v := range t.ctx.IterVariables() {
		value, err := v.Value()
		if err != nil {
			return fmt.Errorf("train: variable %s: %w", checkpointVariableName(v), err)
		}
		ct, err := toCheckpointTensor(checkpointVariableName(v), value)
		if err != nil {
			return err
		}
		if err := sd.Add(ct); err != nil {
			return err
		}
	}
	meta, err := t.metadata()
	if err != nil {
		return err
	}
	cfgJSON, err := json.Marshal(t.cfg)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	meta[prior.KeyTrainingConfig] = string(cfgJSON)
	meta["data_size"] = strconv.Itoa(t.data.N)
	meta["data_sha256"] = t.dataDigest()
	sd.Metadata = meta
	if err := checkpoints.SaveSafetensors(path, sd); err != nil {
		return fmt.Errorf("train: saving checkpoint: %w", err)
	}
	return nil
}

// toCheckpointTensor converts a float32 or int64 GoMLX tensor.
func toCheckpointTensor(name string, value *tensors.Tensor) (*checkpoints.Tensor, error) {
	dims := value.Shape().Dimensions
	switch value.DType() {
	case dtypes.Float32:
		return checkpoints.FromFloat32(name, dims, tensors.MustCopyFlatData[float32](value)), nil
	case dtypes.Int64:
		v := tensors.MustCopyFlatData[int64](value)
		data := make([]byte, 8*len(v))
		for k, x := range v {
			for b := range 8 {
				data[8*k+b] = byte(uint64(x) >> (8 * b))
			}
		}
		return &checkpoints.Tensor{Name: name, DType: checkpoints.I64, Shape: dims, Data: data}, nil
	}
	return nil, fmt.Errorf("train: variable %s has unsupported dtype %s", name, value.DType())
}

// Resume continues the run saved at path on the same data: the
// configuration comes from the checkpoint, and the data set must have the
// size it was trained on (the data order depends on it). A checkpoint that
// lacks a weight or its EMA, or holds one of a shape or dtype other than
// the model's, is refused, naming it.
func Resume(b backends.Backend, path string, data *Dataset) (*Trainer, error) {
	sd, err := checkpoints.LoadSafetensors(path)
	if err == nil {
		err = sd.CheckFinite()
	}
	if err != nil {
		return nil, fmt.Errorf("train: resuming: %w", err)
	}
	cfg, err := checkpointConfig(path, sd)
	if err != nil {
		return nil, err
	}
	if n, err := strconv.Atoi(sd.Metadata["data_size"]); err != nil || data == nil || n != data.N {
		got := 0
		if data != nil {
			got = data.N
		}
		return nil, fmt.Errorf("train: %s was trained on %s images, the data set has %d: resume on the same data",
			path, sd.Metadata["data_size"], got)
	}
	// Checkpoints written before the digest was recorded are checked by
	// their size alone.
	digest := ""
	if want := sd.Metadata["data_sha256"]; want != "" {
		if digest = data.Digest(); digest != want {
			return nil, fmt.Errorf("train: %s was trained on other images (%s) than those of %s (%s), though as many: resume on the same data",
				path, want, data.Source, digest)
		}
	}
	step, err := prior.Steps(sd.Metadata)
	if err != nil || step < 0 {
		return nil, fmt.Errorf("train: %s: bad step record %q", path, sd.Metadata["step"])
	}
	t, err := newTrainer(b, cfg, data)
	if err != nil {
		return nil, err
	}
	t.digest = digest
	trainable := map[string]bool{}
	for _, p := range t.model.Params() {
		scope, name := unet.KeyScope(p.Name)
		trainable[scope+"/"+name] = true
	}
	for _, name := range sd.Names {
		ct := sd.Tensors[name]
		i := strings.LastIndex(name, "/")
		if i < 0 {
			return nil, fmt.Errorf("train: %s: bad variable name %q", path, name)
		}
		scope, vname := name[:i], name[i+1:]
		if scope == "" {
			scope = "/"
		}
		var value *tensors.Tensor
		switch ct.DType {
		case checkpoints.I64:
			v, err := ct.Int64()
			if err != nil {
				return nil, fmt.Errorf("train: %s: %w", path, err)
			}
			value = tensors.FromFlatDataAndDimensions(v, ct.Shape...)
		default:
			v, err := ct.Float32()
			if err != nil {
				return nil, fmt.Errorf("train: %s: %w", path, err)
			}
			value = tensors.FromFlatDataAndDimensions(v, ct.Shape...)
		}
		if err := unet.SetVariable(t.ctx, scope, vname, value, trainable[name]); err != nil {
			return nil, err
		}
	}
	// Every weight and its EMA must be there, of the model's shape: a step
	// reads them all, and the EMA weights are written from them.
	for _, p := range t.model.Params() {
		scope, name := unet.KeyScope(p.Name)
		want := shapes.Make(dtypes.Float32, p.Shape...)
		for _, s := range []string{scope, emaScope + scope} {
			v := t.ctx.GetVariableByScopeAndName(s, name)
			if v == nil {
				return nil, fmt.Errorf("train: %s lacks weight %q", path, s+"/"+name)
			}
			if !v.Shape().Equal(want) {
				return nil, fmt.Errorf("train: %s: weight %q is %s, the model wants %s", path, s+"/"+name, v.Shape(), want)
			}
		}
	}
	t.step = step
	return t, nil
}

// PeekCheckpoint returns the configuration of the run saved at path.
func PeekCheckpoint(path string) (Config, error) {
	sd, err := checkpoints.LoadSafetensors(path)
	if err != nil {
		return Config{}, fmt.Errorf("train: %w", err)
	}
	return checkpointConfig(path, sd)
}

// checkpointConfig decodes the configuration record of a training checkpoint.
func checkpointConfig(path string, sd *checkpoints.StateDict) (Config, error) {
	if sd.Metadata[prior.KeyFormat] != prior.Format || sd.Metadata[prior.KeyTrainingConfig] == "" {
		return Config{}, fmt.Errorf("train: %s is not a training checkpoint of this toolkit", path)
	}
	var cfg Config
	dec := json.NewDecoder(strings.NewReader(sd.Metadata[prior.KeyTrainingConfig]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return Config{}, fmt.Errorf("train: %s: bad config record: %w", path, err)
	}
	return cfg, nil
}
