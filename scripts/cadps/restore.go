package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/diffusion"
	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/cadps/imageio"
	"github.com/cadps/toolkit/cadps/metrics"
	"github.com/cadps/toolkit/cadps/metrics/lpips"
	"github.com/cadps/toolkit/cadps/restore"
	"github.com/cadps/toolkit/cadps/runs"
	"github.com/cadps/toolkit/cadps/runs/claim"
	"github.com/cadps/toolkit/internal/atomicfile"
	"github.com/cadps/toolkit/internal/buildinfo"
	"github.com/cadps/toolkit/ops"
	"github.com/gomlx/gomlx/backends"
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

// restoreClaim is the stem of the claim (claim.Claimer) a restoration
// holds on its output folder while it runs: hidden files
// .restore.claim.N, removed when it ends. The files it writes there are
// named by package runs (runs.RestoreReconFile, …, runs.RestoreRecordFile).
const restoreClaim = ".restore.claim"

// restoreRecord is record.json of `cadps restore`.
type restoreRecord struct {
	Image string `json:"image"`
	// Measured says that Image is the measurement y (-measured), not a
	// clean image: the record then has no metrics.
	Measured        bool             `json:"measured,omitempty"`
	Fit             string           `json:"fit"`
	Seed            uint64           `json:"seed"`
	Settings        restore.Settings `json:"settings"`
	Operator        string           `json:"operator,omitempty"`
	MeasurementView string           `json:"measurement_view,omitempty"`
	Metrics         *restore.Metrics `json:"metrics,omitempty"`
	// LPIPS is the reconstruction's LPIPS distance to the 8-bit clean image
	// (with -lpips), LPIPSWeights the network and weights that gave it.
	LPIPS        *metrics.Number  `json:"lpips,omitempty"`
	LPIPSWeights string           `json:"lpips_weights,omitempty"`
	Timings      restore.Timings  `json:"timings"`
	TotalSeconds float64          `json:"total_seconds"`
	Residuals    []metrics.Number `json:"residuals"`
	// Residual is ‖y − A(x0)‖₂ of the reconstruction, and Draw the draw
	// kept (with -draws).
	Residual      metrics.Number `json:"reconstruction_residual"`
	Draw          int            `json:"draw,omitempty"`
	ProgressSteps []int          `json:"progress_steps"`
	Files         []string       `json:"files"`
	Started       string         `json:"started"`
	Finished      string         `json:"finished"`

	// What else decides the numbers, beyond Settings. Records written
	// before these fields existed lack them; their runs used the weights
	// file named by settings.weights (the shipped prior's embedded weights
	// without one) as it then was, the model's own diffusion process
	// unless -diffusion-config was given (which they did not record),
	// the backend GOMLX_BACKEND selected (the CPU backend when unset), and
	// a build they do not name.
	//
	// WeightsDigest is the SHA-256 of the weights (restore.Prior.WeightsDigest).
	WeightsDigest string `json:"weights_sha256,omitempty"`
	// DiffusionConfig is -diffusion-config's file (absent: the model's own
	// process), and Diffusion the process before the respacing of
	// settings.respacing.
	DiffusionConfig string            `json:"diffusion_config,omitempty"`
	Diffusion       *diffusion.Config `json:"diffusion,omitempty"`
	// BackendConfig is GOMLX_BACKEND as the run saw it (its XLA options,
	// such as tf32, change the numbers); absent when it was unset: the CPU
	// backend with its defaults.
	BackendConfig string `json:"backend_config,omitempty"`
	// Toolkit names the build that ran (buildinfo.Toolkit); absent when the
	// binary records none.
	Toolkit string `json:"toolkit,omitempty"`
}

func runRestore(args []string, stdout, stderr io.Writer) error {
	started := time.Now()
	job, err := parseRestore(args, stderr)
	if err != nil {
		return err
	}
	if err := job.load(); err != nil {
		return err
	}
	return job.run(started, stdout, stderr)
}

