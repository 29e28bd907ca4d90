package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// Result is one measurement, one line of the JSON Lines file.
//
// MS is the median time of one call (forward pass or step) in
// milliseconds; for a whole run ("cadps-run") it is the mean time per step
// (see SPerImage). It is null when the measurement failed (Error says why)
// or was skipped for want of time (Skipped says so).
type Result struct {
	Impl      string   `json:"impl"`      // "torch" or "cadps"
	What      string   `json:"what"`      // "forward", "dps-step", "cadps-step" or "cadps-run" (an unknown torch kind as is, with Error)
	Batch     int      `json:"batch"`     // images per call
	Precision string   `json:"precision"` // "default", "tf32", "fp32", "bf16" or "fp16" ("unknown", with Error, for an odd torch record)
	MS        *float64 `json:"ms"`
	Device    string   `json:"device"`
	// Options names what else was set, comma-separated: torch's "compile",
	// "channels-last", "cudnn-benchmark", "attn-recompute-off"; a method
	// spec's options (e.g. "batched=true").
	Options     string   `json:"options,omitempty"`
	MSMin       *float64 `json:"ms_min,omitempty"`        // fastest call (torch)
	FirstCallMS *float64 `json:"first_call_ms,omitempty"` // compile and first call (cadps)
	// TFLOPS is each tool's own count: torch_reference.py counts a DPS step
	// as 2 forward passes and a CA-DPS step as 3, gpucheck as 3 and 4.
	TFLOPS  *float64 `json:"tflops,omitempty"`
	PeakMiB *float64 `json:"peak_mib,omitempty"` // torch.cuda.max_memory_allocated
	// Whole runs: Steps is the steps run, StepsPlanned the steps asked for
	// when a time budget stopped the run early. MS is the mean time of a
	// step over the steps run: torch's over all of them (warm: its steps
	// were timed at that batch before), cadps's over those after the first,
	// which holds the one-time XLA compile (CompileS). SPerImage is the
	// same measure for both, a whole run's time per image at that rate:
	// MS × the steps asked for (StepsPlanned, else Steps) / Batch, in
	// seconds; so a run stopped early compares with one that finished.
	Steps        int      `json:"steps,omitempty"`
	SPerImage    *float64 `json:"s_per_image,omitempty"`
	CompileS     *float64 `json:"compile_s,omitempty"`
	StepsPlanned int      `json:"steps_planned,omitempty"`
	Error        string   `json:"error,omitempty"`
	// Skipped says why a measurement did not run: gpucheck's "the 2m0s
	// budget is spent" or "stopped by SIGINT", for a whole run "stopped
	// after the compile step" (no time per step), or the reason its part
	// gives in the plan (see Planned); MS is then null.
	Skipped string `json:"skipped,omitempty"`
}

// runSPerImage is SPerImage (see Result) of a whole run of planned steps at
// msPerStep.
func runSPerImage(msPerStep float64, planned, batch int) *float64 {
	s := msPerStep * float64(planned) / 1e3 / float64(batch)
	return &s
}

// torchRecord is one line of torch_reference.py time --json: the setup
// fields repeated on every line, then the measurement's.
type torchRecord struct {
	Record        string   `json:"record"`
	Kind          string   `json:"kind"`
	Batch         int      `json:"batch"`
	MS            *float64 `json:"ms"`
	MSMin         *float64 `json:"ms_min"`
	TFLOPS        *float64 `json:"tflops"`
	PeakMiB       *float64 `json:"peak_mib"`
	Steps         int      `json:"steps"`
	StepsDone     int      `json:"steps_done"`
	SPerImage     *float64 `json:"s_per_image"`
	MSPerStep     *float64 `json:"ms_per_step"`
	Error         string   `json:"error"`
	Device        string   `json:"device"`
	DType         string   `json:"dtype"`
	Compile       bool     `json:"compile"`
	ChannelsLast  bool     `json:"channels_last"`
	CUDNNBench    bool     `json:"cudnn_benchmark"`
	AttnRecompute string   `json:"attn_recompute"`
	MatmulFP32    string   `json:"matmul_fp32"`
	ConvFP32      string   `json:"cudnn_conv_fp32"`
}

