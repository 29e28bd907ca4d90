package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/imageio"
	"github.com/cadps/toolkit/cadps/metrics/fid"
)

// fidCommand is `cadps fid A B`: the Fréchet Inception Distance between
// two image folders, or a folder and pytorch-fid statistics.
func fidCommand() command {
	return command{
		name:    "fid",
		summary: "FID between two image folders or a folder and an .npz (as pytorch-fid)",
		run:     runFID,
	}
}

// fidImageExtensions are the file extensions of a folder's images: those
// of pytorch-fid's extensions that the toolkit decodes.
var fidImageExtensions = []string{"jpg", "jpeg", "png"}

// fidOtherFormats are pytorch-fid's other extensions, with their formats'
// names: a folder holding such files is refused, since pytorch-fid would
// count them and the toolkit cannot decode them.
var fidOtherFormats = map[string]string{
	"bmp": "BMP", "pgm": "PGM", "ppm": "PPM", "tif": "TIFF", "tiff": "TIFF", "webp": "WebP",
}

// fidReport is the JSON object `cadps fid` prints.
type fidReport struct {
	FID float64 `json:"fid"`
	// Offset reports pytorch-fid's eps path (see fid.FrechetDistance).
	Offset bool `json:"eps_offset"`
	// Imaginary is the imaginary part of tr (Σ1Σ2)^½ that was dropped
	// (see fid.Distance.Imaginary), where pytorch-fid may refuse.
	Imaginary float64 `json:"sqrtm_imaginary"`
	Dims      int     `json:"dims"`
	Images    []int   `json:"images"`
	// Weights holds, per argument, the SHA-256 of the Inception weights
	// its features came from ("sha256:" and hex), or "" for an .npz that
	// does not record it (pytorch-fid's).
	Weights []string `json:"weights_sha256"`
	// KID and its standard deviation over subsets, with -kid, and the
	// number of vectors drawn from each set per subset (-kid-subset-size,
	// or the smaller set's size when that is smaller).
	KID           *float64 `json:"kid,omitempty"`
	KIDStd        *float64 `json:"kid_std,omitempty"`
	KIDSubsetSize int      `json:"kid_subset_size,omitempty"`
}

func runFID(args []string, stdout, stderr io.Writer) error {
	flags := newFlagSet("fid", "A B", stderr)
	weights := flags.String("weights", "", "pytorch-fid's Inception weights, "+fid.WeightsFile+" (needed unless both A and B are .npz files)")
	dims := flags.Int("dims", 2048, "feature dimension: 64, 192, 768 or 2048 (the Inception block, as pytorch-fid's --dims)")
	batch := flags.Int("batch", 50, "images per batch")
	saveStats := flags.String("save-stats", "", "write the statistics of the single folder argument to this .npz file instead of computing a distance")
	force := addForceFlag(flags)
	quiet := flags.Bool("quiet", false, "no progress lines on stderr")
	kid := flags.Bool("kid", false, "also the kernel Inception distance (two folders only; not with -save-stats)")
	kidSubsets := flags.Int("kid-subsets", 100, "KID: number of random subsets")
	kidSize := flags.Int("kid-subset-size", 1000, "KID: vectors per subset (the smaller set's size when that is smaller; \"kid_subset_size\" reports the size used)")
	flags.Usage = func() {
		fmt.Fprintf(stderr, `Usage: cadps fid [flags] A B
       cadps fid [flags] -save-stats OUT.npz FOLDER

Prints {"fid":..,"eps_offset":..,"sqrtm_imaginary":..,"dims":..,"images":[nA,nB],
"weights_sha256":[wA,wB]}: the Fréchet
Inception Distance between A and B, each a folder of images (%s;
sorted by name, at least 2) or pytorch-fid statistics (.npz with mu and
sigma), computed as pytorch-fid 0.3.0 computes it. "sqrtm_imaginary" is
the imaginary part of the trace of sqrtm(Σ1Σ2) that was dropped (rounding
residues, with fewer images than dimensions and an .npz argument): where
pytorch-fid finds one above 1e-3 on a diagonal element it refuses to give
a value (see docs/metrics.md). With -kid it adds
"kid" and "kid_std", the kernel Inception distance as torch-fidelity
computes it (mean and standard deviation over random subsets), and
"kid_subset_size", the vectors drawn per set and subset. Images are read
as RGB in [0,1]: 8-bit values k as k/255, as pytorch-fid reads them;
16-bit PNGs at full precision, v/65535 (pytorch-fid keeps the high byte of
16-bit colour and clips 16-bit grey at 255: convert such sets to 8-bit PNG
to compare with its numbers). JPEGs are decoded by Go's decoder, which
differs from PIL's libjpeg by up to tens of levels per pixel (see
docs/metrics.md). A folder holding pytorch-fid's other formats (BMP, PGM,
PPM, TIFF, WebP) is refused: convert them to PNG. Each image is resized
to 299x299; "images" is 0 for an .npz argument. "weights_sha256" gives
the SHA-256 of the -weights file for a folder, the one -save-stats
recorded for an .npz ("" for pytorch-fid's files): statistics recorded
with other weights than the other argument's are refused. -kid needs two
folders: it is refused with .npz arguments and with -save-stats. A
-weights file named as torch.hub names downloads (NAME-HASH.pth) must
have the SHA-256 that HASH starts. Progress goes to stderr.

Flags:
`, strings.Join(fidImageExtensions, ", "))
		flags.PrintDefaults()
	}
	pos, err := parseInterleaved(flags, args)
	if err != nil {
		return err
	}
	block := slices.Index(fid.BlockDims(), *dims)
	if block < 0 {
		return usagef("-dims %d: want 64, 192, 768 or 2048", *dims)
	}
	if *batch < 1 {
		return usagef("-batch %d: want at least 1", *batch)
	}
	if *kid && *saveStats != "" {
		return usagef("-kid with -save-stats: statistics hold no features, from which KID is computed; give -kid two folders instead")
	}
	if !*kid && (isSet(flags, "kid-subsets") || isSet(flags, "kid-subset-size")) {
		return usagef("-kid-subsets and -kid-subset-size set up -kid: give -kid too")
	}
	if *kid && (*kidSubsets < 1 || *kidSize < 2) {
		return usagef("-kid-subsets %d, -kid-subset-size %d: want at least 1 and 2", *kidSubsets, *kidSize)
	}
	want := 2
	if *saveStats != "" {
		want = 1
	}
	if len(pos) != want {
		if want == 1 {
			return usagef("-save-stats takes one folder, got %s", arguments(pos))
		}
		return usagef("want two folders or .npz files (cadps fid A B), got %s", arguments(pos))
	}
	if *saveStats != "" && !isNPZ(*saveStats) {
		return usagef("-save-stats %s: statistics are written as pytorch-fid's .npz; give a .npz name", *saveStats)
	}
	if *saveStats == "" && *force {
		return usagef("-force replaces the -save-stats file: give -save-stats FILE too")
	}
	if err := checkNewFiles(*force, *saveStats); err != nil {
		return err
	}
	c := &fidRun{weights: *weights, block: block, batch: *batch, stderr: stderr, quiet: *quiet}
	if *saveStats != "" {
		return c.saveStats(pos[0], *saveStats)
	}
	if *kid && (isNPZ(pos[0]) || isNPZ(pos[1])) {
		return usagef("-kid needs the features of two image folders, not statistics (.npz)")
	}
	var kidOpts *fid.KIDOptions
	if *kid {
		kidOpts = &fid.KIDOptions{Subsets: *kidSubsets, SubsetSize: *kidSize}
	}
	rep, err := c.distance(pos[0], pos[1], kidOpts)
	if err != nil {
		return err
	}
	out, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "%s\n", out)
	return err
}

