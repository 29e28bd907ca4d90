package main

import (
	"flag"
	"fmt"
	"io"
	"slices"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/metrics/fid"
	"github.com/cadps/toolkit/cadps/runs"
	"github.com/gomlx/gomlx/backends"
)

// tableFlags are the flags `cadps reproduce` and `cadps merge` share that
// add tables after a reproduction's own: FID per task and method, and the
// papers' layout.
type tableFlags struct {
	fid   *string
	dims  *int
	paper *bool
}

func addTableFlags(fs interface {
	String(name, value, usage string) *string
	Int(name string, value int, usage string) *int
	Bool(name string, value bool, usage string) *bool
}) tableFlags {
	return tableFlags{
		fid:   fs.String("fid", "", "also FID per task and method (reconstructions against clean images), with pytorch-fid's Inception weights ("+fid.WeightsFile+")"),
		dims:  fs.Int("fid-dims", 2048, "FID feature dimension: 64, 192, 768 or 2048 (as pytorch-fid's --dims)"),
		paper: fs.Bool("paper-table", false, "end with the table in the papers' layout: a row per task; LPIPS, FID, PSNR and SSIM per method"),
	}
}

// check reports -fid-dims given without -fid (fs holds the flags), which
// would be ignored, and a feature dimension pytorch-fid does not offer.
func (f tableFlags) check(fs *flag.FlagSet) error {
	if *f.fid == "" && isSet(fs, "fid-dims") {
		return usagef("-fid-dims sets up -fid: give -fid too")
	}
	if !slices.Contains(fid.BlockDims(), *f.dims) {
		return usagef("-fid-dims %d: want 64, 192, 768 or 2048", *f.dims)
	}
	return nil
}

// fidLoader loads the FID network from its weights: fid.Load, or a
// stand-in with which a test sees when the network is loaded.
type fidLoader func(b backends.Backend, weights string, blocks ...int) (*fid.Model, error)

// load returns the FID network the flags select, loaded by loadFID (nil
// without -fid), so that bad weights are reported before a long run.
func (f tableFlags) load(loadFID fidLoader) (*fid.Model, error) {
	if *f.fid == "" {
		return nil, nil
	}
	b, err := backend.New()
	if err != nil {
		return nil, err
	}
	return loadFID(b, *f.fid, slices.Index(fid.BlockDims(), *f.dims))
}

// fidBatch is the number of images the FID network runs at once.
const fidBatch = 50

// print writes the FID table (with an FID network m) and, with
// -paper-table, the table in the papers' layout, tasks and methods in the
// order given (any others after them). Both name the LPIPS network and
// weights (t.LPIPS) and the FID features and Inception weights they show.
func (f tableFlags) print(w io.Writer, t *runs.Table, m *fid.Model, taskOrder, methodOrder []string) error {
	var fids []runs.FIDRow
	src := runs.MetricSources{LPIPS: t.LPIPS, FIDDims: *f.dims}
	if m != nil {
		var err error
		if fids, err = t.FID(m, fidBatch); err != nil {
			return err
		}
		src.FIDWeights = m.WeightsDigest()
		fmt.Fprintf(w, "\n%s", runs.FIDMarkdown(fids, src))
	}
	if *f.paper {
		fmt.Fprintf(w, "\n%s", runs.PaperMarkdown(t.Rows, fids, src, taskOrder, methodOrder))
	}
	return nil
}
