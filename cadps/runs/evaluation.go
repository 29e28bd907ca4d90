package runs

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/cadps/imageio"
	"github.com/cadps/toolkit/cadps/metrics/lpips"
	"github.com/cadps/toolkit/cadps/restore"
	"github.com/cadps/toolkit/cadps/runs/claim"
	"github.com/cadps/toolkit/internal/atomicfile"
	"github.com/cadps/toolkit/internal/buildinfo"
	"github.com/cadps/toolkit/ops"
)

// The files an evaluation keeps in its output folder.
const (
	// EvalSettingsFile holds the settings (EvalSettings).
	EvalSettingsFile = "settings.json"
	// EvalResultsFile holds one row per image, task and method (EvalRow).
	EvalResultsFile = "results.csv"
	// EvalTableFile is the Markdown table (EvalTable).
	EvalTableFile = "table.md"
	// EvalImagesDir holds the images of the first test images and the
	// grids made from them.
	EvalImagesDir = "images"
	// EvalClaimFile is the stem of the claim (see [claim.Claimer]) that a running
	// evaluation holds on its folder: files results.csv.claim.N.
	EvalClaimFile = EvalResultsFile + ".claim"
)

// Evaluation is a quality table of methods × tasks on a held-out test set:
// every task and method restores the test images in batches (one sampler
// run and one operator draw per batch; see restore.Restorer.RestoreBatch),
// against the measurement's own baseline. It is resumable (a rerun does the
// batches without rows) and extendable (see CheckEvalSettings); every file
// is rewritten atomically after each batch. A running evaluation holds a
// claim on its folder (EvalClaimFile), so that a second one into the same
// folder is refused instead of computing the same batches and dropping
// the other's rows.
type Evaluation struct {
	// Out is the output folder.
	Out string
	// Settings are the evaluation's settings, the weights' digest included.
	Settings EvalSettings
	// Noise is the measurement noise Settings.Noise names.
	Noise ops.Noise
	// Custom are methods of one's own (restore.Options.Custom), each run
	// where Settings.Methods names it; Run records their guidance.Revision
	// in Settings.Revisions, as it does the toolkit methods'. They are
	// shared by the Jobs workers, which only call their methods.
	Custom []guidance.Method
	// Prior is the prior, for checking every task and method before the
	// run; PriorSpec loads the copy each worker runs.
	Prior     *restore.Prior
	PriorSpec restore.ModelSpec
	// Images are the test images Settings.Offset … Offset+Count−1.
	Images []*imageio.Image
	// LPIPS, when not nil, also scores each reconstruction by its LPIPS
	// distance to the clean image (Settings.LPIPS names it).
	LPIPS *lpips.Model
	// Jobs is the number of batches run at once, each worker with its own
	// backend and copy of the prior (0: one).
	Jobs int
	// BackendConfig is the configuration of the workers' backends, in
	// GOMLX_BACKEND's format (backend.NewWithConfig); empty: $GOMLX_BACKEND,
	// as backend.New. Each row records it (empty when both are), with the
	// backend's name. It is not a setting: a rerun with another
	// configuration resumes the folder, and each row names its own.
	BackendConfig string
	// Toolkit names the build recorded in each row (empty: the build of
	// this binary, as cadps restore records it; nothing when the binary
	// records none). Like BackendConfig, it is not a setting.
	Toolkit string
	// Log, when not nil, receives a line per batch.
	Log io.Writer
	// Claims claims the folder for the run (nil: a [claim.Claimer] of its own);
	// the caller may release it when the process is asked to stop
	// ([claim.Claimer.ReleaseAll]).
	Claims *claim.Claimer

	mu    sync.Mutex // guards rows, the files and Log
	rows  []EvalRow
	claim *claim.Claim
	// config and toolkit are the backends' configuration and the build
	// that the run records, resolved once by Run from BackendConfig
	// (else $GOMLX_BACKEND) and Toolkit (else the binary's build).
	config, toolkit string
}

