package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/cadps/imageio"
	"github.com/cadps/toolkit/cadps/metrics/fid"
	"github.com/cadps/toolkit/cadps/restore"
	"github.com/cadps/toolkit/cadps/runs"
	"github.com/cadps/toolkit/ops"
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

// reproduceFlags are `cadps reproduce`'s flags.
type reproduceFlags struct {
	model               *modelFlags
	sampling            *samplingFlags
	tasks, taskConfigs  listFlag
	methods, out, shard *string
	shardCount, limit   *int
	gridRows            *int
	lease               leaseFlag
	retry, quiet        *bool
	lpips               lpipsFlags
	tables              tableFlags
}

func addReproduceFlags(fs *flag.FlagSet) *reproduceFlags {
	f := &reproduceFlags{model: addModelFlags(fs), sampling: addSamplingFlags(fs)}
	fs.Var(&f.tasks, "task", "measurement task spec (repeatable), e.g. -task super_resolution:factor=4 -task gaussian_blur")
	fs.Var(&f.taskConfigs, "task-config", "reference task config YAML, as is (repeatable): configs/super_resolution_config.yaml ...")
	f.methods = fs.String("methods", "", "comma-separated guidance methods ("+strings.Join(guidance.Names(), ", ")+"); required with -task; default for -task-config: each config's conditioning method")
	f.out = fs.String("out", "", "output folder (required)")
	f.shard = fs.String("shard", "", "run shard INDEX/COUNT of the items (default: the index SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX, else all)")
	f.shardCount = fs.Int("shard-count", 0, "number of shards of a job array (or CADPS_SHARD_COUNT; default: the count recorded in -out, else the first Slurm array's size)")
	f.lease = addLeaseFlag(fs)
	f.limit = fs.Int("limit", 0, "use only the first N images of the folder (sorted by name)")
	f.retry = fs.Bool("retry-failed", false, "rerun items recorded as failed")
	f.gridRows = fs.Int("grid-rows", 8, "rows (images) of each comparison grid (0: no grids)")
	f.quiet = fs.Bool("quiet", false, "no per-item lines, no progress bar, and neither the closing summary nor the table (the -fid and -paper-table tables still are)")
	f.lpips = addLPIPSFlags(fs)
	f.tables = addTableFlags(fs)
	return f
}

