package lpips_test

import (
	"fmt"
	"log"
	"math"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/imageio"
	"github.com/cadps/toolkit/cadps/metrics"
	"github.com/cadps/toolkit/cadps/metrics/lpips"
	"github.com/cadps/toolkit/internal/randweights"
)

// PSNR, SSIM and LPIPS of one image against another, both in [0, 1]: two
// of the shipped prior's 32×32 test images. Load reads torchvision's
// AlexNet file (lpips.Alex.BackboneFile(), which the user downloads):
//
//	m, err := lpips.Load(b, lpips.Alex, "alexnet-owt-7be5be79.pth", "")
//
// Here New builds the model from deterministic stand-in backbone weights
// of AlexNet's shapes instead, so the example runs without a download; its
// distances are not AlexNet's, but an image's distance to itself is 0
// with any weights.
func ExampleModel_ImageDistances() {
	ref, err := imageio.Load("../../prior/small/testimages/0-tshirt.png")
	if err != nil {
		log.Fatal(err)
	}
	img, err := imageio.Load("../../prior/small/testimages/6-shirt.png")
	if err != nil {
		log.Fatal(err)
	}
	psnr, err := metrics.PSNR(ref, img, 1)
	if err != nil {
		log.Fatal(err)
	}
	ssim, err := metrics.SSIM(ref, img, 1)
	if err != nil {
		log.Fatal(err)
	}
	backbone, err := randweights.StateDict("alexnet.pth", 1, math.Sqrt2, lpips.Alex.BackboneParams())
	if err != nil {
		log.Fatal(err)
	}
	lin, err := lpips.ShippedLinear(lpips.Alex)
	if err != nil {
		log.Fatal(err)
	}
	m, err := lpips.New(backend.MustNew(), lpips.Alex, backbone, lin)
	if err != nil {
		log.Fatal(err)
	}
	d, err := m.ImageDistances([]*imageio.Image{ref, ref}, []*imageio.Image{img, ref}, 2)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d×%d, %d channel(s): PSNR %.2f dB, SSIM %.4f\n", img.W, img.H, img.C, psnr, ssim)
	fmt.Printf("LPIPS (stand-in weights) %.4f; to itself %g\n", d[0], d[1])
	// Output:
	// 32×32, 3 channel(s): PSNR 10.92 dB, SSIM 0.1750
	// LPIPS (stand-in weights) 0.0719; to itself 0
}
