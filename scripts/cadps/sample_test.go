package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps/imageio"
)

func TestSample(t *testing.T) {
	out := filepath.Join(t.TempDir(), "grid.png")
	stdout, _, err := runCmd(runSample, "-n", "3", "-steps", "2", "-jobs", "2", "-cols", "2", "-zoom", "1", "-out", out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout, "3 samples, 2 steps") {
		t.Errorf("output %q", stdout)
	}
	im, err := imageio.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	// 2 columns × 2 rows of 32×32 with 1-pixel padding around and between.
	if im.W != 2*32+3 || im.H != 2*32+3 {
		t.Errorf("grid is %s, want 67×67", im.Size())
	}
}

func TestSampleErrors(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no out", []string{}, "-out"},
		{"n", []string{"-out", "x.png", "-n", "0"}, "positive"},
		{"model", []string{"-out", filepath.Join(t.TempDir(), "x.png"), "-model", "nosuch", "-n", "1", "-steps", "1"}, "nosuch"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := runCmd(runSample, c.args...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}
