package runs

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/cadps/imageio"
	"github.com/cadps/toolkit/cadps/runs/claim"
	"github.com/cadps/toolkit/internal/atomicfile"
	"github.com/cadps/toolkit/internal/num"
)

// Table is the summary of a reproduction: one row per task and method.
type Table struct {
	// Rows are sorted by task, then method.
	Rows []TableRow
	// Records are every item's record, sorted by task, method and index.
	Records []*Record
	// Duplicates counts items found in more than one folder (one record
	// is kept; see ReadTable).
	Duplicates int
	// Expected is the number of items the reproduction's settings call
	// for (0 when the folders hold no settings), and Missing names those
	// without a record (task/method/NNNNN, the method in canonical form).
	Expected int
	Missing  []string
	// Held are the Missing items that a live worker holds a claim on
	// (see [claim.Claimer]): they are being computed now.
	Held []string
	// LPIPS names the LPIPS network and weight files the records'
	// distances come from, as the folders' reproduce.json records them
	// ("" when it names none: a reproduction without LPIPS, or folders
	// without settings).
	LPIPS string
	// settings are the folders' reproduce.json, decoded (nil for folders
	// without settings).
	settings map[string]any
}

// TableRow is one task and method's statistics over its finished items.
type TableRow struct {
	// Task is the task's label and Method the guidance method.
	Task, Method string
	// N counts the items that finished without error, Failed the others.
	N, Failed int
	// PSNR and SSIM are the means and sample standard deviations over the
	// N items (the deviations are 0 for fewer than two).
	PSNR, PSNRStd float64
	SSIM, SSIMStd float64
	// LPIPSN counts the items of the N with an LPIPS distance, and LPIPS
	// and LPIPSStd are their mean and sample standard deviation.
	LPIPSN          int
	LPIPS, LPIPSStd float64
}

// ReadTable reads the records of the reproductions in dirs and tabulates
// them. The folders must hold the same settings (reproduce.json; image
// lists may differ by images added at the end): folders with other
// settings are refused, naming the first setting that differs. The
// result does not depend on the order of dirs: an item recorded in
// several folders counts once, its finished record preferred to a failed
// one, then the earliest. Items the settings call for but no folder holds
// are listed in Missing, and those a live worker holds a claim on in Held,
// under the default lease (claim.DefaultLease). Folders without any record
// are refused.
func ReadTable(dirs []string) (*Table, error) {
	t, err := readTable(dirs, &claim.Claimer{})
	if err == nil && len(t.Records) == 0 {
		return nil, fmt.Errorf("runs: merge: no item records under %s", strings.Join(dirs, ", "))
	}
	return t, err
}

// readTable is ReadTable, which also tabulates folders without records
// (an empty table whose Missing lists every item the settings call for),
// and tells live claims from stale ones by c's lease (see heldItems).
func readTable(dirs []string, c *claim.Claimer) (*Table, error) {
	doc, err := commonSettings(dirs)
	if err != nil {
		return nil, err
	}
	var all []*Record
	for _, dir := range dirs {
		paths, err := filepath.Glob(filepath.Join(atomicfile.GlobEscape(dir), "*", "*", RecordDir, "*.json"))
		if err != nil {
			return nil, fmt.Errorf("runs: merge: %w", err)
		}
		for _, p := range paths {
			rec, err := ReadRecord(p)
			if err != nil {
				return nil, err
			}
			if err := rec.checkPlace(p); err != nil {
				return nil, err
			}
			rec.root = dir
			all = append(all, rec)
		}
	}
	if err := checkSameImages(all); err != nil {
		return nil, err
	}
	t := &Table{settings: doc}
	sort.SliceStable(all, func(a, b int) bool { return recordBefore(all[a], all[b]) })
	for k, rec := range all {
		if k > 0 && sameItem(all[k-1], rec) {
			t.Duplicates++
			continue
		}
		t.Records = append(t.Records, rec)
	}
	t.Rows = summarise(t.Records)
	if doc != nil {
		t.Expected, t.Missing = missingItems(doc, t.Records)
		t.LPIPS, _ = doc["lpips"].(string)
	}
	if len(t.Missing) > 0 {
		held := heldItems(dirs, c)
		for _, m := range t.Missing {
			if held[m] {
				t.Held = append(t.Held, m)
			}
		}
	}
	return t, nil
}

