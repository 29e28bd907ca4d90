package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cadps/toolkit/cadps/imageio"
	"github.com/cadps/toolkit/cadps/metrics/fid"
	"github.com/cadps/toolkit/cadps/runs"
)

// reproduceFIDRow is the FID of one task and method of a reproduction:
// its reconstructions against its clean images.
type reproduceFIDRow struct {
	task, method string
	images       int
	fid          float64
}

// reproduceFID computes the FID of every task and method of the table's
// rows over the folder out: the reconstructions of the items that finished
// against their clean images (label/), with the FID network m (one block)
// run on batches of batch images. A row with fewer than two finished
// items has no FID (NaN).
func reproduceFID(m *fid.Model, out string, rows []runs.TableRow, batch int) ([]reproduceFIDRow, error) {
	var res []reproduceFIDRow
	for _, r := range rows {
		recons, labels, err := finishedImages(out, r.Task, r.Method)
		if err != nil {
			return nil, err
		}
		row := reproduceFIDRow{task: r.Task, method: r.Method, images: len(recons), fid: math.NaN()}
		if len(recons) >= 2 {
			var stats [2]*fid.Stats
			for i, imgs := range [][]*imageio.Image{recons, labels} {
				f, err := m.ImageFeatures(imgs, batch, nil)
				if err != nil {
					return nil, fmt.Errorf("%s/%s: %w", r.Task, r.Method, err)
				}
				if stats[i], err = fid.Statistics(f[0]); err != nil {
					return nil, fmt.Errorf("%s/%s: %w", r.Task, r.Method, err)
				}
			}
			d, err := fid.FrechetDistance(stats[0], stats[1])
			if err != nil {
				return nil, fmt.Errorf("%s/%s: %w", r.Task, r.Method, err)
			}
			row.fid = d.FD
		}
		res = append(res, row)
	}
	return res, nil
}

// finishedImages loads the reconstruction and the clean image of every
// item of a task and method whose record says it finished without error,
// in index order.
func finishedImages(out, task, method string) (recons, labels []*imageio.Image, err error) {
	dir := filepath.Join(out, task, method)
	files, err := filepath.Glob(filepath.Join(dir, runs.RecordDir, "*.json"))
	if err != nil {
		return nil, nil, err
	}
	slices.Sort(files)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, nil, err
		}
		var rec runs.Record
		if err := json.Unmarshal(data, &rec); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", f, err)
		}
		if rec.Status != runs.StatusOK {
			continue
		}
		name := strings.TrimSuffix(filepath.Base(f), ".json") + ".png"
		recon, err := imageio.Load(filepath.Join(dir, runs.ReconDir, name))
		if err != nil {
			return nil, nil, err
		}
		label, err := imageio.Load(filepath.Join(dir, runs.LabelDir, name))
		if err != nil {
			return nil, nil, err
		}
		recons, labels = append(recons, recon), append(labels, label)
	}
	return recons, labels, nil
}

// fidMarkdown renders the FID rows as a Markdown table.
func fidMarkdown(rows []reproduceFIDRow, dims int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| task | method | images | FID (%d-d) |\n|---|---|---:|---:|\n", dims)
	for _, r := range rows {
		v := "–"
		if !math.IsNaN(r.fid) {
			v = fmt.Sprintf("%.2f", r.fid)
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %s |\n", r.task, r.method, r.images, v)
	}
	b.WriteString("\nFID of each task and method's reconstructions against their clean images (pytorch-fid's Inception; below about 2000 images FID is biased upwards, and comparable only between sets of one size).\n")
	return b.String()
}
