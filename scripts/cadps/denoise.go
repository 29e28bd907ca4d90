package main

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/diffusion"
	"github.com/cadps/toolkit/cadps/restore"
	"github.com/cadps/toolkit/cadps/train"
	"github.com/cadps/toolkit/internal/atomicfile"
)

// denoiseCommand is `cadps denoise`: a prior's denoising error at each
// noise level, on held-out images.
func denoiseCommand() command {
	return command{
		name:    "denoise",
		summary: "measure a prior's denoising error (ε and x̂0) at each noise level on held-out images",
		run:     runDenoise,
	}
}

// defaultDenoiseSteps are the timesteps `cadps denoise` reports by default:
// dense where the linear schedule's noise dominates.
const defaultDenoiseSteps = "0,10,50,100,200,300,400,500,600,700,800,900,950,999"

func runDenoise(args []string, stdout, stderr io.Writer) (err error) {
	fs := newFlagSet("denoise", "", stderr)
	mf := addModelFlags(fs)
	data := fs.String("data", "", "held-out images: an IDX file (.gz or not), a folder holding t10k-images-idx3-ubyte[.gz] (the test set; a folder with only the training set is refused), or a folder of PNG/JPEG images (read as gray), e.g. /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz (required)")
	count := fs.Int("count", 64, "use the first N images")
	steps := fs.String("t", defaultDenoiseSteps, "comma-separated timestep indices of the 1000-step process")
	seed := fs.Uint64("seed", 0, "seed of the noise (timestep t draws from (seed, t))")
	batch := fs.Int("batch", 32, "images per network call")
	csvOut := fs.String("csv", "", "also write the table as CSV to this file")
	force := addForceFlag(fs)
	if err := parseFlagsOnly(fs, args); err != nil {
		return err
	}
	if *data == "" {
		return usagef("-data is required")
	}
	if *csvOut == "" && *force {
		return usagef("-force replaces the -csv file: give -csv FILE too")
	}
	if err := checkNewFiles(*force, *csvOut); err != nil {
		return err
	}
	if err := positive(intFlag{"count", *count}, intFlag{"batch", *batch}); err != nil {
		return err
	}
	var ts []int
	for _, f := range strings.Split(*steps, ",") {
		t, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return usagef("-t: %q is not a timestep index", f)
		}
		ts = append(ts, t)
	}
	prior, err := restore.LoadPrior(mf.spec())
	if err != nil {
		return err
	}
	if prior.Model.InChannels() != 1 {
		return fmt.Errorf("the prior %s has %d input channels; denoise measures gray priors only", prior.Name, prior.Model.InChannels())
	}
	dcfg := prior.Diffusion
	dcfg.Respacing = ""
	p, err := diffusion.New(dcfg)
	if err != nil {
		return err
	}
	for _, t := range ts { // refused before the data are read
		if t < 0 || t >= p.NumSteps() {
			return usagef("-t: timestep %d is outside [0, %d), the prior's process", t, p.NumSteps())
		}
	}
	ds, err := train.LoadTestSet(*data, prior.Model.ImageSize(), 1)
	if err != nil {
		return dataError(err)
	}
	if *count > ds.N {
		return fmt.Errorf("%s holds %d images; -count %d asks for more", *data, ds.N, *count)
	}
	per := ds.C * ds.H * ds.W
	ds.N, ds.Pix = *count, ds.Pix[:*count*per]
	b, err := backend.New()
	if err != nil {
		return err
	}
	// Only now that every input checked out: a refused run leaves no
	// folder, and one that fails or is stopped leaves none it made.
	var outputs []output
	if *csvOut != "" {
		outputs = append(outputs, outputFile(*csvOut))
	}
	sig := stopOnSignalOutputs(nil, "denoise", stderr, outputs...)
	defer sig.stop()
	var dir *outputDir // the folder of -csv, made before the work
	if *csvOut != "" {
		if dir, err = sig.makeOutputFileDir(*csvOut); err != nil {
			return err
		}
	}
	defer dir.undo(&err)
	rows, err := train.NoiseLevelErrors(b, prior.Ctx, prior.Model, p, ds, ts, *seed, *batch)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s on %d images of %s (data mean %.3f; the per-pixel mean image has x̂0-MSE %.4f)\n",
		prior.Name, ds.N, ds.Source, rows[0].DataMean, rows[0].BaselineMSE)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "t\tᾱ\t1/SNR\tε-MSE\tx̂0-MSE\tx̂0 mean\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%d\t%.3g\t%.3g\t%.5f\t%.4f\t%.3f\t\n", r.T, r.AlphaBar, invSNR(r.AlphaBar), r.EpsMSE, r.X0MSE, r.X0Mean)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if *csvOut == "" {
		return nil
	}
	if err := sig.finish(func() error { return writeDenoiseCSV(*csvOut, rows) }); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "denoise: wrote the table to %s\n", *csvOut)
	return nil
}

// invSNR returns 1/SNR = (1 − ᾱ)/ᾱ, the noise-to-signal power ratio of x_t
// at a timestep whose ᾱ is alphaBar.
func invSNR(alphaBar float64) float64 { return (1 - alphaBar) / alphaBar }

// writeDenoiseCSV writes rows as CSV to path, atomically: the printed
// table's columns, then the header's data mean and baseline x̂0-MSE,
// repeated on every row.
func writeDenoiseCSV(path string, rows []train.NoiseLevelError) error {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }
	_ = w.Write([]string{"t", "alpha_bar", "inv_snr", "eps_mse", "x0_mse", "x0_mean", "data_mean", "baseline_mse"})
	for _, r := range rows {
		_ = w.Write([]string{strconv.Itoa(r.T), f(r.AlphaBar), f(invSNR(r.AlphaBar)), f(r.EpsMSE), f(r.X0MSE), f(r.X0Mean), f(r.DataMean), f(r.BaselineMSE)})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return err
	}
	return atomicfile.WriteBytes(path, buf.Bytes())
}
