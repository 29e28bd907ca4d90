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
// run on batches of batch images. The images are read batch items at a
// time and only their features are kept (2·D float32 per item, 16 KiB for
// 2048-d features): memory holds one batch of images whatever the number
// of items.
func (t *Table) FID(m *fid.Model, batch int) ([]FIDRow, error) {
	return t.fid(m, batch, loadOutput)
}

// fid is FID reading the images with load.
func (t *Table) fid(m *fid.Model, batch int, load func(path string) (*imageio.Image, error)) ([]FIDRow, error) {
	batch = max(batch, 1)
	var res []FIDRow
	for _, r := range t.Rows {
		recs := t.finished(r.Task, r.Method)
		row := FIDRow{Task: r.Task, Method: r.Method, Images: len(recs), FID: math.NaN()}
		if len(recs) >= 2 {
			var err error
			if row.FID, err = frechet(m, batch, recs, load); err != nil {
				return nil, fmt.Errorf("runs: FID of %s/%s: %w", r.Task, r.Method, err)
			}
		}
		res = append(res, row)
	}
	return res, nil
}

// frechet returns the FID between the reconstructions and the clean images
// of recs, loading batch items at a time.
func frechet(m *fid.Model, batch int, recs []*Record, load func(string) (*imageio.Image, error)) (float64, error) {
	var feats [2][][]float32 // reconstructions, clean images
	for lo := 0; lo < len(recs); lo += batch {
		var imgs [2][]*imageio.Image
		for _, rec := range recs[lo:min(lo+batch, len(recs))] {
			recon, label, err := rec.images(load)
			if err != nil {
				return 0, err
			}
			imgs[0], imgs[1] = append(imgs[0], recon), append(imgs[1], label)
		}
		for i := range imgs {
			f, err := m.ImageFeatures(imgs[i], batch, nil)
			if err != nil {
				return 0, err
			}
			feats[i] = append(feats[i], f[0]...)
		}
	}
	var stats [2]*fid.Stats
	for i := range feats {
		var err error
		if stats[i], err = fid.Statistics(feats[i]); err != nil {
			return 0, err
		}
	}
	d, err := fid.FrechetDistance(stats[0], stats[1])
	if err != nil {
		return 0, err
	}
	return d.FD, nil
}

// finished returns the records of a task and method that finished without
// error, in index order.
func (t *Table) finished(task, method string) []*Record {
	var recs []*Record
	for _, rec := range t.Records {
		if rec.Task == task && rec.Method == method && rec.Status == StatusOK {
			recs = append(recs, rec)
		}
	}
	return recs
}

// images loads a record's reconstruction and clean image with load.
func (rec *Record) images(load func(string) (*imageio.Image, error)) (recon, label *imageio.Image, err error) {
	it := Item{Task: rec.Task, Method: rec.Method, Index: rec.Index}
	if recon, err = load(it.Path(rec.root, ReconDir)); err != nil {
		return nil, nil, err
	}
	if label, err = load(it.Path(rec.root, LabelDir)); err != nil {
		return nil, nil, err
	}
	return recon, label, nil
}

// FinishedImages loads the reconstruction and the clean image of every
// item of a task and method that finished without error, in index order,
// all at once (Table.FID reads them a batch at a time instead).
func (t *Table) FinishedImages(task, method string) (recons, labels []*imageio.Image, err error) {
	for _, rec := range t.finished(task, method) {
		recon, label, err := rec.images(loadOutput)
		if err != nil {
			return nil, nil, err
		}
		recons, labels = append(recons, recon), append(labels, label)
	}
	return recons, labels, nil
}

// MetricSources names what a table's LPIPS and FID were computed with, so
// that a table says which networks and weights its numbers come from.
type MetricSources struct {
	// LPIPS names the LPIPS network and weight files, as reproduce.json
	// records them (Table.LPIPS; "" without LPIPS).
	LPIPS string
	// FIDDims is the FID feature dimension (64, 192, 768 or 2048) and
	// FIDWeights the SHA-256 of the Inception weights, as "sha256:" and
	// hex (fid.Model.WeightsDigest; "" without FID).
	FIDDims    int
	FIDWeights string
}

// fidNote says which features and weights an FID comes from.
func (s MetricSources) fidNote() string {
	w := s.FIDWeights
	if w == "" {
		w = "not recorded"
	}
	return fmt.Sprintf("%d-d features of pytorch-fid's Inception, weights %s", s.FIDDims, w)
}

// lpipsNote says which network and weights an LPIPS distance comes from.
func (s MetricSources) lpipsNote() string {
	if s.LPIPS == "" {
		return "a network and weights not recorded"
	}
	return s.LPIPS
}

// FIDMarkdown renders FID rows as a Markdown table, with a note naming the
// feature dimension and Inception weights of src.
func FIDMarkdown(rows []FIDRow, src MetricSources) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| task | method | images | FID (%d-d) |\n|---|---|---:|---:|\n", src.FIDDims)
	for _, r := range rows {
		v := "–"
		if !math.IsNaN(r.FID) {
			v = fmt.Sprintf("%.2f", r.FID)
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %s |\n", r.Task, r.Method, r.Images, v)
	}
	fmt.Fprintf(&b, "\nFID of each task and method's reconstructions against their clean images (%s; below about 2000 images FID is biased upwards, and comparable only between sets of one size).\n", src.fidNote())
	return b.String()
}