// torchWhat maps torch_reference.py's kinds to the comparison's what. A
// whole loop is "cadps_loop" when it ran and "cadps-loop" when it failed.
var torchWhat = map[string]string{"forward": "forward", "dps": "dps-step", "cadps": "cadps-step",
	"cadps_loop": "cadps-run", "cadps-loop": "cadps-run"}

// torchPrecision names the precision a torch record ran at: its torso dtype
// when that is not float32, else from the effective fp32 matmul and cuDNN
// convolution settings ("default" is the reference's: TF32 convolutions,
// IEEE matrix products).
func torchPrecision(r torchRecord) (string, error) {
	switch r.DType {
	case "bfloat16":
		return "bf16", nil
	case "float16":
		return "fp16", nil
	case "float32", "":
	default:
		return "", fmt.Errorf("unknown dtype %q", r.DType)
	}
	switch [2]string{r.MatmulFP32, r.ConvFP32} {
	case [2]string{"ieee", "tf32"}:
		return "default", nil
	case [2]string{"tf32", "tf32"}:
		return "tf32", nil
	case [2]string{"ieee", "ieee"}:
		return "fp32", nil
	}
	return "", fmt.Errorf("matmul_fp32 %q with cudnn_conv_fp32 %q is no precision of the comparison", r.MatmulFP32, r.ConvFP32)
}

func torchOptions(r torchRecord) string {
	var o []string
	if r.Compile {
		o = append(o, "compile")
	}
	if r.ChannelsLast {
		o = append(o, "channels-last")
	}
	if r.CUDNNBench {
		o = append(o, "cudnn-benchmark")
	}
	if r.AttnRecompute == "off" {
		o = append(o, "attn-recompute-off")
	}
	return strings.Join(o, ",")
}

// ParseTorch reads the JSON lines of torch_reference.py time --json and
// returns its measurements (setup lines are skipped). A line that is not
// JSON is an error naming it; an odd measurement is kept as a line with
// Error and no time, so that it does not lose the others: a kind not in
// torchWhat (its what the kind itself), a dtype or a pair of fp32 matmul
// and cuDNN settings that is no precision of the comparison (precision
// "unknown"), a whole run without its time per step, steps or batch.
func ParseTorch(r io.Reader) ([]Result, error) {
	var out []Result
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var rec torchRecord
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			return nil, fmt.Errorf("torch line %d: %w", n, err)
		}
		if rec.Record != "measurement" {
			continue
		}
		what, ok := torchWhat[rec.Kind]
		if !ok {
			what = rec.Kind
			why := fmt.Sprintf("unknown kind %q from torch_reference.py, not compared", rec.Kind)
			if rec.Error != "" {
				why += ": " + rec.Error
			}
			rec.Error, rec.MS, rec.MSMin, rec.TFLOPS = why, nil, nil, nil
		}
		prec, err := torchPrecision(rec)
		if err != nil {
			prec = "unknown"
			rec.Error, rec.MS, rec.MSMin, rec.TFLOPS = joinError(err.Error()+", not compared", rec.Error), nil, nil, nil
		}
		res := Result{Impl: "torch", What: what, Batch: rec.Batch, Precision: prec, Device: rec.Device,
			Options: torchOptions(rec), MS: rec.MS, MSMin: rec.MSMin, TFLOPS: rec.TFLOPS, PeakMiB: rec.PeakMiB, Error: rec.Error}
		if what == "cadps-run" && rec.Error == "" && ok {
			// torch's own s_per_image is the wall time of the steps run,
			// which differs from cadps's measure when a run stops early.
			if rec.MSPerStep == nil || rec.Steps == 0 || rec.Batch == 0 {
				res.MS, res.MSMin, res.TFLOPS, res.Steps = nil, nil, nil, rec.StepsDone
				res.Error = "a whole run from torch_reference.py without ms_per_step, steps or batch, not compared"
			} else {
				res.MS, res.Steps = rec.MSPerStep, rec.StepsDone
				res.SPerImage = runSPerImage(*rec.MSPerStep, rec.Steps, rec.Batch)
				if rec.StepsDone != rec.Steps {
					res.StepsPlanned = rec.Steps
				}
			}
		}
		out = append(out, res)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("torch: %w", err)
	}
	return out, nil
}

