package train

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestReadIDXLabels(t *testing.T) {
	labels := []byte{3, 0, 9, 9, 1}
	plain := idxBytes([]uint32{5}, labels)
	for _, c := range []struct {
		name string
		data []byte
		want string // error substring; "" for success
	}{
		{"plain", plain, ""},
		{"gzip", gzipBytes(t, plain), ""},
		{"bad magic", append([]byte{1, 0}, plain[2:]...), "bad magic"},
		{"not bytes", append([]byte{0, 0, 0x0d}, plain[3:]...), "element type"},
		{"an image file", idxBytes([]uint32{1, 2, 2}, []byte{1, 2, 3, 4}), "want 1 (labels)"},
		{"truncated", plain[:len(plain)-2], "truncated"},
		{"trailing data", append(plain[:len(plain):len(plain)], 4), "1 bytes after"},
		{"huge count", []byte{0, 0, 8, 1, 0x0f, 0xff, 0xff, 0xff, 1}, "truncated: 1 of 268435455 bytes"},
		{"empty", idxBytes([]uint32{0}, nil), "out of range"},
		{"no header", []byte{0}, "header"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := ReadIDXLabels(bytes.NewReader(c.data))
			if c.want != "" {
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("err %v, want one saying %q", err, c.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, labels) {
				t.Errorf("labels %v, want %v", got, labels)
			}
		})
	}
}

func TestLoadLabelsFolder(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadLabels(dir); err == nil || !strings.Contains(err.Error(), "no train-labels") {
		t.Errorf("empty folder: err %v, want one naming the missing file", err)
	}
	writeFile(t, filepath.Join(dir, "train-labels-idx1-ubyte.gz"), gzipBytes(t, idxBytes([]uint32{2}, []byte{7, 4})))
	got, err := LoadLabels(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, []byte{7, 4}) {
		t.Errorf("labels %v, want [7 4]", got)
	}
}

func TestNearest(t *testing.T) {
	// Three 1×2×2 images; queries: a copy of image 2, image 0 nudged, and
	// a point halfway between images 0 and 1 but nearer to 1.
	d := &Dataset{N: 3, C: 1, H: 2, W: 2, Pix: []float32{
		-1, -1, -1, -1,
		1, 1, 1, 1,
		-1, 1, -1, 1,
	}}
	queries := [][]float32{
		{-1, 1, -1, 1},
		{-0.9, -1, -1, -0.8},
		{0.1, 0.1, 0.1, 0.1},
	}
	for _, workers := range []int{1, 2, 8} {
		idx, rms, err := d.Nearest(queries, workers)
		if err != nil {
			t.Fatal(err)
		}
		wantIdx := []int{2, 0, 1}
		wantRMS := []float64{0, 0.1118034, 0.9}
		for k := range queries {
			if idx[k] != wantIdx[k] || math.Abs(rms[k]-wantRMS[k]) > 1e-6 {
				t.Errorf("workers %d, query %d: nearest %d at %.7f, want %d at %.7f", workers, k, idx[k], rms[k], wantIdx[k], wantRMS[k])
			}
		}
	}
	if _, _, err := d.Nearest([][]float32{{1, 2, 3}}, 1); err == nil || !strings.Contains(err.Error(), "has 3 values") {
		t.Errorf("wrong size: err %v, want one naming the sizes", err)
	}
}

// TestNearestFashionMNIST classifies the first 20 Fashion-MNIST test images
// by their nearest training image: pixel-space 1-NN is right about 85 % of
// the time on this data set, so at least 14 of 20 must match. It reads the
// data set that scripts/setup.sh installs, and skips without it.
func TestNearestFashionMNIST(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode")
	}
	dir := "/usr/share/datasets/fashion-mnist"
	if _, err := os.Stat(filepath.Join(dir, "t10k-labels-idx1-ubyte.gz")); err != nil {
		t.Skipf("Fashion-MNIST not installed: %v", err)
	}
	train, err := LoadDataset(dir, 32, 1)
	if err != nil {
		t.Fatal(err)
	}
	labels, err := LoadLabels(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(labels) != train.N {
		t.Fatalf("%d labels for %d images", len(labels), train.N)
	}
	test, err := LoadDataset(filepath.Join(dir, "t10k-images-idx3-ubyte.gz"), 32, 1)
	if err != nil {
		t.Fatal(err)
	}
	testLabels, err := LoadLabels(filepath.Join(dir, "t10k-labels-idx1-ubyte.gz"))
	if err != nil {
		t.Fatal(err)
	}
	const n = 20
	size := test.C * test.H * test.W
	queries := make([][]float32, n)
	for k := range queries {
		queries[k] = test.Pix[k*size : (k+1)*size]
	}
	idx, rms, err := train.Nearest(queries, 2)
	if err != nil {
		t.Fatal(err)
	}
	right := 0
	for k := range queries {
		if labels[idx[k]] == testLabels[k] {
			right++
		}
		if rms[k] <= 0 {
			t.Errorf("test image %d is at distance %g from a training image", k, rms[k])
		}
	}
	t.Logf("1-NN: %d of %d test images labelled right", right, n)
	if right < 14 {
		t.Errorf("1-NN labelled %d of %d test images right, want ≥ 14", right, n)
	}
}

// TestReadIDXHugeHeader checks that an IDX header claiming far more data
// than the file holds is refused without allocating what it claims.
func TestReadIDXHugeHeader(t *testing.T) {
	for _, c := range []struct {
		name string
		read func([]byte) error
		data []byte
	}{
		{"labels", func(b []byte) error { _, err := ReadIDXLabels(bytes.NewReader(b)); return err },
			[]byte{0, 0, 8, 1, 0x0f, 0xff, 0xff, 0xff, 1}},
		{"images", func(b []byte) error { _, _, _, _, err := ReadIDX(bytes.NewReader(b)); return err },
			[]byte{0, 0, 8, 3, 0, 0, 0x10, 0, 0, 0, 0x04, 0, 0, 0, 0x04, 0, 1}},
	} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		err := c.read(c.data)
		runtime.ReadMemStats(&after)
		if err == nil || !strings.Contains(err.Error(), "truncated") {
			t.Errorf("%s: error %v, want one saying the data is truncated", c.name, err)
		}
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
			t.Errorf("%s: %d bytes allocated for a %d-byte file", c.name, grew, len(c.data))
		}
	}
}
