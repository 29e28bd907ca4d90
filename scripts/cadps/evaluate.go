package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/cadps/imageio"
	"github.com/cadps/toolkit/cadps/restore"
	"github.com/cadps/toolkit/cadps/runs"
	"github.com/cadps/toolkit/cadps/train"
	"github.com/cadps/toolkit/ops"
)

// evaluateCommand is `cadps evaluate`: a quality table of methods × tasks
// on a held-out test set, run in batches, resumable.
func evaluateCommand() command {
	return command{
		name:    "evaluate",
		summary: "PSNR/SSIM of methods × tasks on a test set, against the measurement's own baseline (batched, resumable)",
		run:     runEvaluate,
	}
}

// evalFlags are `cadps evaluate`'s flags.
type evalFlags struct {
	model                    *modelFlags
	test                     *testRunFlags
	count, batch, keep, jobs *int
	draws                    *int
	tasks, methods, out      *string
	quiet                    *bool
	lpips                    lpipsFlags
	lease                    leaseFlag
}

// defaultEvalBatch is evaluate's -batch and trace's -count by default, so
// that trace's default batch is the first batch evaluate restores.
const defaultEvalBatch = 25

func addEvalFlags(fs *flag.FlagSet) *evalFlags {
	return &evalFlags{
		model: addModelFlags(fs),
		test: addTestRunFlags(fs, "step size ζ of every task and method (0: each method's default for the task)",
			"seed; batch k uses seed+k for its operator, noise and sampler"),
		count:   fs.Int("count", 100, "number of test images"),
		batch:   fs.Int("batch", defaultEvalBatch, "images per sampler run (one operator draw per batch)"),
		tasks:   fs.String("tasks", "inpaint_box:size=12;sr:factor=2;gaussian_blur:kernel_size=9,intensity=1", "measurement task specs, separated by ';'"),
		methods: fs.String("methods", "dps,cadps", "guidance method specs NAME[:key=value,...], separated by ',' (a key=value part continues the spec before it: dps,mmps:solver=gcr,cg=2); NAME one of "+strings.Join(guidance.Names(), ", ")),
		keep:    fs.Int("keep", 8, "save the images of the first N test images (for grids)"),
		out:     fs.String("out", "", "output folder: settings.json, results.csv, table.md, images/ (required)"),
		quiet:   fs.Bool("quiet", false, "no line per batch, nor the table (it is in the folder's table.md)"),
		jobs:    fs.Int("jobs", 2, "batches run at once, each with its own copy of the prior (the pure-Go backend runs much of a step on one core)"),
		lpips:   addLPIPSFlags(fs),
		lease:   addLeaseFlag(fs),
		draws:   fs.Int("draws", 1, "sample each batch N times and keep, per image, the reconstruction that fits its measurement best (smallest ‖y − A(x0)‖)"),
	}
}

// settings checks the flags and returns the evaluation's settings (all
// but the weights' digest and the LPIPS weights) and noise model.
func (f *evalFlags) settings() (runs.EvalSettings, ops.Noise, error) {
	tf := f.test
	switch {
	case *tf.data == "":
		return runs.EvalSettings{}, nil, usagef("-data is required")
	case *f.out == "":
		return runs.EvalSettings{}, nil, usagef("-out is required")
	case *f.keep < 0:
		return runs.EvalSettings{}, nil, usagef("-keep must be non-negative, got %d", *f.keep)
	}
	if err := positive(intFlag{"count", *f.count}, intFlag{"batch", *f.batch}, intFlag{"jobs", *f.jobs}, intFlag{"draws", *f.draws}); err != nil {
		return runs.EvalSettings{}, nil, err
	}
	if err := f.lease.check(); err != nil {
		return runs.EvalSettings{}, nil, err
	}
	nz, ramp, err := tf.parse()
	if err != nil {
		return runs.EvalSettings{}, nil, err
	}
	st := runs.EvalSettings{Data: *tf.data, Offset: *tf.offset, Count: *f.count, Batch: *f.batch, Steps: *tf.steps, Scale: *tf.scale,
		Ramp: rampSetting(ramp), Draws: drawsSetting(*f.draws), Noise: *tf.noise, Seed: *tf.seed, Model: restore.RecordName(f.model.spec().Name, *f.model.weights),
		Weights: *f.model.weights, Keep: *f.keep}
	if st.Tasks, err = splitTaskList(*f.tasks); err != nil {
		return runs.EvalSettings{}, nil, err
	}
	for _, m := range splitMethodList(*f.methods) {
		if m == "" {
			continue
		}
		if _, err := guidance.ParseSpec(m, guidance.Options{}); err != nil {
			return runs.EvalSettings{}, nil, usagef("-methods: %v", err)
		}
		st.Methods = append(st.Methods, m)
	}
	if len(st.Tasks) == 0 || len(st.Methods) == 0 {
		return runs.EvalSettings{}, nil, usagef("-tasks and -methods must name at least one each")
	}
	return st, nz, nil
}

