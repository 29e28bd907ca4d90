package runs

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/cadps/toolkit/cadps/diffusion"
	"github.com/cadps/toolkit/cadps/restore"
	"github.com/cadps/toolkit/internal/atomicfile"
)

// EvalSettings are an evaluation's settings (settings.json): what its
// results were made with. A rerun with other settings into the same folder
// is refused; one that extends them (see CheckEvalSettings) is not.
type EvalSettings struct {
	Data    string   `json:"data"`
	Offset  int      `json:"offset"`
	Count   int      `json:"count"`
	Batch   int      `json:"batch"`
	Tasks   []string `json:"tasks"`
	Methods []string `json:"methods"`
	// Revisions holds guidance.Revision of the methods whose default
	// output has changed since their first release, so that a folder
	// started before such a change is not resumed by the new code.
	// Evaluation.Run fills it from Methods (and Evaluation.Custom).
	Revisions map[string]int `json:"method_revisions,omitempty"`
	Steps     int            `json:"steps"`
	// Scale is the step size ζ of every run (0: each method's default for
	// the task).
	Scale float64 `json:"scale,omitempty"`
	// Ramp is the step-size schedule (guidance.ParseRamp; empty: constant).
	Ramp string `json:"ramp,omitempty"`
	// Draws is the number of draws per batch when above 1 (each image
	// keeps its best-fitting draw; restore.Options.Draws).
	Draws int    `json:"draws,omitempty"`
	Noise string `json:"noise"`
	Seed  uint64 `json:"seed"`
	// Model is the prior's name as restore.RecordName gives it (fmnist32
	// for the shipped prior; Evaluation.Run writes it so, and reads the
	// settings of folders that name it small alike), "" for a model
	// config, and Weights the weights file given, if any.
	Model   string `json:"model"`
	Weights string `json:"weights,omitempty"`
	// Digest is the SHA-256 of the weights (the embedded file for the
	// shipped prior), so that a new release of a prior, or a weights file
	// overwritten in place, does not resume an old folder.
	Digest string `json:"weights_sha256"`
	Keep   int    `json:"keep_images"`
	// LPIPS names the LPIPS network and weights (-lpips); absent without.
	// Results with other LPIPS weights, or none, are other settings.
	LPIPS string `json:"lpips,omitempty"`
	// Diffusion is the process of a diffusion config file that is not the
	// model's own (restore.Prior.DiffusionFile), without its respacing,
	// which Steps sets; absent, as in folders from before it was recorded,
	// for the model's own process.
	Diffusion *diffusion.Config `json:"diffusion,omitempty"`
}

// EvalRow is one image's outcome for one task and method.
type EvalRow struct {
	// Task and Method are the task spec and the method, Batch the batch
	// and Index the test image's index.
	Task, Method string
	Batch, Index int
	// PSNR and SSIM compare the reconstruction with the clean image,
	// BasePSNR and BaseSSIM the measurement's baseline (NaN without one).
	PSNR, SSIM         float64
	BasePSNR, BaseSSIM float64
	// SecondsPerImage is the batch's sampling time per image.
	SecondsPerImage float64
	// Operator describes the batch's operator and Finished the time the
	// row was recorded (RFC 3339).
	Operator, Finished string
	// Residual is ‖y − A(x0)‖₂ of the reconstruction (NaN in rows written
	// before it was recorded) and Draw the draw kept.
	Residual float64
	Draw     int
	// LPIPS is the LPIPS distance of the reconstruction to the clean image
	// (NaN without LPIPS).
	LPIPS float64
	// Backend names the backend that ran the batch, BackendConfig its
	// configuration (Evaluation.BackendConfig: GOMLX_BACKEND, empty when
	// unset) and Toolkit the build (Evaluation.Toolkit), as a
	// reproduction's item records name them. They are not settings: rows
	// of one folder may come from several backends or builds. All three
	// are empty in rows written before they were recorded, and Toolkit in
	// rows of a build that records none.
	Backend, BackendConfig, Toolkit string
}

var evalHeader = []string{"task", "method", "batch", "index", "psnr", "ssim", "baseline_psnr", "baseline_ssim", "sample_seconds_per_image", "operator", "finished",
	"residual", "draw", "lpips", "backend", "backend_config", "toolkit"}

// evalHeaderV1 is the header of folders made before the residual and the
// draw were recorded; they are read with a NaN residual and draw 0, and
// rewritten with evalHeader.
var evalHeaderV1 = slices.Clip(evalHeader[:11])

// evalHeaderV2 is the header of folders made before LPIPS was recorded;
// they are read with a NaN LPIPS.
var evalHeaderV2 = slices.Clip(evalHeader[:13])

// evalHeaderV3 is the header of folders made before the backend and the
// build were recorded; their rows are read with these empty.
var evalHeaderV3 = slices.Clip(evalHeader[:14])

