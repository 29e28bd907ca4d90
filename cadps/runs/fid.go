package runs

import (
	"fmt"
	"math"
	"strings"

	"github.com/cadps/toolkit/cadps/imageio"
	"github.com/cadps/toolkit/cadps/metrics/fid"
)

// FIDRow is the FID of one task and method of a reproduction: its
// reconstructions against its clean images.
type FIDRow struct {
	// Task is the task's label and Method the guidance method.
	Task, Method string
	// Images counts the items that finished, whose images were compared.
	Images int
	// FID is the Fréchet distance (NaN for fewer than two images).
	FID float64
}

// FID computes the FID of every row of the table: the reconstructions of
// the items that finished against their clean images (label/), read from
// the folder each record was found in, with the FID network m (one block)
// run on batches of batch images.
func (t *Table) FID(m *fid.Model, batch int) ([]FIDRow, error) {
	var res []FIDRow
	for _, r := range t.Rows {
		recons, labels, err := t.FinishedImages(r.Task, r.Method)
		if err != nil {
			return nil, err
		}
		row := FIDRow{Task: r.Task, Method: r.Method, Images: len(recons), FID: math.NaN()}
		if len(recons) >= 2 {
			if row.FID, err = frechet(m, batch, recons, labels); err != nil {
				return nil, fmt.Errorf("runs: FID of %s/%s: %w", r.Task, r.Method, err)
			}
		}
		res = append(res, row)
	}
	return res, nil
}

// frechet returns the FID of two image sets.
func frechet(m *fid.Model, batch int, a, b []*imageio.Image) (float64, error) {
	var stats [2]*fid.Stats
	for i, imgs := range [][]*imageio.Image{a, b} {
		f, err := m.ImageFeatures(imgs, batch, nil)
		if err != nil {
			return 0, err
		}
		if stats[i], err = fid.Statistics(f[0]); err != nil {
			return 0, err
		}
	}
	d, err := fid.FrechetDistance(stats[0], stats[1])
	if err != nil {
		return 0, err
	}
	return d.FD, nil
}

// FinishedImages loads the reconstruction and the clean image of every
// item of a task and method that finished without error, in index order.
func (t *Table) FinishedImages(task, method string) (recons, labels []*imageio.Image, err error) {
	for _, rec := range t.Records {
		if rec.Task != task || rec.Method != method || rec.Status != StatusOK {
			continue
		}
		it := Item{Task: rec.Task, Method: rec.Method, Index: rec.Index}
		recon, err := loadOutput(it.Path(rec.root, ReconDir))
		if err != nil {
			return nil, nil, err
		}
		label, err := loadOutput(it.Path(rec.root, LabelDir))
		if err != nil {
			return nil, nil, err
		}
		recons, labels = append(recons, recon), append(labels, label)
	}
	return recons, labels, nil
}

// FIDMarkdown renders FID rows, computed with features of dims dimensions,
// as a Markdown table.
func FIDMarkdown(rows []FIDRow, dims int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| task | method | images | FID (%d-d) |\n|---|---|---:|---:|\n", dims)
	for _, r := range rows {
		v := "–"
		if !math.IsNaN(r.FID) {
			v = fmt.Sprintf("%.2f", r.FID)
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %s |\n", r.Task, r.Method, r.Images, v)
	}
	b.WriteString("\nFID of each task and method's reconstructions against their clean images (pytorch-fid's Inception; below about 2000 images FID is biased upwards, and comparable only between sets of one size).\n")
	return b.String()
}
