package runs

import (
	"math"
	"strings"
	"testing"
)

func TestPairEvaluations(t *testing.T) {
	row := func(task, method string, index int, psnr, ssim, base float64) EvalRow {
		return EvalRow{Task: task, Method: method, Index: index, PSNR: psnr, SSIM: ssim, BasePSNR: base, LPIPS: math.NaN()}
	}
	a := []EvalRow{
		row("sr:factor=2", "dps", 0, 20, 0.5, 15), row("sr:factor=2", "dps", 1, 22, 0.6, 16), row("sr:factor=2", "dps", 2, 19, 0.4, 17),
		row("gaussian_blur:kernel_size=9,intensity=1", "dps", 0, 25, 0.8, 18),
		row("sr:factor=2", "other", 0, 30, 0.9, 15),
	}
	b := []EvalRow{
		row("sr: factor=2", "ddrm", 0, 21, 0.4, 15), row("sr: factor=2", "ddrm", 1, 21, 0.5, 16.0004), // image 2 missing
		row("inpaint_box:size=12", "ddrm", 0, 10, 0.1, 9),
		row("gaussian_blur:intensity=1,kernel_size=9", "ddrm", 3, 20, 0.7, 18),
	}
	pairs, err := PairEvaluations(a, "dps", b, "ddrm")
	if err != nil {
		t.Fatal(err)
	}
	// Every task of the base, in its order and spelling, whether or not
	// dps has its images; sr matched however it is spelt.
	var got []string
	for _, p := range pairs {
		got = append(got, p.Task+" "+p.PSNR.String())
	}
	want := []string{
		"sr: factor=2 +0.0 ± 1.0 (1/2)", // differences −1 and +1: mean 0, sample std √2, standard error 1
		"inpaint_box:size=12 – (no rows of this task)",
		"gaussian_blur:intensity=1,kernel_size=9 – (no test image in common)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("pairs:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	p := pairs[0]
	if p.PSNR.Images != 2 || p.PSNR.Wins != 1 || p.PSNR.Mean != 0 || math.Abs(p.PSNR.StdErr-1) > 1e-12 {
		t.Errorf("PSNR %+v, want mean 0 ± 1 with 1 win of 2", p.PSNR)
	}
	if p.SSIM.Wins != 2 || math.Abs(p.SSIM.Mean-0.1) > 1e-12 {
		t.Errorf("SSIM %+v, want +0.1 with 2 wins of 2", p.SSIM)
	}
	if p.LPIPS.Images != 0 || p.LPIPS.String() != "– (no LPIPS recorded)" {
		t.Errorf("LPIPS %+v without LPIPS recorded", p.LPIPS)
	}
	if math.Abs(p.BaselineGap-0.0004) > 1e-9 {
		t.Errorf("baseline gap %g, want 0.0004", p.BaselineGap)
	}

	for _, c := range []struct {
		name string
		b    []EvalRow
		m    string
		want string
	}{
		{"other measurements", []EvalRow{row("sr:factor=2", "ddrm", 1, 21, 0.5, 16.01)}, "ddrm", "sr:factor=2, image 1: the baselines differ by 0.01 dB"},
		{"no such method", b, "pigdm", `no rows of method "pigdm" (the folder's methods: ddrm)`},
		{"no rows", nil, "ddrm", `no rows of method "ddrm": the folder holds no rows`},
		{"nothing in common", []EvalRow{row("inpaint_box:size=12", "ddrm", 0, 10, 0.1, 9)}, "ddrm", "no task and test image in common"},
	} {
		if _, err := PairEvaluations(a, "dps", c.b, c.m); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}

// TestPairEvaluationsLPIPS: a lower LPIPS is the win, and images without
// LPIPS on either side are left out of its differences only.
func TestPairEvaluationsLPIPS(t *testing.T) {
	row := func(method string, index int, psnr, lpips float64) EvalRow {
		return EvalRow{Task: "sr:factor=2", Method: method, Index: index, PSNR: psnr, BasePSNR: 15, LPIPS: lpips}
	}
	a := []EvalRow{row("ddrm", 0, 22, 0.10), row("ddrm", 1, 21, 0.30), row("ddrm", 2, 23, 0.12), row("ddrm", 3, 24, math.NaN())}
	b := []EvalRow{row("dps", 0, 20, 0.20), row("dps", 1, 20, 0.25), row("dps", 2, 20, 0.20), row("dps", 3, 20, 0.4)}
	pairs, err := PairEvaluations(a, "ddrm", b, "dps")
	if err != nil {
		t.Fatal(err)
	}
	// Differences −0.10, +0.05, −0.08: two wins (lower) of three.
	d := pairs[0].LPIPS
	if d.Images != 3 || d.Wins != 2 || math.Abs(d.Mean-(-0.13/3)) > 1e-12 {
		t.Errorf("LPIPS %+v, want mean −0.0433 over 3 images, 2 wins", d)
	}
	if p := pairs[0].PSNR; p.Images != 4 || p.Wins != 4 {
		t.Errorf("PSNR %+v, want 4 wins of 4", p)
	}
}

// TestFormatDifference: the standard error to two significant digits, the
// mean to the same decimal place.
func TestFormatDifference(t *testing.T) {
	for _, c := range []struct {
		mean, se float64
		want     string
	}{
		{0.0255, 0.00242, "+0.0255 ± 0.0024"},
		{3.8213, 0.3814, "+3.82 ± 0.38"},
		{-1.4832, 0.0941, "-1.483 ± 0.094"},
		{0.000239, 0.016, "+0.000 ± 0.016"},
		{-0.15, 0.088, "-0.150 ± 0.088"},
		{91.5, 150.2, "+92 ± 150"},
		{12.34, 1.25, "+12.3 ± 1.2"}, // 1.25 is 1.2499… in binary
		{0.5, 0.00996, "+0.500 ± 0.010"},
		{0.5, 9.96, "+0 ± 10"},
		{0.5, 0.001, "+0.5000 ± 0.0010"},
		{0.04567, math.NaN(), "+0.0457"}, // one value: no standard error
		{0, math.NaN(), "+0"},
		{0.25, 0, "+0.250 ± 0"},
		{math.NaN(), math.NaN(), "NaN"},
	} {
		if got := FormatDifference(c.mean, c.se); got != c.want {
			t.Errorf("FormatDifference(%v, %v) = %q, want %q", c.mean, c.se, got, c.want)
		}
	}
	for _, c := range []struct {
		d    EvalDifference
		want string
	}{
		{EvalDifference{Mean: 0.0255, StdErr: 0.00242, Wins: 91, Images: 100}, "+0.0255 ± 0.0024 (91/100)"},
		{EvalDifference{Mean: 1.5, StdErr: math.NaN(), Wins: 1, Images: 1}, "+1.50 (1/1)"},
		{EvalDifference{Mean: math.NaN(), StdErr: math.NaN(), Unpaired: UnpairedNoTask}, "– (no rows of this task)"},
	} {
		if got := c.d.String(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.d, got, c.want)
		}
	}
}