// checkSameImages refuses records of one image index made from different
// images (their Record.ImageSHA256 differ), in any task, method or folder:
// the folders would tabulate other images under one index. Records
// without a digest are left out of the comparison.
func checkSameImages(recs []*Record) error {
	first := map[int]*Record{} // by index, the first record with a digest
	for _, rec := range recs {
		if rec.ImageSHA256 == "" {
			continue
		}
		was, ok := first[rec.Index]
		if !ok {
			first[rec.Index] = rec
			continue
		}
		if was.ImageSHA256 != rec.ImageSHA256 {
			return fmt.Errorf("runs: merge: %s and %s are records of image %d made from different files (%s: %s; %s: %s): merge only the folders of one reproduction of one set of images",
				was.path(), rec.path(), rec.Index, was.Image, was.ImageSHA256, rec.Image, rec.ImageSHA256)
		}
	}
	return nil
}

// heldItems returns the items (task/method/NNNNN, the method in canonical
// form) that a live worker holds a claim on in any of dirs, by the lease
// of c (claim.Claimer.Live): the lease the workers claim with, so that a
// worker that died is not taken for a live one for longer than that.
func heldItems(dirs []string, c *claim.Claimer) map[string]bool {
	held := map[string]bool{}
	for _, dir := range dirs {
		claims, _ := filepath.Glob(filepath.Join(atomicfile.GlobEscape(dir), "*", "*", ClaimDir, "[0-9]*"))
		for _, p := range claims {
			if live, err := c.Live(p); err != nil || !live {
				continue
			}
			rel, err := filepath.Rel(dir, p)
			if err != nil {
				continue
			}
			parts := strings.Split(filepath.ToSlash(rel), "/") // task, method, ClaimDir, NNNNN.G
			name, _, _ := strings.Cut(parts[3], ".")
			method, err := guidance.CanonicalSpec(parts[1])
			if err != nil {
				method = parts[1]
			}
			held[parts[0]+"/"+method+"/"+name] = true
		}
	}
	return held
}

// sameItem reports whether two records are of the same item.
func sameItem(x, y *Record) bool {
	return x.Task == y.Task && x.Method == y.Method && x.Index == y.Index
}

// recordBefore orders records by task, method and index, and the records
// of one item by preference: finished before failed, then the earliest,
// then by folder name.
func recordBefore(x, y *Record) bool {
	switch {
	case x.Task != y.Task:
		return x.Task < y.Task
	case x.Method != y.Method:
		return x.Method < y.Method
	case x.Index != y.Index:
		return x.Index < y.Index
	case (x.Status == StatusOK) != (y.Status == StatusOK):
		return x.Status == StatusOK
	case x.Finished != y.Finished:
		return x.Finished < y.Finished
	}
	return x.root < y.root
}

// Write writes, in out, the Markdown table, one comparison grid per task
// (grid_<task>.png: rows images, the first gridRows of them; columns the
// measurement, each method's reconstruction and the clean image) and, last,
// the metrics CSV, each atomically: a CSV that lists a record tells that
// the other files hold it too. Nothing is appended in place: the files are
// rebuilt from the records every time. An out that holds another
// reproduction's settings is refused before anything is written: its
// tables would be replaced by this one's. The temporary files that
// writers killed while they wrote files in out (these, the settings) left
// there are removed first: those of dead processes of this host at once
// (atomicfile.RemoveDeadTempsIn), the others once they are an hour old.
// Write takes no lock: into a folder that workers may share, write
// through Merging.
func (t *Table) Write(out string, gridRows int) error {
	if err := atomicfile.CheckWritable(out); err != nil {
		return err
	}
	if err := t.checkOutput(out); err != nil {
		return err
	}
	removeOldTemps(out, time.Hour)
	atomicfile.RemoveDeadTempsIn(out)
	if err := atomicfile.WriteBytes(filepath.Join(out, TableFile), []byte(t.Markdown())); err != nil {
		return err
	}
	if gridRows > 0 {
		if err := writeGrids(t.Records, out, gridRows); err != nil {
			return err
		}
	}
	return atomicfile.WriteBytes(filepath.Join(out, CSVFile), recordsCSV(t.Records))
}

// Files returns the names of the files Write(out, gridRows) writes in
// out: CSVFile, TableFile and, when gridRows > 0, the grid of each task
// (GridFile), in task order.
func (t *Table) Files(gridRows int) []string {
	files := []string{CSVFile, TableFile}
	if gridRows <= 0 {
		return files
	}
	var tasks []string
	for _, r := range t.Records {
		if !slices.Contains(tasks, r.Task) {
			tasks = append(tasks, r.Task)
		}
	}
	slices.Sort(tasks)
	for _, task := range tasks {
		files = append(files, GridFile(task))
	}
	return files
}

