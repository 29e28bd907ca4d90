package restore_test

import (
	"fmt"
	"log"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/restore"
)

// A notebook restores one image and keeps everything the run produced.
func Example() {
	b, err := backend.New()
	if err != nil {
		log.Fatal(err)
	}
	prior, err := restore.LoadPrior(restore.ModelSpec{Name: "ffhq256", Weights: "models/ffhq_10m.pt"})
	if err != nil {
		log.Fatal(err)
	}
	img, err := restore.LoadImage("data/samples/00000.png", prior.ImageShape(), restore.FitResize)
	if err != nil {
		log.Fatal(err)
	}
	r, err := restore.New(b, prior, restore.Options{
		Task:   restore.SpecTask("super_resolution:factor=4"),
		Method: "cadps",
		Steps:  1000,
	})
	if err != nil {
		log.Fatal(err)
	}
	res, err := r.Restore(img, 0, func(p restore.Progress) {
		if p.Step%100 == 0 {
			fmt.Printf("step %d/%d: residual %.3f\n", p.Step, p.Steps, p.Residual)
		}
	})
	if err != nil {
		log.Fatal(err) // errors.Is(err, cadps.ErrDiverged) when sampling produced NaN
	}
	fmt.Printf("PSNR %.2f dB, SSIM %.4f, %d x̂0 snapshots\n", res.Metrics.PSNR, res.Metrics.SSIM, len(res.Progress))
	if err := res.Save(restore.OutputFiles{
		Reconstruction: "out/recon.png", Measurement: "out/measurement.png", Progress: "out/progress.png",
	}); err != nil {
		log.Fatal(err)
	}
}