func runReproduce(args []string, stdout, stderr io.Writer) (err error) {
	fs := newFlagSet("reproduce", "[IMAGE_FOLDER]", stderr)
	f := addReproduceFlags(fs)
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) > 1:
		return usagef("want at most one image folder, got %s", arguments(pos))
	case *f.out == "":
		return usagef("-out DIR is required")
	case len(f.tasks)+len(f.taskConfigs) == 0:
		return usagef("give at least one -task SPEC or -task-config FILE")
	case len(f.tasks) > 0 && *f.methods == "":
		return usagef("-task %s names no method: give -methods (e.g. -methods dps,cadps); only a -task-config's conditioning method stands in for it", f.tasks[0])
	case *f.gridRows < 0 || *f.limit < 0:
		return usagef("-grid-rows and -limit must not be negative")
	case *f.shardCount < 0:
		return usagef("-shard-count %d is negative", *f.shardCount)
	}
	if err := f.lease.check(); err != nil {
		return err
	}
	if err := f.tables.check(fs); err != nil {
		return err
	}
	if *f.shard != "" { // before the output folder is made
		if _, err := runs.ParseShard(*f.shard); err != nil {
			return usagef("-shard: %v", err)
		}
	}
	rep, err := f.reproduction(fs, pos)
	if err != nil {
		return err
	}
	if rep.Backend, err = backend.New(); err != nil {
		return err
	}
	rep.BackendConfig = os.Getenv(backend.EnvVar)
	if rep.Prior, err = restore.LoadPrior(f.model.spec()); err != nil {
		return err
	}
	if err := refuseClassConditional("reproduce", rep.Prior); err != nil {
		return err
	}
	if rep.LPIPS, rep.LPIPSWeights, err = f.lpips.load(); err != nil {
		return err
	}
	fidModel, err := f.tables.load(fid.Load)
	if err != nil {
		return err
	}
	// The folder is made only now; the shard (recorded in the folder) and
	// rep.Run's own checks of the images, tasks and methods come after it,
	// so a run they refuse removes the shard count when this worker
	// recorded it and the folder holds nothing else, and the folder again
	// when it made it. rep.Run checks the folder too, but only after
	// the shard count is recorded, which marks any folder as a
	// reproduction's: so it is checked here first.
	if err := runs.CheckOutputFolder(*f.out, runs.CommandReproduce); err != nil {
		return err
	}
	dir, err := makeOutputDir(*f.out)
	if err != nil {
		return err
	}
	defer dir.undo(&err)
	var recorded bool
	rep.Shard, recorded, err = runs.ChooseShard(*f.out, *f.shard, *f.shardCount, os.Getenv)
	if recorded {
		dir.created(runs.ShardFile)
	}
	if err != nil {
		return err
	}
	rep.Claims = f.lease.claimer(workerName(rep.Shard, os.Getenv))
	defer stopOnSignal(rep.Claims, "reproduce", "the items it held are free again", stderr).stop()
	sum, err := runWithProgress(rep, stdout, *f.quiet)
	if err != nil {
		return err
	}
	if !*f.quiet {
		fmt.Fprintf(stdout, "shard %s: %d of %d items; %d run now (%d failed), %d finished before",
			rep.Shard, sum.Owned, sum.Items, sum.Done, sum.Failed, sum.Skipped)
		if sum.ByOthers > 0 {
			fmt.Fprintf(stdout, ", %d by other workers", sum.ByOthers)
		}
		fmt.Fprintln(stdout)
		switch {
		case len(sum.Table.Records) == 0:
			fmt.Fprintf(stdout, "no item of %s is finished yet: nothing to tabulate\n", *f.out)
		case !sum.Wrote:
			fmt.Fprintf(stdout, "another worker wrote (or is writing) %s, with every item this one finished\n\n%s", tablesWritten(sum.Table, *f.out, *f.gridRows), sum.Table.Markdown())
		default:
			fmt.Fprintf(stdout, "wrote %s\n\n%s", tablesWritten(sum.Table, *f.out, *f.gridRows), sum.Table.Markdown())
		}
	}
	if len(sum.Table.Records) == 0 {
		return nil
	}
	var taskOrder []string
	for _, ts := range rep.Tasks {
		taskOrder = append(taskOrder, ts.Task.Label)
	}
	return f.tables.print(stdout, sum.Table, fidModel, taskOrder, rep.Methods)
}

// reproduction builds the reproduction the flags and the image folder (pos,
// else a task config's data.root) describe, without its backend, prior,
// shard and metric networks.
func (f *reproduceFlags) reproduction(fs *flag.FlagSet, pos []string) (*runs.Reproduction, error) {
	opts, fit, err := f.sampling.options(fs)
	if err != nil {
		return nil, err
	}
	rep := &runs.Reproduction{Out: *f.out, Options: opts, Seed: *f.sampling.seed, Fit: fit, RetryFailed: *f.retry, GridRows: *f.gridRows}
	if *f.gridRows == 0 {
		rep.GridRows = -1
	}
	if *f.methods != "" {
		for _, m := range splitMethodList(*f.methods) {
			if _, err := guidance.ParseSpec(m, opts.Guidance); err != nil {
				return nil, usagef("-methods: %v", err)
			}
			rep.Methods = append(rep.Methods, m)
		}
	}
	for _, spec := range f.tasks {
		if err := checkTaskSpec("reproduce", "-task", spec); err != nil {
			return nil, err
		}
		rep.Tasks = append(rep.Tasks, runs.TaskSetup{Task: restore.SpecTask(spec)})
	}
	folder, rootOf, err := f.addTaskConfigs(rep)
	if err != nil {
		return nil, err
	}
	if err := f.checkTaskLabels(rep.Tasks); err != nil {
		return nil, err
	}
	if len(pos) == 1 {
		folder, rootOf = pos[0], ""
	}
	if folder == "" {
		return nil, usagef("give an image folder (or a task config with data.root)")
	}
	if same, err := samePath(folder, *f.out); err != nil {
		return nil, err
	} else if same {
		return nil, usagef("-out %s is the image folder: its grids would be read as images by a rerun; give another output folder", *f.out)
	}
	if rep.Images, err = imageio.List(folder); err != nil {
		if rootOf != "" {
			return nil, fmt.Errorf("the image folder %s is the data.root of %s (give the image folder as the argument to use another): %w", folder, rootOf, err)
		}
		return nil, err
	}
	if *f.limit > 0 && len(rep.Images) > *f.limit {
		rep.Images = rep.Images[:*f.limit]
	}
	return rep, nil
}

