package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/cadps/metrics/fid"
	"github.com/cadps/toolkit/cadps/restore"
	"github.com/cadps/toolkit/cadps/runs"
	"github.com/cadps/toolkit/internal/atomicfile"
)

// reproduceCommand is `cadps reproduce [FOLDER]`: a folder of images
// through tasks × methods, resumable and shardable.
func reproduceCommand() command {
	return command{
		name:    "reproduce",
		summary: "run a folder of images through tasks × methods (resumable, shardable) and tabulate PSNR/SSIM",
		run:     runReproduce,
	}
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, " ") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// imageExts are the file extensions taken from an image folder.
var imageExts = map[string]bool{".png": true, ".jpg": true, ".jpeg": true}

// listImages returns the PNG and JPEG files of a folder, sorted.
func listImages(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("image folder: %w", err)
	}
	var out []string
	for _, e := range entries {
		if e.Type().IsRegular() && imageExts[strings.ToLower(filepath.Ext(e.Name()))] {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("image folder %s has no PNG or JPEG files", dir)
	}
	sort.Strings(out)
	return out, nil
}

func runReproduce(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("reproduce", "[IMAGE_FOLDER]", stderr)
	mf := addModelFlags(fs)
	sf := addSamplingFlags(fs)
	var tasks, taskConfigs listFlag
	fs.Var(&tasks, "task", "measurement task spec (repeatable), e.g. -task super_resolution:factor=4 -task gaussian_blur")
	fs.Var(&taskConfigs, "task-config", "reference task config YAML, as is (repeatable): configs/super_resolution_config.yaml ...")
	methods := fs.String("methods", "", "comma-separated guidance methods ("+strings.Join(guidance.Names(), ", ")+"); default: each task config's conditioning method")
	out := fs.String("out", "", "output folder (required)")
	shard := fs.String("shard", "", "run shard INDEX/COUNT of the items (default: the index SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX, else all)")
	shardCount := fs.Int("shard-count", 0, "number of shards of a job array (or CADPS_SHARD_COUNT; default: the count recorded in -out, else the first Slurm array's size)")
	lease := fs.Duration("lease", runs.DefaultLease, "a claimed item whose worker has not been heard of for this long is taken over (the same for every worker of a folder)")
	limit := fs.Int("limit", 0, "use only the first N images of the folder (sorted by name)")
	retry := fs.Bool("retry-failed", false, "rerun items recorded as failed")
	gridRows := fs.Int("grid-rows", 8, "rows (images) of each comparison grid (0: no grids)")
	quiet := fs.Bool("quiet", false, "no per-item lines and no progress bar")
	lpf := addLPIPSFlags(fs)
	fidWeights := fs.String("fid", "", "also FID per task and method over the folder (reconstructions against clean images), with pytorch-fid's Inception weights ("+fid.WeightsFile+")")
	fidDims := fs.Int("fid-dims", 2048, "FID feature dimension: 64, 192, 768 or 2048 (as pytorch-fid's --dims)")
	paper := fs.Bool("paper-table", false, "end with the table in the papers' layout: a row per task; LPIPS, FID, PSNR and SSIM per method")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) > 1:
		return usagef("want at most one image folder, got %d arguments", len(pos))
	case *out == "":
		return usagef("-out DIR is required")
	case len(tasks)+len(taskConfigs) == 0:
		return usagef("give at least one -task SPEC or -task-config FILE")
	case *gridRows < 0 || *limit < 0:
		return usagef("-grid-rows and -limit must not be negative")
	case !slices.Contains(fid.BlockDims[:], *fidDims):
		return usagef("-fid-dims %d: want 64, 192, 768 or 2048", *fidDims)
	}
	opts, fit, err := sf.options(fs)
	if err != nil {
		return err
	}
	rep := &runs.Reproduction{Out: *out, Options: opts, Seed: *sf.seed, Fit: fit, RetryFailed: *retry, GridRows: *gridRows}
	if *gridRows == 0 {
		rep.GridRows = -1
	}
	if *methods != "" {
		for _, m := range splitMethodList(*methods) {
			if _, err := guidance.ParseSpec(m, opts.Guidance); err != nil {
				return err
			}
			rep.Methods = append(rep.Methods, m)
		}
	}
	for _, spec := range tasks {
		rep.Tasks = append(rep.Tasks, runs.TaskSetup{Task: restore.SpecTask(spec)})
	}
	dataRoot := ""
	for _, path := range taskConfigs {
		tc, err := restore.ReadTaskConfig(path)
		if err != nil {
			return err
		}
		ts := runs.TaskSetup{Task: tc.Task, Noise: tc.Noise, Method: tc.Method}
		if tc.HasScale {
			ts.Scale = &tc.Scale
		}
		if opts.Noise != nil { // -noise given on the command line wins
			ts.Noise = nil
		}
		if tc.Method != "" && !guidance.Has(tc.Method) && len(rep.Methods) == 0 {
			return fmt.Errorf("%s: conditioning method %q has no counterpart here (known: %s); choose with -methods", path, tc.Method, strings.Join(guidance.Names(), ", "))
		}
		if dataRoot == "" {
			dataRoot = tc.DataRoot
		}
		rep.Tasks = append(rep.Tasks, ts)
	}
	folder := dataRoot
	if len(pos) == 1 {
		folder = pos[0]
	}
	if folder == "" {
		return usagef("give an image folder (or a task config with data.root)")
	}
	if rep.Images, err = listImages(folder); err != nil {
		return err
	}
	if *limit > 0 && len(rep.Images) > *limit {
		rep.Images = rep.Images[:*limit]
	}
	if *lease <= 0 {
		return usagef("-lease must be positive, got %v", *lease)
	}
	if err := atomicfile.CheckWritable(*out); err != nil {
		return err
	}
	if rep.Shard, err = chooseShard(*out, *shard, *shardCount, os.Getenv); err != nil {
		return err
	}
	rep.Claims = &runs.Claimer{Lease: *lease, Worker: workerName(rep.Shard, os.Getenv)}
	defer releaseOnSignal(rep.Claims, stderr)()
	if rep.Backend, err = backend.New(); err != nil {
		return err
	}
	if rep.Prior, err = restore.LoadPrior(mf.spec()); err != nil {
		return err
	}
	fidModel, err := loadMetricNets(rep, lpf, *fidWeights, *fidDims)
	if err != nil {
		return err
	}
	bar := newProgressBar(stdout, *quiet)
	if !*quiet {
		rep.Log = lineWriter{bar: bar, w: stdout}
		if bar.on {
			rep.OnStep = func(it runs.Item, p restore.Progress) {
				bar.label = it.String() + " "
				bar.update(p)
			}
		}
	}
	sum, err := rep.Run()
	bar.done()
	if err != nil {
		return err
	}
	if !*quiet {
		fmt.Fprintf(stdout, "shard %s: %d of %d items; %d run now (%d failed), %d finished before",
			rep.Shard, sum.Owned, sum.Items, sum.Done, sum.Failed, sum.Skipped)
		if sum.ByOthers > 0 {
			fmt.Fprintf(stdout, ", %d by other workers", sum.ByOthers)
		}
		fmt.Fprintln(stdout)
		fmt.Fprintf(stdout, "wrote %s and %s in %s\n\n%s", runs.CSVFile, runs.TableFile, *out, sum.Table.Markdown())
	}
	return printMetricTables(stdout, rep, sum.Table.Rows, fidModel, *fidDims, *paper)
}

