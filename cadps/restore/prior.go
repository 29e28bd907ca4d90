package restore

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/cadps/toolkit/cadps"
	"github.com/cadps/toolkit/cadps/diffusion"
	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/cadps/prior"
	"github.com/cadps/toolkit/cadps/prior/small"
	"github.com/cadps/toolkit/cadps/unet"
	"github.com/cadps/toolkit/checkpoints"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// SmallPriorName is the name that selects the prior shipped with the
// toolkit (see [ModelSpec.Name]); its own name, small.Name ("fmnist32"),
// selects it too, and is the one records give it ([RecordName]).
const SmallPriorName = "small"

// RecordName returns the name that result records give the prior a model
// name (ModelSpec.Name) selects with the weights file weights ("" for the
// model's own): small.Name for the shipped prior, whether name is
// SmallPriorName or small.Name; SmallPriorName for its architecture with
// other weights; any other name as it is. Settings recorded under either
// name of the shipped prior read alike through it.
func RecordName(name, weights string) string {
	switch {
	case name != SmallPriorName && name != small.Name:
		return name
	case weights != "":
		return SmallPriorName
	default:
		return small.Name
	}
}

// ModelSpec selects a prior network: the shipped small prior by name, a
// preset with a weights file, or a create_model configuration with a
// weights file.
type ModelSpec struct {
	// Name is "small" or "fmnist32" (the shipped prior; with Weights, its
	// architecture with those weights, e.g. a training run's
	// ema.safetensors), a unet preset ("ffhq256", "imagenet256"), or empty
	// when ConfigPath is given.
	Name string
	// ConfigPath is a model configuration file: JSON (create_model's
	// arguments, directly or under "create_model_kwargs"), the
	// reference's YAML model_config.yaml (whose model_path gives the
	// weights when Weights is empty), or a prior cadps train wrote (its
	// ema.safetensors), which records its network and diffusion process
	// and is the weights when Weights is empty.
	ConfigPath string
	// Weights is the checkpoint (.pt or .safetensors).
	Weights string
	// DiffusionPath is an optional reference diffusion_config.yaml; without
	// it the process is the one the model was trained with (DPS's linear
	// 1000-step schedule for the presets and configured models).
	DiffusionPath string
}

// Prior is a loaded prior network with its diffusion process.
type Prior struct {
	// Name describes the prior (the preset, "small", or the config file).
	Name string
	// Record names the prior in result records, independently of where
	// its files lie: the preset, small.Name for the shipped prior,
	// SmallPriorName for its architecture with other weights (both as
	// RecordName gives them), or the config file's base name.
	Record string
	// Model is the network.
	Model *unet.Model
	// Ctx holds its weights.
	Ctx *context.Context
	// Diffusion is the process the network was trained with, before any
	// respacing [Options] asks for.
	Diffusion diffusion.Config
	// Weights is the weights file ("" for the shipped prior).
	Weights string
	// DiffusionFile is the diffusion config file (ModelSpec.DiffusionPath)
	// when its process differs from the one the model comes with in
	// anything but the respacing, which Options set apart; "" otherwise.
	DiffusionFile string
	// Class is the class label a class-conditional network
	// (class_cond=True) is given at every call, for every image
	// (cadps.ClassConditionalNetwork), in restoration and sampling alike:
	// one label, since a restorer compiles its network once for all the
	// images it restores. Restoring or sampling with a class-conditional
	// network needs it, and with an unconditional one refuses it. A
	// Restorer keeps the label New saw.
	Class *int
}

// ImageShape returns the NCHW shape of one image the prior works on.
func (p *Prior) ImageShape() []int {
	s := p.Model.ImageSize()
	return []int{1, p.Model.InChannels(), s, s}
}