// addTaskConfigs adds the tasks of the -task-config files to rep and
// returns the first data.root one names and that config's path ("" when
// none names one).
func (f *reproduceFlags) addTaskConfigs(rep *runs.Reproduction) (dataRoot, rootOf string, err error) {
	for _, path := range f.taskConfigs {
		tc, err := restore.ReadTaskConfig(path)
		if err != nil {
			return "", "", err
		}
		ts := runs.TaskSetup{Task: tc.Task, Noise: tc.Noise, Method: tc.Method}
		if tc.HasScale {
			ts.Scale = &tc.Scale
		}
		if rep.Options.Noise != nil { // -noise given on the command line wins
			ts.Noise = nil
		}
		if tc.Method != "" && !guidance.Has(tc.Method) && len(rep.Methods) == 0 {
			return "", "", fmt.Errorf("%s: conditioning method %q has no counterpart here (known: %s); choose with -methods", path, tc.Method, strings.Join(guidance.Names(), ", "))
		}
		if dataRoot == "" {
			dataRoot, rootOf = tc.DataRoot, path
		}
		rep.Tasks = append(rep.Tasks, ts)
	}
	return dataRoot, rootOf, nil
}

// checkTaskLabels refuses two tasks with one label, which names their
// folders: the -task specs (first in tasks) and the -task-config files
// (after them) in f's order. Two specs of the same task (ops.CanonicalTask)
// are the task given twice; other tasks, whose labels collide because a
// label keeps only some characters of a spec (path=m/a.png and
// path=m_a.png both give path=m_a.png) or only a config's file name, are
// named with the folder they would share.
func (f *reproduceFlags) checkTaskLabels(tasks []runs.TaskSetup) error {
	given := func(k int) string {
		if k < len(f.tasks) {
			return "-task " + f.tasks[k]
		}
		return "-task-config " + f.taskConfigs[k-len(f.tasks)]
	}
	for j := range tasks {
		for k := range j {
			if tasks[k].Task.Label != tasks[j].Task.Label {
				continue
			}
			if j < len(f.tasks) {
				a, _ := ops.CanonicalTask(f.tasks[k])
				b, _ := ops.CanonicalTask(f.tasks[j])
				if a == b {
					return usagef("the same task is given twice (%s, %s): give it once", given(k), given(j))
				}
			}
			return usagef("%s and %s are different tasks that would share the task folder %s (a spec's characters other than letters, digits, '.', '=' and '-' become '_'; a config's folder is its file name): run one of them with another -out", given(k), given(j), tasks[j].Task.Label)
		}
	}
	return nil
}

// samePath reports whether the paths a and b name the same file or folder:
// the same cleaned absolute path, or, when both exist, the same file
// (os.SameFile, which sees through links).
func samePath(a, b string) (bool, error) {
	absA, err := filepath.Abs(a)
	if err != nil {
		return false, err
	}
	absB, err := filepath.Abs(b)
	if err != nil {
		return false, err
	}
	if absA == absB {
		return true, nil
	}
	stA, errA := os.Stat(a)
	stB, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(stA, stB), nil
}

// runWithProgress runs the reproduction with per-item lines and, on a
// terminal, a progress bar (neither when quiet). An image of another size
// than the model's is refused with the flags that fit it.
func runWithProgress(rep *runs.Reproduction, stdout io.Writer, quiet bool) (*runs.RunSummary, error) {
	bar := newProgressBar(stdout, quiet)
	if !quiet {
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
	return sum, fitHint(err, false)
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
