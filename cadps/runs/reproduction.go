package runs

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/cadps/metrics/lpips"
	"github.com/cadps/toolkit/cadps/restore"
	"github.com/cadps/toolkit/cadps/runs/claim"
	"github.com/cadps/toolkit/internal/atomicfile"
	"github.com/cadps/toolkit/ops"
	"github.com/gomlx/gomlx/backends"
)

// The folders of a reproduction's per-item outputs, in the DPS
// repository's layout (DIR/<task>/<method>/<folder>/NNNNN.png), plus the
// per-item records.
const (
	// InputDir holds the measurements (as images).
	InputDir = "input"
	// ReconDir holds the reconstructions.
	ReconDir = "recon"
	// ProgressDir holds the strips of x̂0 along the sampling.
	ProgressDir = "progress"
	// LabelDir holds the clean images as the model saw them.
	LabelDir = "label"
	// RecordDir holds the per-item records, written last: an item is
	// finished when its record exists.
	RecordDir = "record"
	// ClaimDir holds the claims of items being computed (see
	// [claim.Claimer]): NNNNN.G, G the claim's generation.
	ClaimDir = "claim"
	// SettingsFile is the reproduction's settings, in DIR.
	SettingsFile = "reproduce.json"
	// CSVFile is every item's metrics, rebuilt from the records.
	CSVFile = "metrics.csv"
	// TableFile is the Markdown table of means and standard deviations.
	TableFile = "summary.md"
)

// TaskSetup is one task of a reproduction.
type TaskSetup struct {
	// Task is the measurement task; its Label names its folder.
	Task restore.Task
	// Noise is the task's measurement noise (nil: the base options').
	Noise ops.Noise
	// Scale is the task's step size ζ (nil: the base options', or the
	// task's default).
	Scale *float64
	// Method is the task config's method, run when the reproduction lists
	// no methods.
	Method string
}

// Reproduction runs every image of a folder through tasks × methods,
// writing per-item outputs and records, and rebuilds the metrics CSV, the
// table and the comparison grids from the records. A rerun skips finished
// items; every file is written to a temporary name and renamed.
type Reproduction struct {
	// Out is the output folder. Run refuses one that CheckOutputFolder
	// refuses for CommandReproduce. cadps reproduce checks it too, earlier:
	// before it records the shard count (ChooseShard), which would mark
	// any folder as a reproduction's and so pass Run's check.
	Out string
	// Backend runs the graphs.
	Backend backends.Backend
	// BackendConfig is the configuration Backend was made with, in
	// GOMLX_BACKEND's format (backend.NewWithConfig; the cadps command
	// gives $GOMLX_BACKEND), recorded in each item's record; empty: not
	// recorded. It is not a setting: a rerun with another configuration
	// resumes the folder, and each record names its own.
	BackendConfig string
	// Toolkit names the build recorded in each item's record (empty: the
	// build of this binary, as cadps restore records it; nothing when the
	// binary records none). Like BackendConfig, it is not a setting.
	Toolkit string
	// Prior is the prior network.
	Prior *restore.Prior
	// Options are the base options; Task and Method are set per item.
	Options restore.Options
	// Tasks are the tasks.
	Tasks []TaskSetup
	// Methods are the guidance methods run on every task (empty: each
	// task's own Method): toolkit method specs, and the Names of methods
	// of one's own in Custom.
	Methods []string
	// Custom are methods of one's own (restore.Options.Custom), each run
	// where Methods names it. Settings record a method's Name and
	// guidance.Revision: give a changed method a new Revision (or Name) so
	// that its folder is not resumed with the old results.
	Custom []guidance.Method
	// Images are the image files; an image's index is its position in
	// the sorted list.
	Images []string
	// Seed is the base seed: each image and task gets its own seed from
	// it, the same for every method, so that methods see the same
	// measurement and initial noise.
	Seed uint64
	// Fit fits images of another size.
	Fit restore.Fit
	// Shard selects the items this run does. A sharded run records its
	// count in Out (ShardFile, as ChooseShard does) when none is recorded
	// there, and is refused when another count is.
	Shard Shard
	// Claims claims items for this worker, and locks the settings and the
	// tables while it writes them (nil: a [claim.Claimer] of the run's own,
	// with the default lease). Keep it to release the claims when the
	// worker is asked to stop ([claim.Claimer.ReleaseAll]).
	Claims *claim.Claimer
	// Poll is how long Run waits before looking again at items that other
	// workers hold (0: a quarter of the lease, at most 5 s).
	Poll time.Duration
	// RetryFailed reruns items recorded as failed: the failed record the
	// worker found at its first look at the item, not one that another
	// worker, retrying the item too, wrote while this one waited for it.
	RetryFailed bool
	// GridRows bounds the rows of the comparison grids (0: 8; negative: no
	// grids).
	GridRows int
	// LPIPS, when not nil, also scores each reconstruction by its LPIPS
	// distance to the clean image; LPIPSWeights names its network and
	// weights in the settings (reproduce.json), so that a rerun with other
	// LPIPS weights into the same folder is refused.
	LPIPS        *lpips.Model
	LPIPSWeights string
	// Log, when not nil, receives one line per item.
	Log io.Writer
	// OnStep, when not nil, is called after every sampling step.
	OnStep func(Item, restore.Progress)

	// afterTables, when not nil, is called once the tables are written,
	// before the records are counted again (a test's hook).
	afterTables func()
}

// Item is one image × task × method.
type Item struct {
	// Task is the task's label.
	Task string
	// Method is the guidance method.
	Method string
	// Index is the image's index in the sorted image list.
	Index int
	// Image is the image's path.
	Image string
	// Unit numbers the item's image and task (see Reproduction.Items);
	// shards are dealt units.
	Unit int
}

