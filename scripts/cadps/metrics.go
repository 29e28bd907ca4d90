package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/cadps/toolkit/cadps/imageio"
	"github.com/cadps/toolkit/cadps/metrics"
)

// metricsCommand is `cadps metrics REFERENCE IMAGE`: PSNR and both SSIM
// variants of an image against its reference, as scikit-image computes
// them.
func metricsCommand() command {
	return command{
		name:    "metrics",
		summary: "PSNR and SSIM of an image against a reference (as scikit-image)",
		run:     runMetrics,
	}
}

// metricsReport is the JSON object `cadps metrics` prints. PSNR is "+Inf"
// when the images are identical, as in run records (metrics.Number).
type metricsReport struct {
	PSNR         metrics.Number      `json:"psnr"`
	SSIM         float64             `json:"ssim"`
	SSIMUniform7 float64             `json:"ssim_uniform7"`
	Registered   *registrationReport `json:"registered,omitempty"`
	LPIPS        *float64            `json:"lpips,omitempty"`
	LPIPSNet     string              `json:"lpips_net,omitempty"`
}

// registrationReport is the "registered" object of `cadps metrics
// -register`: the PSNR after the best shift and 180° rotation.
type registrationReport struct {
	PSNR   metrics.Number `json:"psnr"`
	DY     int            `json:"dy"`
	DX     int            `json:"dx"`
	Rot180 bool           `json:"rot180"`
}

func runMetrics(args []string, stdout, stderr io.Writer) error {
	flags := newFlagSet("metrics", "REFERENCE IMAGE", stderr)
	register := flags.Int("register", -1, "also the PSNR after the best shift of at most this many pixels and 180° rotation (phase retrieval's ambiguities); -1: not")
	lpf := addLPIPSFlags(flags)
	flags.Usage = func() {
		fmt.Fprint(stderr, `Usage: cadps metrics [flags] REFERENCE IMAGE

Prints one JSON object {"psnr":..,"ssim":..,"ssim_uniform7":..} comparing
IMAGE with REFERENCE (PNG or JPEG, read as RGB scaled to [0,1]: 8-bit
values k/255, 16-bit PNG values k/65535; data range 1), with scikit-image
0.19's definitions:
  psnr           peak_signal_noise_ratio in dB ("+Inf" for identical images)
  ssim           structural_similarity with an 11×11 Gaussian window,
                 σ = 1.5, population covariance (Wang et al. 2004)
  ssim_uniform7  structural_similarity's default: 7×7 uniform window,
                 sample covariance
With -register N it adds "registered": {"psnr","dy","dx","rot180"}, the
largest PSNR over IMAGE rotated by 180° or not, then shifted by up to N
pixels each way (vacated pixels black): the ambiguities of Fourier phase
retrieval, under which an object on a black background keeps its Fourier
magnitudes.
With -lpips DIR (or -lpips-backbone FILE) it adds "lpips" and "lpips_net":
the LPIPS distance (lpips 0.1, backbone -lpips-net, default alex) with
torchvision's backbone weights from DIR and the v0.1 linear layers.

Flags:
`)
		flags.PrintDefaults()
	}
	pos, err := parseInterleaved(flags, args)
	if err != nil {
		return err
	}
	if *register < -1 {
		return usagef("-register %d: want a maximum shift in pixels (0 or more), or -1 for none", *register)
	}
	if len(pos) != 2 {
		return usagef("want a reference and an image (cadps metrics REFERENCE IMAGE), got %s", arguments(pos))
	}
	model, _, err := lpf.load()
	if err != nil {
		return err
	}
	refPath, imgPath := pos[0], pos[1]
	ref, err := imageio.Load(refPath)
	if err != nil {
		return err
	}
	img, err := imageio.Load(imgPath)
	if err != nil {
		return err
	}
	if ref.H != img.H || ref.W != img.W {
		return fmt.Errorf("reference %s is %d×%d but image %s is %d×%d (height×width)", refPath, ref.H, ref.W, imgPath, img.H, img.W)
	}
	if *register >= 0 { // a shift the images do not allow is refused before the work
		if err := metrics.CheckMaxShift(img, *register); err != nil {
			return usagef("-register %d: %v", *register, err)
		}
	}
	psnr, err := metrics.PSNR(ref, img, 1)
	if err != nil {
		return err
	}
	rep := metricsReport{PSNR: metrics.Number(psnr)}
	if rep.SSIM, err = metrics.SSIM(ref, img, 1); err != nil {
		return err
	}
	if rep.SSIMUniform7, err = metrics.SSIMUniform7(ref, img, 1); err != nil {
		return err
	}
	if *register >= 0 {
		reg, err := metrics.RegisteredPSNR(ref, img, 1, *register)
		if err != nil {
			return fmt.Errorf("-register %d: %w", *register, err)
		}
		rep.Registered = &registrationReport{PSNR: metrics.Number(reg.PSNR), DY: reg.DY, DX: reg.DX, Rot180: reg.Rot180}
	}
	if model != nil {
		d, err := model.ImageDistances([]*imageio.Image{ref}, []*imageio.Image{img}, 1)
		if err != nil {
			return fmt.Errorf("LPIPS of %s against %s: %w", imgPath, refPath, err)
		}
		rep.LPIPS, rep.LPIPSNet = &d[0], string(model.Net())
	}
	out, err := json.Marshal(rep)
	if err != nil {
		return fmt.Errorf("encoding the report: %w", err)
	}
	_, err = fmt.Fprintf(stdout, "%s\n", out)
	return err
}
