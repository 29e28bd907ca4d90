package train

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/cadps/toolkit/checkpoints"
	"github.com/cadps/toolkit/internal/atomicfile"
)

// Files a run writes in its output folder.
const (
	// CheckpointFile is the whole training state (see [Trainer.SaveCheckpoint]).
	CheckpointFile = "checkpoint.safetensors"
	// EMAFile holds the EMA weights with the checkpoint keys: the prior.
	EMAFile = "ema.safetensors"
	// LossFile is the CSV log of every step's losses.
	LossFile = "losses.csv"
	// LossPlotFile is the loss curve (see [PlotLoss]).
	LossPlotFile = "loss.png"
)

// lossHeader is the first line of [LossFile].
const lossHeader = "step,loss,mse,vb,grad_norm"

// RunOptions control [Trainer.Run].
type RunOptions struct {
	// Steps is the total number of steps the run should reach (counting
	// those taken before a resume).
	Steps int64
	// OutDir receives the files named above.
	OutDir string
	// CheckpointEvery saves the checkpoint, the EMA weights and the loss
	// plot every so many steps (0: only at the end).
	CheckpointEvery int64
	// Progress, when not nil, receives a progress line after every step;
	// with Terminal it is redrawn in place as a bar.
	Progress io.Writer
	// Terminal says Progress is a terminal.
	Terminal bool
	// LogEvery writes a plain progress line every so many steps when
	// Progress is not a terminal (0: 100).
	LogEvery int64
	// Stop, when not nil, is polled after every step; once it returns true
	// the run saves a checkpoint and returns [ErrStopped].
	Stop func() bool
	// Check, when not nil, is called before every write into OutDir (the
	// loss log, the checkpoint, the EMA weights, the loss plot); when it
	// returns an error, Run returns that error without writing, e.g. once
	// the run has lost its claim on OutDir to another one.
	Check func() error
}

// ErrStopped is returned by Run when RunOptions.Stop asked it to stop.
var ErrStopped = errors.New("train: stopped")

