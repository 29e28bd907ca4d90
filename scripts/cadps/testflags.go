package main

import (
	"flag"

	"github.com/cadps/toolkit/cadps"
	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/ops"
)

// testRunFlags are the flags `cadps evaluate` and `cadps trace` share: the
// test images and how each batch of them is measured and sampled. Both
// commands must read them alike, since a trace restores exactly the batch
// an evaluation with the same flags restores.
type testRunFlags struct {
	data   *string
	offset *int
	steps  *int
	scale  *float64
	ramp   *string
	noise  *string
	seed   *uint64
}

// addTestRunFlags declares the shared flags on fs; scaleHelp and seedHelp
// say what -scale 0 and the seed mean for the command.
func addTestRunFlags(fs *flag.FlagSet, scaleHelp, seedHelp string) *testRunFlags {
	return &testRunFlags{
		data:   fs.String("data", "", "test images: an IDX file (.gz or not), a folder holding t10k-images-idx3-ubyte[.gz] (the test set; a folder with only the training set is refused), or a folder of PNG/JPEG images, read as gray or RGB as the model takes them and padded to its size (required)"),
		offset: fs.Int("offset", 0, "index of the first test image"),
		steps:  fs.Int("steps", 100, "sampling steps (timestep respacing), the same for every method"),
		scale:  fs.Float64("scale", 0, scaleHelp),
		ramp:   fs.String("ramp", "", "step-size schedule FROM:OVER (see cadps restore -ramp; default constant)"),
		noise:  fs.String("noise", "gaussian:sigma=0.05", "measurement noise: gaussian[:sigma=S], poisson[:rate=R] or clean"),
		seed:   fs.Uint64("seed", 0, seedHelp),
	}
}

// parse checks the shared flags (other than -data, which each command
// requires in its own words) and returns the noise model and the ramp.
func (f *testRunFlags) parse() (ops.Noise, guidance.Ramp, error) {
	switch {
	case *f.offset < 0:
		return nil, guidance.Ramp{}, usagef("-offset must be non-negative, got %d", *f.offset)
	case *f.steps <= 0:
		return nil, guidance.Ramp{}, usagef("-steps must be positive, got %d", *f.steps)
	}
	if err := (cadps.Problem{Scale: *f.scale}).CheckParams(); err != nil {
		return nil, guidance.Ramp{}, usagef("-scale: %v", err)
	}
	ramp, err := guidance.ParseRamp(*f.ramp)
	if err != nil {
		return nil, guidance.Ramp{}, usagef("-ramp: %v", err)
	}
	nz, err := ops.ParseNoise(*f.noise)
	if err != nil {
		return nil, guidance.Ramp{}, usagef("-noise: %v", err)
	}
	return nz, ramp, nil
}