// saveStats writes the statistics of the images of dir to path. The
// folder of path is made, and checked, before the features are computed.
func (c *fidRun) saveStats(dir, path string) (err error) {
	if isNPZ(dir) {
		return usagef("-save-stats needs an image folder, not %s", dir)
	}
	if _, err := fidImageFiles(dir); err != nil {
		return err
	}
	// A run that fails or is stopped (SIGINT, SIGTERM) while it computes
	// the features leaves no folder it made.
	sig := stopOnSignalOutputs(nil, "fid", c.stderr, outputFile(path))
	defer sig.stop()
	out, err := sig.makeOutputFileDir(path)
	if err != nil {
		return err
	}
	defer out.undo(&err)
	s, _, err := c.stats(dir)
	if err != nil {
		return err
	}
	if err := sig.finish(func() error { return fid.WriteStats(path, s) }); err != nil {
		return err
	}
	fmt.Fprintf(c.stderr, "fid: wrote the statistics of %d images (%d dimensions) to %s\n", s.N, s.Dims(), path)
	return nil
}

// distance returns the FID (and the KID with kid) between a and b. The
// .npz arguments are read, and the weights each argument comes from
// compared, before any folder's features are computed.
func (c *fidRun) distance(a, b string, kid *fid.KIDOptions) (*fidReport, error) {
	args := [2]string{a, b}
	var stats [2]*fid.Stats
	var acts [2][][]float32
	var weights [2]string
	for i, arg := range args {
		if isNPZ(arg) {
			s, _, err := c.stats(arg)
			if err != nil {
				return nil, err
			}
			stats[i], weights[i] = s, s.Weights
		}
	}
	for i, arg := range args {
		if stats[i] == nil {
			if err := c.load(arg); err != nil {
				return nil, err
			}
			weights[i] = c.model.WeightsDigest()
		}
	}
	if w0, w1 := weights[0], weights[1]; w0 != "" && w1 != "" && w0 != w1 {
		return nil, fmt.Errorf("%s comes from the Inception weights %s but %s from %s: features of other weights are not comparable",
			a, w0, b, w1)
	}
	// Both folders are listed before either's features are computed, so
	// that a folder the command refuses is named at once.
	for i, arg := range args {
		if stats[i] == nil {
			if _, err := fidImageFiles(arg); err != nil {
				return nil, err
			}
		}
	}
	for i, arg := range args {
		if stats[i] == nil {
			s, f, err := c.stats(arg)
			if err != nil {
				return nil, err
			}
			stats[i], acts[i] = s, f
		}
	}
	if stats[0].Dims() != stats[1].Dims() {
		return nil, fmt.Errorf("%s has %d-dimensional statistics but %s has %d: both must come from the same Inception block (-dims)",
			a, stats[0].Dims(), b, stats[1].Dims())
	}
	d, err := fid.FrechetDistance(stats[0], stats[1])
	if err != nil {
		return nil, err
	}
	rep := &fidReport{FID: d.FD, Offset: d.Offset, Imaginary: d.Imaginary, Dims: stats[0].Dims(), Images: []int{stats[0].N, stats[1].N},
		Weights: []string{stats[0].Weights, stats[1].Weights}}
	if kid != nil {
		k, err := fid.KID(acts[0], acts[1], *kid)
		if err != nil {
			return nil, err
		}
		rep.KID, rep.KIDStd, rep.KIDSubsetSize = &k.KID, &k.Std, k.SubsetSize
	}
	return rep, nil
}