// loadMetricNets loads the LPIPS network the flags select into rep, and
// returns the FID network of the given weights and feature dimension (nil
// without weights).
func loadMetricNets(rep *runs.Reproduction, lpf lpipsFlags, fidWeights string, fidDims int) (*fid.Model, error) {
	var err error
	if rep.LPIPS, rep.LPIPSWeights, err = lpf.load(); err != nil || fidWeights == "" {
		return nil, err
	}
	return fid.Load(rep.Backend, fidWeights, slices.Index(fid.BlockDims[:], fidDims))
}

// lineWriter writes per-item lines below a progress bar.
type lineWriter struct {
	bar *progressBar
	w   io.Writer
}

func (l lineWriter) Write(p []byte) (int, error) {
	if l.bar.drawn {
		fmt.Fprint(l.w, "\r\x1b[K")
		l.bar.drawn = false
	}
	return l.w.Write(p)
}

// chooseShard takes the shard from -shard, else from a Slurm array or a
// Kubernetes Indexed Job's environment (see runs.ChooseShard), else the
// whole run.
func chooseShard(out, flagValue string, count int, getenv func(string) string) (runs.Shard, error) {
	if flagValue != "" {
		if _, err := runs.ParseShard(flagValue); err != nil {
			return runs.Shard{}, usagef("-shard: %v", err)
		}
	}
	return runs.ChooseShard(out, flagValue, count, getenv)
}

// workerName names this worker in its claims: its shard, and its Slurm
// job or Kubernetes pod when it runs in one.
func workerName(s runs.Shard, getenv func(string) string) string {
	name := "shard " + s.String()
	switch {
	case getenv("SLURM_JOB_ID") != "":
		name += ", Slurm job " + getenv("SLURM_JOB_ID")
	case getenv("JOB_COMPLETION_INDEX") != "" && getenv("HOSTNAME") != "":
		name += ", pod " + getenv("HOSTNAME")
	}
	return name
}

// releaseOnSignal releases the worker's claims and exits when it is asked
// to stop (SIGTERM from scancel, Kubernetes or kill; SIGINT from Ctrl-C),
// so that a worker started after it need not wait for the lease; the item
// it was computing is redone then. The returned function stops listening.
func releaseOnSignal(claims *runs.Claimer, stderr io.Writer) (stop func()) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-sigs:
			claims.ReleaseAll()
			fmt.Fprintf(stderr, "cadps reproduce: %v: stopped; the items it held are free again\n", sig)
			os.Exit(128 + int(sig.(syscall.Signal)))
		case <-done:
		}
	}()
	return func() {
		signal.Stop(sigs)
		close(done)
	}
}
