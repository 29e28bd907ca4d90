package restore

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"github.com/cadps/toolkit/cadps/imageio"
	"github.com/cadps/toolkit/cadps/metrics/lpips"
	"github.com/cadps/toolkit/cadps/runs"
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
	// runs.Claimer): NNNNN.G, G the claim's generation.
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
	Task Task
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
	// Out is the output folder.
	Out string
	// Backend runs the graphs.
	Backend backends.Backend
	// Prior is the prior network.
	Prior *Prior
	// Options are the base options; Task and Method are set per item.
	Options Options
	// Tasks are the tasks.
	Tasks []TaskSetup
	// Methods are the guidance methods run on every task (empty: each
	// task's own Method).
	Methods []string
	// Images are the image files; an image's index is its position in
	// the sorted list.
	Images []string
	// Seed is the base seed: each image and task gets its own seed from
	// it, the same for every method, so that methods see the same
	// measurement and initial noise.
	Seed uint64
	// Fit fits images of another size.
	Fit Fit
	// Shard selects the items this run does.
	Shard Shard
	// Claims claims items for this worker (nil: a runs.Claimer with the
	// default lease). Keep it to release the claims when the worker is
	// asked to stop (runs.Claimer.ReleaseAll).
	Claims *runs.Claimer
	// Poll is how long Run waits before looking again at items that other
	// workers hold (0: a quarter of the lease, at most 5 s).
	Poll time.Duration
	// RetryFailed reruns items recorded as failed.
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
	OnStep func(Item, Progress)
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

// Record is an item's record, written after its outputs: an item is
// finished when its record exists.
type Record struct {
	// Task is the task's label.
	Task string `json:"task"`
	// Method is the guidance method.
	Method string `json:"method"`
	// Index is the image's index in the sorted image list.
	Index int `json:"index"`
	// Image is the image's path as the run saw it, ImageBase its file name.
	Image     string `json:"image"`
	ImageBase string `json:"image_name"`
	// Status is StatusOK or StatusFailed; Error says why an item failed.
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
	// Seed is the item's seed (see ItemSeed).
	Seed uint64 `json:"seed"`
	// PSNR and SSIM compare the reconstruction with the clean image.
	PSNR Number `json:"psnr"`
	SSIM Number `json:"ssim"`
	// LPIPS is the reconstruction's LPIPS distance to the clean image, when
	// the reproduction computes it (Reproduction.LPIPS); absent otherwise.
	LPIPS *Number `json:"lpips,omitempty"`
	// Seconds is the item's wall time (loading, sampling and writing).
	Seconds float64 `json:"seconds"`
	// Steps, Scale and SigmaY are the sampling settings.
	Steps  int     `json:"steps"`
	Scale  float64 `json:"scale"`
	SigmaY float64 `json:"sigma_y"`
	// Operator describes the operator.
	Operator string `json:"operator,omitempty"`
	// Residual is ‖y − A(x̂0)‖₂ at the last step (of the draw kept), and
	// Draw the draw kept (Options.Draws).
	Residual Number `json:"final_residual"`
	Draw     int    `json:"draw,omitempty"`
	// Backend names the backend, Shard the shard that ran the item, and
	// Finished the time it finished (RFC 3339, UTC).
	Backend  string `json:"backend"`
	Shard    string `json:"shard"`
	Finished string `json:"finished"`
	// HasInput reports whether the measurement was saved as an image, and
	// Measured what it shows (see Result.MeasurementView).
	HasInput bool   `json:"has_input"`
	Measured string `json:"measurement_view,omitempty"`
	// Timings are the restoration's wall times.
	Timings Timings `json:"timings"`

	// root is the output folder the record was found in.
	root string
}

// Record statuses.
const (
	StatusOK     = "ok"
	StatusFailed = "failed"
)

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
		return errors.New("restore: reproduction without a prior or a backend")
	}
	if len(r.Images) == 0 {
		return errors.New("restore: no images to reproduce")
	}
	if len(r.Tasks) == 0 {
		return errors.New("restore: no tasks to reproduce")
	}
	seen := map[string]bool{}
	for k, ts := range r.Tasks {
		if ts.Task.Label == "" {
			return fmt.Errorf("restore: task %d has no label", k)
		}
		if seen[ts.Task.Label] {
			return fmt.Errorf("restore: task %s is given twice", ts.Task.Label)
		}
		seen[ts.Task.Label] = true
		if len(r.methodsFor(k)) == 0 {
			return fmt.Errorf("restore: no method for task %s (give methods, or a task config with conditioning.method)", ts.Task.Label)
		}
	}
	shape := r.Prior.ImageShape()
	for _, p := range r.Images {
		if err := CheckImage(p, shape[2], r.Fit); err != nil {
			return err
		}
	}
	return CheckWritable(r.Out)
}

