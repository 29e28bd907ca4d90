package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/cadps/imageio"
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

func runEvaluate(args []string, stdout, stderr io.Writer) error {
	fset := newFlagSet("evaluate", "", stderr)
	mf := addModelFlags(fset)
	tf := addTestRunFlags(fset, "step size ζ of every task and method (0: each method's default for the task)",
		"seed; batch k uses seed+k for its operator, noise and sampler")
	count := fset.Int("count", 100, "number of test images")
	batch := fset.Int("batch", 25, "images per sampler run (one operator draw per batch)")
	tasks := fset.String("tasks", "inpaint_box:size=12;sr:factor=2;gaussian_blur:kernel_size=9,intensity=1", "measurement task specs, separated by ';'")
	methods := fset.String("methods", "dps,cadps", "guidance methods, separated by ','")
	keep := fset.Int("keep", 8, "save the images of the first N test images (for grids)")
	out := fset.String("out", "", "output folder: settings.json, results.csv, table.md, images/ (required)")
	quiet := fset.Bool("quiet", false, "no progress lines")
	jobs := fset.Int("jobs", 2, "batches run at once, each with its own copy of the prior (the pure-Go backend runs much of a step on one core)")
	lpf := addLPIPSFlags(fset)
	draws := fset.Int("draws", 1, "sample each batch N times and keep, per image, the reconstruction that fits its measurement best (smallest ‖y − A(x0)‖)")
	pos, err := parseInterleaved(fset, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) != 0:
		return usagef("unexpected arguments %q", pos)
	case *tf.data == "":
		return usagef("-data is required")
	case *out == "":
		return usagef("-out is required")
	case *count <= 0 || *batch <= 0 || *jobs <= 0 || *draws <= 0 || *keep < 0:
		return usagef("-count, -batch, -jobs and -draws must be positive and -keep non-negative")
	}
	nz, ramp, err := tf.parse()
	if err != nil {
		return err
	}
	st := evalSettings{Data: *tf.data, Offset: *tf.offset, Count: *count, Batch: *batch, Steps: *tf.steps, Scale: *tf.scale,
		Ramp: rampSetting(ramp), Draws: drawsSetting(*draws), Noise: *tf.noise, Seed: *tf.seed, Model: mf.spec().Name, Weights: *mf.weights, Keep: *keep}
	for _, t := range strings.Split(*tasks, ";") {
		if t = strings.TrimSpace(t); t != "" {
			st.Tasks = append(st.Tasks, t)
		}
	}
	for _, m := range splitMethodList(*methods) {
		if m != "" {
			method, err := guidance.ParseSpec(m, guidance.Options{})
			if err != nil {
				return usagef("-methods: %v", err)
			}
			st.Methods = append(st.Methods, m)
			if r := guidance.Revision(method); r != 0 {
				if st.Revisions == nil {
					st.Revisions = map[string]int{}
				}
				st.Revisions[m] = r
			}
		}
	}
	if len(st.Tasks) == 0 || len(st.Methods) == 0 {
		return usagef("-tasks and -methods must name at least one each")
	}
	prior, err := restore.LoadPrior(mf.spec())
	if err != nil {
		return err
	}
	if st.Digest, err = prior.WeightsDigest(); err != nil {
		return err
	}
	lp, lpWeights, err := lpf.load()
	if err != nil {
		return err
	}
	st.LPIPS = lpWeights
	settingsPath := filepath.Join(*out, evalSettingsFile)
	changed, err := checkEvalSettings(settingsPath, st)
	if err != nil {
		return err
	}
	rows, err := readEvalRows(filepath.Join(*out, evalResultsFile))
	if err != nil {
		return err
	}
	images, err := loadTestImages(*tf.data, *tf.offset, *count, prior.ImageShape())
	if err != nil {
		return err
	}
	done := map[string]bool{}
	for _, r := range rows {
		done[fmt.Sprintf("%s|%s|%d", r.task, r.method, r.batch)] = true
	}
	batches := (*count + *batch - 1) / *batch
	var todo []evalItem
	for _, task := range st.Tasks {
		for _, method := range st.Methods {
			for k := range batches {
				if !done[fmt.Sprintf("%s|%s|%d", task, method, k)] {
					todo = append(todo, evalItem{task: task, method: method, batch: k})
				}
			}
		}
	}
	// Check every task and method before the long run starts.
	for _, task := range st.Tasks {
		for _, method := range st.Methods {
			b, err := backend.New()
			if err != nil {
				return err
			}
			if _, err := restore.New(b, prior, evalOptions(st, task, method, nz)); err != nil {
				return err
			}
		}
	}
	// Only now, with every input checked, is the folder created or its
	// settings extended.
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", *out, err)
	}
	if changed {
		if err := writeJSONAtomic(settingsPath, st); err != nil {
			return err
		}
	}

	var mu sync.Mutex // guards rows, the files and stdout
	record := func(it evalItem, res *restore.BatchResult, lo, hi int, took time.Duration) error {
		mu.Lock()
		defer mu.Unlock()
		now := time.Now().UTC().Format(time.RFC3339)
		lpd, err := batchLPIPS(lp, res.Items)
		if err != nil {
			return fmt.Errorf("%s %s batch %d: %w", it.task, it.method, it.batch, err)
		}
		for j, bi := range res.Items {
			rows = append(rows, evalRow{task: it.task, method: it.method, batch: it.batch, index: *tf.offset + lo + j,
				psnr: bi.Metrics.PSNR, ssim: bi.Metrics.SSIM, basePSNR: bi.BaselineMetrics.PSNR, baseSSIM: bi.BaselineMetrics.SSIM,
				secondsPerImage: res.Sample.Seconds() / float64(hi-lo), operator: res.Operator, finishedAt: now,
				residual: bi.Residual, draw: bi.Draw, lpips: lpd[j]})
			if lo+j < *keep {
				if err := saveEvalImages(*out, it.task, it.method, *tf.offset+lo+j, bi); err != nil {
					return err
				}
			}
		}
		sortEvalRows(rows, st)
		if err := writeEvalRows(filepath.Join(*out, evalResultsFile), rows); err != nil {
			return err
		}
		if err := writeFileAtomic(filepath.Join(*out, evalTableFile), []byte(evalTable(st, rows))); err != nil {
			return err
		}
		if !*quiet {
			fmt.Fprintf(stdout, "%s  %s  batch %d/%d: %d images in %s (%.1f s/image)\n",
				it.task, it.method, it.batch+1, batches, hi-lo, took.Round(time.Second), res.Sample.Seconds()/float64(hi-lo))
		}
		return nil
	}
	work := make(chan evalItem, len(todo))
	for _, it := range todo {
		work <- it
	}
	close(work)
	stop := make(chan struct{})
	var stopOnce sync.Once
	errs := make([]error, min(*jobs, max(1, len(todo))))
	var wg sync.WaitGroup
	for w := range errs {
		wg.Go(func() {
			if errs[w] = evalWorker(mf.spec(), st, nz, images, work, stop, record); errs[w] != nil {
				stopOnce.Do(func() { close(stop) })
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(*out, evalTableFile), []byte(evalTable(st, rows))); err != nil {
		return err
	}
	if err := writeEvalGrids(*out, st); err != nil {
		return err
	}
	fmt.Fprint(stdout, evalTable(st, rows))
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

// evalLabel turns a task spec into a file-name-safe label.
func evalLabel(spec string) string {
	return strings.NewReplacer(":", "_", ",", "_", "=", "", "/", "_", " ", "").Replace(spec)
}

// saveEvalImages keeps one test image's truth, measurement, baseline and
// reconstruction as images/<task>/{truth,measurement,baseline,<method>}-<index>.png
// (task and method specs with their ':', ',' and '=' replaced).
func saveEvalImages(out, task, method string, index int, it restore.BatchItem) error {
	dir := filepath.Join(out, evalImagesDir, evalLabel(task))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	files := map[string]*imageio.Image{"truth": it.Truth, "measurement": it.Measurement, "baseline": it.Baseline, method: it.Reconstruction}
	for name, im := range files {
		if im == nil {
			continue
		}
		if err := imageio.Save(filepath.Join(dir, fmt.Sprintf("%s-%05d.png", evalLabel(name), index)), im); err != nil {
			return err
		}
	}
	return nil
}

// writeEvalGrids writes images/<task>.png for every task: one row per kept
// test image, with the truth, the measurement, the baseline (when the task
// has one) and each method's reconstruction.
func writeEvalGrids(out string, st evalSettings) error {
	if st.Keep == 0 {
		return nil
	}
	cols := append([]string{"truth", "measurement", "baseline"}, st.Methods...)
	for _, task := range st.Tasks {
		dir := filepath.Join(out, evalImagesDir, evalLabel(task))
		var rows [][]*imageio.Image
		found := false
		for k := st.Offset; k < st.Offset+min(st.Keep, st.Count); k++ {
			row := make([]*imageio.Image, len(cols))
			for c, name := range cols {
				im, err := imageio.Load(filepath.Join(dir, fmt.Sprintf("%s-%05d.png", evalLabel(name), k)))
				if err != nil && !errors.Is(err, fs.ErrNotExist) {
					return err
				}
				row[c], found = im, found || im != nil
			}
			rows = append(rows, row)
		}
		if !found { // nothing kept yet for this task
			continue
		}
		if b := slices.Index(cols, "baseline"); !slices.ContainsFunc(rows, func(r []*imageio.Image) bool { return r[b] != nil }) {
			for k := range rows { // no baseline (phase retrieval): no empty column
				rows[k] = slices.Delete(rows[k], b, b+1)
			}
		}
		grid, err := imageio.Grid(rows, 2)
		if err != nil {
			return err
		}
		if grid, err = imageio.Upsample(grid, 2); err != nil {
			return err
		}
		if err := imageio.Save(filepath.Join(out, evalImagesDir, evalLabel(task)+".png"), grid); err != nil {
			return err
		}
	}
	return nil
}
