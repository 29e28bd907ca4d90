package runs

import (
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/imageio"
	"github.com/cadps/toolkit/cadps/metrics/fid"
	"github.com/cadps/toolkit/internal/randweights"
)

// TestFIDStreams computes the FID of rows with more finished items than a
// batch: the images of earlier batches must be garbage (their finalizers
// run) before the last image is read, and the value must be the one
// computed from all the images at once. A failed item, which has no
// images, is left out.
func TestFIDStreams(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	sd, err := randweights.StateDict("stem", 3, 1.3, fid.Params(0))
	if err != nil {
		t.Fatal(err)
	}
	m, err := fid.New(b, sd, 0)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	const items, batch = 7, 2
	tab := &Table{}
	for i := range items + 1 {
		rec := &Record{Task: "sr", Method: "dps", Index: i, Status: StatusOK, root: dir}
		if i == 3 {
			rec.Status = StatusFailed
		} else {
			it := Item{Task: rec.Task, Method: rec.Method, Index: i}
			for k, folder := range []string{ReconDir, LabelDir} {
				p := it.Path(dir, folder)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := imageio.Save(p, testImage(3, 8+i%3, float64(i)+0.5*float64(k))); err != nil {
					t.Fatal(err)
				}
			}
		}
		tab.Records = append(tab.Records, rec)
	}
	tab.Rows = summarise(tab.Records)

	var loaded, freed atomic.Int64
	freedBeforeLast := int64(-1)
	load := func(path string) (*imageio.Image, error) {
		im, err := loadOutput(path)
		if err != nil {
			return nil, err
		}
		runtime.SetFinalizer(im, func(*imageio.Image) { freed.Add(1) })
		if loaded.Add(1) == 2*items {
			for range 200 {
				runtime.GC()
				if freed.Load() > 0 {
					break
				}
				time.Sleep(time.Millisecond)
			}
			freedBeforeLast = freed.Load()
		}
		return im, nil
	}
	rows, err := tab.fid(m, batch, load)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].Images != items || math.IsNaN(rows[0].FID) {
		t.Fatalf("rows %+v, want one of %d images with an FID", rows, items)
	}
	if loaded.Load() != 2*items {
		t.Errorf("%d images read, want %d", loaded.Load(), 2*items)
	}
	if freedBeforeLast <= 0 {
		t.Errorf("%d of the %d images read before the last were released by then: FID holds every image at once", max(freedBeforeLast, 0), 2*items-1)
	}

	recons, labels, err := tab.FinishedImages("sr", "dps")
	if err != nil {
		t.Fatal(err)
	}
	var stats [2]*fid.Stats
	for i, imgs := range [][]*imageio.Image{recons, labels} {
		f, err := m.ImageFeatures(imgs, len(imgs), nil)
		if err != nil {
			t.Fatal(err)
		}
		if stats[i], err = fid.Statistics(f[0]); err != nil {
			t.Fatal(err)
		}
	}
	want, err := fid.FrechetDistance(stats[0], stats[1])
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(rows[0].FID-want.FD) > 1e-9*want.FD {
		t.Errorf("FID %.12g read in batches of %d items, %.12g from all images at once", rows[0].FID, batch, want.FD)
	}
}

// TestFIDMarkdown renders FID rows: the header gives the feature
// dimension and the note below the table the Inception weights' SHA-256,
// or says that it is not recorded (a network built without a file).
func TestFIDMarkdown(t *testing.T) {
	rows := []FIDRow{{Task: "sr", Method: "dps", Images: 3, FID: 12.345}, {Task: "sr", Method: "cadps", Images: 1, FID: math.NaN()}}
	for _, tc := range []struct {
		name string
		src  MetricSources
		want []string
	}{
		{"weights", MetricSources{FIDDims: 64, FIDWeights: "sha256:00ff"}, []string{
			"| task | method | images | FID (64-d) |", "| sr | dps | 3 | 12.35 |", "| sr | cadps | 1 | – |",
			"(64-d features of pytorch-fid's Inception, weights sha256:00ff; below about 2000 images",
		}},
		{"no digest", MetricSources{FIDDims: 2048}, []string{
			"| task | method | images | FID (2048-d) |", "(2048-d features of pytorch-fid's Inception, weights not recorded; ",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			md := FIDMarkdown(rows, tc.src)
			for _, w := range tc.want {
				if !strings.Contains(md, w) {
					t.Errorf("table lacks %q:\n%s", w, md)
				}
			}
		})
	}
}
