package runs

import (
	"math"
	"strings"
	"testing"
)

// TestPaperMarkdown renders the papers' layout in the reproduction's order
// and in the rows' order, with and without FID; a task whose methods have
// not finished as many items gives each method's count. The line after the
// table names the LPIPS network and weights and the FID features and
// Inception weights, or says that a metric was not measured.
func TestPaperMarkdown(t *testing.T) {
	rows := []TableRow{
		{Task: "sr", Method: "cadps", N: 2, PSNR: 25.5, SSIM: 0.7, LPIPSN: 2, LPIPS: 0.25},
		{Task: "sr", Method: "dps", N: 2, PSNR: 24.25, SSIM: 0.65, LPIPSN: 2, LPIPS: 0.3},
		{Task: "blur", Method: "dps", N: 0, Failed: 2},
		{Task: "blur", Method: "cadps", N: 1, PSNR: 20, SSIM: 0.5},
	}
	fids := []FIDRow{{Task: "sr", Method: "dps", FID: 40.25}, {Task: "sr", Method: "cadps", FID: math.NaN()}}
	src := MetricSources{LPIPS: "vgg: backbone vgg16-397923af.pth sha256 0123456789abcdef, linear layers v0.1 (shipped)",
		FIDDims: 2048, FIDWeights: "sha256:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"}
	for _, tc := range []struct {
		name                   string
		rows                   []TableRow
		fids                   []FIDRow
		taskOrder, methodOrder []string
		want                   []string
	}{
		{"reproduction's order", rows, fids, []string{"sr", "blur"}, []string{"dps", "cadps"}, []string{
			"| task | images | dps LPIPS ↓ | dps FID ↓ | dps PSNR ↑ | dps SSIM ↑ | cadps LPIPS ↓ | cadps FID ↓ | cadps PSNR ↑ | cadps SSIM ↑ |",
			"|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
			"| sr | 2 | 0.300 | 40.25 | 24.25 | 0.650 | 0.250 | – | 25.50 | 0.700 |",
			"| blur | dps 0; cadps 1 | – | – | – | – | – | – | 20.00 | 0.500 |",
			"",
			"LPIPS: vgg: backbone vgg16-397923af.pth sha256 0123456789abcdef, linear layers v0.1 (shipped). " +
				"FID: 2048-d features of pytorch-fid's Inception, weights sha256:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff.",
		}},
		{"rows' order, no FID", rows, nil, nil, []string{"cadps"}, []string{
			"| task | images | cadps LPIPS ↓ | cadps FID ↓ | cadps PSNR ↑ | cadps SSIM ↑ | dps LPIPS ↓ | dps FID ↓ | dps PSNR ↑ | dps SSIM ↑ |",
			"|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
			"| sr | 2 | 0.250 | – | 25.50 | 0.700 | 0.300 | – | 24.25 | 0.650 |",
			"| blur | cadps 1; dps 0 | – | – | 20.00 | 0.500 | – | – | – | – |",
			"",
			"LPIPS: vgg: backbone vgg16-397923af.pth sha256 0123456789abcdef, linear layers v0.1 (shipped). FID: not computed.",
		}},
		{"no LPIPS", rows[2:], fids, nil, nil, []string{
			"| task | images | dps LPIPS ↓ | dps FID ↓ | dps PSNR ↑ | dps SSIM ↑ | cadps LPIPS ↓ | cadps FID ↓ | cadps PSNR ↑ | cadps SSIM ↑ |",
			"|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
			"| blur | dps 0; cadps 1 | – | – | – | – | – | – | 20.00 | 0.500 |",
			"",
			"LPIPS: not measured. FID: 2048-d features of pytorch-fid's Inception, weights sha256:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff.",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := PaperMarkdown(tc.rows, tc.fids, src, tc.taskOrder, tc.methodOrder)
			if want := strings.Join(tc.want, "\n") + "\n"; got != want {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
		})
	}
}
