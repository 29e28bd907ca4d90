package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/cadps/imageio"
	"github.com/cadps/toolkit/cadps/metrics/lpips"
	"github.com/cadps/toolkit/cadps/restore"
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

// The files `cadps evaluate` keeps in its output folder.
const (
	evalSettingsFile = "settings.json"
	evalResultsFile  = "results.csv"
	evalTableFile    = "table.md"
	evalImagesDir    = "images"
)

// evalFlags are `cadps evaluate`'s flags.
type evalFlags struct {
	model                    *modelFlags
	test                     *testRunFlags
	count, batch, keep, jobs *int
	draws                    *int
	tasks, methods, out      *string
	quiet                    *bool
	lpips                    lpipsFlags
}

func addEvalFlags(fs *flag.FlagSet) *evalFlags {
	return &evalFlags{
		model: addModelFlags(fs),
		test: addTestRunFlags(fs, "step size ζ of every task and method (0: each method's default for the task)",
			"seed; batch k uses seed+k for its operator, noise and sampler"),
		count:   fs.Int("count", 100, "number of test images"),
		batch:   fs.Int("batch", 25, "images per sampler run (one operator draw per batch)"),
		tasks:   fs.String("tasks", "inpaint_box:size=12;sr:factor=2;gaussian_blur:kernel_size=9,intensity=1", "measurement task specs, separated by ';'"),
		methods: fs.String("methods", "dps,cadps", "guidance methods, separated by ','"),
		keep:    fs.Int("keep", 8, "save the images of the first N test images (for grids)"),
		out:     fs.String("out", "", "output folder: settings.json, results.csv, table.md, images/ (required)"),
		quiet:   fs.Bool("quiet", false, "no progress lines"),
		jobs:    fs.Int("jobs", 2, "batches run at once, each with its own copy of the prior (the pure-Go backend runs much of a step on one core)"),
		lpips:   addLPIPSFlags(fs),
		draws:   fs.Int("draws", 1, "sample each batch N times and keep, per image, the reconstruction that fits its measurement best (smallest ‖y − A(x0)‖)"),
	}
}

// settings checks the flags and returns the evaluation's settings (all
// but the weights' digest and the LPIPS weights) and noise model.
func (f *evalFlags) settings() (evalSettings, ops.Noise, error) {
	tf := f.test
	switch {
	case *tf.data == "":
		return evalSettings{}, nil, usagef("-data is required")
	case *f.out == "":
		return evalSettings{}, nil, usagef("-out is required")
	case *f.count <= 0 || *f.batch <= 0 || *f.jobs <= 0 || *f.draws <= 0 || *f.keep < 0:
		return evalSettings{}, nil, usagef("-count, -batch, -jobs and -draws must be positive and -keep non-negative")
	}
	nz, ramp, err := tf.parse()
	if err != nil {
		return evalSettings{}, nil, err
	}
	st := evalSettings{Data: *tf.data, Offset: *tf.offset, Count: *f.count, Batch: *f.batch, Steps: *tf.steps, Scale: *tf.scale,
		Ramp: rampSetting(ramp), Draws: drawsSetting(*f.draws), Noise: *tf.noise, Seed: *tf.seed, Model: f.model.spec().Name,
		Weights: *f.model.weights, Keep: *f.keep}
	for _, t := range strings.Split(*f.tasks, ";") {
		if t = strings.TrimSpace(t); t != "" {
			st.Tasks = append(st.Tasks, t)
		}
	}
	for _, m := range splitMethodList(*f.methods) {
		if m == "" {
			continue
		}
		method, err := guidance.ParseSpec(m, guidance.Options{})
		if err != nil {
			return evalSettings{}, nil, usagef("-methods: %v", err)
		}
		st.Methods = append(st.Methods, m)
		if r := guidance.Revision(method); r != 0 {
			if st.Revisions == nil {
				st.Revisions = map[string]int{}
			}
			st.Revisions[m] = r
		}
	}
	if len(st.Tasks) == 0 || len(st.Methods) == 0 {
		return evalSettings{}, nil, usagef("-tasks and -methods must name at least one each")
	}
	return st, nz, nil
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
	if st.Digest, err = prior.WeightsDigest(); err != nil {
		return err
	}
	ev := &evaluation{st: st, nz: nz, out: *f.out, quiet: *f.quiet, stdout: stdout}
	if ev.lp, st.LPIPS, err = f.lpips.load(); err != nil {
		return err
	}
	ev.st = st
	settingsPath := filepath.Join(ev.out, evalSettingsFile)
	changed, err := checkEvalSettings(settingsPath, st)
	if err != nil {
		return err
	}
	if ev.rows, err = readEvalRows(filepath.Join(ev.out, evalResultsFile)); err != nil {
		return err
	}
	images, err := loadTestImages(st.Data, st.Offset, st.Count, prior.ImageShape())
	if err != nil {
		return err
	}
	if err := ev.checkMethods(prior); err != nil {
		return err
	}
	// Only now, with every input checked, is the folder created or its
	// settings extended.
	if err := os.MkdirAll(ev.out, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", ev.out, err)
	}
	if changed {
		if err := writeJSONAtomic(settingsPath, st); err != nil {
			return err
		}
	}
	if err := ev.runAll(f.model.spec(), images, *f.jobs); err != nil {
		return err
	}
	table := evalTable(st, ev.rows)
	if err := writeFileAtomic(filepath.Join(ev.out, evalTableFile), []byte(table)); err != nil {
		return err
	}
	if err := writeEvalGrids(ev.out, st); err != nil {
		return err
	}
	fmt.Fprint(stdout, table)
	return nil
}

