package main

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestDenoise(t *testing.T) {
	csvPath := filepath.Join(t.TempDir(), "levels.csv")
	stdout, _, err := runCmd(runDenoise, "-data", testImagesDir(t), "-count", "3", "-t", "0, 500,999", "-csv", csvPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout, "fmnist32 on 3 images") || !strings.Contains(stdout, "x̂0-MSE") {
		t.Errorf("output %q", stdout)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 5 || !strings.HasPrefix(strings.TrimSpace(lines[4]), "999 ") {
		t.Errorf("want a header, a column line and 3 rows ending at t=999, got %q", lines)
	}
	data, err := os.ReadFile(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	rows := strings.Split(strings.TrimSpace(string(data)), "\n")
	const header = "t,alpha_bar,inv_snr,eps_mse,x0_mse,x0_mean,data_mean,baseline_mse"
	if len(rows) != 4 || rows[0] != header || !strings.HasPrefix(rows[2], "500,") {
		t.Fatalf("CSV %q, want the header %s and 3 rows", rows, header)
	}
	// Every row holds the printed row's values, at the CSV's precision.
	for i, row := range rows[1:] {
		printed := strings.Fields(lines[2+i])
		fields := strings.Split(row, ",")
		for j, p := range printed {
			v, err := strconv.ParseFloat(fields[j], 64)
			if err != nil {
				t.Fatalf("CSV row %q: %v", row, err)
			}
			if w, _ := strconv.ParseFloat(p, 64); math.Abs(v-w) > 0.01*math.Abs(w)+1e-3 {
				t.Errorf("CSV row %d column %d = %s, printed %s", i, j, fields[j], p)
			}
		}
	}
}

func TestDenoiseErrors(t *testing.T) {
	imgs := testImagesDir(t)
	trainOnly := t.TempDir()
	writeIDXImages(t, filepath.Join(trainOnly, "train-images-idx3-ubyte.gz"), 2, 28, 28, 0)
	cases := []struct {
		name  string
		args  []string
		want  string
		usage bool
	}{
		{"no data", []string{}, "-data is required", true},
		{"count", []string{"-data", imgs, "-count", "0"}, "-count must be positive, got 0", true},
		{"batch", []string{"-data", imgs, "-batch", "-1"}, "-batch must be positive, got -1", true},
		{"bad t", []string{"-data", imgs, "-t", "1,x"}, `"x" is not a timestep`, true},
		{"t out of range", []string{"-data", imgs, "-count", "1", "-t", "1000"}, "outside [0, 1000)", true},
		// Refused before the data are read.
		{"negative t", []string{"-data", filepath.Join(t.TempDir(), "none"), "-t", "0,-1"}, "-t: timestep -1 is outside [0, 1000), the prior's process", true},
		{"missing data", []string{"-data", filepath.Join(t.TempDir(), "none")}, "none", false},
		{"extra argument", []string{"-data", imgs, "extra"}, "unexpected arguments", true},
		{"training images only", []string{"-data", trainOnly, "-count", "1", "-t", "0"}, "no test images t10k-images-idx3-ubyte[.gz]", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := runCmd(runDenoise, c.args...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
			if got := errors.As(err, new(usageError)); got != c.usage {
				t.Errorf("usage error = %v, want %v (%v)", got, c.usage, err)
			}
		})
	}
}
