package main

import (
	"errors"
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/cadps/toolkit/cadps"
	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/cadps/restore"
	"github.com/cadps/toolkit/ops"
)

// checkRespacing checks the form of a -respacing value: N, N1,N2,... or
// ddimN, each count a positive integer (diffusion.SpaceTimesteps); whether
// the prior's process has the steps it asks for is for the run to say.
func checkRespacing(r string) error {
	if strings.TrimSpace(r) == "" {
		return nil // the whole process, as without -respacing
	}
	counts, ddim := strings.CutPrefix(strings.TrimSpace(r), "ddim")
	parts := strings.Split(counts, ",")
	if ddim && len(parts) > 1 {
		return usagef("-respacing %q: ddimN takes one step count", r)
	}
	for _, p := range parts {
		if n, err := strconv.Atoi(strings.TrimSpace(p)); err != nil || n < 1 {
			return usagef("-respacing %q: %q is not a positive step count (want N, N1,N2,… or ddimN)", r, strings.TrimSpace(p))
		}
	}
	return nil
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, " ") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// modelFlags are the flags that choose the prior.
type modelFlags struct {
	model, modelConfig, weights, diffusionConfig *string
}

func addModelFlags(fs *flag.FlagSet) *modelFlags {
	return &modelFlags{
		model:           fs.String("model", "", "prior: "+strings.Join(restore.ModelNames(), ", ")+" (default small unless -model-config is given)"),
		modelConfig:     fs.String("model-config", "", "model config: create_model JSON (as is or under create_model_kwargs), the reference's model_config.yaml, or a prior cadps train wrote (its ema.safetensors, which is also the weights)"),
		weights:         fs.String("weights", "", "weights file (.pt or .safetensors) for -model PRESET or -model-config"),
		diffusionConfig: fs.String("diffusion-config", "", "reference diffusion_config.yaml (default: the model's 1000-step linear schedule)"),
	}
}

func (m *modelFlags) spec() restore.ModelSpec {
	s := restore.ModelSpec{Name: *m.model, ConfigPath: *m.modelConfig, Weights: *m.weights, DiffusionPath: *m.diffusionConfig}
	if s.Name == "" && s.ConfigPath == "" {
		s.Name = restore.SmallPriorName
	}
	return s
}

// classFlag is -class, the class label of a class-conditional prior, which
// restore and sample take.
type classFlag struct{ label *int }

func addClassFlag(fs *flag.FlagSet) classFlag {
	return classFlag{fs.Int("class", 0, "class label `N` of a class-conditional prior (class_cond=True, e.g. ImageNet's 256x256_diffusion.pt), from 0 to its classes − 1: every image is conditioned on it; required for such a prior, refused for an unconditional one")}
}

// value returns the label, nil when -class is not given (fs tells which
// flags were set).
func (c classFlag) value(fs *flag.FlagSet) *int {
	if !isSet(fs, "class") {
		return nil
	}
	return c.label
}

// check checks prior, whose Class is the flag's value (restore.Prior.Check):
// the refusal of a class-conditional prior without -class says how to give
// the label on the command line.
func (c classFlag) check(prior *restore.Prior) error {
	err := prior.Check()
	if err != nil && prior.Class == nil && prior.Model != nil && prior.Model.Config().ClassCond {
		return fmt.Errorf("%w; -class N gives it", err)
	}
	return err
}

// isSet reports whether the flag name was given on the command line.
func isSet(fs *flag.FlagSet, name string) bool {
	return setFlags(fs)[name]
}