var (
	// forward      batch  1: first call (compile+run)  11033.9 ms, step      8.42 ms,   118.70 images/s,   46.05 TFLOP/s
	stepLine = regexp.MustCompile(`^(\S+)\s+batch\s+(\d+): first call \(compile\+run\)\s+([0-9.]+) ms, step\s+([0-9.]+) ms,\s+[0-9.]+ images/s,\s+([0-9.]+) TFLOP/s$`)
	// whole cadps run, graph noise, batch 16: 507 steps in 83.9 s (stopped at the budget after 507 of 1000 steps), first step (compile+run) 11.4 s
	// ("stopped by SIGINT" when a signal stopped it)
	runLine = regexp.MustCompile(`^whole (\S+) run, graph noise, batch (\d+): (\d+) steps in [0-9.]+ s(?: \(stopped (?:at the budget|by SIG[A-Z]+) after \d+ of (\d+) steps\))?, first step \(compile\+run\) ([0-9.]+) s$`)
	// whole cadps run, batch 16: 142.10 ms per step after the first; 1000 steps ≈ 142.1 s per batch, 8.88 s per image
	perStepLine = regexp.MustCompile(`^whole (\S+) run, batch (\d+): ([0-9.]+) ms per step after the first;`)
	// FAILED cadps step batch 16: out of memory
	failedLine = regexp.MustCompile(`^FAILED (\S+?)(?: step)? batch (\d+): (.*)$`)
	// FAILED whole cadps run, batch 16: out of memory
	failedRunLine = regexp.MustCompile(`^FAILED whole (\S+) run, batch (\d+): (.*)$`)
	// skipped dps-bf16 step batch 16: the 2m0s budget is spent
	skippedLine = regexp.MustCompile(`^skipped (\S+?)(?: step)? batch (\d+): (.*)$`)
	// skipped whole cadps run, batch 16: the 2m0s budget is spent
	skippedRunLine = regexp.MustCompile(`^skipped whole (\S+) run, batch (\d+): (.*)$`)
)

// cadpsWhat maps gpucheck's label (forward, dps, cadps:batched=true,
// dps-bf16, ...) to the comparison's what, options and whether it ran in
// bfloat16.
func cadpsWhat(label string) (what, options string, bf16 bool, err error) {
	label, bf16 = strings.CutSuffix(label, "-bf16")
	name, options, _ := strings.Cut(label, ":")
	switch name {
	case "forward":
		what = "forward"
	case "dps", "cadps":
		what = name + "-step"
	default:
		return "", "", false, fmt.Errorf("unknown measurement %q", label)
	}
	return what, options, bf16, nil
}