// fidRun computes the statistics of the command's arguments, loading the
// network once, when the first folder needs it.
type fidRun struct {
	weights      string
	block, batch int
	stderr       io.Writer
	quiet        bool
	model        *fid.Model
}

func isNPZ(path string) bool { return strings.EqualFold(filepath.Ext(path), ".npz") }

// stats reads an .npz argument, or computes the features of a folder's
// images and their statistics.
func (c *fidRun) stats(arg string) (*fid.Stats, [][]float32, error) {
	if isNPZ(arg) {
		s, err := fid.ReadStats(arg)
		if err != nil {
			return nil, nil, err
		}
		if s.Dims() != fid.BlockDims()[c.block] {
			return nil, nil, fmt.Errorf("%s holds %d-dimensional statistics, but -dims is %d", arg, s.Dims(), fid.BlockDims()[c.block])
		}
		return s, nil, nil
	}
	acts, err := c.features(arg)
	if err != nil {
		return nil, nil, err
	}
	s, err := fid.Statistics(acts)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", arg, err)
	}
	s.Weights = c.model.WeightsDigest()
	return s, acts, nil
}

// load loads the network from -weights unless it is loaded; arg names
// the folder whose features need it.
func (c *fidRun) load(arg string) error {
	if c.model != nil {
		return nil
	}
	if c.weights == "" {
		return usagef("-weights is needed to compute features of %s (pytorch-fid's %s)", arg, fid.WeightsFile)
	}
	b, err := backend.New()
	if err != nil {
		return err
	}
	c.model, err = fid.Load(b, c.weights, c.block)
	return err
}

// features computes the features of a folder's images, in batches.
func (c *fidRun) features(arg string) ([][]float32, error) {
	files, err := fidImageFiles(arg)
	if err != nil {
		return nil, err
	}
	if err := c.load(arg); err != nil {
		return nil, err
	}
	var acts [][]float32
	start, last := time.Now(), time.Now()
	for lo := 0; lo < len(files); lo += c.batch {
		hi := min(lo+c.batch, len(files))
		imgs := make([]*imageio.Image, 0, hi-lo)
		for _, f := range files[lo:hi] {
			im, err := imageio.Load(f)
			if err != nil {
				return nil, err
			}
			imgs = append(imgs, im)
		}
		feats, err := c.model.ImageFeatures(imgs, c.batch, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", arg, err)
		}
		acts = append(acts, feats[0]...)
		if !c.quiet && (hi == len(files) || time.Since(last) > 5*time.Second) {
			last = time.Now()
			fmt.Fprintf(c.stderr, "fid: %s: %d/%d images (%.1f s)\n", arg, hi, len(files), time.Since(start).Seconds())
		}
	}
	return acts, nil
}

// fidImageFiles lists the images of a folder as pytorch-fid does (files
// with the lower-case extensions of fidImageExtensions, sorted by path);
// fewer than two is an error, and so are files of pytorch-fid's extensions
// the toolkit does not decode (fidOtherFormats).
func fidImageFiles(dir string) ([]string, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s is neither a folder of images nor an .npz file", dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var files, others []string
	formats := map[string]bool{}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		ext := strings.TrimPrefix(filepath.Ext(e.Name()), ".")
		if slices.Contains(fidImageExtensions, ext) {
			files = append(files, filepath.Join(dir, e.Name()))
		} else if f, ok := fidOtherFormats[ext]; ok {
			others = append(others, e.Name())
			formats[f] = true
		}
	}
	if len(others) > 0 {
		slices.Sort(others)
		names := slices.Sorted(maps.Keys(formats))
		return nil, fmt.Errorf("%s holds %d %s file(s) (%s), which pytorch-fid would count: cadps decodes PNG and JPEG only; convert them to 8-bit RGB PNG",
			dir, len(others), strings.Join(names, "/"), listed(others))
	}
	slices.Sort(files)
	if len(files) < 2 {
		return nil, fmt.Errorf("%s holds %d images; FID needs at least 2 per set (a covariance), and thousands for a meaningful value", dir, len(files))
	}
	return files, nil
}