// restoreJob is one `cadps restore`: its command line, checked
// (parseRestore), then its prior, images and restorer (load).
type restoreJob struct {
	image, out           string
	measured, gif, quiet bool
	fit                  restore.Fit
	seed                 uint64
	opts                 restore.Options
	model                *modelFlags
	class                *int // the -class label, nil when not given
	classFlag            classFlag
	lpips                lpipsFlags
	lease                leaseFlag

	backend   backends.Backend
	prior     *restore.Prior
	restorer  *restore.Restorer
	lp        *lpips.Model
	lpWeights string
	// truth is the clean image, or y the measurement with -measured.
	truth, y *imageio.Image
}

// parseRestore reads and checks restore's command line: everything that
// can be refused before a file is read.
func parseRestore(args []string, stderr io.Writer) (*restoreJob, error) {
	fs := newFlagSet("restore", "IMAGE", stderr)
	j := &restoreJob{model: addModelFlags(fs)}
	sf := addSamplingFlags(fs)
	j.classFlag = addClassFlag(fs)
	var tasks listFlag
	fs.Var(&tasks, "task", "measurement task spec, e.g. super_resolution:factor=4, gaussian_blur, inpaint_box, phase_retrieval (once: restore runs one task)")
	taskConfig := fs.String("task-config", "", "reference task config YAML instead of -task (its noise, scale and method apply unless given as flags)")
	method := fs.String("method", "cadps", "guidance method spec NAME[:key=value,...] (e.g. mmps:cg=10); NAME one of "+strings.Join(guidance.Names(), ", "))
	out := fs.String("out", "", "output folder (required)")
	gif := fs.Bool("gif", false, "also write an animated GIF of x̂0 along the sampling")
	quiet := fs.Bool("quiet", false, "no progress bar and no summary line")
	measured := fs.Bool("measured", false, "IMAGE is a measurement y one has (a low-resolution, blurred or masked image at the operator's output size), not a clean image: restore it as it is; no label.png, no metrics")
	j.lpips = addLPIPSFlags(fs)
	j.lease = addLeaseFlag(fs)
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return nil, err
	}
	if err := j.lease.check(); err != nil {
		return nil, err
	}
	switch {
	case len(pos) != 1:
		return nil, usagef("want one image (cadps restore IMAGE -task SPEC -out DIR), got %s", arguments(pos))
	case *out == "":
		return nil, usagef("-out DIR is required")
	case len(tasks) > 1:
		return nil, usagef("-task is given %d times (%s): restore runs one task (cadps reproduce runs several)", len(tasks), strings.Join(tasks, ", "))
	case len(tasks) == 1 && *taskConfig != "":
		return nil, usagef("give -task or -task-config, not both")
	}
	j.image, j.out, j.measured, j.gif, j.quiet = pos[0], *out, *measured, *gif, *quiet
	j.seed, j.class = *sf.seed, j.classFlag.value(fs)
	task := ""
	if len(tasks) == 1 {
		task = tasks[0]
		if err := checkTaskSpec("restore", "-task", task); err != nil {
			return nil, err
		}
	}
	if j.opts, j.fit, err = sf.options(fs); err != nil {
		return nil, err
	}
	switch {
	case j.measured && j.fit != restore.FitNone:
		return nil, usagef("-measured takes the measurement as it is: -resize and -crop fit clean images, and would change what the operator measured (give y at the operator's output size)")
	case j.measured && (*j.lpips.dir != "" || *j.lpips.backbone != ""):
		return nil, usagef("-lpips compares the reconstruction with the clean image, and -measured has none")
	}
	j.opts.Task, j.opts.Method = restore.SpecTask(task), *method
	if *taskConfig != "" {
		if err := applyTaskConfig(&j.opts, *taskConfig, fs); err != nil {
			return nil, err
		}
	}
	m, err := guidance.ParseSpec(j.opts.Method, j.opts.Guidance)
	switch {
	case err != nil && j.opts.Method != *method: // the task config's method
		return nil, fmt.Errorf("%s: %w", *taskConfig, err)
	case err != nil:
		return nil, usagef("-method: %v", err)
	}
	if task == "" && *taskConfig == "" && guidance.UsesMeasurement(m) {
		return nil, usagef("-task SPEC is required (e.g. -task super_resolution:factor=4)")
	}
	for _, name := range restoreOutputs() {
		for _, p := range []string{name, stagedName(name)} {
			if same, err := samePath(j.image, filepath.Join(j.out, p)); err != nil {
				return nil, err
			} else if same {
				return nil, usagef("image %s is the file %s this run writes (or removes) in -out %s: copy it elsewhere, or give another -out", j.image, p, j.out)
			}
		}
	}
	return j, nil
}