// Run checks the settings against those in Out and every task and method,
// and only then creates Out, claims it (refusing, before it writes
// anything, a folder another evaluation holds) and records extended
// settings; it runs the batches without rows, writes the table and the
// grids, releases the claim and returns the table.
func (e *Evaluation) Run() (string, error) {
	if len(e.Images) != e.Settings.Count {
		return "", fmt.Errorf("runs: evaluation of %d images given %d", e.Settings.Count, len(e.Images))
	}
	if e.Settings.Batch < 1 {
		return "", fmt.Errorf("runs: evaluation in batches of %d images; want at least 1", e.Settings.Batch)
	}
	if err := checkDistinct(e.Settings.Tasks, e.Settings.Methods); err != nil {
		return "", err
	}
	if err := checkCustom(e.Custom, e.Settings.Methods); err != nil {
		return "", err
	}
	e.Settings.Revisions = revisions(e.Settings.Methods, e.Custom)
	e.Settings.Model = restore.RecordName(e.Settings.Model, e.Settings.Weights)
	e.config, e.toolkit = cmp.Or(e.BackendConfig, os.Getenv(backend.EnvVar)), cmp.Or(e.Toolkit, buildinfo.Toolkit())
	if err := CheckOutputFolder(e.Out, CommandEvaluate); err != nil {
		return "", err
	}
	if _, err := e.load(); err != nil {
		return "", err
	}
	if err := e.checkMethods(); err != nil {
		return "", err
	}
	if err := os.MkdirAll(e.Out, 0o755); err != nil {
		return "", fmt.Errorf("runs: creating %s: %w", e.Out, err)
	}
	var err error
	e.claim, err = orDefault(e.Claims, "").Claim(filepath.Join(e.Out, EvalClaimFile))
	if errors.Is(err, claim.ErrHeld) {
		return "", fmt.Errorf("runs: another evaluation is writing %s: %w", e.Out, err)
	}
	if err != nil {
		return "", err
	}
	defer e.claim.Release()
	// Temporary files that killed evaluations left beside the folder's
	// files (those of live writers stay).
	for _, name := range []string{EvalSettingsFile, EvalResultsFile, EvalTableFile} {
		atomicfile.RemoveDeadTemps(filepath.Join(e.Out, name))
	}
	// The kept images and grids too (images/<task>.png, images/<task>/…).
	atomicfile.RemoveDeadTempsIn(filepath.Join(e.Out, EvalImagesDir))
	for _, task := range e.Settings.Tasks {
		atomicfile.RemoveDeadTempsIn(filepath.Join(e.Out, EvalImagesDir, EvalLabel(task)))
	}
	// Again under the claim: an evaluation that ended meanwhile may have
	// extended the settings or added rows.
	changed, err := e.load()
	if err != nil {
		return "", err
	}
	if changed {
		if err := atomicfile.WriteJSON(filepath.Join(e.Out, EvalSettingsFile), e.Settings); err != nil {
			return "", err
		}
	}
	if err := e.runAll(); err != nil {
		return "", err
	}
	table := EvalTable(e.Settings, e.rows)
	if err := atomicfile.WriteBytes(filepath.Join(e.Out, EvalTableFile), []byte(table)); err != nil {
		return "", err
	}
	if err := writeEvalGrids(e.Out, e.Settings); err != nil {
		return "", err
	}
	return table, nil
}

// load checks the settings against those in Out (changed: settings.json
// is to be written) and reads the rows Out holds, refusing a results.csv
// whose rows the stored settings cannot have written (checkEvalRows): a
// rerun that extends them must not take a row of a task, method or image
// it adds as done.
func (e *Evaluation) load() (changed bool, err error) {
	stored, changed, err := checkEvalSettings(filepath.Join(e.Out, EvalSettingsFile), e.Settings)
	if err != nil {
		return false, err
	}
	if stored == nil { // a first run
		stored = &e.Settings
	}
	path := filepath.Join(e.Out, EvalResultsFile)
	rows, lines, err := readEvalRows(path)
	if err != nil {
		return false, err
	}
	if err := checkEvalRows(path, *stored, rows, lines); err != nil {
		return false, err
	}
	e.rows = rows
	return changed, nil
}

