package restore

import (
	"path/filepath"
	"testing"

	"github.com/cadps/toolkit/cadps/imageio"
	"github.com/cadps/toolkit/cadps/metrics"
	"github.com/cadps/toolkit/ops"
)

// TestSavedImagesGiveMetrics checks what docs/metrics.md says of the
// scores of a restoration: they are those of the 8-bit images it writes,
// so that PSNR and SSIM computed from label.png and recon.png, read back
// as `cadps metrics` reads them (RGB in [0,1]), are the result's to the
// bit, for a clean image that is not on 8-bit levels (as after -resize).
func TestSavedImagesGiveMetrics(t *testing.T) {
	b, prior := fixedPrior(t)
	clean, err := ops.ParseNoise("clean")
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range []string{"inpaint_half", "super_resolution:factor=2"} {
		t.Run(task, func(t *testing.T) {
			r, err := New(b, prior, Options{Task: SpecTask(task), Method: "dps", Steps: 2, Noise: clean})
			if err != nil {
				t.Fatal(err)
			}
			res, err := r.Restore(testImage(3, 16, 0.3), 5, nil)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			files := OutputFiles{Reconstruction: filepath.Join(dir, "recon.png"), Truth: filepath.Join(dir, "label.png")}
			if err := res.Save(files); err != nil {
				t.Fatal(err)
			}
			label, err := imageio.Load(files.Truth)
			if err != nil {
				t.Fatal(err)
			}
			recon, err := imageio.Load(files.Reconstruction)
			if err != nil {
				t.Fatal(err)
			}
			psnr, err := metrics.PSNR(label, recon, 1)
			if err != nil {
				t.Fatal(err)
			}
			ssim, err := metrics.SSIM(label, recon, 1)
			if err != nil {
				t.Fatal(err)
			}
			if psnr != res.Metrics.PSNR || ssim != res.Metrics.SSIM {
				t.Errorf("from the files PSNR %v, SSIM %v; the result's %v, %v", psnr, ssim, res.Metrics.PSNR, res.Metrics.SSIM)
			}
		})
	}
}
