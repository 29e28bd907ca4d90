package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/cadps/imageio"
	"github.com/cadps/toolkit/cadps/restore"
	"github.com/cadps/toolkit/internal/atomicfile"
	"github.com/cadps/toolkit/ops"
)

// restoreCommand is `cadps restore IMAGE`: one image through one task and
// method, with every output of the run written into a folder.
func restoreCommand() command {
	return command{
		name:    "restore",
		summary: "restore one image (measure it, sample, write the outputs and a record)",
		run:     runRestore,
	}
}

// The files `cadps restore` writes in its output folder.
const (
	reconFile       = "recon.png"
	measurementFile = "measurement.png"
	labelFile       = "label.png"
	progressFile    = "progress.png"
	gifFile         = "progress.gif"
	recordFile      = "record.json"
)

// modelFlags are the flags that choose the prior.
type modelFlags struct {
	model, modelConfig, weights, diffusionConfig *string
}

func addModelFlags(fs *flag.FlagSet) *modelFlags {
	return &modelFlags{
		model:           fs.String("model", "", "prior: "+strings.Join(restore.ModelNames(), ", ")+" (default small unless -model-config is given)"),
		modelConfig:     fs.String("model-config", "", "model config: create_model JSON (as is or under create_model_kwargs) or the reference's model_config.yaml"),
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
		eta:           fs.Float64("eta", 0, "DDIM's η"),
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
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	o := restore.Options{
		Steps: *s.steps, Respacing: *s.respacing, DDIM: *s.ddim, Eta: *s.eta,
		ProgressEvery: *s.progressEvery, Guidance: guidance.Options{Batched: *s.batched},
		GraphNoise: *s.graphNoise, BFloat16: *s.bf16, Draws: *s.draws,
	}
	if set["scale"] {
		o.Scale = s.scale
	}
	if set["sigma-y"] {
		o.SigmaY = s.sigmaY
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

// parseInterleaved parses flags that may come before and after the
// positional arguments ("cadps restore IMAGE -task sr:factor=4") and
// returns the positional arguments.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parseFlags(fs, args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		rest := fs.Args()
		if rest[0] == "--" {
			return append(pos, rest[1:]...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// restoreRecord is record.json of `cadps restore`.
type restoreRecord struct {
	Image           string           `json:"image"`
	Fit             string           `json:"fit"`
	Seed            uint64           `json:"seed"`
	Settings        restore.Settings `json:"settings"`
	Operator        string           `json:"operator,omitempty"`
	MeasurementView string           `json:"measurement_view,omitempty"`
	Metrics         restore.Metrics  `json:"metrics"`
	// LPIPS is the reconstruction's LPIPS distance to the 8-bit clean image
	// (with -lpips), LPIPSWeights the network and weights that gave it.
	LPIPS        *restore.Number  `json:"lpips,omitempty"`
	LPIPSWeights string           `json:"lpips_weights,omitempty"`
	Timings      restore.Timings  `json:"timings"`
	TotalSeconds float64          `json:"total_seconds"`
	Residuals    []restore.Number `json:"residuals"`
	// Residual is ‖y − A(x0)‖₂ of the reconstruction, and Draw the draw
	// kept (with -draws).
	Residual      restore.Number `json:"reconstruction_residual"`
	Draw          int            `json:"draw,omitempty"`
	ProgressSteps []int          `json:"progress_steps"`
	Files         []string       `json:"files"`
	Started       string         `json:"started"`
	Finished      string         `json:"finished"`
}

func runRestore(args []string, stdout, stderr io.Writer) error {
	started := time.Now()
	fs := newFlagSet("restore", "IMAGE", stderr)
	mf := addModelFlags(fs)
	sf := addSamplingFlags(fs)
	task := fs.String("task", "", "measurement task spec, e.g. super_resolution:factor=4, gaussian_blur, inpaint_box, phase_retrieval")
	taskConfig := fs.String("task-config", "", "reference task config YAML instead of -task (its noise, scale and method apply unless given as flags)")
	method := fs.String("method", "cadps", "guidance method spec NAME[:key=value,...] (e.g. mmps:cg=10); NAME one of "+strings.Join(guidance.Names(), ", "))
	out := fs.String("out", "", "output folder (required)")
	gif := fs.Bool("gif", false, "also write an animated GIF of x̂0 along the sampling")
	quiet := fs.Bool("quiet", false, "no progress bar and no summary line")
	lpf := addLPIPSFlags(fs)
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) != 1:
		return usagef("want one image (cadps restore IMAGE -task SPEC -out DIR), got %d arguments", len(pos))
	case *out == "":
		return usagef("-out DIR is required")
	case *task != "" && *taskConfig != "":
		return usagef("give -task or -task-config, not both")
	case *task == "" && *taskConfig == "" && *method != "unconditional":
		return usagef("-task SPEC is required (e.g. -task super_resolution:factor=4)")
	}
	opts, fit, err := sf.options(fs)
	if err != nil {
		return err
	}
	opts.Task, opts.Method = restore.SpecTask(*task), *method
	if *taskConfig != "" {
		if err := applyTaskConfig(&opts, *taskConfig, fs); err != nil {
			return err
		}
		method = &opts.Method
	}
	if _, err := guidance.ParseSpec(*method, opts.Guidance); err != nil {
		return err
	}
	if err := restore.CheckWritable(*out); err != nil {
		return err
	}
	image := pos[0]
	f, err := os.Open(image)
	if err != nil {
		return fmt.Errorf("cannot read image: %w", err)
	}
	f.Close()
	b, err := backend.New()
	if err != nil {
		return err
	}
	prior, err := restore.LoadPrior(mf.spec())
	if err != nil {
		return err
	}
	lp, lpWeights, err := lpf.load()
	if err != nil {
		return err
	}
	truth, err := restore.LoadImage(image, prior.ImageShape(), fit)
	if err != nil {
		return err
	}
	r, err := restore.New(b, prior, opts)
	if err != nil {
		return err
	}
	bar := newProgressBar(stdout, *quiet)
	res, err := r.Restore(truth, *sf.seed, bar.update)
	bar.done()
	if err != nil {
		return err
	}
	files, err := saveRestoreOutputs(*out, res, *gif)
	if err != nil {
		return err
	}
	rec := restoreRecord{
		Image: image, Fit: fit.String(), Seed: *sf.seed, Settings: r.Settings(), Operator: res.Operator,
		MeasurementView: res.MeasurementView, Metrics: res.Metrics, Timings: res.Timings,
		Residual: restore.Number(res.Residual), Draw: res.Draw, Files: files,
		Started: started.UTC().Format(time.RFC3339), Finished: time.Now().UTC().Format(time.RFC3339),
	}
	if rec.LPIPS, err = lpipsDistance(lp, res.Truth, res.Reconstruction); err != nil {
		return err
	}
	if rec.LPIPS != nil {
		rec.LPIPSWeights = lpWeights
	}
	for _, v := range res.Residuals {
		rec.Residuals = append(rec.Residuals, restore.Number(v))
	}
	for _, s := range res.Progress {
		rec.ProgressSteps = append(rec.ProgressSteps, s.Step)
	}
	rec.TotalSeconds = time.Since(started).Seconds()
	if err := writeJSONAtomic(filepath.Join(*out, recordFile), rec); err != nil {
		return err
	}
	if !*quiet {
		printRestoreSummary(stdout, *out, b.Name(), &rec)
	}
	return nil
}

// printRestoreSummary prints restore's one-line summary of a record.
func printRestoreSummary(w io.Writer, out, backendName string, rec *restoreRecord) {
	kept, lp := "", ""
	if n := rec.Settings.Draws; n > 1 {
		kept = fmt.Sprintf(", draw %d of %d kept", rec.Draw+1, n)
	}
	if rec.LPIPS != nil {
		lp = fmt.Sprintf(", LPIPS %.4f", float64(*rec.LPIPS))
	}
	fmt.Fprintf(w, "%s → %s: %s, %s, %d steps: PSNR %.2f dB, SSIM %.4f%s (%.1f s sampling on %s%s)\n",
		rec.Image, out, rec.Settings.Task, rec.Settings.Method, rec.Settings.Steps,
		rec.Metrics.PSNR, rec.Metrics.SSIM, lp, rec.Timings.Sample.Seconds(), backendName, kept)
}

// applyTaskConfig takes the task of a reference task config, and its
// noise, scale and method where the command line does not set them.
func applyTaskConfig(o *restore.Options, path string, fs *flag.FlagSet) error {
	tc, err := restore.ReadTaskConfig(path)
	if err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	o.Task = tc.Task
	if !set["noise"] && tc.Noise != nil {
		o.Noise = tc.Noise
	}
	if !set["scale"] && tc.HasScale {
		o.Scale = &tc.Scale
	}
	if !set["method"] && tc.Method != "" {
		o.Method = tc.Method
	}
	return nil
}

// saveRestoreOutputs writes the images of a restoration and returns their
// names.
func saveRestoreOutputs(dir string, res *restore.Result, gif bool) ([]string, error) {
	paths := map[string]string{
		restore.ReconDir:    filepath.Join(dir, reconFile),
		restore.LabelDir:    filepath.Join(dir, labelFile),
		restore.ProgressDir: filepath.Join(dir, progressFile),
		restore.InputDir:    filepath.Join(dir, measurementFile),
	}
	if err := restore.SaveOutputs(res, paths); err != nil {
		return nil, err
	}
	files := []string{reconFile, labelFile, progressFile}
	if res.Measurement != nil {
		files = append(files, measurementFile)
	}
	if gif {
		frames := make([]*imageio.Image, len(res.Progress))
		for k, s := range res.Progress {
			frames[k] = s.Image
		}
		if err := imageio.SaveGIF(filepath.Join(dir, gifFile), frames, 200*time.Millisecond); err != nil {
			return nil, err
		}
		files = append(files, gifFile)
	}
	return files, nil
}

// writeJSONAtomic writes v as indented JSON through a temporary file.
func writeJSONAtomic(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return writeFileAtomic(path, append(data, '\n'))
}

// writeFileAtomic writes data to a temporary file next to path, syncs it
// and renames it over path.
func writeFileAtomic(path string, data []byte) error {
	return atomicfile.WriteBytes(path, data)
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// progressBar draws a one-line progress bar on a terminal; elsewhere, or
// when quiet, it draws nothing.
type progressBar struct {
	w      io.Writer
	on     bool
	label  string
	drawn  bool
	lastAt time.Time
}

func newProgressBar(w io.Writer, quiet bool) *progressBar {
	return &progressBar{w: w, on: !quiet && isTerminal(w)}
}

// update redraws the bar after a step (at most ten times a second, and
// always at the last step).
func (p *progressBar) update(s restore.Progress) {
	if !p.on || (s.Step < s.Steps && time.Since(p.lastAt) < 100*time.Millisecond) {
		return
	}
	p.lastAt = time.Now()
	const width = 30
	filled := width * s.Step / max(1, s.Steps)
	// Over every draw: steps done and in all.
	done, all := s.Draw*s.Steps+s.Step, max(1, s.Draws)*s.Steps
	eta, draw := "", ""
	if done > 0 && done < all {
		left := time.Duration(float64(s.Elapsed) / float64(done) * float64(all-done))
		eta = " ETA " + left.Round(time.Second).String()
	}
	if s.Draws > 1 {
		draw = fmt.Sprintf("draw %d/%d ", s.Draw+1, s.Draws)
	}
	fmt.Fprintf(p.w, "\r%s%s[%s%s] %d/%d residual %.3g%s\x1b[K", p.label, draw,
		strings.Repeat("=", filled), strings.Repeat(" ", width-filled), s.Step, s.Steps, s.Residual, eta)
	p.drawn = true
}

// done ends the bar's line.
func (p *progressBar) done() {
	if p.drawn {
		fmt.Fprintln(p.w)
		p.drawn = false
	}
}