// sortEvalRows orders rows by task and method (in the settings' order),
// then by image.
func sortEvalRows(rows []EvalRow, st EvalSettings) {
	slices.SortStableFunc(rows, func(a, b EvalRow) int {
		if c := slices.Index(st.Tasks, a.Task) - slices.Index(st.Tasks, b.Task); c != 0 {
			return c
		}
		if c := slices.Index(st.Methods, a.Method) - slices.Index(st.Methods, b.Method); c != 0 {
			return c
		}
		return a.Index - b.Index
	})
}

// CheckEvalSettings compares st with the settings.json at path, if any. It
// accepts a first run and a rerun with the same settings or with settings
// that extend them (see evalExtends), and refuses any other. changed
// reports whether settings.json must be (re)written with st; the caller
// writes it once every other input has been checked, so that a run refused
// later leaves the folder as it was.
func CheckEvalSettings(path string, st EvalSettings) (changed bool, err error) {
	_, changed, err = checkEvalSettings(path, st)
	return changed, err
}

// checkEvalSettings is CheckEvalSettings, also returning the settings read
// from path (nil when there are none): the settings that the folder's
// rows were written with.
func checkEvalSettings(path string, st EvalSettings) (stored *EvalSettings, changed bool, err error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, true, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("reading %s: %w", path, err)
	}
	var old EvalSettings
	if err := json.Unmarshal(data, &old); err != nil {
		return nil, false, fmt.Errorf("%s is corrupt: %w", path, err)
	}
	if old.Batch < 1 {
		return nil, false, fmt.Errorf("%s is corrupt: batch %d, want at least 1", path, old.Batch)
	}
	// Folders made before the shipped prior was recorded by one name
	// call it small.
	old.Model = restore.RecordName(old.Model, old.Weights)
	if old.Digest != st.Digest {
		was := old.Digest
		if was == "" {
			was = "not recorded"
		}
		return nil, false, fmt.Errorf("%s was made with other weights (%s; these are %s); use another output folder", path, was, st.Digest)
	}
	for _, m := range st.Methods {
		if was, now := old.Revisions[m], st.Revisions[m]; slices.Contains(old.Methods, m) && was != now {
			return nil, false, fmt.Errorf("%s was made by revision %d of method %s; this build runs revision %d, whose results differ (see its Revision in package guidance); use another output folder",
				path, was, m, now)
		}
	}
	if reflect.DeepEqual(old, st) {
		return &old, false, nil
	}
	if err := evalExtends(old, st); err != nil {
		return nil, false, fmt.Errorf("%s was made with other settings (%w); use another output folder", path, err)
	}
	return &old, true, nil
}

// evalExtends returns nil when the settings st extend old, so that the
// results made with old stay valid rows of st: more test images from a
// whole number of batches (a partial last batch would be drawn anew), and
// tasks and methods added at the end of their lists (CompareSettings).
// Otherwise it names the first difference.
func evalExtends(old, st EvalSettings) error {
	a, err := Decode(old)
	if err != nil {
		return err
	}
	b, err := Decode(st)
	if err != nil {
		return err
	}
	count := Growth{Key: "count", Check: func(_, _ any) (bool, error) {
		switch {
		case st.Count < old.Count:
			// old.Count is what the folder was set up for, not what its
			// results hold: a run stopped early has done fewer images.
			return false, fmt.Errorf("the image count %d is fewer than the %d the folder was set up for, and may only grow", st.Count, old.Count)
		case st.Count > old.Count && old.Count%old.Batch != 0:
			return false, fmt.Errorf("the image count can grow only from a whole number of batches; %d is not a multiple of the batch size %d", old.Count, old.Batch)
		}
		return st.Count > old.Count, nil
	}}
	tasks := GrowingList("tasks", func(int, any, any) error {
		return fmt.Errorf("the tasks must keep %q and may only add tasks after them", strings.Join(old.Tasks, ";"))
	})
	methods := GrowingList("methods", func(int, any, any) error {
		return fmt.Errorf("the methods must keep %q and may only add methods after them", strings.Join(old.Methods, ","))
	})
	// The revisions of the methods kept are checked before; added methods
	// add theirs.
	revisions := Growth{Key: "method_revisions", Check: func(x, y any) (bool, error) { return !reflect.DeepEqual(x, y), nil }}
	_, err = CompareSettings(a, b, count, tasks, methods, revisions)
	return err
}

// ReadEvalRows reads an evaluation's results.csv (written by this version
// or the three earlier layouts); a missing file has no rows. A file with two
// rows of one task, method and test image is refused as corrupt, naming
// both lines: results.csv holds one row per image, task and method.
func ReadEvalRows(path string) ([]EvalRow, error) {
	rows, _, err := readEvalRows(path)
	return rows, err
}

