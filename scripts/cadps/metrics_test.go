package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps/imageio"
	"github.com/cadps/toolkit/internal/fixtures"
)

// runMetricsArgs runs `cadps metrics` with args and returns its output.
func runMetricsArgs(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = metricsCommand().run(args, &out, &errOut)
	return out.String(), errOut.String(), err
}

// TestMetricsFixtures runs the command on every pair of
// shared/fixtures/metrics/metrics.json and compares its JSON with the
// scikit-image values.
func TestMetricsFixtures(t *testing.T) {
	dir, err := fixtures.SharedPath("fixtures", "metrics")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "metrics.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Pairs []struct {
			Reference    string  `json:"reference"`
			Degraded     string  `json:"degraded"`
			DegradedFile string  `json:"degraded_file"`
			PSNR         float64 `json:"psnr"`
			SSIMUniform7 float64 `json:"ssim_uniform7"`
			SSIMGaussian float64 `json:"ssim_gaussian"`
		} `json:"pairs"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("metrics.json: %v", err)
	}
	if len(doc.Pairs) == 0 {
		t.Fatal("metrics.json lists no pairs")
	}
	for _, p := range doc.Pairs {
		t.Run(p.Reference+"/"+p.Degraded, func(t *testing.T) {
			var ref string
			for _, sub := range []string{"ffhq", "natural"} {
				cand, err := fixtures.SharedPath("data", sub, p.Reference)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := os.Stat(cand); err == nil {
					ref = cand
				}
			}
			if ref == "" {
				t.Fatalf("reference %s is in no shared data folder", p.Reference)
			}
			stdout, stderr, err := runMetricsArgs(t, ref, filepath.Join(dir, p.DegradedFile))
			if err != nil {
				t.Fatalf("%v (stderr %q)", err, stderr)
			}
			if strings.Count(stdout, "\n") != 1 || !strings.HasSuffix(stdout, "}\n") {
				t.Errorf("output %q is not one JSON line", stdout)
			}
			var got map[string]float64
			if err := json.Unmarshal([]byte(stdout), &got); err != nil {
				t.Fatalf("output %q: %v", stdout, err)
			}
			want := map[string]float64{"psnr": p.PSNR, "ssim": p.SSIMGaussian, "ssim_uniform7": p.SSIMUniform7}
			if len(got) != len(want) {
				t.Errorf("output keys %v, want psnr, ssim, ssim_uniform7", got)
			}
			for k, w := range want {
				g, ok := got[k]
				if !ok || math.Abs(g-w) > 1e-6 {
					t.Errorf("%s = %v (present %v), want %v", k, g, ok, w)
				}
			}
		})
	}
}

// TestMetricsIdentical checks the output for an image against itself:
// psnr is "+Inf", written as run records write it, both SSIMs are 1.
func TestMetricsIdentical(t *testing.T) {
	p, err := fixtures.SharedPath("data", "natural", "rocket.png")
	if err != nil {
		t.Fatal(err)
	}
	stdout, _, err := runMetricsArgs(t, p, p)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"psnr":"+Inf","ssim":1,"ssim_uniform7":1}` + "\n"; stdout != want {
		t.Errorf("output %q, want %q", stdout, want)
	}
}

func TestMetricsErrors(t *testing.T) {
	ref, err := fixtures.SharedPath("data", "ffhq", "00000.png")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	small := filepath.Join(dir, "small.png")
	im, err := imageio.New(3, 128, 96)
	if err != nil {
		t.Fatal(err)
	}
	if err := imageio.Save(small, im); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.png")
	tests := []struct {
		name  string
		args  []string
		usage bool
		want  string
	}{
		{"no args", nil, true, "got 0 arguments"},
		{"one arg", []string{ref}, true, "got 1 argument"},
		{"bad flag", []string{"-nope", ref, ref}, true, "-nope"},
		{"negative register", []string{"-register", "-2", ref, ref}, true, "-register -2"},
		{"register of the image size", []string{"-register", "256", ref, ref}, true, "-register 256: metrics: maximum shift 256 is not less than the image size 256×256"},
		{"register beyond the image size", []string{"-register", "1000", ref, small}, false, "is 256×256 but image"},
		{"missing", []string{ref, missing}, false, missing + ": no such file"},
		{"size mismatch", []string{ref, small}, false, "reference " + ref + " is 256×256 but image " + small + " is 128×96"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stdout, _, err := runMetricsArgs(t, tc.args...)
			if err == nil {
				t.Fatalf("no error; output %q", stdout)
			}
			if msg := err.Error(); !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") {
				t.Errorf("error %q, want one line containing %q", msg, tc.want)
			}
			if got := errors.As(err, new(usageError)); got != tc.usage {
				t.Errorf("usage error = %v, want %v", got, tc.usage)
			}
			if stdout != "" {
				t.Errorf("printed %q on error", stdout)
			}
		})
	}
	if _, stderr, err := runMetricsArgs(t, "-h"); !errors.Is(err, flag.ErrHelp) || !strings.Contains(stderr, "ssim_uniform7") {
		t.Errorf("-h: %v, help %q", err, stderr)
	}
}

// TestMetricsRegister checks -register on an object moved within a black
// frame: the 180° rotation and the shift that undo the move are found, and
// the aligned PSNR is infinite ("+Inf").
func TestMetricsRegister(t *testing.T) {
	const h, w = 24, 28
	dir := t.TempDir()
	save := func(name string, at func(y, x int) float32) string {
		im, err := imageio.New(3, h, w)
		if err != nil {
			t.Fatal(err)
		}
		for c := range 3 {
			for y := range h {
				for x := range w {
					im.Pix[(c*h+y)*w+x] = at(y, x)
				}
			}
		}
		p := filepath.Join(dir, name)
		if err := imageio.Save(p, im); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// An asymmetric object on rows 6–15 and columns 8–19.
	obj := func(y, x int) float32 {
		if y < 6 || y > 15 || x < 8 || x > 19 {
			return 0
		}
		return float32((y*7+x*3)%11) / 10
	}
	ref := save("ref.png", obj)
	// Rotated by 180°, then moved 3 rows up and 2 columns right.
	moved := save("moved.png", func(y, x int) float32 {
		sy, sx := y+3, x-2
		if sy < 0 || sx < 0 || sy >= h || sx >= w {
			return 0
		}
		return obj(h-1-sy, w-1-sx)
	})
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"found", []string{"-register", "4", ref, moved}, `"registered":{"psnr":"+Inf","dy":-3,"dx":2,"rot180":true}`},
		{"out of reach", []string{"-register", "1", ref, moved}, `"rot180":true}`},
		{"off", []string{ref, moved}, `"ssim_uniform7"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stdout, _, err := runMetricsArgs(t, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(stdout, tc.want) {
				t.Errorf("output %q lacks %q", stdout, tc.want)
			}
			var rep metricsReport
			if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
				t.Fatal(err)
			}
			switch {
			case tc.name == "off" && rep.Registered != nil:
				t.Errorf("registered %+v without -register", rep.Registered)
			case tc.name == "out of reach" && (rep.Registered == nil || math.IsInf(float64(rep.Registered.PSNR), 0)):
				t.Errorf("registered %+v: want a finite PSNR when the shift is out of reach", rep.Registered)
			}
		})
	}
}