// setFlags returns the names of the flags given on the command line.
func setFlags(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

// refuseClassConditional refuses a class-conditional prior in command cmd,
// which runs one network over a set of images that may be of many classes
// (a folder, a test set) and so takes no -class.
func refuseClassConditional(cmd string, p *restore.Prior) error {
	if !p.Model.Config().ClassCond {
		return nil
	}
	return fmt.Errorf("model %s is class-conditional (class_cond=True): %s runs one network over a set of images, which may be of many classes, and takes no class label (-class), since one label for all of them would misdescribe the others: "+
		"use an unconditional checkpoint (for ImageNet 256×256, 256x256_diffusion_uncond.pt), or restore image by image with cadps restore -class N", p.Name, cmd)
}

// samplingFlags are the flags shared by restore and reproduce that set the
// sampling.
type samplingFlags struct {
	steps         *int
	respacing     *string
	ddim          *bool
	eta           *float64
	scale         *float64
	ramp          *string
	sigmaY        *float64
	noise         *string
	seed          *uint64
	progressEvery *int
	batched       *bool
	resize, crop  *bool
	graphNoise    *bool
	bf16          *bool
	draws         *int
}

func addSamplingFlags(fs *flag.FlagSet) *samplingFlags {
	return &samplingFlags{
		steps:         fs.Int("steps", 0, "sampling steps (timestep respacing); 0 or unset: the method's released default (ddrm 20, diffpir 100 or 20 for inpainting, daps 200), the prior's own schedule for the others (1000 for the shipped priors)"),
		respacing:     fs.String("respacing", "", "timestep respacing instead of -steps (e.g. 250, ddim50, 10,20,30)"),
		ddim:          fs.Bool("ddim", false, "DDIM updates instead of ancestral sampling"),
		eta:           fs.Float64("eta", 0, "DDIM's η in [0, 1] (with -ddim)"),
		scale:         fs.Float64("scale", 0, "step size ζ (default: a task config's, else the task's: 0.3 for SR and blurs, 0.5 inpainting, 1.0 phase retrieval; 1 for cadps-gauss, pigdm, tmpd, mmps)"),
		ramp:          fs.String("ramp", "", "step-size schedule FROM:OVER: ζ grows linearly from FROM·ζ at the first step to ζ after a fraction OVER of the steps (e.g. 0.1:0.5; default constant)"),
		sigmaY:        fs.Float64("sigma-y", 0, "σ_y the likelihood assumes (default: the noise model's)"),
		noise:         fs.String("noise", "gaussian:sigma=0.05", "measurement noise: gaussian[:sigma=S], poisson[:rate=R] or clean (a task config's noise unless given)"),
		seed:          fs.Uint64("seed", 0, "seed of the measurement noise, random masks/kernels and the sampler"),
		progressEvery: fs.Int("progress-every", 0, "keep x̂0 every N steps for the progress strip (0: about ten frames)"),
		batched:       fs.Bool("batched", false, "run CA-DPS's two network calls as one batched forward"),
		resize:        fs.Bool("resize", false, "resize images of another size (shorter side, then centre crop)"),
		crop:          fs.Bool("crop", false, "centre-crop images larger than the model's size"),
		graphNoise:    fs.Bool("graph-noise", false, "draw the sampler's noise inside the step graph (no host transfer per step; another run than the host draws for the same seed)"),
		bf16:          fs.Bool("bf16", false, "run the network's torso in bfloat16 (for GPUs; slower on the pure-Go backend)"),
		draws:         fs.Int("draws", 1, "sample each measurement N times and keep the reconstruction that fits it best (smallest ‖y − A(x0)‖; e.g. for phase retrieval)"),
	}
}

// options turns the flags into restore options; fs tells which were set.
func (s *samplingFlags) options(fs *flag.FlagSet) (restore.Options, restore.Fit, error) {
	set := setFlags(fs)
	o := restore.Options{
		Steps: *s.steps, Respacing: *s.respacing, DDIM: *s.ddim, Eta: *s.eta,
		ProgressEvery: *s.progressEvery, Guidance: guidance.Options{Batched: *s.batched},
		GraphNoise: *s.graphNoise, BFloat16: *s.bf16, Draws: *s.draws,
	}
	if set["scale"] {
		if err := (cadps.Problem{Scale: *s.scale}).CheckParams(); err != nil {
			return o, 0, usagef("-scale: %v", err)
		}
		o.Scale = s.scale
	}
	if set["sigma-y"] {
		if err := (cadps.Problem{SigmaY: *s.sigmaY}).CheckParams(); err != nil {
			return o, 0, usagef("-sigma-y: %v", err)
		}
		o.SigmaY = s.sigmaY
	}
	switch {
	case *s.eta != 0 && !*s.ddim && !set["diffusion-config"]:
		// A diffusion config may choose DDIM itself (sampler: ddim): the
		// run checks η against the process it reads.
		return o, 0, usagef("-eta %v without -ddim: η is DDIM's (give -ddim too)", *s.eta)
	case *s.ddim || *s.eta != 0:
		if err := (cadps.Problem{DDIM: true, Eta: *s.eta}).CheckParams(); err != nil {
			return o, 0, usagef("-eta: %v", err)
		}
	}
	if set["respacing"] {
		if err := checkRespacing(*s.respacing); err != nil {
			return o, 0, err
		}
	}
	ramp, err := guidance.ParseRamp(*s.ramp)
	if err != nil {
		return o, 0, usagef("-ramp: %v", err)
	}
	o.Ramp = ramp
	if set["noise"] || !set["task-config"] {
		n, err := ops.ParseNoise(*s.noise)
		if err != nil {
			return o, 0, usagef("-noise: %v", err)
		}
		o.Noise = n
	}
	if *s.steps < 0 {
		return o, 0, usagef("-steps %d is negative", *s.steps)
	}
	if set["steps"] && set["respacing"] {
		return o, 0, usagef("give -steps or -respacing, not both: -respacing %q sets the steps itself", *s.respacing)
	}
	if *s.draws < 1 {
		return o, 0, usagef("-draws %d: need at least 1", *s.draws)
	}
	if *s.progressEvery < 0 {
		return o, 0, usagef("-progress-every %d is negative", *s.progressEvery)
	}
	fit := restore.FitNone
	switch {
	case *s.resize && *s.crop:
		return o, 0, usagef("-resize and -crop exclude each other")
	case *s.resize:
		fit = restore.FitResize
	case *s.crop:
		fit = restore.FitCrop
	}
	return o, fit, nil
}

// fitHint adds to restore's refusal of an image of another size than the
// model's (restore.SizeError) the flags that fit it: -resize, and -crop
// for an image with both sides at least the model's size; with lowRes
// (restore, which takes -measured, of a super-resolution task), -measured
// too for a smaller image, which may be the low-resolution measurement
// itself, which -resize would not restore. Other errors are returned as
// they are.
func fitHint(err error, lowRes bool) error {
	var se *restore.SizeError
	if !errors.As(err, &se) {
		return err
	}
	switch small := !slices.Contains(se.Fits(), restore.FitCrop); {
	case small && se.Fit == restore.FitCrop:
		return fmt.Errorf("%w (use -resize instead of -crop)", err)
	case small && lowRes:
		return fmt.Errorf("%w (use -resize to fit it, or -measured if it is the measurement y, a low-resolution image to restore as it is)", err)
	case small:
		return fmt.Errorf("%w (use -resize to fit it)", err)
	}
	return fmt.Errorf("%w (use -resize or -crop to fit it)", err)
}

// parseInterleaved parses flags that may come before and after the
// positional arguments ("cadps restore IMAGE -task sr:factor=4") and
// returns the positional arguments. Everything after a "--" is
// positional, even if it starts with '-'.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	args, after := splitTerminator(fs, args)
	var pos []string
	for {
		if err := parseFlags(fs, args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return append(pos, after...), nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// splitTerminator splits args at the "--" that ends the flags, the first
// one that is not the value of a flag before it ("-out -- x" sets -out to
// "--"), and returns the arguments before and after it (all and none
// without one).
func splitTerminator(fs *flag.FlagSet, args []string) (before, after []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return args[:i], args[i+1:]
		}
		if len(a) < 2 || a[0] != '-' {
			continue // a positional argument
		}
		name, _, inline := strings.Cut(strings.TrimPrefix(a[1:], "-"), "=")
		f := fs.Lookup(name)
		if f == nil || inline {
			continue
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			continue
		}
		i++ // the flag's value, whatever it looks like
	}
	return args, nil
}

// parseFlagsOnly parses the flags of a command that takes no positional
// arguments: any is a usage error.
func parseFlagsOnly(fs *flag.FlagSet, args []string) error {
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("unexpected arguments %q", pos)
	}
	return nil
}

// checkTaskSpec refuses a task spec that ops.CheckTask refuses (a task it
// does not know, a parameter the task lacks or does not take, a value that
// is malformed or out of its range) as a usage error of flag, which gave
// it, pointing to the flags of command cmd. Whether the task fits the
// images is for the run to say.
func checkTaskSpec(cmd, flag, spec string) error {
	if err := ops.CheckTask(spec); err != nil {
		return usagef("%s: %v (run `cadps %s -h` for the flags)", flag, err, cmd)
	}
	return nil
}