// evaluation is a run of `cadps evaluate`: its settings and the rows
// recorded so far, which the workers' results extend.
type evaluation struct {
	st     evalSettings
	nz     ops.Noise
	lp     *lpips.Model
	out    string
	quiet  bool
	stdout io.Writer

	mu   sync.Mutex // guards rows, the files and stdout
	rows []evalRow
}

// batches returns the number of batches of test images.
func (ev *evaluation) batches() int { return (ev.st.Count + ev.st.Batch - 1) / ev.st.Batch }

// todo lists the batches of every task and method without rows.
func (ev *evaluation) todo() []evalItem {
	done := map[evalItem]bool{}
	for _, r := range ev.rows {
		done[evalItem{task: r.task, method: r.method, batch: r.batch}] = true
	}
	var todo []evalItem
	for _, task := range ev.st.Tasks {
		for _, method := range ev.st.Methods {
			for k := range ev.batches() {
				if it := (evalItem{task: task, method: method, batch: k}); !done[it] {
					todo = append(todo, it)
				}
			}
		}
	}
	return todo
}

// checkMethods builds a restorer of every task and method, so that a bad
// one is reported before the long run starts.
func (ev *evaluation) checkMethods(prior *restore.Prior) error {
	for _, task := range ev.st.Tasks {
		for _, method := range ev.st.Methods {
			b, err := backend.New()
			if err != nil {
				return err
			}
			if _, err := restore.New(b, prior, evalOptions(ev.st, task, method, ev.nz)); err != nil {
				return err
			}
		}
	}
	return nil
}