// LoadPrior builds the network spec selects and loads its weights. Errors
// are one line each: an unknown preset, a missing or unreadable file,
// weights that do not fit the configuration.
func LoadPrior(spec ModelSpec) (*Prior, error) {
	var (
		cfg       unet.Config
		trained   *diffusion.Config // the process a training file records
		name      = spec.Name
		record    = spec.Name
		weights   = spec.Weights
		modelPath bool // weights is the config's model_path
		err       error
	)
	switch {
	case spec.Name != "" && spec.ConfigPath != "":
		return nil, fmt.Errorf("restore: give either a model name (%q) or a model config (%s), not both", spec.Name, spec.ConfigPath)
	case (spec.Name == SmallPriorName || spec.Name == small.Name) && spec.Weights != "":
		// The shipped prior's architecture with other weights, such as
		// the EMA of a training run that continues it.
		cfg, name, record = small.Config(), SmallPriorName+" ("+spec.Weights+")", RecordName(spec.Name, spec.Weights)
	case spec.Name == SmallPriorName || spec.Name == small.Name:
		p, err := loadSmallPrior()
		if err != nil {
			return nil, err
		}
		return p.withDiffusionFile(spec.DiffusionPath)
	case spec.Name != "":
		cfg, err = unet.Preset(spec.Name)
		if err != nil {
			return nil, fmt.Errorf("restore: unknown model %q (known: %s), or give a model config", spec.Name, strings.Join(ModelNames(), ", "))
		}
	case spec.ConfigPath != "":
		var path string
		cfg, trained, path, err = readModelConfig(spec.ConfigPath)
		if err != nil {
			return nil, err
		}
		if weights == "" {
			weights = path
			modelPath = trained == nil && path != ""
		}
		name, record = spec.ConfigPath, filepath.Base(spec.ConfigPath)
	default:
		return nil, errors.New("restore: no model given (use a model name or a model config with weights)")
	}
	if weights == "" {
		return nil, fmt.Errorf("restore: model %s needs a weights file", name)
	}
	if _, err := os.Stat(weights); err != nil {
		if modelPath {
			return nil, modelPathError(spec.ConfigPath, weights, err)
		}
		return nil, fmt.Errorf("restore: weights: %w", err)
	}
	m, err := unet.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("restore: model %s: %w", name, err)
	}
	ctx := context.New()
	if err := m.LoadFile(ctx, weights); err != nil {
		if me := (*checkpoints.MatchError)(nil); !errors.As(err, &me) {
			// The file cannot be read (damaged, cut short, another format):
			// saying it does not fit the model would mislead.
			return nil, fmt.Errorf("restore: reading the weights %s of model %s: %w", weights, name, oneLine(err))
		}
		hint := ""
		if c, _, ok, _ := recordedNetwork(weights); ok && !reflect.DeepEqual(c, cfg) {
			hint = "; the file records another network, its own: give it as the model config instead"
		}
		return nil, fmt.Errorf("restore: weights %s do not fit model %s: %w%s", weights, name, oneLine(err), hint)
	}
	p := &Prior{Name: name, Record: record, Model: m, Ctx: ctx, Diffusion: DefaultDiffusion(cfg), Weights: weights}
	if trained != nil {
		p.Diffusion = *trained
		p.Diffusion.ClipDenoised = true // as DPS's diffusion config sets it, and the shipped prior
	}
	return p.withDiffusionFile(spec.DiffusionPath)
}

// Check reports whether restoring and sampling (New, Sample) take the
// prior: it refuses a prior without a model or weights (a Prior built
// otherwise than by LoadPrior, with fields left out), a class-conditional
// prior without a class label (its network needs one at every call), and
// a label the network does not take (cadps.CheckClassLabel).
func (p *Prior) Check() error {
	switch {
	case p.Model == nil:
		return fmt.Errorf("restore: prior %q has no model (Prior.Model is nil; LoadPrior builds a prior)", p.Name)
	case p.Ctx == nil:
		return fmt.Errorf("restore: prior %q has no weights (Prior.Ctx is nil; LoadPrior builds a prior)", p.Name)
	case p.Class != nil:
		if err := cadps.CheckClassLabel(p.Model, *p.Class); err != nil {
			return fmt.Errorf("restore: model %s: %w", p.Name, err)
		}
		return nil
	case !p.Model.Config().ClassCond:
		return nil
	}
	n := p.Model.NumClasses()
	return fmt.Errorf("restore: model %s is class-conditional (class_cond=True, %d classes), and its network needs a class label at every call: "+
		"give one from 0 to %d (Prior.Class), or use an unconditional checkpoint (for ImageNet 256×256, 256x256_diffusion_uncond.pt)", p.Name, n, n-1)
}

