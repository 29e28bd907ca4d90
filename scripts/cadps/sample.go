package main

import (
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/imageio"
	"github.com/cadps/toolkit/cadps/restore"
)

// sampleCommand is `cadps sample`: samples of a prior, unconditional but
// for a class-conditional prior's -class, as one grid image.
func sampleCommand() command {
	return command{
		name:    "sample",
		summary: "draw samples from a prior (of one class with -class) and write them as a grid PNG",
		run:     runSample,
	}
}

func runSample(args []string, stdout, stderr io.Writer) (err error) {
	fs := newFlagSet("sample", "", stderr)
	mf := addModelFlags(fs)
	cf := addClassFlag(fs)
	n := fs.Int("n", 100, "number of samples")
	steps := fs.Int("steps", 100, "sampling steps (timestep respacing)")
	ddim := fs.Bool("ddim", false, "DDIM (η = 0) instead of ancestral sampling")
	seed := fs.Uint64("seed", 0, "seed; part k of the samples uses seed+k")
	jobs := fs.Int("jobs", 2, "parts sampled at once, each with its own copy of the prior")
	cols := fs.Int("cols", 10, "grid columns")
	zoom := fs.Int("zoom", 2, "enlarge each sample by this factor (nearest neighbour)")
	out := fs.String("out", "", "output PNG (required)")
	force := addForceFlag(fs)
	nearest := fs.String("nearest", "", "training data (an IDX folder with train-images and train-labels, e.g. /usr/share/datasets/fashion-mnist): print the labels of the samples' nearest training images and their distances")
	classNames := fs.String("class-names", "fashion-mnist", `names of labels 0, 1, … for -nearest: "fashion-mnist", a comma-separated list, or "" for numbers`)
	if err := parseFlagsOnly(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return usagef("-out FILE.png is required")
	}
	if err := checkNewFiles(*force, *out); err != nil {
		return err
	}
	if *nearest == "" && isSet(fs, "class-names") {
		return usagef("-class-names names the labels of -nearest's training set: give -nearest DATA too")
	}
	if err := positive(intFlag{"n", *n}, intFlag{"steps", *steps}, intFlag{"jobs", *jobs}, intFlag{"cols", *cols}, intFlag{"zoom", *zoom}); err != nil {
		return err
	}
	if strings.ToLower(filepath.Ext(*out)) != ".png" {
		return usagef("-out %s: the grid is written as PNG; give a .png name", *out)
	}
	prior, err := restore.LoadPrior(mf.spec()) // part 0's copy; a bad model or class label fails once, here
	if err != nil {
		return err
	}
	prior.Class = cf.value(fs)
	if err := cf.check(prior); err != nil {
		return err
	}
	if _, err := prior.Process(*steps, *ddim); err != nil { // a bad step count fails once, here
		return fmt.Errorf("-steps %d: %w", *steps, err)
	}
	var ref *nearestRef
	if *nearest != "" { // read the data first: a bad path fails before the sampling
		if ref, err = loadNearestRef(*nearest, *classNames, prior.ImageShape()); err != nil {
			return err
		}
	}
	// Only now that every input checked out: a refused run leaves no
	// folder, and one that fails or is stopped leaves none it made.
	sig := stopOnSignalOutputs(nil, "sample", stderr, outputFile(*out))
	defer sig.stop()
	dir, err := sig.makeOutputFileDir(*out)
	if err != nil {
		return err
	}
	defer dir.undo(&err)
	start := time.Now()
	parts := min(*jobs, *n)
	images := make([][]*imageio.Image, parts)
	errs := make([]error, parts)
	var wg sync.WaitGroup
	for k := range parts {
		lo, hi := k**n/parts, (k+1)**n/parts
		wg.Go(func() {
			own := prior
			if k > 0 {
				if own, errs[k] = restore.LoadPrior(mf.spec()); errs[k] != nil {
					return
				}
				own.Class = prior.Class
			}
			images[k], errs[k] = samplePart(own, hi-lo, *steps, *ddim, *seed+uint64(k))
		})
	}
	wg.Wait()
	if err := firstError(errs); err != nil {
		return err
	}
	var all []*imageio.Image
	for _, p := range images {
		all = append(all, p...)
	}
	samples := slices.Clone(all) // the grid below replaces all's entries by enlarged copies
	var rows [][]*imageio.Image
	for i := 0; i < len(all); i += *cols {
		row := all[i:min(i+*cols, len(all))]
		for j, im := range row {
			var err error
			if row[j], err = imageio.Upsample(im.Clamp(), *zoom); err != nil {
				return err
			}
		}
		rows = append(rows, row)
	}
	grid, err := imageio.Grid(rows, *zoom)
	if err != nil {
		return err
	}
	if err := sig.finish(func() error { return imageio.Save(*out, grid) }); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d samples, %d steps, in %s: %s\n", *n, *steps, time.Since(start).Round(time.Second), *out)
	if ref != nil {
		return ref.report(stdout, samples)
	}
	return nil
}

// samplePart draws n samples from prior, a copy no other part uses, on a
// backend of its own.
func samplePart(prior *restore.Prior, n, steps int, ddim bool, seed uint64) ([]*imageio.Image, error) {
	b, err := backend.New()
	if err != nil {
		return nil, err
	}
	return prior.Sample(b, n, steps, ddim, seed)
}

// firstError returns the first error of the parts (nil when none failed),
// saying how many parts failed when it was not the only one: one line,
// where parts that fail alike would repeat it.
func firstError(errs []error) error {
	var first error
	failed := 0
	for _, err := range errs {
		if err != nil {
			if first == nil {
				first = err
			}
			failed++
		}
	}
	if failed > 1 {
		return fmt.Errorf("%w (%d of %d parts failed)", first, failed, len(errs))
	}
	return first
}