// load opens the backend, the prior, the LPIPS network and the image,
// and builds the restorer, checking that they fit each other and that
// the output folder holds no other run's files.
func (j *restoreJob) load() error {
	f, err := os.Open(j.image)
	if err != nil {
		return fmt.Errorf("cannot read image: %w", err)
	}
	f.Close()
	if j.backend, err = backend.New(); err != nil {
		return err
	}
	if j.prior, err = restore.LoadPrior(j.model.spec()); err != nil {
		return err
	}
	j.prior.Class = j.class
	if err := j.classFlag.check(j.prior); err != nil {
		return err
	}
	if j.lp, j.lpWeights, err = j.lpips.load(); err != nil {
		return err
	}
	if j.measured {
		if j.y, err = restore.LoadMeasurement(j.image, j.prior.ImageShape()); err != nil {
			return err
		}
	} else if j.truth, err = restore.LoadImage(j.image, j.prior.ImageShape(), j.fit); err != nil {
		return fitHint(err, ops.TaskKind(j.opts.Task.Name()) == ops.KindSuperResolution)
	}
	if j.restorer, err = restore.New(j.backend, j.prior, j.opts); err != nil {
		return err
	}
	if j.measured {
		if err := j.restorer.CheckMeasurement(j.y); err != nil {
			return err
		}
	}
	return checkRestoreOutputs(j.out)
}

// run restores the image into the output folder: the folder is made and
// claimed, the image sampled, and the outputs and record written, or, on
// any failure or stop, nothing.
func (j *restoreJob) run(started time.Time, stdout, stderr io.Writer) (err error) {
	// Only now that every input checked out: a refused run leaves no
	// folder, and one that fails or is stopped leaves none it made.
	claims := j.lease.claimer("restore")
	sig := stopOnSignalOutputs(claims, "restore", stderr, outputFolder(j.out))
	defer sig.stop()
	dir, err := sig.makeOutputDir(j.out)
	if err != nil {
		return err
	}
	defer dir.undo(&err)
	// Two restorations into one folder would write the same staged files
	// and could leave one's record beside the other's images: the second
	// is refused before it samples.
	held, err := sig.claim(claims, filepath.Join(j.out, restoreClaim))
	if errors.Is(err, claim.ErrHeld) {
		return fmt.Errorf("another restoration is writing %s (%w): wait for it to end, or give another -out", j.out, err)
	}
	if err != nil {
		return err
	}
	defer held.Release()
	earlier, err := earlierRestoreOutputs(j.out)
	if err != nil {
		return err
	}
	bar := newProgressBar(stdout, j.quiet)
	var res *restore.Result
	if j.measured {
		res, err = j.restorer.RestoreMeasurement(j.y, j.seed, bar.update)
	} else {
		res, err = j.restorer.Restore(j.truth, j.seed, bar.update)
	}
	bar.done()
	if err != nil {
		return err
	}
	rec, err := j.record(res, started)
	if err != nil {
		return err
	}
	if err := sig.finish(func() error {
		if held.Lost() { // its claim file could not be refreshed, or it stalled past the lease and another run took the folder
			if err := held.Err(); err != nil {
				return fmt.Errorf("this restoration could not keep its claim on %s (%w): its results are not written", j.out, err)
			}
			return fmt.Errorf("another restoration took %s over while this one ran (it was not heard of for %v): this one's results are not written", j.out, claims.EffectiveLease())
		}
		rec.TotalSeconds = time.Since(started).Seconds()
		return writeRestoreOutputs(j.out, res, &rec, earlier)
	}); err != nil {
		return err
	}
	if !j.quiet {
		printRestoreSummary(stdout, j.out, j.backend.Name(), &rec)
	}
	return nil
}

