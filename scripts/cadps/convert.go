package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/cadps/toolkit/checkpoints"
)

// convertCommand is `cadps convert`: a PyTorch checkpoint (or a safetensors
// file) to safetensors.
func convertCommand() command {
	return command{
		name:    "convert",
		summary: "convert a PyTorch .pt/.pth checkpoint to safetensors",
		run:     runConvert,
	}
}

func runConvert(args []string, stdout, stderr io.Writer) (err error) {
	flags := newFlagSet("convert", "in.pt out.safetensors", stderr)
	force := addForceFlag(flags)
	strip := flags.String("strip-prefix", "", `remove this prefix from every tensor name, e.g. "module." for a checkpoint saved from a DataParallel model (every name must start with it)`)
	pos, err := parseInterleaved(flags, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usagef("want an input and an output file (cadps convert [-force] in.pt out.safetensors), got %s", arguments(pos))
	}
	in, out := pos[0], pos[1]
	if err := checkConvertOutput(in, out); err != nil {
		return err
	}
	if err := checkNewFiles(*force, out); err != nil {
		return err
	}
	if !strings.HasSuffix(out, ".safetensors") {
		return usagef("output %s: convert writes safetensors; name it NAME.safetensors", out)
	}
	// The output's folder is made and checked before the input is read;
	// a run that fails or is stopped leaves none it made.
	sig := stopOnSignalOutputs(nil, "convert", stderr, outputFile(out))
	defer sig.stop()
	dir, err := sig.makeOutputFileDir(out)
	if err != nil {
		return err
	}
	defer dir.undo(&err)
	sd, err := checkpoints.Load(in)
	if err != nil {
		return err
	}
	if *strip != "" {
		if err := sd.TrimPrefix(*strip); err != nil {
			return fmt.Errorf("-strip-prefix: %w", err)
		}
	}
	md := map[string]string{}
	for k, v := range sd.Metadata { // a safetensors input keeps its metadata
		md[k] = v
	}
	if md["format"] == "" { // safetensors' convention for PyTorch weights; a training checkpoint keeps its own
		md["format"] = "pt"
	}
	if md["source"] == "" { // a safetensors input keeps the origin it records
		md["source"] = filepath.Base(in)
	}
	sd.Metadata = md
	if err := sig.finish(func() error { return checkpoints.SaveSafetensors(out, sd) }); err != nil {
		return err
	}
	st, err := os.Stat(out)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: %s tensors, %s parameters, %s bytes (from %s)\n",
		out, thousands(int64(len(sd.Names))), thousands(int64(sd.NumParameters())), thousands(st.Size()), in)
	return nil
}

// checkConvertOutput refuses an output that is a folder or the input file
// itself.
func checkConvertOutput(in, out string) error {
	ost, err := os.Stat(out)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	case ost.IsDir():
		return fmt.Errorf("output %s is a directory", out)
	}
	if ist, err := os.Stat(in); err == nil && os.SameFile(ist, ost) {
		return fmt.Errorf("output %s is the input file", out)
	}
	return nil
}

// thousands formats n with commas between groups of three digits.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		s = "-" + s
	}
	return s
}