// CheckWritable creates dir if needed and checks that a file can be
// created in it.
func CheckWritable(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("output folder %s is not writable: %w", dir, cause(err))
	}
	f, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return fmt.Errorf("output folder %s is not writable: %w", dir, cause(err))
	}
	f.Close()
	return os.Remove(f.Name())
}

// restorers builds one restorer per task setup and method.
func (r *Reproduction) restorers() (map[[2]string]*Restorer, error) {
	out := map[[2]string]*Restorer{}
	for k, ts := range r.Tasks {
		for _, m := range r.methodsFor(k) {
			o := r.Options
			o.Task, o.Method = ts.Task, m
			if ts.Noise != nil {
				o.Noise = ts.Noise
			}
			if ts.Scale != nil && o.Scale == nil {
				o.Scale = ts.Scale
			}
			rs, err := New(r.Backend, r.Prior, o)
			if err != nil {
				return nil, err
			}
			out[[2]string{ts.Task.Label, m}] = rs
		}
	}
	return out, nil
}

// SaveOutputs writes a result's images: the measurement (when it is an
// image) to paths[InputDir], the reconstruction to paths[ReconDir], the
// progress strip of x̂0 to paths[ProgressDir] and the clean image to
// paths[LabelDir]; absent keys are skipped. Each file is written
// atomically.
func SaveOutputs(res *Result, paths map[string]string) error {
	if p, ok := paths[InputDir]; ok && res.Measurement != nil {
		if err := imageio.Save(p, res.Measurement); err != nil {
			return err
		}
	}
	if p, ok := paths[ReconDir]; ok {
		if err := imageio.Save(p, res.Reconstruction); err != nil {
			return err
		}
	}
	if p, ok := paths[ProgressDir]; ok && len(res.Progress) > 0 {
		strip, err := ProgressStrip(res)
		if err != nil {
			return err
		}
		if err := imageio.Save(p, strip); err != nil {
			return err
		}
	}
	if p, ok := paths[LabelDir]; ok {
		if err := imageio.Save(p, res.Truth); err != nil {
			return err
		}
	}
	return nil
}

// ProgressStrip lays the x̂0 snapshots side by side: the "reconstruction
// process" figure.
func ProgressStrip(res *Result) (*imageio.Image, error) {
	frames := make([]*imageio.Image, len(res.Progress))
	for k, s := range res.Progress {
		frames[k] = s.Image
	}
	strip, err := imageio.Strip(frames, 2)
	if err != nil {
		return nil, fmt.Errorf("restore: progress strip: %w", err)
	}
	return strip, nil
}

// removeStaleTemps removes the temporary files a killed run left for the
// item named stem in dir (only this item's, which no other shard writes).
func removeStaleTemps(dir, stem string) {
	matches, _ := filepath.Glob(filepath.Join(dir, "."+stem+".*.tmp*"))
	for _, m := range matches {
		os.Remove(m)
	}
}

// writeAtomic writes data to path through a temporary file and a rename.
func writeAtomic(path string, data []byte) error {
	if err := atomicfile.WriteBytes(path, data); err != nil {
		return fmt.Errorf("restore: writing %s: %w", path, cause(err))
	}
	return nil
}

// ReadRecord reads an item's record.
func ReadRecord(path string) (*Record, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rec Record
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, fmt.Errorf("restore: record %s: %w", path, err)
	}
	if rec.Status != StatusOK && rec.Status != StatusFailed {
		return nil, fmt.Errorf("restore: record %s has status %q", path, rec.Status)
	}
	return &rec, nil
}

// cause returns the innermost error err wraps (e.g. "permission denied"
// out of a *fs.PathError), for messages that name the path themselves.
func cause(err error) error {
	for {
		inner := errors.Unwrap(err)
		if inner == nil {
			return err
		}
		err = inner
	}
}