// checkOutput refuses an output folder whose reproduce.json disagrees
// with the table's settings.
func (t *Table) checkOutput(out string) error {
	doc, ok, _, err := readSettings(out)
	if err != nil || !ok || t.settings == nil {
		return err
	}
	if _, err := compareSettings(out, doc, t.settings); err != nil {
		return fmt.Errorf("runs: merge: %w, whose %s and %s would be replaced by another reproduction's; use another output folder", err, CSVFile, TableFile)
	}
	return nil
}

// FailedItems names the items recorded as failed, as task/method/NNNNN.
func (t *Table) FailedItems() []string {
	var out []string
	for _, r := range t.Records {
		if r.Status != StatusOK {
			out = append(out, Item{Task: r.Task, Method: r.Method, Index: r.Index}.String())
		}
	}
	return out
}

// removeOldTemps removes the temporary files (".name.tmp…") that a killed
// merge left in dir, if older than age: a younger one may be another
// shard's merge at work.
func removeOldTemps(dir string, age time.Duration) {
	matches, _ := atomicfile.Temps(dir, "*")
	for _, m := range matches {
		if st, err := os.Stat(m); err == nil && st.Mode().IsRegular() && time.Since(st.ModTime()) > age {
			os.Remove(m)
		}
	}
}

// summarise groups sorted records by task and method.
func summarise(recs []*Record) []TableRow {
	var rows []TableRow
	var psnr, ssim, lp []float64
	flush := func() {
		if len(rows) == 0 {
			return
		}
		r := &rows[len(rows)-1]
		r.N, r.LPIPSN = len(psnr), len(lp)
		r.PSNR, r.PSNRStd = num.MeanStd(psnr)
		r.SSIM, r.SSIMStd = num.MeanStd(ssim)
		r.LPIPS, r.LPIPSStd = num.MeanStd(lp)
		psnr, ssim, lp = nil, nil, nil
	}
	for _, rec := range recs {
		if len(rows) == 0 || rows[len(rows)-1].Task != rec.Task || rows[len(rows)-1].Method != rec.Method {
			flush()
			rows = append(rows, TableRow{Task: rec.Task, Method: rec.Method})
		}
		if rec.Status == StatusOK {
			psnr = append(psnr, float64(rec.PSNR))
			ssim = append(ssim, float64(rec.SSIM))
			if rec.LPIPS != nil {
				lp = append(lp, float64(*rec.LPIPS))
			}
		} else {
			rows[len(rows)-1].Failed++
		}
	}
	flush()
	return rows
}

// Markdown renders the table. It has an LPIPS column when any item has
// an LPIPS distance, and then names the LPIPS network and weights
// (Table.LPIPS) below it.
func (t *Table) Markdown() string {
	withLPIPS := slices.ContainsFunc(t.Rows, func(r TableRow) bool { return r.LPIPSN > 0 })
	var b strings.Builder
	if withLPIPS {
		b.WriteString("| task | method | images | PSNR (dB) | SSIM | LPIPS | failed |\n")
		b.WriteString("|---|---|---:|---:|---:|---:|---:|\n")
	} else {
		b.WriteString("| task | method | images | PSNR (dB) | SSIM | failed |\n")
		b.WriteString("|---|---|---:|---:|---:|---:|\n")
	}
	for _, r := range t.Rows {
		psnr, ssim, lp := "–", "–", "–"
		if r.N > 0 {
			psnr = fmt.Sprintf("%.2f ± %.2f", r.PSNR, r.PSNRStd)
			ssim = fmt.Sprintf("%.4f ± %.4f", r.SSIM, r.SSIMStd)
		}
		if r.LPIPSN > 0 {
			lp = fmt.Sprintf("%.4f ± %.4f", r.LPIPS, r.LPIPSStd)
			if r.LPIPSN < r.N {
				lp += fmt.Sprintf(" (%d of %d images)", r.LPIPSN, r.N)
			}
		}
		if withLPIPS {
			fmt.Fprintf(&b, "| %s | %s | %d | %s | %s | %s | %d |\n", r.Task, r.Method, r.N, psnr, ssim, lp, r.Failed)
		} else {
			fmt.Fprintf(&b, "| %s | %s | %d | %s | %s | %d |\n", r.Task, r.Method, r.N, psnr, ssim, r.Failed)
		}
	}
	b.WriteString("\nMean ± sample standard deviation over the images that finished; failed items (sampling diverged) are counted, not averaged. " +
		"Metrics compare the 8-bit reconstruction with the 8-bit clean image (data range 1; SSIM with a Gaussian window, σ = 1.5")
	if withLPIPS {
		fmt.Fprintf(&b, "; LPIPS, lower is closer, with %s", MetricSources{LPIPS: t.LPIPS}.lpipsNote())
	}
	b.WriteString(").\n")
	return b.String()
}

