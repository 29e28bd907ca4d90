// Command gpucompare turns the outputs of a side-by-side GPU timing, the
// PyTorch reference (torch_reference.py time --json) and this toolkit
// (gpucheck), into one JSON Lines file: one measurement per line with impl
// (torch or cadps), what (forward, dps-step, cadps-step, cadps-run), batch,
// precision, ms and device, and for whole runs steps and s_per_image, one
// measure for both tools (see Result); a measurement that failed keeps its
// line with error and no ms, and one that did not run, with skipped and no
// ms: those gpucheck skipped for want of time, and with -plan every
// measurement the plan names that the inputs hold no result for (torch's
// skips for time leave no record of their own, nor does a part stopped or
// never started), with the reason its part gives (see Planned).
// scripts/gpu/compare.sh runs it on the GPU machine.
//
// Usage:
//
//	gpucompare -device NAME [-torch torch.jsonl]... [-cadps PRECISION=gpucheck.log]... [-plan plan.jsonl] -out results.jsonl
//
// PRECISION is the precision gpucheck's process ran at: tf32 (XLA's
// default) or fp32 (TF32 and Triton GEMMs off); its bfloat16 lines are
// labelled bf16 whatever the process. The output (and its folder) is
// written atomically; a missing or malformed input is an error and writes
// nothing, and an input without a single measurement (a part that never ran,
// or torch's lines given as gpucheck's) is named on stderr.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/cadps/toolkit/internal/atomicfile"
)

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "gpucompare:", err)
		os.Exit(1)
	}
}

// listFlag collects a repeated flag's values.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, " ") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// run converts the inputs that args name; an input without a single
// measurement (a part that never ran, or another tool's output) is named on
// stderr, and the others are still written.
func run(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("gpucompare", flag.ContinueOnError)
	var torch, cadps listFlag
	device := fs.String("device", "", "the GPU's name for the cadps lines and the skipped ones (torch records its own)")
	planPath := fs.String("plan", "", "the planned measurements, one part per line (see Planned): those without a result get a skipped line")
	out := fs.String("out", "", "the JSON Lines file to write")
	fs.Var(&torch, "torch", "a file of torch_reference.py time --json lines (repeatable)")
	fs.Var(&cadps, "cadps", "PRECISION=FILE: gpucheck's output and the precision it ran at, tf32 or fp32 (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("-out is required")
	}
	if len(torch)+len(cadps) == 0 {
		return errors.New("nothing to convert: give -torch or -cadps")
	}
	if (len(cadps) > 0 || *planPath != "") && *device == "" {
		return errors.New("-device is required with -cadps and -plan")
	}
	var all []Result
	for _, path := range torch {
		rs, err := parseFile(path, ParseTorch)
		if err != nil {
			return err
		}
		if len(rs) == 0 {
			fmt.Fprintf(stderr, "gpucompare: %s: no measurement (torch_reference.py time --json lines expected)\n", path)
		}
		all = append(all, rs...)
	}
	for _, spec := range cadps {
		prec, path, ok := strings.Cut(spec, "=")
		if !ok || (prec != "tf32" && prec != "fp32") {
			return fmt.Errorf("-cadps %q: want tf32=FILE or fp32=FILE", spec)
		}
		rs, err := parseFile(path, func(r io.Reader) ([]Result, error) { return ParseCadps(r, prec, *device) })
		if err != nil {
			return err
		}
		if len(rs) == 0 {
			fmt.Fprintf(stderr, "gpucompare: %s: no measurement (gpucheck's output expected)\n", path)
		}
		all = append(all, rs...)
	}
	if *planPath != "" {
		plan, err := parseFile(*planPath, ParsePlan)
		if err != nil {
			return err
		}
		all = append(all, Unmeasured(plan, all, *device)...)
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return err
	}
	return atomicfile.Write(*out, func(w io.Writer) error { return WriteJSONL(w, all) })
}

func parseFile[T any](path string, parse func(io.Reader) ([]T, error)) ([]T, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rs, err := parse(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rs, nil
}

// WriteJSONL writes one JSON object per result and line.
func WriteJSONL(w io.Writer, rs []Result) error {
	enc := json.NewEncoder(w)
	for _, r := range rs {
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	return nil
}