// network returns the network m (the prior's model, or its bfloat16 form)
// as guidance calls it: conditioned on class when it is not nil.
func network(m *unet.Model, class *int) guidance.Network {
	if class != nil {
		return cadps.ClassConditionalNetwork(m, *class)
	}
	return cadps.UNetNetwork(m)
}

// WeightsDigest returns the SHA-256 of the prior's weights file (of the
// embedded one for the shipped prior) as "sha256:" and 64 hex digits, so
// that results can record exactly which weights made them. A file named
// as torch.hub names downloads (NAME-HASH.pt) must match its HASH
// ([checkpoints.Digest]).
func (p *Prior) WeightsDigest() (string, error) {
	if p.Weights == "" {
		return small.Digest(), nil
	}
	d, err := checkpoints.Digest(p.Weights)
	if err != nil {
		return "", fmt.Errorf("restore: hashing the weights: %w", err)
	}
	return d, nil
}

// ModelNames lists the names [ModelSpec.Name] accepts: the presets and
// both names of the shipped prior.
func ModelNames() []string {
	names := []string{SmallPriorName, small.Name}
	for n := range unet.Presets() {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// withDiffusionFile replaces the prior's process by the one a reference
// diffusion_config.yaml describes, when path is not empty.
func (p *Prior) withDiffusionFile(path string) (*Prior, error) {
	if path == "" {
		return p, nil
	}
	m, err := ReadYAML(path)
	if err != nil {
		return nil, err
	}
	cfg, err := diffusion.ParseConfig(m)
	if err != nil {
		return nil, fmt.Errorf("restore: %s: %w", path, err)
	}
	if !sameProcess(p.Diffusion, cfg) {
		p.DiffusionFile = path
	}
	p.Diffusion = cfg
	return p, nil
}

// sameProcess reports whether a and b are one process but for their
// respacing (an empty sampler is DDPM's, empty betas are none).
func sameProcess(a, b diffusion.Config) bool {
	for _, c := range []*diffusion.Config{&a, &b} {
		c.Respacing = ""
		if c.Sampler == "" {
			c.Sampler = diffusion.SamplerDDPM
		}
		if len(c.Betas) == 0 {
			c.Betas = nil
		}
	}
	return reflect.DeepEqual(a, b)
}

// DefaultDiffusion returns the diffusion process of guided-diffusion's
// defaults, as DPS's diffusion_config.yaml sets them: 1000 linear steps,
// ε prediction, clipped x̂0, and learned_range variances for a model that
// learns them (fixed_large otherwise, as create_gaussian_diffusion does).
func DefaultDiffusion(cfg unet.Config) diffusion.Config {
	v := diffusion.VarFixedLarge
	if cfg.LearnSigma {
		v = diffusion.VarLearnedRange
	}
	return diffusion.Config{
		Sampler: diffusion.SamplerDDPM, Steps: 1000, NoiseSchedule: "linear",
		MeanType: diffusion.MeanEpsilon, VarType: v, ClipDenoised: true,
	}
}

// readModelConfig is ReadModelConfig that also takes a prior cadps train
// wrote (its ema.safetensors), which records its network and diffusion
// process: it returns those, and the file itself as the weights.
func readModelConfig(path string) (unet.Config, *diffusion.Config, string, error) {
	cfg, d, ok, err := recordedNetwork(path)
	if err != nil {
		return cfg, nil, "", err
	}
	switch {
	case ok:
		return cfg, &d, path, nil
	case strings.EqualFold(filepath.Ext(path), ".safetensors"):
		return cfg, nil, "", fmt.Errorf("restore: model config %s: a safetensors file that records no network (only the files cadps train writes do); give a JSON or YAML config", path)
	}
	cfg, weights, err := ReadModelConfig(path)
	return cfg, nil, weights, err
}

// recordedNetwork returns the network and process a training file at path
// records, and false for any other file (a JSON or YAML config, a PyTorch
// checkpoint, a safetensors file of other origin).
func recordedNetwork(path string) (unet.Config, diffusion.Config, bool, error) {
	if !strings.EqualFold(filepath.Ext(path), ".safetensors") {
		return unet.Config{}, diffusion.Config{}, false, nil
	}
	md, err := checkpoints.ReadMetadata(path)
	if err != nil {
		return unet.Config{}, diffusion.Config{}, false, fmt.Errorf("restore: model config: %w", err)
	}
	cfg, d, ok, err := prior.Recorded(md)
	if err != nil {
		return cfg, d, false, fmt.Errorf("restore: model config %s: %w", path, err)
	}
	return cfg, d, ok, nil
}

// ReadModelConfig reads a model configuration file and returns the
// network's configuration and the weights path it names ("" when none).
// JSON files hold create_model's arguments, at the top level or under
// "create_model_kwargs" (other keys are then ignored); YAML files are the
// reference's model_config.yaml, whose model_path is returned (relative
// paths as written, for the reference runs from its repository root).
func ReadModelConfig(path string) (unet.Config, string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return unet.Config{}, "", fmt.Errorf("restore: model config: %w", err)
	}
	var m map[string]any
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml":
		if m, err = parseYAML(data); err != nil {
			return unet.Config{}, "", fmt.Errorf("restore: model config %s: %w", path, err)
		}
	default:
		if err := json.Unmarshal(data, &m); err != nil {
			return unet.Config{}, "", fmt.Errorf("restore: model config %s: %w", path, err)
		}
	}
	if kw, ok := m["create_model_kwargs"]; ok {
		inner, ok := kw.(map[string]any)
		if !ok {
			return unet.Config{}, "", fmt.Errorf("restore: model config %s: create_model_kwargs is not a mapping", path)
		}
		m = inner
	}
	weights := ""
	if v, ok := m["model_path"]; ok {
		s, ok := v.(string)
		if !ok {
			return unet.Config{}, "", fmt.Errorf("restore: model config %s: model_path %v is not a string", path, v)
		}
		weights = s
		delete(m, "model_path")
	}
	// YAML writes attention_resolutions: 16 as a number; create_model
	// takes a comma-separated string.
	for _, k := range []string{"attention_resolutions", "channel_mult"} {
		switch v := m[k].(type) {
		case int:
			m[k] = strconv.Itoa(v)
		case float64:
			m[k] = strconv.FormatFloat(v, 'f', -1, 64)
		}
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return unet.Config{}, "", fmt.Errorf("restore: model config %s: %w", path, err)
	}
	cfg, err := unet.ParseConfig(raw)
	if err != nil {
		return unet.Config{}, "", fmt.Errorf("restore: model config %s: %w", path, err)
	}
	return cfg, weights, nil
}

