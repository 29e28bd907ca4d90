package train

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sync"
)

// FashionMNISTClasses returns the names of Fashion-MNIST's labels 0–9.
func FashionMNISTClasses() []string {
	return []string{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
		"Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}
}

// LoadLabels reads class labels from an IDX label file (idx1-ubyte,
// gzip-compressed or not), or from the train-labels-idx1-ubyte[.gz] of a
// folder, as MNIST and Fashion-MNIST ship them beside their images.
func LoadLabels(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("train: labels: %w", err)
	}
	if st.IsDir() {
		found, ok := findIDX(path, TrainLabelsFile)
		if !ok {
			return nil, fmt.Errorf("train: labels: no %s[.gz] in %s", TrainLabelsFile, path)
		}
		path = found
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("train: labels: %w", err)
	}
	defer f.Close()
	labels, err := ReadIDXLabels(f)
	if err != nil {
		return nil, fmt.Errorf("train: %s: %w", path, err)
	}
	return labels, nil
}

// ReadIDXLabels decodes an IDX file of unsigned bytes with one dimension
// (a label per image), gzip-compressed or not.
func ReadIDXLabels(r io.Reader) ([]byte, error) {
	src, done, err := idxReader(r)
	if err != nil {
		return nil, err
	}
	defer done()
	var hdr [8]byte
	if _, err := io.ReadFull(src, hdr[:]); err != nil {
		return nil, fmt.Errorf("reading IDX header: %w", err)
	}
	switch {
	case hdr[0] != 0 || hdr[1] != 0:
		return nil, errors.New("not an IDX file (bad magic number)")
	case hdr[2] != 0x08:
		return nil, fmt.Errorf("IDX element type 0x%02x, want unsigned bytes (0x08)", hdr[2])
	case hdr[3] != 1:
		return nil, fmt.Errorf("IDX file has %d dimensions, want 1 (labels): is it an image file?", hdr[3])
	}
	n := binary.BigEndian.Uint32(hdr[4:])
	if n == 0 || n > 1<<28 {
		return nil, fmt.Errorf("IDX label count %d out of range", n)
	}
	labels, err := readIDXData(src, int64(n))
	if err != nil {
		return nil, fmt.Errorf("IDX labels: %w", err)
	}
	return labels, nil
}

// Nearest finds, for each image (C×H×W values in the data set's range
// [−1, 1], the layout of [Dataset.Pix]), the data set's image closest in
// Euclidean distance. It returns that image's index and the root mean
// square of the difference per pixel. It is the nearest-neighbour check of
// generative models: the neighbours' labels show which classes samples
// resemble, and a distance near 0 would mean a memorised training image.
// The search is exhaustive, split over workers goroutines.
func (d *Dataset) Nearest(images [][]float32, workers int) (index []int, rms []float64, err error) {
	size := d.C * d.H * d.W
	for k, im := range images {
		if len(im) != size {
			return nil, nil, fmt.Errorf("train: image %d has %d values, the data set's images %d (%d×%d×%d)", k, len(im), size, d.C, d.H, d.W)
		}
	}
	index = make([]int, len(images))
	rms = make([]float64, len(images))
	workers = max(1, min(workers, len(images)))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for k := w; k < len(images); k += workers {
				best, bestD := -1, math.Inf(1)
				im := images[k]
				for j := range d.N {
					ref := d.Pix[j*size : (j+1)*size]
					var s float32
					for i, v := range ref {
						e := v - im[i]
						s += e * e
					}
					if float64(s) < bestD {
						best, bestD = j, float64(s)
					}
				}
				index[k], rms[k] = best, math.Sqrt(bestD/float64(size))
			}
		})
	}
	wg.Wait()
	return index, rms, nil
}