// evalItem is one unit of work: a batch of test images for a task and a
// method.
type evalItem struct {
	task, method string
	batch        int
}

// batches returns the number of batches of test images.
func (e *Evaluation) batches() int {
	return (e.Settings.Count + e.Settings.Batch - 1) / e.Settings.Batch
}

// todo lists the batches of every task and method without rows.
func (e *Evaluation) todo() []evalItem {
	done := map[evalItem]bool{}
	for _, r := range e.rows {
		done[evalItem{task: r.Task, method: r.Method, batch: r.Batch}] = true
	}
	var todo []evalItem
	for _, task := range e.Settings.Tasks {
		for _, method := range e.Settings.Methods {
			for k := range e.batches() {
				if it := (evalItem{task: task, method: method, batch: k}); !done[it] {
					todo = append(todo, it)
				}
			}
		}
	}
	return todo
}

// options returns the restorer options of one task and method.
func (e *Evaluation) options(task, method string) restore.Options {
	st := e.Settings
	o := withMethod(restore.Options{Task: restore.SpecTask(task), Steps: st.Steps, Noise: e.Noise, Draws: st.Draws}, method, e.Custom)
	if st.Scale > 0 {
		o.Scale = &st.Scale
	}
	o.Ramp, _ = guidance.ParseRamp(st.Ramp) // checked when the settings were made
	return o
}

// checkMethods builds a restorer of every task and method, so that a bad
// one is reported before the long run starts.
func (e *Evaluation) checkMethods() error {
	b, err := backend.NewWithConfig(e.config)
	if err != nil {
		return err
	}
	defer b.Finalize()
	for _, task := range e.Settings.Tasks {
		for _, method := range e.Settings.Methods {
			if _, err := restore.New(b, e.Prior, e.options(task, method)); err != nil {
				return err
			}
		}
	}
	return nil
}

