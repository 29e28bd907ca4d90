package runs

import (
	"math"
	"strings"
	"testing"
)

func TestPairEvaluations(t *testing.T) {
	row := func(task, method string, index int, psnr, ssim, base float64) EvalRow {
		return EvalRow{Task: task, Method: method, Index: index, PSNR: psnr, SSIM: ssim, BasePSNR: base}
	}
	a := []EvalRow{
		row("sr", "dps", 0, 20, 0.5, 15), row("sr", "dps", 1, 22, 0.6, 16), row("sr", "dps", 2, 19, 0.4, 17),
		row("blur", "dps", 0, 25, 0.8, 18),
		row("sr", "other", 0, 30, 0.9, 15),
	}
	b := []EvalRow{
		row("sr", "ddrm", 0, 21, 0.4, 15), row("sr", "ddrm", 1, 21, 0.5, 16.0004), // image 2 missing
		row("inpaint", "ddrm", 0, 10, 0.1, 9),
	}
	pairs, err := PairEvaluations(a, "dps", b, "ddrm")
	if err != nil {
		t.Fatal(err)
	}
	if len(pairs) != 1 || pairs[0].Task != "sr" {
		t.Fatalf("pairs %+v: want one, for sr (blur and inpaint have no image in common)", pairs)
	}
	p := pairs[0]
	// Differences −1 and +1: mean 0, sample std √2, standard error 1.
	if p.PSNR.Images != 2 || p.PSNR.Wins != 1 || p.PSNR.Mean != 0 || math.Abs(p.PSNR.StdErr-1) > 1e-12 {
		t.Errorf("PSNR %+v, want mean 0 ± 1 with 1 win of 2", p.PSNR)
	}
	if p.SSIM.Wins != 2 || math.Abs(p.SSIM.Mean-0.1) > 1e-12 {
		t.Errorf("SSIM %+v, want +0.1 with 2 wins of 2", p.SSIM)
	}
	if math.Abs(p.BaselineGap-0.0004) > 1e-9 {
		t.Errorf("baseline gap %g, want 0.0004", p.BaselineGap)
	}
	if got := p.PSNR.Format(2); got != "+0.00 ± 1.00 (1/2)" {
		t.Errorf("Format: %q", got)
	}

	for _, c := range []struct {
		name string
		b    []EvalRow
		m    string
		want string
	}{
		{"other measurements", []EvalRow{row("sr", "ddrm", 1, 21, 0.5, 16.01)}, "ddrm", "sr, image 1: the baselines differ by 0.01 dB"},
		{"no such method", b, "pigdm", `no rows of method "pigdm"`},
		{"nothing in common", []EvalRow{row("inpaint", "ddrm", 0, 10, 0.1, 9)}, "ddrm", "no task and test image in common"},
	} {
		if _, err := PairEvaluations(a, "dps", c.b, c.m); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}