// modelPathError says that the weights a model config names in its
// model_path cannot be read, and how relative paths are resolved.
func modelPathError(config, weights string, err error) error {
	where := ""
	if !filepath.IsAbs(weights) {
		where = ", resolved from the current directory"
		if wd, werr := os.Getwd(); werr == nil {
			where += " (" + wd + ")"
		}
		where += ", not from the config's folder"
	}
	return fmt.Errorf("restore: model config %s names the weights %s in its model_path%s, and they cannot be read: %w; run from the folder model_path is relative to, or give the weights file",
		config, weights, where, err)
}

// oneLine renders an error on one line, still wrapping it: a checkpoint
// mismatch keeps its first line, its hints and the first tensors of each
// category with their shapes; another multi-line error keeps its first
// line and its hints.
func oneLine(err error) error {
	if me, ok := err.(*checkpoints.MatchError); ok {
		return me.OneLine()
	}
	msg := err.Error()
	if !strings.Contains(msg, "\n") {
		return err
	}
	lines := strings.Split(msg, "\n")
	short := lines[0]
	for _, l := range lines[1:] {
		if t := strings.TrimSpace(l); strings.HasPrefix(t, "hint:") {
			short += "; " + t
		}
	}
	return &shortError{msg: short, err: err}
}

// shortError is an error shown as a shorter message that still wraps the
// full one.
type shortError struct {
	msg string
	err error
}

// Error implements error.
func (e *shortError) Error() string { return e.msg }

// Unwrap returns the full error.
func (e *shortError) Unwrap() error { return e.err }