// readEvalRows is ReadEvalRows, also returning the line of each row.
func readEvalRows(path string) (rows []EvalRow, lines []int, err error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("reading %s: %w", path, err)
	}
	defer f.Close()
	cr := csv.NewReader(f)
	header, err := cr.Read()
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, nil, fmt.Errorf("%s is corrupt: %w", path, err)
	}
	if !slices.Equal(header, evalHeader) && !slices.Equal(header, evalHeaderV1) && !slices.Equal(header, evalHeaderV2) && !slices.Equal(header, evalHeaderV3) {
		return nil, nil, fmt.Errorf("%s: unexpected header", path)
	}
	type image struct {
		task, method string
		index        int
	}
	seen := map[image]int{} // the line of each image's row
	for {
		r, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%s is corrupt: %w", path, err)
		}
		line, _ := cr.FieldPos(0)
		var row EvalRow
		var errs [10]error
		row.Task, row.Method = r[0], r[1]
		row.Batch, errs[0] = strconv.Atoi(r[2])
		row.Index, errs[1] = strconv.Atoi(r[3])
		row.PSNR, errs[2] = strconv.ParseFloat(r[4], 64)
		row.SSIM, errs[3] = strconv.ParseFloat(r[5], 64)
		row.BasePSNR, errs[4] = strconv.ParseFloat(r[6], 64)
		row.BaseSSIM, errs[5] = strconv.ParseFloat(r[7], 64)
		row.SecondsPerImage, errs[6] = strconv.ParseFloat(r[8], 64)
		row.Operator, row.Finished = r[9], r[10]
		row.Residual, row.LPIPS = math.NaN(), math.NaN()
		if len(r) > 13 && r[13] != "" {
			row.LPIPS, errs[9] = strconv.ParseFloat(r[13], 64)
		}
		if len(r) > 11 {
			row.Residual, errs[7] = strconv.ParseFloat(r[11], 64)
			row.Draw, errs[8] = strconv.Atoi(r[12])
		}
		if len(r) > 14 {
			row.Backend, row.BackendConfig, row.Toolkit = r[14], r[15], r[16]
		}
		if err := errors.Join(errs[:]...); err != nil {
			return nil, nil, fmt.Errorf("%s line %d: %w", path, line, err)
		}
		im := image{row.Task, row.Method, row.Index}
		if first, ok := seen[im]; ok {
			return nil, nil, fmt.Errorf("%s line %d is corrupt: a second row of task %q, method %q, image %d (the first is line %d)",
				path, line, row.Task, row.Method, row.Index, first)
		}
		seen[im] = line
		rows, lines = append(rows, row), append(lines, line)
	}
	return rows, lines, nil
}

// checkEvalRows refuses rows of results.csv (path; lines their lines) that
// the evaluation with settings st cannot have written, as corrupt: a
// task or method it does not run, a test image outside its range, a
// batch other than the image's, or a batch with rows for only some of
// its images. A rerun does the batches without rows: it would count such
// rows in the table, or never do the images a batch lacks.
func checkEvalRows(path string, st EvalSettings, rows []EvalRow, lines []int) error {
	type batch struct {
		task, method string
		batch        int
	}
	size := map[batch]int{}
	var order []batch
	for k, r := range rows {
		var problem string
		switch {
		case !slices.Contains(st.Tasks, r.Task):
			problem = fmt.Sprintf("task %q is not one of %s's tasks", r.Task, EvalSettingsFile)
		case !slices.Contains(st.Methods, r.Method):
			problem = fmt.Sprintf("method %q is not one of %s's methods", r.Method, EvalSettingsFile)
		case r.Index < st.Offset || r.Index >= st.Offset+st.Count:
			problem = fmt.Sprintf("image %d is outside the test images %d…%d", r.Index, st.Offset, st.Offset+st.Count-1)
		case r.Batch != (r.Index-st.Offset)/st.Batch:
			problem = fmt.Sprintf("image %d is in batch %d (batches of %d from image %d), not %d", r.Index, (r.Index-st.Offset)/st.Batch, st.Batch, st.Offset, r.Batch)
		}
		if problem != "" {
			return fmt.Errorf("%s line %d is corrupt: %s", path, lines[k], problem)
		}
		b := batch{r.Task, r.Method, r.Batch}
		if size[b] == 0 {
			order = append(order, b)
		}
		size[b]++
	}
	for _, b := range order {
		if want := min((b.batch+1)*st.Batch, st.Count) - b.batch*st.Batch; size[b] != want {
			return fmt.Errorf("%s is corrupt: batch %d of task %q, method %q has rows for %d of its %d images; a batch's rows are written together",
				path, b.batch, b.task, b.method, size[b], want)
		}
	}
	return nil
}

// WriteEvalRows replaces path, atomically, with rows as results.csv in the
// current layout.
func WriteEvalRows(path string, rows []EvalRow) error {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	if err := w.Write(evalHeader); err != nil {
		return err
	}
	g := func(v float64) string { return strconv.FormatFloat(v, 'g', 8, 64) }
	for _, r := range rows {
		lp := ""
		if !math.IsNaN(r.LPIPS) {
			lp = g(r.LPIPS)
		}
		if err := w.Write([]string{r.Task, r.Method, strconv.Itoa(r.Batch), strconv.Itoa(r.Index), g(r.PSNR), g(r.SSIM),
			g(r.BasePSNR), g(r.BaseSSIM), g(r.SecondsPerImage), r.Operator, r.Finished, g(r.Residual), strconv.Itoa(r.Draw), lp,
			r.Backend, r.BackendConfig, r.Toolkit}); err != nil {
			return err
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return atomicfile.WriteBytes(path, buf.Bytes())
}