// recordsCSV renders every record as one CSV row.
func recordsCSV(recs []*Record) []byte {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.Write([]string{"task", "method", "index", "image", "status", "psnr", "ssim", "seconds", "steps", "scale", "sigma_y", "seed", "final_residual", "error", "lpips"})
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', 10, 64) }
	for _, r := range recs {
		psnr, ssim, lp := "", "", ""
		if r.Status == StatusOK {
			psnr, ssim = f(float64(r.PSNR)), f(float64(r.SSIM))
		}
		if r.LPIPS != nil {
			lp = f(float64(*r.LPIPS))
		}
		w.Write([]string{r.Task, r.Method, strconv.Itoa(r.Index), r.ImageBase, r.Status, psnr, ssim,
			strconv.FormatFloat(r.Seconds, 'f', 3, 64), strconv.Itoa(r.Steps), f(r.Scale), f(r.SigmaY),
			strconv.FormatUint(r.Seed, 10), f(float64(r.Residual)), r.Error, lp})
	}
	w.Flush()
	return buf.Bytes()
}

// GridFile returns the comparison grid's file name for a task.
func GridFile(task string) string { return "grid_" + task + ".png" }

// writeGrids writes one comparison grid per task.
func writeGrids(recs []*Record, out string, maxRows int) error {
	byTask := map[string]map[int]map[string]*Record{}
	methods := map[string][]string{}
	for _, r := range recs {
		if byTask[r.Task] == nil {
			byTask[r.Task] = map[int]map[string]*Record{}
		}
		if byTask[r.Task][r.Index] == nil {
			byTask[r.Task][r.Index] = map[string]*Record{}
		}
		byTask[r.Task][r.Index][r.Method] = r
		if !slices.Contains(methods[r.Task], r.Method) {
			methods[r.Task] = append(methods[r.Task], r.Method)
		}
	}
	tasks := make([]string, 0, len(byTask))
	for task := range byTask {
		tasks = append(tasks, task)
	}
	sort.Strings(tasks)
	for _, task := range tasks {
		ms := methods[task]
		sort.Strings(ms)
		indices := make([]int, 0, len(byTask[task]))
		for i := range byTask[task] {
			indices = append(indices, i)
		}
		sort.Ints(indices)
		if len(indices) > maxRows {
			indices = indices[:maxRows]
		}
		var rows [][]*imageio.Image
		for _, i := range indices {
			row := make([]*imageio.Image, len(ms)+2)
			var ref *Record
			for k, m := range ms {
				r := byTask[task][i][m]
				if r == nil {
					continue
				}
				it := Item{Task: r.Task, Method: r.Method, Index: r.Index}
				if ref == nil || (!ref.HasInput && r.HasInput) {
					ref = r
				}
				if r.Status == StatusOK {
					im, err := loadOutput(it.Path(r.root, ReconDir))
					if err != nil {
						return err
					}
					row[k+1] = im
				}
			}
			it := Item{Task: ref.Task, Method: ref.Method, Index: ref.Index}
			if ref.HasInput {
				im, err := loadOutput(it.Path(ref.root, InputDir))
				if err != nil {
					return err
				}
				row[0] = im
			}
			im, err := loadOutput(it.Path(ref.root, LabelDir))
			if err != nil {
				return err
			}
			row[len(row)-1] = im
			rows = append(rows, row)
		}
		grid, err := imageio.Grid(rows, 2)
		if err != nil {
			return fmt.Errorf("runs: grid for %s: %w", task, err)
		}
		if err := imageio.Save(filepath.Join(out, GridFile(task)), grid); err != nil {
			return err
		}
	}
	return nil
}

// loadOutput reads an output image as saved (RGB or gray as stored).
func loadOutput(path string) (*imageio.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("runs: %s is missing although its record exists", path)
		}
		return nil, fmt.Errorf("runs: %w", err)
	}
	defer f.Close()
	im, err := imageio.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("runs: %s: %w", path, err)
	}
	return im, nil
}