// Run trains until opts.Steps steps are done, appending every step's losses
// to the loss log and saving the checkpoint, the EMA weights and the loss
// plot every opts.CheckpointEvery steps and at the end. A loss log longer
// than the trainer's step count (left by a run that stopped after its last
// checkpoint) is cut back first, so that a resumed run's log has each step
// once, and the temporary files a run killed while writing left are
// removed. A step that fails (see [Trainer.Step]) ends the run with its
// error, its losses the last line of the log.
func (t *Trainer) Run(opts RunOptions) error {
	if opts.Steps < t.step {
		return fmt.Errorf("train: the run is already at step %d, past the %d steps asked for", t.step, opts.Steps)
	}
	if opts.OutDir == "" {
		return errors.New("train: no output folder")
	}
	if err := os.MkdirAll(opts.OutDir, 0o755); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	check := func() error {
		if opts.Check == nil {
			return nil
		}
		return opts.Check()
	}
	history, err := ReadLossLog(filepath.Join(opts.OutDir, LossFile), t.step)
	if err != nil {
		return err
	}
	if err := check(); err != nil {
		return err
	}
	removeTemps(opts.OutDir)
	if err := writeLossLog(filepath.Join(opts.OutDir, LossFile), history); err != nil {
		return err
	}
	logFile, err := os.OpenFile(filepath.Join(opts.OutDir, LossFile), os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	defer logFile.Close()
	// Every write of the buffered log, a full buffer's too, is checked.
	logc := &checkedWriter{w: logFile, check: check}
	logw := bufio.NewWriter(logc)
	logErr := func(err error) error {
		if logc.err != nil {
			return logc.err
		}
		return fmt.Errorf("train: writing the loss log: %w", err)
	}

	save := func() error {
		if err := logw.Flush(); err != nil {
			return logErr(err)
		}
		if err := check(); err != nil {
			return err
		}
		if err := t.SaveCheckpoint(filepath.Join(opts.OutDir, CheckpointFile)); err != nil {
			return err
		}
		ema, err := t.EMAWeights()
		if err != nil {
			return err
		}
		if err := check(); err != nil {
			return err
		}
		if err := checkpoints.SaveSafetensors(filepath.Join(opts.OutDir, EMAFile), ema); err != nil {
			return fmt.Errorf("train: saving EMA weights: %w", err)
		}
		if len(history) > 0 {
			if err := check(); err != nil {
				return err
			}
			if err := SaveLossPlot(filepath.Join(opts.OutDir, LossPlotFile), history, t.cfg.History, 800, 450); err != nil {
				return err
			}
		}
		return nil
	}

	bar := newProgress(opts.Progress, opts.Terminal, t.step, opts.Steps, opts.LogEvery)
	for t.step < opts.Steps {
		before := t.step
		l, stepErr := t.Step()
		if t.step > before {
			// The step ran, a failing one too (its losses are not
			// finite): its line is the one that explains the failure.
			history = append(history, LossPoint{Step: t.step, StepLosses: l})
			if _, err := fmt.Fprintf(logw, "%d,%.6g,%.6g,%.6g,%.6g\n", t.step, l.Loss, l.MSE, l.VB, l.GradNorm); err != nil {
				return errors.Join(stepErr, logErr(err))
			}
		}
		if stepErr != nil {
			// The log keeps the steps up to the failing one; a resume
			// from the last checkpoint cuts it back (see ReadLossLog).
			if err := logw.Flush(); err != nil {
				return errors.Join(stepErr, logErr(err))
			}
			return stepErr
		}
		bar.update(t.step, history)
		saved := false
		if opts.CheckpointEvery > 0 && t.step%opts.CheckpointEvery == 0 && t.step < opts.Steps {
			if err := save(); err != nil {
				return err
			}
			saved = true
		}
		if opts.Stop != nil && t.step < opts.Steps && opts.Stop() { // after the last step the run has ended
			bar.finish()
			if !saved {
				if err := save(); err != nil {
					return err
				}
			}
			return ErrStopped
		}
	}
	bar.finish()
	return save()
}

// removeTemps removes the temporary files (see package atomicfile) that a
// run killed while writing one of its files left in dir; the files
// themselves are whole, the old or the new version.
func removeTemps(dir string) {
	for _, name := range []string{CheckpointFile, EMAFile, LossFile, LossPlotFile} {
		atomicfile.RemoveTemps(dir, atomicfile.GlobEscape(name))
	}
}

// checkedWriter writes to w after check allows it; err is check's
// refusal.
type checkedWriter struct {
	w     io.Writer
	check func() error
	err   error
}

func (c *checkedWriter) Write(p []byte) (int, error) {
	if c.err = c.check(); c.err != nil {
		return 0, c.err
	}
	return c.w.Write(p)
}

// ReadLossLog reads a run's loss log, keeping the steps up to upTo; a
// missing or empty file is an empty log. A last line without its newline is the
// line a run killed while writing cut short; it is dropped, since the log
// is flushed before each checkpoint, so that it holds a step after any
// checkpoint the run can resume from.
func ReadLossLog(path string, upTo int64) ([]LossPoint, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	if len(data) == 0 {
		return nil, nil
	}
	text := string(data)
	if i := strings.LastIndexByte(text, '\n'); i >= 0 && i < len(text)-1 {
		text = text[:i+1]
	}
	var out []LossPoint
	for n, ln := range strings.Split(strings.TrimSpace(text), "\n") {
		if n == 0 {
			if ln != lossHeader {
				return nil, fmt.Errorf("train: %s: unexpected header %q", path, ln)
			}
			continue
		}
		f := strings.Split(ln, ",")
		if len(f) != 5 {
			return nil, fmt.Errorf("train: %s line %d: %d fields, want 5", path, n+1, len(f))
		}
		var p LossPoint
		var perr error
		parse := func(s string) float64 {
			v, err := strconv.ParseFloat(s, 64)
			if err != nil && perr == nil {
				perr = err
			}
			return v
		}
		p.Step, perr = strconv.ParseInt(f[0], 10, 64)
		p.Loss, p.MSE, p.VB, p.GradNorm = parse(f[1]), parse(f[2]), parse(f[3]), parse(f[4])
		if perr != nil {
			return nil, fmt.Errorf("train: %s line %d: %w", path, n+1, perr)
		}
		if p.Step <= upTo {
			out = append(out, p)
		}
	}
	return out, nil
}

// writeLossLog rewrites the loss log with the given points.
func writeLossLog(path string, points []LossPoint) error {
	return atomicfile.Write(path, func(w io.Writer) error {
		bw := bufio.NewWriter(w)
		fmt.Fprintln(bw, lossHeader)
		for _, p := range points {
			fmt.Fprintf(bw, "%d,%.6g,%.6g,%.6g,%.6g\n", p.Step, p.Loss, p.MSE, p.VB, p.GradNorm)
		}
		return bw.Flush()
	})
}

// progress draws a progress bar (on a terminal) or periodic log lines.
type progress struct {
	w         io.Writer
	terminal  bool
	every     int64
	total     int64
	start     time.Time
	startStep int64
	last      time.Time
}

func newProgress(w io.Writer, terminal bool, step, total, every int64) *progress {
	if every <= 0 {
		every = 100
	}
	now := time.Now()
	return &progress{w: w, terminal: terminal, every: every, total: total, start: now, startStep: step}
}

// update reports step, with the mean losses of the last few steps.
func (p *progress) update(step int64, history []LossPoint) {
	if p.w == nil {
		return
	}
	now := time.Now()
	if p.terminal && now.Sub(p.last) < 200*time.Millisecond && step != p.total {
		return
	}
	if !p.terminal && step%p.every != 0 && step != p.total {
		return
	}
	p.last = now
	n := min(len(history), 50)
	var loss, mse, vb float64
	for _, h := range history[len(history)-n:] {
		loss += h.Loss / float64(n)
		mse += h.MSE / float64(n)
		vb += h.VB / float64(n)
	}
	elapsed := now.Sub(p.start).Seconds()
	rate := float64(step-p.startStep) / max(elapsed, 1e-9)
	eta := "?"
	if rate > 0 {
		eta = (time.Duration(float64(p.total-step)/rate) * time.Second).Round(time.Second).String()
	}
	stats := fmt.Sprintf("%d/%d loss %.4f (mse %.4f vb %.4f) %.2f steps/s eta %s", step, p.total, loss, mse, vb, rate, eta)
	if !p.terminal {
		fmt.Fprintf(p.w, "%s step %s\n", now.Format(time.DateTime), stats)
		return
	}
	const width = 30
	filled := int(float64(width) * float64(step) / float64(max(p.total, 1)))
	fmt.Fprintf(p.w, "\r[%s%s] %s\x1b[K", strings.Repeat("#", filled), strings.Repeat(".", width-filled), stats)
}

// finish ends the bar's line.
func (p *progress) finish() {
	if p.w != nil && p.terminal {
		fmt.Fprintln(p.w)
	}
}
