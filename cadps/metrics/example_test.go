package metrics_test

import (
	"fmt"
	"log"

	"github.com/cadps/toolkit/cadps/imageio"
	"github.com/cadps/toolkit/cadps/metrics"
)

// PSNR and SSIM of an image against its reference, both in [0, 1] (data
// range 1): here a 16×16 gray ramp and the same ramp 0.1 brighter on its
// left half, so that the MSE is 0.1²/2 and PSNR 10·log10(1/0.005) ≈ 23.01 dB.
// SSIM is at most 1, reached by identical images, whose PSNR is +Inf.
func ExamplePSNR() {
	ref, err := imageio.New(1, 16, 16)
	if err != nil {
		log.Fatal(err)
	}
	for y := range 16 {
		for x := range 16 {
			ref.Set(0, y, x, float32(x+y)/32)
		}
	}
	img := ref.Clone()
	for y := range 16 {
		for x := range 8 {
			img.Set(0, y, x, img.At(0, y, x)+0.1)
		}
	}
	psnr, err := metrics.PSNR(ref, img, 1)
	if err != nil {
		log.Fatal(err)
	}
	ssim, err := metrics.SSIM(ref, img, 1)
	if err != nil {
		log.Fatal(err)
	}
	same, err := metrics.PSNR(ref, ref, 1)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("PSNR %.2f dB, SSIM %.4f; an identical image: PSNR %v dB\n", psnr, ssim, same)
	// Output:
	// PSNR 23.01 dB, SSIM 0.8346; an identical image: PSNR +Inf dB
}