// splitTaskList returns the task specs of a -tasks list, separated by
// ';' (empty items, as after a final ';', are dropped). A spec that
// ops.CheckTask refuses, one task given twice (however spelt), and two
// tasks whose image folders (images/<task>, runs.EvalLabel) would be one
// are usage errors naming both specs.
func splitTaskList(list string) ([]string, error) {
	var specs, canon []string
	for _, t := range strings.Split(list, ";") {
		if t = strings.TrimSpace(t); t == "" {
			continue
		}
		if err := checkTaskSpec("evaluate", "-tasks", t); err != nil {
			if name := taskAfterComma(t); name != "" {
				return nil, usagef("-tasks: %v; %s is a task: separate tasks with ';', not ',' (run `cadps evaluate -h` for the flags)", ops.CheckTask(t), name)
			}
			return nil, err
		}
		c, err := ops.CanonicalTask(t)
		if err != nil {
			return nil, usagef("-tasks: %v", err)
		}
		for k, prev := range specs {
			switch {
			case canon[k] == c:
				return nil, usagef("-tasks: %q and %q are the same task: give it once", prev, t)
			case runs.EvalLabel(prev) == runs.EvalLabel(t):
				return nil, usagef("-tasks: %q and %q are different tasks that would share the image folder %s/%s: run one of them with another -out",
					prev, t, runs.EvalImagesDir, runs.EvalLabel(t))
			}
		}
		specs, canon = append(specs, t), append(canon, c)
	}
	return specs, nil
}

// taskAfterComma returns the name of a task (or alias) that follows a ','
// in spec, as in "sr:factor=2,inpaint_box" (read as a parameter of sr) and
// "inpaint_box,sr:factor=2" (read as part of the first task's name) when
// tasks are separated by ',' instead of ';', or "" when none.
func taskAfterComma(spec string) string {
	parts := strings.Split(spec, ",")
	for _, p := range parts[1:] {
		name, _, _ := strings.Cut(p, ":")
		if name = strings.TrimSpace(name); strings.Contains(name, "=") {
			continue
		}
		for _, task := range ops.Tasks() {
			if name == task.Name || slices.Contains(task.Aliases, name) {
				return name
			}
		}
	}
	return ""
}

func runEvaluate(args []string, stdout, stderr io.Writer) error {
	fset := newFlagSet("evaluate", "", stderr)
	f := addEvalFlags(fset)
	if err := parseFlagsOnly(fset, args); err != nil {
		return err
	}
	st, nz, err := f.settings()
	if err != nil {
		return err
	}
	prior, err := restore.LoadPrior(f.model.spec())
	if err != nil {
		return err
	}
	if err := refuseClassConditional("evaluate", prior); err != nil {
		return err
	}
	if st.Digest, err = prior.WeightsDigest(); err != nil {
		return err
	}
	if prior.DiffusionFile != "" {
		d := prior.Diffusion
		d.Respacing = "" // -steps sets it
		st.Diffusion = &d
	}
	ev := &runs.Evaluation{Out: *f.out, Noise: nz, Prior: prior, PriorSpec: f.model.spec(), Jobs: *f.jobs}
	if ev.LPIPS, st.LPIPS, err = f.lpips.load(); err != nil {
		return err
	}
	// A folder holding the test set records the file read, so that the
	// folder and the file resume each other's runs.
	if ev.Images, st.Data, err = loadTestImages(st.Data, st.Offset, st.Count, prior.ImageShape()); err != nil {
		return err
	}
	ev.Settings = st
	if !*f.quiet {
		ev.Log = stdout
	}
	ev.Claims = f.lease.claimer("cadps evaluate")
	defer stopOnSignal(ev.Claims, "evaluate", *f.out+" is free again; a rerun redoes the batches it was running", stderr).stop()
	table, err := ev.Run()
	if err != nil {
		return err
	}
	if !*f.quiet {
		fmt.Fprint(stdout, table)
	}
	return nil
}

// loadTestImages returns count images of data (train.LoadTestSet: an IDX
// file, a folder holding the test set's, or a folder of images, read with
// the model's channels) from index offset on, padded to the model's NCHW
// shape, with pixels in [0, 1], and the file or folder read.
func loadTestImages(data string, offset, count int, shape []int) ([]*imageio.Image, string, error) {
	set, err := train.LoadTestSet(data, shape[2], shape[1])
	if err != nil {
		return nil, "", dataError(err)
	}
	if set.C != shape[1] || set.W != shape[3] {
		return nil, "", fmt.Errorf("%s: images are %d×%d×%d, the model takes %d×%d×%d", set.Source, set.C, set.H, set.W, shape[1], shape[2], shape[3])
	}
	if offset+count > set.N {
		return nil, "", fmt.Errorf("%s holds %d images; -offset %d -count %d needs %d", set.Source, set.N, offset, count, offset+count)
	}
	images := make([]*imageio.Image, count)
	per := set.C * set.H * set.W
	for k := range images {
		im, err := imageio.New(set.C, set.H, set.W)
		if err != nil {
			return nil, "", err
		}
		for j, v := range set.Pix[(offset+k)*per : (offset+k+1)*per] {
			im.Pix[j] = (v + 1) / 2
		}
		images[k] = im
	}
	return images, set.Source, nil
}

// dataError returns err of reading -data's test images, an image larger
// than the model takes named as -data's: its remedy is the user's, not
// training's.
func dataError(err error) error {
	var large *train.LargeImageError
	if errors.As(err, &large) {
		return fmt.Errorf("-data: %w", large)
	}
	return err
}

// drawsSetting returns n as settings record it: 0 for one draw, so that
// folders made before -draws existed keep their settings.
func drawsSetting(n int) int {
	if n <= 1 {
		return 0
	}
	return n
}

// rampSetting returns r as settings record it: empty for the constant ζ,
// so that folders made before -ramp existed keep their settings.
func rampSetting(r guidance.Ramp) string {
	if r.Off() {
		return ""
	}
	return r.String()
}