// record returns the record of the restoration res (without its total
// time): the settings, the prior's digest and process, the backend and
// build, and LPIPS when asked for.
func (j *restoreJob) record(res *restore.Result, started time.Time) (restoreRecord, error) {
	rec := newRestoreRecord(j.image, j.fit, j.seed, j.restorer.Settings(), res, restoreFiles(res, j.gif), started)
	var err error
	if rec.WeightsDigest, err = j.prior.WeightsDigest(); err != nil {
		return rec, err
	}
	rec.DiffusionConfig, rec.Diffusion = *j.model.diffusionConfig, &j.prior.Diffusion
	rec.BackendConfig, rec.Toolkit = os.Getenv(backend.EnvVar), buildinfo.Toolkit()
	if rec.LPIPS, err = lpipsDistance(j.lp, res.Truth, res.Reconstruction); err != nil {
		return rec, err
	}
	if rec.LPIPS != nil {
		rec.LPIPSWeights = j.lpWeights
	}
	return rec, nil
}

// newRestoreRecord returns the record of a restoration (without LPIPS and
// total time): of a given measurement, without metrics, when res has no
// clean image.
func newRestoreRecord(image string, fit restore.Fit, seed uint64, st restore.Settings, res *restore.Result, files []string, started time.Time) restoreRecord {
	rec := restoreRecord{
		Image: image, Measured: res.Truth == nil, Fit: fit.String(), Seed: seed, Settings: st, Operator: res.Operator,
		MeasurementView: res.MeasurementView, Timings: res.Timings,
		Residual: metrics.Number(res.Residual), Draw: res.Draw, Files: files,
		Started: started.UTC().Format(time.RFC3339), Finished: time.Now().UTC().Format(time.RFC3339),
	}
	if res.Truth != nil {
		rec.Metrics = &res.Metrics
	}
	for _, v := range res.Residuals {
		rec.Residuals = append(rec.Residuals, metrics.Number(v))
	}
	for _, s := range res.Progress {
		rec.ProgressSteps = append(rec.ProgressSteps, s.Step)
	}
	return rec
}

// printRestoreSummary prints restore's one-line summary of a record.
func printRestoreSummary(w io.Writer, out, backendName string, rec *restoreRecord) {
	kept, lp := "", ""
	if n := rec.Settings.Draws; n > 1 {
		// Numbered from 0, as record.json and the records of reproduce
		// and evaluate number it: 0 is the plain run of -seed.
		kept = fmt.Sprintf(", kept draw %d (draws 0 to %d)", rec.Draw, n-1)
	}
	if rec.LPIPS != nil {
		lp = fmt.Sprintf(", LPIPS %.4f", float64(*rec.LPIPS))
	}
	scores := fmt.Sprintf("residual ‖y − A(x0)‖ %.4g", float64(rec.Residual))
	if m := rec.Metrics; m != nil {
		scores = fmt.Sprintf("PSNR %.2f dB, SSIM %.4f%s", m.PSNR, m.SSIM, lp)
	}
	fmt.Fprintf(w, "%s → %s: %s, %s, %d steps: %s (%.1f s sampling, backend %s%s)\n",
		rec.Image, out, rec.Settings.Task, rec.Settings.Method, rec.Settings.Steps,
		scores, rec.Timings.Sample.Seconds(), backendName, kept)
}

