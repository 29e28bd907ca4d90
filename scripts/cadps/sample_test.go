package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps/imageio"
	"github.com/cadps/toolkit/cadps/train"
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
		{"n", []string{"-out", "x.png", "-n", "0"}, "-n must be positive, got 0"},
		{"steps", []string{"-out", "x.png", "-steps", "-3"}, "-steps must be positive, got -3"},
		{"jobs", []string{"-out", "x.png", "-jobs", "0"}, "-jobs must be positive, got 0"},
		{"cols", []string{"-out", "x.png", "-cols", "0"}, "-cols must be positive, got 0"},
		{"zoom", []string{"-out", "x.png", "-zoom", "0"}, "-zoom must be positive, got 0"},
		{"model", []string{"-out", filepath.Join(t.TempDir(), "x.png"), "-model", "nosuch", "-n", "1", "-steps", "1"}, "nosuch"},
		{"class names without nearest", []string{"-out", filepath.Join(t.TempDir(), "x.png"), "-class-names", "a,b", "-n", "1", "-steps", "2"}, "-class-names names the labels of -nearest's training set: give -nearest DATA too"},
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

// writeIDX writes an IDX file of unsigned bytes with the given dimensions.
func writeIDX(t *testing.T, path string, dims []uint32, data []byte) {
	t.Helper()
	var b bytes.Buffer
	b.Write([]byte{0, 0, 0x08, byte(len(dims))})
	for _, d := range dims {
		if err := binary.Write(&b, binary.BigEndian, d); err != nil {
			t.Fatal(err)
		}
	}
	b.Write(data)
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestSampleNearest(t *testing.T) {
	// Three 28×28 "training images" (black, grey, white) with labels 4, 1, 4.
	dir := t.TempDir()
	pix := make([]byte, 3*28*28)
	for i := range 28 * 28 {
		pix[28*28+i], pix[2*28*28+i] = 128, 255
	}
	writeIDX(t, filepath.Join(dir, "train-images-idx3-ubyte"), []uint32{3, 28, 28}, pix)
	writeIDX(t, filepath.Join(dir, "train-labels-idx1-ubyte"), []uint32{3}, []byte{4, 1, 4})
	out := filepath.Join(t.TempDir(), "grid.png")
	stdout, _, err := runCmd(runSample, "-n", "3", "-steps", "2", "-jobs", "1", "-out", out, "-nearest", dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"3 images", "| 1 Trouser |", "| 4 Coat |", "| 67 % |", "RMS distance to the nearest training image", "3 samples, 2 steps",
		// (−1 + (784·0.0039 − 240)/1024 + (784 − 240)/1024)/3 and 784/(3·1024).
		"training set mean -0.233, 25.5 % near white"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	// Every sample lands on one of the two labels.
	n := 0
	for _, line := range strings.Split(stdout, "\n") {
		var l, k int
		var name string
		if _, err := fmt.Sscanf(line, "| %d %s | %d |", &l, &name, &k); err == nil {
			n += k
		}
	}
	if n != 3 {
		t.Errorf("the label rows count %d samples, want 3:\n%s", n, stdout)
	}

	bad := t.TempDir()
	writeIDX(t, filepath.Join(bad, "train-images-idx3-ubyte"), []uint32{3, 28, 28}, pix)
	writeIDX(t, filepath.Join(bad, "train-labels-idx1-ubyte"), []uint32{2}, []byte{4, 1})
	unnamed := t.TempDir()
	writeIDX(t, filepath.Join(unnamed, "train-images-idx3-ubyte"), []uint32{3, 28, 28}, pix)
	writeIDX(t, filepath.Join(unnamed, "train-labels-idx1-ubyte"), []uint32{3}, []byte{4, 1, 2})
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"no labels", []string{"-nearest", t.TempDir()}, "no train-labels"},
		{"label count", []string{"-nearest", bad}, "2 labels for 3 images"},
		{"label names", []string{"-nearest", unnamed, "-class-names", "a,b"}, "label 4 has no name"},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"-n", "1", "-steps", "2", "-out", filepath.Join(t.TempDir(), "x.png")}, c.args...)
			_, _, err := runCmd(runSample, args...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want one containing %q", err, c.want)
			}
		})
	}
}

// TestNearestReportMedian checks the distances -nearest prints against
// samples at known distances from the one training image (black, −1): a
// sample of gray level p lies at RMS distance 2p.
func TestNearestReportMedian(t *testing.T) {
	ref := &nearestRef{data: &train.Dataset{N: 1, C: 1, H: 2, W: 2, Pix: []float32{-1, -1, -1, -1}, Source: "black"}, labels: []byte{0}}
	cases := []struct {
		name   string
		levels []float32
		want   string
	}{
		{"odd", []float32{0.3, 0.1, 0.5}, "min 0.200, median 0.600, max 1.000"},
		{"even", []float32{0.3, 0.1, 0.5, 0.2}, "min 0.200, median 0.500, max 1.000"}, // (0.4 + 0.6)/2
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var samples []*imageio.Image
			for _, p := range c.levels {
				im, err := imageio.New(1, 2, 2)
				if err != nil {
					t.Fatal(err)
				}
				for i := range im.Pix {
					im.Pix[i] = p
				}
				samples = append(samples, im)
			}
			var out strings.Builder
			if err := ref.report(&out, samples); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out.String(), c.want) {
				t.Errorf("report lacks %q:\n%s", c.want, out.String())
			}
		})
	}
}