// ParseCadps reads the output of gpucheck that ran at precision (the
// process's setting: "tf32", XLA's default, or "fp32"; lines of the
// bfloat16 network are "bf16") on device, and returns its forward, step and
// whole-run measurements, those that failed (Error) or were skipped at the
// budget (Skipped) among them; a whole run without a time per step (stopped
// after its first step, the compile) is skipped too, saying so. Other lines
// (parity, noise runs, memory) are passed over.
func ParseCadps(r io.Reader, precision, device string) ([]Result, error) {
	var out []Result
	runs := map[string]int{} // whole run "method/batch" → its index in out
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if m := stepLine.FindStringSubmatch(line); m != nil {
			what, opts, bf16, err := cadpsWhat(m[1])
			if err != nil {
				return nil, fmt.Errorf("cadps line %d: %w", n, err)
			}
			prec := precision
			if bf16 {
				prec = "bf16"
			}
			out = append(out, Result{Impl: "cadps", What: what, Batch: atoi(m[2]), Precision: prec, Device: device,
				Options: opts, FirstCallMS: num(m[3]), MS: num(m[4]), TFLOPS: num(m[5])})
			continue
		}
		if m := runLine.FindStringSubmatch(line); m != nil {
			what, opts, _, err := cadpsWhat(m[1])
			if err != nil || what != "cadps-step" {
				return nil, fmt.Errorf("cadps line %d: whole run of %q: only CA-DPS runs are compared", n, m[1])
			}
			res := Result{Impl: "cadps", What: "cadps-run", Batch: atoi(m[2]), Precision: precision, Device: device,
				Options: opts, Steps: atoi(m[3]), CompileS: num(m[5])}
			if m[4] != "" {
				res.StepsPlanned = atoi(m[4])
			}
			runs[m[1]+"/"+m[2]] = len(out)
			out = append(out, res)
			continue
		}
		if m := perStepLine.FindStringSubmatch(line); m != nil {
			i, ok := runs[m[1]+"/"+m[2]]
			if !ok {
				return nil, fmt.Errorf("cadps line %d: time per step of a whole run whose first line is missing", n)
			}
			r := &out[i]
			planned := r.Steps
			if r.StepsPlanned > 0 {
				planned = r.StepsPlanned
			}
			r.MS = num(m[3])
			r.SPerImage = runSPerImage(*r.MS, planned, r.Batch)
			continue
		}
		// A whole run that failed or was skipped, then a step's or forward
		// pass's: the run's lines are the more specific.
		if res, why, ok := notRun(line, failedRunLine, failedLine, precision, device); ok {
			res.Error = why
			out = append(out, res)
			continue
		}
		if res, why, ok := notRun(line, skippedRunLine, skippedLine, precision, device); ok {
			res.Skipped = why
			out = append(out, res)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("cadps: %w", err)
	}
	// A whole run without a time per step: stopped at the budget after its
	// first step, which holds the compile, or cut off before it printed one.
	for i := range out {
		r := &out[i]
		if r.What != "cadps-run" || r.MS != nil || r.Error != "" || r.Skipped != "" {
			continue
		}
		if r.Steps < 2 {
			r.Skipped = fmt.Sprintf("stopped after the compile step (%d of %d steps run): no time per step", r.Steps, max(r.StepsPlanned, r.Steps))
		} else {
			r.Skipped = fmt.Sprintf("no time per step in the output (%d steps run)", r.Steps)
		}
	}
	return out, nil
}

// notRun reads a line of a measurement that did not run: runLine's (a
// whole run) or stepLine's (a forward pass or step), each matching the
// label, the batch and why. It returns the result, without a time, and why;
// false for other lines and for measurements outside the comparison
// (parity, noise runs, whole runs of other methods).
func notRun(line string, runLine, stepLine *regexp.Regexp, precision, device string) (res Result, why string, ok bool) {
	if m := runLine.FindStringSubmatch(line); m != nil {
		what, opts, _, err := cadpsWhat(m[1])
		if err != nil || what != "cadps-step" {
			return Result{}, "", false
		}
		return Result{Impl: "cadps", What: "cadps-run", Batch: atoi(m[2]), Precision: precision, Device: device, Options: opts}, m[3], true
	}
	m := stepLine.FindStringSubmatch(line)
	if m == nil {
		return Result{}, "", false
	}
	what, opts, bf16, err := cadpsWhat(m[1])
	if err != nil {
		return Result{}, "", false
	}
	if bf16 {
		precision = "bf16"
	}
	return Result{Impl: "cadps", What: what, Batch: atoi(m[2]), Precision: precision, Device: device, Options: opts}, m[3], true
}

// atoi and num parse what the regular expressions matched (digits only).
func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func num(s string) *float64 {
	f, _ := strconv.ParseFloat(s, 64)
	return &f
}

// joinError prints why, then the record's own error, if any.
func joinError(why, own string) string {
	if own == "" {
		return why
	}
	return why + ": " + own
}