// runAll runs the batches without rows on Jobs workers; the first error
// stops the others.
func (e *Evaluation) runAll() error {
	todo := e.todo()
	work := make(chan evalItem, len(todo))
	for _, it := range todo {
		work <- it
	}
	close(work)
	stop := make(chan struct{})
	var stopOnce sync.Once
	errs := make([]error, min(max(1, e.Jobs), max(1, len(todo))))
	var wg sync.WaitGroup
	for w := range errs {
		wg.Go(func() {
			if errs[w] = e.worker(work, stop); errs[w] != nil {
				stopOnce.Do(func() { close(stop) })
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// worker runs work items with its own backend and copy of the prior until
// work is drained or stop is closed, recording each result.
func (e *Evaluation) worker(work <-chan evalItem, stop <-chan struct{}) error {
	b, err := backend.NewWithConfig(e.config)
	if err != nil {
		return err
	}
	defer b.Finalize()
	prior, err := restore.LoadPrior(e.PriorSpec)
	if err != nil {
		return err
	}
	// One restorer serves this worker's consecutive batches of a task and
	// method, so that what it compiles is compiled once; the work comes
	// task by task and method by method, so it is released when the next
	// item is of another.
	var rs *restore.Restorer
	var key [2]string
	defer func() {
		if rs != nil {
			rs.Finalize()
		}
	}()
	for it := range work {
		select {
		case <-stop: // another worker failed
			return nil
		default:
		}
		if k := [2]string{it.task, it.method}; rs == nil || k != key {
			if rs != nil {
				rs.Finalize()
				rs = nil
			}
			if rs, err = restore.New(b, prior, e.options(it.task, it.method)); err != nil {
				return err
			}
			key = k
		}
		lo, hi := it.batch*e.Settings.Batch, min((it.batch+1)*e.Settings.Batch, e.Settings.Count)
		t0 := time.Now()
		res, err := rs.RestoreBatch(e.Images[lo:hi], e.Settings.Seed+uint64(it.batch), nil)
		if err != nil {
			return fmt.Errorf("%s, %s, batch %d: %w", it.task, it.method, it.batch, err)
		}
		if err := e.record(it, res, rs.Settings().Backend, lo, hi, time.Since(t0)); err != nil {
			return err
		}
	}
	return nil
}

// record adds a batch's rows, which name the backend (by its name, and its
// configuration) and the build, keeps the images of the first test images,
// and rewrites the results and the table.
func (e *Evaluation) record(it evalItem, res *restore.BatchResult, backendName string, lo, hi int, took time.Duration) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.claim != nil && e.claim.Lost() {
		if err := e.claim.Err(); err != nil {
			return fmt.Errorf("runs: this evaluation lost its claim on %s: %w; batch %d of %s, %s is not written", e.Out, err, it.batch, it.task, it.method)
		}
		return fmt.Errorf("runs: another evaluation took over %s (this one missed its claim's heartbeats for the lease); batch %d of %s, %s is left to it", e.Out, it.batch, it.task, it.method)
	}
	st := e.Settings
	now := time.Now().UTC().Format(time.RFC3339)
	lpd, err := batchLPIPS(e.LPIPS, res.Items)
	if err != nil {
		return fmt.Errorf("%s %s batch %d: %w", it.task, it.method, it.batch, err)
	}
	for j, bi := range res.Items {
		e.rows = append(e.rows, EvalRow{Task: it.task, Method: it.method, Batch: it.batch, Index: st.Offset + lo + j,
			PSNR: bi.Metrics.PSNR, SSIM: bi.Metrics.SSIM, BasePSNR: bi.BaselineMetrics.PSNR, BaseSSIM: bi.BaselineMetrics.SSIM,
			SecondsPerImage: res.Sample.Seconds() / float64(hi-lo), Operator: res.Operator, Finished: now,
			Residual: bi.Residual, Draw: bi.Draw, LPIPS: lpd[j],
			Backend: backendName, BackendConfig: e.config, Toolkit: e.toolkit})
		if lo+j < st.Keep {
			if err := saveEvalImages(e.Out, it.task, it.method, st.Offset+lo+j, bi); err != nil {
				return err
			}
		}
	}
	sortEvalRows(e.rows, st)
	if err := WriteEvalRows(filepath.Join(e.Out, EvalResultsFile), e.rows); err != nil {
		return err
	}
	if err := atomicfile.WriteBytes(filepath.Join(e.Out, EvalTableFile), []byte(EvalTable(st, e.rows))); err != nil {
		return err
	}
	if e.Log != nil {
		fmt.Fprintf(e.Log, "%s  %s  batch %d/%d: %d images in %s (%.1f s/image)\n",
			it.task, it.method, it.batch+1, e.batches(), hi-lo, took.Round(time.Second), res.Sample.Seconds()/float64(hi-lo))
	}
	return nil
}

// lpipsBatch is the number of image pairs LPIPS runs at once.
const lpipsBatch = 16

// batchLPIPS returns the LPIPS distance of each item's reconstruction to
// its clean image, both as 8-bit images, or NaNs when m is nil.
func batchLPIPS(m *lpips.Model, items []restore.BatchItem) ([]float64, error) {
	if m == nil {
		out := make([]float64, len(items))
		for i := range out {
			out[i] = math.NaN()
		}
		return out, nil
	}
	var truths, recons []*imageio.Image
	for _, it := range items {
		truths, recons = append(truths, it.Truth.Quantize8()), append(recons, it.Reconstruction.Quantize8())
	}
	return m.ImageDistances(truths, recons, lpipsBatch)
}