// Name returns the item's file name stem, NNNNN.
func (it Item) Name() string { return fmt.Sprintf("%05d", it.Index) }

// String names the item as task/method/NNNNN.
func (it Item) String() string { return it.Task + "/" + it.Method + "/" + it.Name() }

// Path returns the path of one of the item's files under out.
func (it Item) Path(out, folder string) string {
	ext := ".png"
	if folder == RecordDir {
		ext = ".json"
	}
	return filepath.Join(out, it.Task, it.Method, folder, it.Name()+ext)
}

// RunSummary counts what a run did.
type RunSummary struct {
	// Items is the number of items in the whole reproduction.
	Items int
	// Owned is the number of items of this shard.
	Owned int
	// Done counts the items this run finished, Failed those among them
	// that failed, Skipped those finished by an earlier run, ByOthers
	// those that other workers finished while this one ran.
	Done, Failed, Skipped, ByOthers int
	// Table is the table rebuilt from every record in Out.
	Table *Table
	// Wrote reports whether this run wrote the tables in Out: not when Out
	// holds no record, nor when another worker wrote them with this run's
	// records, or was writing them and this run wrote none.
	Wrote bool
}

// methodsFor returns the methods run on task setup k.
func (r *Reproduction) methodsFor(k int) []string {
	if len(r.Methods) > 0 {
		return r.Methods
	}
	if m := r.Tasks[k].Method; m != "" {
		return []string{m}
	}
	return nil
}

// Items lists every item, sorted by image index, task label and method.
// Items of the same image and task form a unit (they share the
// measurement); units are numbered in that order, and a shard owns the
// items of the units it owns, so that every shard gets the same mix of
// methods, whose costs differ.
func (r *Reproduction) Items() []Item {
	images := slices.Clone(r.Images)
	sort.Strings(images)
	labels := make([]string, len(r.Tasks))
	for k, ts := range r.Tasks {
		labels[k] = ts.Task.Label
	}
	sort.Strings(labels)
	var items []Item
	for k, ts := range r.Tasks {
		pos, _ := slices.BinarySearch(labels, ts.Task.Label)
		for i, path := range images {
			methods := slices.Clone(r.methodsFor(k))
			sort.Strings(methods)
			for _, m := range methods {
				items = append(items, Item{Task: ts.Task.Label, Method: m, Index: i, Image: path, Unit: i*len(labels) + pos})
			}
		}
	}
	sort.SliceStable(items, func(a, b int) bool {
		x, y := items[a], items[b]
		if x.Unit != y.Unit {
			return x.Unit < y.Unit
		}
		return x.Method < y.Method
	})
	return items
}

// check validates the reproduction before any work: labels, methods,
// images and the output folder.
func (r *Reproduction) check() error {
	if r.Prior == nil || r.Backend == nil {
		return errors.New("runs: reproduction without a prior or a backend")
	}
	if len(r.Images) == 0 {
		return errors.New("runs: no images to reproduce")
	}
	if len(r.Tasks) == 0 {
		return errors.New("runs: no tasks to reproduce")
	}
	if err := checkDistinct(nil, r.Methods); err != nil {
		return err
	}
	if err := checkCustom(r.Custom, r.Methods); err != nil {
		return err
	}
	seen := map[string]bool{}
	for k, ts := range r.Tasks {
		if ts.Task.Label == "" {
			return fmt.Errorf("runs: task %d has no label", k)
		}
		if seen[ts.Task.Label] {
			return fmt.Errorf("runs: task %s is given twice", ts.Task.Label)
		}
		seen[ts.Task.Label] = true
		if len(r.methodsFor(k)) == 0 {
			return fmt.Errorf("runs: no method for task %s (give methods, or a task config with conditioning.method)", ts.Task.Label)
		}
		if err := checkFolderName("task label", ts.Task.Label); err != nil {
			return err
		}
		for _, m := range r.methodsFor(k) {
			if err := checkFolderName("method", m); err != nil {
				return err
			}
		}
	}
	shape := r.Prior.ImageShape()
	for _, p := range r.Images {
		if err := restore.CheckImage(p, shape[2], r.Fit); err != nil {
			return err
		}
	}
	if err := CheckOutputFolder(r.Out, CommandReproduce); err != nil {
		return err
	}
	return atomicfile.CheckWritable(r.Out)
}

// checkFolderName refuses a task label or a method (what) that is not a
// single folder name: an item's files are <Out>/<task>/<method>/…, and a
// merge looks for records only there.
func checkFolderName(what, name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsRune(name, '/') || strings.ContainsRune(name, filepath.Separator) {
		return fmt.Errorf("runs: %s %q cannot name a folder of the output: give a name without path separators (and not . or .. alone)", what, name)
	}
	return nil
}

// restorers builds one restorer per task setup and method.
func (r *Reproduction) restorers() (map[[2]string]*restore.Restorer, error) {
	out := map[[2]string]*restore.Restorer{}
	for k, ts := range r.Tasks {
		for _, m := range r.methodsFor(k) {
			o := withMethod(r.Options, m, r.Custom)
			o.Task = ts.Task
			if ts.Noise != nil {
				o.Noise = ts.Noise
			}
			if ts.Scale != nil && o.Scale == nil {
				o.Scale = ts.Scale
			}
			rs, err := restore.New(r.Backend, r.Prior, o)
			if err != nil {
				return nil, err
			}
			out[[2]string{ts.Task.Label, m}] = rs
		}
	}
	return out, nil
}

// removeStaleTemps removes the temporary files a killed run left for the
// item named stem in dir (only this item's, which no other shard writes).
func removeStaleTemps(dir, stem string) {
	atomicfile.RemoveTemps(dir, atomicfile.GlobEscape(stem)+".*")
}