// runAll runs the batches without rows on jobs workers, each with its own
// backend and copy of the prior; the first error stops the others.
func (ev *evaluation) runAll(spec restore.ModelSpec, images []*imageio.Image, jobs int) error {
	todo := ev.todo()
	work := make(chan evalItem, len(todo))
	for _, it := range todo {
		work <- it
	}
	close(work)
	stop := make(chan struct{})
	var stopOnce sync.Once
	errs := make([]error, min(jobs, max(1, len(todo))))
	var wg sync.WaitGroup
	for w := range errs {
		wg.Go(func() {
			if errs[w] = evalWorker(spec, ev.st, ev.nz, images, work, stop, ev.record); errs[w] != nil {
				stopOnce.Do(func() { close(stop) })
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// record adds a batch's rows, keeps the images of the first test images,
// and rewrites the results and the table.
func (ev *evaluation) record(it evalItem, res *restore.BatchResult, lo, hi int, took time.Duration) error {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	st := ev.st
	now := time.Now().UTC().Format(time.RFC3339)
	lpd, err := batchLPIPS(ev.lp, res.Items)
	if err != nil {
		return fmt.Errorf("%s %s batch %d: %w", it.task, it.method, it.batch, err)
	}
	for j, bi := range res.Items {
		ev.rows = append(ev.rows, evalRow{task: it.task, method: it.method, batch: it.batch, index: st.Offset + lo + j,
			psnr: bi.Metrics.PSNR, ssim: bi.Metrics.SSIM, basePSNR: bi.BaselineMetrics.PSNR, baseSSIM: bi.BaselineMetrics.SSIM,
			secondsPerImage: res.Sample.Seconds() / float64(hi-lo), operator: res.Operator, finishedAt: now,
			residual: bi.Residual, draw: bi.Draw, lpips: lpd[j]})
		if lo+j < st.Keep {
			if err := saveEvalImages(ev.out, it.task, it.method, st.Offset+lo+j, bi); err != nil {
				return err
			}
		}
	}
	sortEvalRows(ev.rows, st)
	if err := writeEvalRows(filepath.Join(ev.out, evalResultsFile), ev.rows); err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(ev.out, evalTableFile), []byte(evalTable(st, ev.rows))); err != nil {
		return err
	}
	if !ev.quiet {
		fmt.Fprintf(ev.stdout, "%s  %s  batch %d/%d: %d images in %s (%.1f s/image)\n",
			it.task, it.method, it.batch+1, ev.batches(), hi-lo, took.Round(time.Second), res.Sample.Seconds()/float64(hi-lo))
	}
	return nil
}

// loadTestImages returns count images of data from index offset on, padded
// to the model's NCHW shape, with pixels in [0, 1].
func loadTestImages(data string, offset, count int, shape []int) ([]*imageio.Image, error) {
	set, err := train.LoadDataset(data, shape[2])
	if err != nil {
		return nil, err
	}
	if set.C != shape[1] || set.W != shape[3] {
		return nil, fmt.Errorf("%s: images are %d×%d×%d, the model takes %d×%d×%d", data, set.C, set.H, set.W, shape[1], shape[2], shape[3])
	}
	if offset+count > set.N {
		return nil, fmt.Errorf("%s holds %d images; -offset %d -count %d needs %d", data, set.N, offset, count, offset+count)
	}
	images := make([]*imageio.Image, count)
	per := set.C * set.H * set.W
	for k := range images {
		im, err := imageio.New(set.C, set.H, set.W)
		if err != nil {
			return nil, err
		}
		for j, v := range set.Pix[(offset+k)*per : (offset+k+1)*per] {
			im.Pix[j] = (v + 1) / 2
		}
		images[k] = im
	}
	return images, nil
}

// evalOptions returns the restorer options of one task and method.
func evalOptions(st evalSettings, task, method string, nz ops.Noise) restore.Options {
	o := restore.Options{Task: restore.SpecTask(task), Method: method, Steps: st.Steps, Noise: nz}
	if st.Scale > 0 {
		o.Scale = &st.Scale
	}
	o.Ramp, _ = guidance.ParseRamp(st.Ramp) // checked when the settings were made
	o.Draws = st.Draws
	return o
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

// evalItem is one unit of work: a batch of test images for a task and a
// method.
type evalItem struct {
	task, method string
	batch        int
}

// evalWorker runs work items with its own backend and copy of the prior
// until work is drained or stop is closed, passing each result to record.
func evalWorker(spec restore.ModelSpec, st evalSettings, nz ops.Noise, images []*imageio.Image,
	work <-chan evalItem, stop <-chan struct{}, record func(evalItem, *restore.BatchResult, int, int, time.Duration) error) error {
	b, err := backend.New()
	if err != nil {
		return err
	}
	prior, err := restore.LoadPrior(spec)
	if err != nil {
		return err
	}
	for it := range work {
		select {
		case <-stop: // another worker failed
			return nil
		default:
		}
		rs, err := restore.New(b, prior, evalOptions(st, it.task, it.method, nz))
		if err != nil {
			return err
		}
		lo, hi := it.batch*st.Batch, min((it.batch+1)*st.Batch, st.Count)
		t0 := time.Now()
		res, err := rs.RestoreBatch(images[lo:hi], st.Seed+uint64(it.batch), nil)
		if err != nil {
			return fmt.Errorf("%s, %s, batch %d: %w", it.task, it.method, it.batch, err)
		}
		if err := record(it, res, lo, hi, time.Since(t0)); err != nil {
			return err
		}
	}
	return nil
}