// applyTaskConfig takes the task of a reference task config, and its
// noise, scale and method where the command line does not set them.
func applyTaskConfig(o *restore.Options, path string, fs *flag.FlagSet) error {
	tc, err := restore.ReadTaskConfig(path)
	if err != nil {
		return err
	}
	set := setFlags(fs)
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

// restoreFiles returns the names of the images a restoration writes:
// those of res.Save (label.png when res has a clean image, measurement.png
// when it has a measurement, progress.png when it has snapshots) and, with
// gif, progress.gif.
func restoreFiles(res *restore.Result, gif bool) []string {
	files := []string{runs.RestoreReconFile}
	if res.Truth != nil {
		files = append(files, runs.RestoreLabelFile)
	}
	if len(res.Progress) > 0 {
		files = append(files, runs.RestoreProgressFile)
	}
	if res.Measurement != nil {
		files = append(files, runs.RestoreMeasurementFile)
	}
	if gif {
		files = append(files, runs.RestoreGIFFile)
	}
	return files
}

// removeRestoreTemps removes the temporary files (see package atomicfile)
// of every file restore writes in dir, staged or in place: under the
// folder's claim none is being written, so they are a killed run's.
func removeRestoreTemps(dir string) {
	for _, name := range restoreOutputs() {
		for _, p := range []string{name, stagedName(name)} {
			atomicfile.RemoveTemps(dir, atomicfile.GlobEscape(p))
		}
	}
}

// stagedName is the hidden name under which restore writes the output
// file name before it moves it into place: ".recon.new.png" for
// recon.png (the extension stays, since it chooses the format).
func stagedName(name string) string {
	ext := filepath.Ext(name)
	return "." + strings.TrimSuffix(name, ext) + ".new" + ext
}

// checkRestoreOutputs refuses an output folder that runs.CheckOutputFolder
// refuses (another command's run, or files of no run), and one in which a
// path restore writes (an output file, or its staged name) is a folder, which no file
// can replace: checked before the sampling, it keeps a run from failing
// once it has begun to replace an earlier run's files.
func checkRestoreOutputs(dir string) error {
	if err := runs.CheckOutputFolder(dir, runs.CommandRestore); err != nil {
		return err
	}
	for _, name := range restoreOutputs() {
		for _, p := range []string{name, stagedName(name)} {
			if st, err := os.Lstat(filepath.Join(dir, p)); err == nil && st.IsDir() {
				return fmt.Errorf("output folder %s: %s is a folder, where restore writes a file: move it away, or give another -out", dir, p)
			}
		}
	}
	return nil
}

// writeRestoreOutputs puts a restoration's images (rec.Files) and record
// into dir, replacing the earlier restoration's (earlier, from
// earlierRestoreOutputs), so that dir holds either that run or this one:
//
//  1. each file is written, atomically, under its staged name
//     (stagedName), record.json last; a failure here removes the staged
//     files and leaves dir as it was;
//  2. only then the earlier record.json is removed, the earlier run's
//     files that this one does not write go, the images are renamed into
//     place, and record.json last.
//
// Step 2 only renames and removes, in a folder checkRestoreOutputs
// checked; should it fail or the process die midway all the same, dir
// holds no record.json, which marks it as holding no whole restoration,
// but the staged record (runs.RestoreStagedRecordFile), which marks it as
// restore's folder: a rerun replaces what is there. The caller holds the
// folder's claim, so the temporary files of restore's names there are a
// killed run's, and go first.
func writeRestoreOutputs(dir string, res *restore.Result, rec *restoreRecord, earlier []string) (err error) {
	removeRestoreTemps(dir)
	staged := func(name string) string { return filepath.Join(dir, stagedName(name)) }
	names := append(slices.Clone(rec.Files), runs.RestoreRecordFile)
	// Staged files of a run killed before it moved them are restore's
	// own: clear them, and this run's when it fails; once the files are
	// moving, the staged record stays as the folder's mark. It stays too
	// where it is the mark already (a run stopped while moving left it,
	// and no record.json): until this run's record is in place, the
	// folder must stay restore's for the next rerun.
	_, recErr := os.Lstat(filepath.Join(dir, runs.RestoreRecordFile))
	run, mark := runs.FolderRun(dir)
	keepMark := errors.Is(recErr, fs.ErrNotExist) && run == runs.CommandRestore && mark == runs.RestoreStagedRecordFile
	moving := false
	removeStaged := func() {
		for _, name := range restoreOutputs() {
			if !((moving || keepMark) && name == runs.RestoreRecordFile) {
				os.Remove(staged(name))
			}
		}
	}
	removeStaged()
	defer removeStaged()
	if err := res.Save(restore.OutputFiles{
		Reconstruction: staged(runs.RestoreReconFile), Truth: staged(runs.RestoreLabelFile),
		Progress: staged(runs.RestoreProgressFile), Measurement: staged(runs.RestoreMeasurementFile),
	}); err != nil {
		return err
	}
	if slices.Contains(rec.Files, runs.RestoreGIFFile) {
		frames := make([]*imageio.Image, len(res.Progress))
		for k, s := range res.Progress {
			frames[k] = s.Image
		}
		if err := imageio.SaveGIF(staged(runs.RestoreGIFFile), frames, 200*time.Millisecond); err != nil {
			return err
		}
	}
	if err := atomicfile.WriteJSON(staged(runs.RestoreRecordFile), rec); err != nil {
		return err
	}
	for _, name := range names {
		if _, err := os.Stat(staged(name)); err != nil {
			return fmt.Errorf("%s was not written: %w", name, err)
		}
	}
	moving = true
	if err := os.Remove(filepath.Join(dir, runs.RestoreRecordFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing the earlier run's %s: %w", runs.RestoreRecordFile, err)
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w; %s holds no %s now, and its images may be of the earlier run or of this one: rerun the restoration", err, dir, runs.RestoreRecordFile)
		}
	}()
	if err := removeStaleOutputs(dir, earlier, rec.Files); err != nil {
		return err
	}
	for _, name := range names {
		if err := os.Rename(staged(name), filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("moving %s into place: %w", name, err)
		}
	}
	return nil
}

// restoreOutputs are the names of every file `cadps restore` may write
// into its output folder.
func restoreOutputs() []string {
	return runs.OutputNames(runs.CommandRestore)
}

// earlierRestoreOutputs returns the output files of the restoration whose
// record.json dir holds: the names its record lists, else (a record
// without the list) every name restore writes. A folder without
// record.json but with the staged record that a restoration stopped while
// moving its files leaves (runs.RestoreStagedRecordFile) holds files of
// that run and maybe of the one before: every name restore writes. A
// folder without either held no restoration: it gives nil, so that files
// of the names restore writes that are not its own (say a measurement.png
// of the user's) are never taken for an earlier run's.
func earlierRestoreOutputs(dir string) ([]string, error) {
	data, err := os.ReadFile(filepath.Join(dir, runs.RestoreRecordFile))
	if errors.Is(err, fs.ErrNotExist) {
		if run, mark := runs.FolderRun(dir); run == runs.CommandRestore && mark == runs.RestoreStagedRecordFile {
			return restoreOutputs(), nil
		}
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var rec restoreRecord
	if json.Unmarshal(data, &rec) != nil || rec.Settings.Method == "" {
		return nil, nil // not a restoration's record
	}
	if len(rec.Files) > 0 {
		return rec.Files, nil
	}
	return restoreOutputs(), nil
}

// removeStaleOutputs removes from dir the files of an earlier restoration
// (earlier, from earlierRestoreOutputs) that this one, which writes files,
// does not rewrite (say progress.gif when this run has no -gif), so that
// the folder holds one run. Only names restore writes are removed; other
// files in dir are left alone.
func removeStaleOutputs(dir string, earlier, files []string) error {
	for _, name := range restoreOutputs() {
		if name == runs.RestoreRecordFile || slices.Contains(files, name) || !slices.Contains(earlier, name) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("removing the earlier run's %s: %w", name, err)
		}
	}
	return nil
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
