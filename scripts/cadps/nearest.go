package main

import (
	"fmt"
	"io"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/cadps/toolkit/cadps/imageio"
	"github.com/cadps/toolkit/cadps/train"
)

// nearestRef is the training set that `cadps sample -nearest` compares
// samples with: its images (in the network's range), labels and label names.
type nearestRef struct {
	data   *train.Dataset
	labels []byte
	names  []string
}

// loadNearestRef reads the training images and labels of dir, padded to the
// prior's image shape [1, C, H, W], and resolves the label names
// ("fashion-mnist", a comma-separated list, or "").
func loadNearestRef(dir, names string, shape []int) (*nearestRef, error) {
	if len(shape) != 4 || shape[1] != 1 || shape[2] != shape[3] {
		return nil, fmt.Errorf("-nearest compares gray square samples with gray training images; the prior's samples are %v", shape[1:])
	}
	labels, err := train.LoadLabels(dir)
	if err != nil {
		return nil, fmt.Errorf("-nearest: %w", err)
	}
	data, err := train.LoadDataset(dir, shape[2], 1)
	if err != nil {
		return nil, fmt.Errorf("-nearest: %w", err)
	}
	if len(labels) != data.N {
		return nil, fmt.Errorf("-nearest %s: %d labels for %d images", dir, len(labels), data.N)
	}
	r := &nearestRef{data: data, labels: labels}
	switch names {
	case "":
	case "fashion-mnist":
		r.names = train.FashionMNISTClasses()
	default:
		r.names = strings.Split(names, ",")
	}
	for _, l := range labels {
		if r.names != nil && int(l) >= len(r.names) {
			return nil, fmt.Errorf("-nearest %s: label %d has no name among the %d of -class-names", dir, l, len(r.names))
		}
	}
	return r, nil
}

// report finds each sample's nearest training image and prints how many
// samples fall on each label, and the distances (a memorised training image
// would be at distance ≈ 0).
func (r *nearestRef) report(w io.Writer, samples []*imageio.Image) error {
	d := r.data
	queries := make([][]float32, len(samples))
	for k, im := range samples {
		if im.C != d.C || im.H != d.H || im.W != d.W {
			return fmt.Errorf("-nearest: samples are %d×%d×%d, the training images %d×%d×%d", im.C, im.H, im.W, d.C, d.H, d.W)
		}
		q := make([]float32, len(im.Pix))
		for i, v := range im.Clamp().Pix {
			q[i] = 2*v - 1 // [0,1] images to the network's [−1,1]
		}
		queries[k] = q
	}
	idx, rms, err := d.Nearest(queries, runtime.GOMAXPROCS(0))
	if err != nil {
		return err
	}
	counts := map[byte]int{}
	for _, j := range idx {
		counts[r.labels[j]]++
	}
	all := map[byte]int{}
	for _, l := range r.labels {
		all[l]++
	}
	keys := make([]byte, 0, len(all))
	for l := range all {
		keys = append(keys, l)
	}
	slices.Sort(keys)
	fmt.Fprintf(w, "nearest training images (%s, %d images, Euclidean distance), by label:\n\n", d.Source, d.N)
	fmt.Fprintln(w, "| label | samples | share | share of the training set |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for _, l := range keys {
		name := strconv.Itoa(int(l))
		if r.names != nil {
			name += " " + r.names[l]
		}
		fmt.Fprintf(w, "| %s | %d | %.0f %% | %.0f %% |\n", name, counts[l],
			100*float64(counts[l])/float64(len(samples)), 100*float64(all[l])/float64(d.N))
	}
	sorted := slices.Clone(rms)
	slices.Sort(sorted)
	fmt.Fprintf(w, "\nRMS distance to the nearest training image ([−1,1] scale): min %.3f, median %.3f, max %.3f\n\n",
		sorted[0], median(sorted), sorted[len(sorted)-1])
	sm, sw := brightness(queries...)
	dm, dw := brightness(d.Pix)
	fmt.Fprintf(w, "pixels ([−1,1] scale): samples mean %.3f, %.1f %% near white (> 0.9); training set mean %.3f, %.1f %% near white\n\n",
		sm, 100*sw, dm, 100*dw)
	return nil
}

// brightness returns the mean of the pixels of xs and the fraction of them
// above 0.9, near white on the [−1, 1] scale.
func brightness(xs ...[]float32) (mean, white float64) {
	n := 0
	for _, x := range xs {
		for _, v := range x {
			mean += float64(v)
			if v > 0.9 {
				white++
			}
		}
		n += len(x)
	}
	return mean / float64(n), white / float64(n)
}

// median returns the median of the sorted values v: the middle one, or the
// mean of the two middle ones when there is an even number of them.
func median(v []float64) float64 {
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}
