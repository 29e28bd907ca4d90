//go:build unix

package main

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cadps/toolkit/cadps/metrics/fid"
	"github.com/cadps/toolkit/cadps/runs"
	"github.com/cadps/toolkit/cadps/runs/claim"
	"github.com/cadps/toolkit/cadps/train"
	"github.com/cadps/toolkit/checkpoints"
	"github.com/cadps/toolkit/internal/atomicfile/atomicfiletest"
	"github.com/cadps/toolkit/internal/process"
)

// signalEnv names the environment variable that makes
// TestSignalHelperProcess run the command whose arguments it holds
// (separated by newlines).
const signalEnv = "CADPS_TEST_SIGNAL_ARGS"

// TestSignalHelperProcess is the command TestStopOnSignal runs as a
// subprocess and interrupts.
func TestSignalHelperProcess(t *testing.T) {
	args := strings.Split(os.Getenv(signalEnv), "\n")
	if args[0] == "" {
		t.Skip("helper process for TestStopOnSignal")
	}
	if code := run(args, io.Discard, os.Stderr); code != 0 {
		os.Exit(code) // the command's exit status, as main gives it
	}
}

// TestStopOnSignal interrupts a bench and an evaluation (SIGINT, as
// Ctrl-C does) once they have written something: each exits saying it
// stopped and leaves no claim, so that a rerun need not wait for the
// lease.
func TestStopOnSignal(t *testing.T) {
	dir := t.TempDir()
	bench := filepath.Join(dir, "bench.csv")
	eval := filepath.Join(dir, "eval")
	for _, tc := range []struct {
		name    string
		args    []string
		started string // a file with two lines once the run is under way
		claims  string // the claim files' pattern
	}{
		{"gmm bench", []string{"gmm", "bench", "--dims", "8,80,800", "--dims-y", "1,2,4", "--problems", "20", "--methods", "dps,exact",
			"--samples", "200", "--steps", "50", "--projections", "20", "--csv", bench}, bench + ".partial", bench + ".claim*"},
		{"evaluate", []string{"evaluate", "-data", testImagesDir(t), "-count", "10", "-batch", "1", "-steps", "20", "-jobs", "1",
			"-tasks", "sr:factor=2", "-methods", "dps", "-quiet", "-out", eval}, filepath.Join(eval, runs.EvalResultsFile), filepath.Join(eval, "*.claim*")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := startHelper(t, "^TestSignalHelperProcess$", signalEnv+"="+strings.Join(tc.args, "\n"))
			p.waitUntil(t, "under way", func() bool {
				data, err := os.ReadFile(tc.started)
				return err == nil && bytes.Count(data, []byte("\n")) >= 2
			})
			err := p.stop(t, syscall.SIGINT)
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 128+int(syscall.SIGINT) || !strings.Contains(p.log.String(), "stopped;") {
				t.Fatalf("after SIGINT: %v, want exit status 130 and a line saying it stopped; output:\n%s", err, p.log.String())
			}
			if m, _ := filepath.Glob(tc.claims); len(m) > 0 {
				t.Errorf("claims left after SIGINT: %v", m)
			}
		})
	}
}

// TestGMMBenchExistingCSV: a bench without --resume refuses a CSV file
// that exists, saying how to go on, and leaves it as it was; with --resume
// it extends it.
func TestGMMBenchExistingCSV(t *testing.T) {
	csvPath := filepath.Join(t.TempDir(), "runs.csv")
	bench := func(extra ...string) error {
		args := append([]string{"bench", "--dims", "8", "--dims-y", "1", "--methods", "exact", "--samples", "40", "--steps", "5",
			"--projections", "20", "--csv", csvPath}, extra...)
		return gmmCommand().run(args, io.Discard, io.Discard)
	}
	if err := bench("--problems", "1"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string // the error, "" for none
		rows int    // the CSV's rows afterwards
	}{
		{"same settings", []string{"--problems", "1"}, csvPath + " exists: resume the bench to extend it", 1},
		{"other settings", []string{"--problems", "2", "--samples", "50"}, csvPath + " exists: resume the bench to extend it", 1},
		{"resume", []string{"--problems", "2", "--resume"}, "", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := readFile(t, csvPath)
			err := bench(tc.args...)
			switch {
			case tc.want == "" && err != nil:
				t.Fatal(err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want %q", err, tc.want)
			case tc.want != "" && readFile(t, csvPath) != before:
				t.Error("a refused bench changed the CSV")
			}
			if n := len(readCSV(t, csvPath)) - 1; n != tc.rows {
				t.Errorf("%d rows, want %d", n, tc.rows)
			}
			if m, _ := filepath.Glob(csvPath + ".*"); len(m) > 0 {
				t.Errorf("files left beside the CSV: %v", m)
			}
		})
	}
}

// TestTrainClaim: a training run into a folder another one holds is
// refused at once, naming the holder, and writes nothing; one into a free
// folder leaves no claim behind.
func TestTrainClaim(t *testing.T) {
	data := writeTinyIDX(t, 3)
	for _, tc := range []struct {
		name string
		held bool
		want string // the error, "" for none
	}{
		{"held", true, "another training run is writing"},
		{"free", false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			if tc.held {
				cl, err := (&claim.Claimer{Worker: "the other run"}).Claim(filepath.Join(out, trainClaim))
				if err != nil {
					t.Fatal(err)
				}
				defer cl.Release()
			}
			log, err := runTrainArgs(t, append(tinyTrainArgs(data, out), "--steps", "1")...)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("%v\n%s", err, log)
				}
				if m, _ := filepath.Glob(filepath.Join(out, "*.claim*")); len(m) > 0 {
					t.Errorf("claims left after the run: %v", m)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want+" "+out) || !strings.Contains(err.Error(), "the other run") {
				t.Fatalf("error %v, want %q naming the folder and the holder", err, tc.want)
			}
			for _, name := range []string{train.CheckpointFile, train.LossFile} {
				if _, err := os.Stat(filepath.Join(out, name)); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("the refused run wrote %s (%v)", name, err)
				}
			}
		})
	}
}

// takeOver does to the claim STEM.0 what a worker does that takes over a
// claim whose holder stopped refreshing it for the lease (a run suspended
// by Slurm, say): it creates generation 1 and removes generation 0. The
// holder may see generation 1 first, stop and remove generation 0 itself.
func takeOver(t *testing.T, stem string) {
	t.Helper()
	if err := os.WriteFile(stem+".1", []byte(`{"host":"elsewhere","pid":1,"worker":"the successor","claimed":"2026-01-01T00:00:00Z"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(stem + ".0"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
}

// TestTrainLostClaim takes a running training run's folder over, as a
// run started while this one was suspended past its lease does: the run
// stops with an error naming the folder instead of writing beside its
// successor, and leaves the successor's claim alone.
func TestTrainLostClaim(t *testing.T) {
	data := writeTinyIDX(t, 3)
	for _, tc := range []struct {
		name  string
		every string // --checkpoint-every
		wait  string // the file whose appearance means the run is training
	}{
		{"checkpoint every step", "1", train.CheckpointFile},
		{"checkpoint at the end only", "0", train.LossFile},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "run")
			done := make(chan error, 1)
			go func() {
				_, err := runTrainArgs(t, append(tinyTrainArgs(data, out), "--steps", "100000", "--checkpoint-every", tc.every)...)
				done <- err
			}()
			deadline := time.After(2 * time.Minute)
			for {
				if _, err := os.Stat(filepath.Join(out, tc.wait)); err == nil {
					break
				}
				select {
				case err := <-done:
					t.Fatalf("the run ended before it was taken over: %v", err)
				case <-deadline:
					t.Fatal("not training after 2 minutes")
				case <-time.After(10 * time.Millisecond):
				}
			}
			stem := filepath.Join(out, trainClaim)
			takeOver(t, stem)
			var err error
			select {
			case err = <-done:
			case <-time.After(time.Minute):
				syscall.Kill(os.Getpid(), syscall.SIGINT) // the run stops at its next step
				<-done
				t.Fatal("the run went on writing for a minute after another took its folder over")
			}
			if err == nil || !strings.Contains(err.Error(), "another training run took "+out+" over") {
				t.Fatalf("error %v, want one saying another run took %s over", err, out)
			}
			if _, err := os.Stat(stem + ".1"); err != nil {
				t.Errorf("the successor's claim: %v", err)
			}
		})
	}
}

// TestTrainStopDuringStartup interrupts a training run while it starts
// (reading its data, here a FIFO nobody writes): it exits at once saying
// it stopped, releases its claim, and removes the folder it made; a
// folder that existed keeps what it held.
func TestTrainStopDuringStartup(t *testing.T) {
	for _, tc := range []struct {
		name     string
		existing bool // -out exists (holding notes.txt) before the run
		sig      syscall.Signal
	}{
		{"new folder, Ctrl-C", false, syscall.SIGINT},
		{"existing folder, SIGTERM", true, syscall.SIGTERM},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			fifo := filepath.Join(dir, "data-fifo")
			if err := syscall.Mkfifo(fifo, 0o644); err != nil {
				t.Skipf("no FIFO here: %v", err)
			}
			out := filepath.Join(dir, "new", "run")
			if tc.existing {
				if err := os.MkdirAll(out, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(out, "notes.txt"), []byte("mine"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			p := startHelper(t, "^TestSignalHelperProcess$", signalEnv+"="+strings.Join(append([]string{"train"}, tinyTrainArgs(fifo, out)...), "\n"))
			p.waitUntil(t, "claimed", func() bool {
				m, _ := filepath.Glob(filepath.Join(out, trainClaim+".*"))
				return len(m) > 0
			})
			err := p.stop(t, tc.sig)
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 128+int(tc.sig) || !strings.Contains(p.log.String(), "cadps train: "+tc.sig.String()+": stopped; "+out+" is free again") {
				t.Fatalf("after %v: %v, want exit status %d and a line saying it stopped; output:\n%s", tc.sig, err, 128+int(tc.sig), p.log.String())
			}
			entries, err := os.ReadDir(out)
			switch {
			case tc.existing && (err != nil || len(entries) != 1 || entries[0].Name() != "notes.txt"):
				t.Errorf("the existing folder holds %v (%v), want notes.txt alone", entries, err)
			case !tc.existing:
				if _, err := os.Stat(filepath.Join(dir, "new")); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("the interrupted run left %s (%v): %v", filepath.Join(dir, "new"), err, entries)
				}
			}
		})
	}
}

// TestTrainStopWhileTraining interrupts a training run once it trains:
// it stops after the current step with a checkpoint, says how to go on,
// and exits with 128 plus the signal's number, as every other command
// does, so that a batch job stopped at its time limit is not taken for
// one that ended (Slurm's afterok).
func TestTrainStopWhileTraining(t *testing.T) {
	data := writeTinyIDX(t, 3)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "run")
			args := append([]string{"train"}, tinyTrainArgs(data, out)...)
			args = append(args, "--steps", "100000", "--checkpoint-every", "1")
			p := startHelper(t, "^TestSignalHelperProcess$", signalEnv+"="+strings.Join(args, "\n"))
			p.waitUntil(t, "training", func() bool {
				_, err := os.Stat(filepath.Join(out, train.CheckpointFile))
				return err == nil
			})
			err := p.stop(t, sig)
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 128+int(sig) {
				t.Fatalf("after %v: %v, want exit status %d; output:\n%s", sig, err, 128+int(sig), p.log.String())
			}
			if want := "cadps train: " + sig.String() + ": stopped at step "; !strings.Contains(p.log.String(), want) ||
				!strings.Contains(p.log.String(), "; continue with --resume") {
				t.Errorf("output %q, want a line %q… saying to continue with --resume", p.log.String(), want)
			}
			if _, err := os.Stat(filepath.Join(out, train.CheckpointFile)); err != nil {
				t.Errorf("no checkpoint to resume from: %v", err)
			}
			if m, _ := filepath.Glob(filepath.Join(out, trainClaim+".*")); len(m) > 0 {
				t.Errorf("claims left: %v", m)
			}
		})
	}
}

// TestRestoreStopOnSignal interrupts a restoration while it samples: it
// exits at once saying it stopped and that the output folder, which it
// made, is removed again, and removes the folders it made, which are
// still empty; a folder that existed keeps what it held.
func TestRestoreStopOnSignal(t *testing.T) {
	img := filepath.Join(t.TempDir(), "a.png")
	writeTestImage(t, img, 16, 0)
	for _, tc := range []struct {
		name     string
		existing bool // the folder above -out exists (holding notes.txt)
		sig      syscall.Signal
	}{
		{"new folders, Ctrl-C", false, syscall.SIGINT},
		{"inside an existing folder, SIGTERM", true, syscall.SIGTERM},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			top := filepath.Join(dir, "top")
			if tc.existing {
				if err := os.Mkdir(top, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(top, "notes.txt"), []byte("mine"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			out := filepath.Join(top, "a", "out")
			args := append([]string{"restore", img, "-task", "sr:factor=2", "-method", "dps", "-steps", "500", "-draws", "20", "-out", out}, fixtureModel(t, "fixed")...)
			p := startHelper(t, "^TestSignalHelperProcess$", signalEnv+"="+strings.Join(args, "\n"))
			p.waitUntil(t, "sampling", func() bool {
				_, err := os.Stat(out)
				return err == nil
			})
			err := p.stop(t, tc.sig)
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 128+int(tc.sig) || !strings.Contains(p.log.String(), "cadps restore: "+tc.sig.String()+": stopped; "+out+", which it made, is removed again\n") {
				t.Fatalf("after %v: %v, want exit status %d and a line saying it stopped; output:\n%s", tc.sig, err, 128+int(tc.sig), p.log.String())
			}
			entries, err := os.ReadDir(top)
			switch {
			case tc.existing && (err != nil || len(entries) != 1 || entries[0].Name() != "notes.txt"):
				t.Errorf("the existing folder holds %v (%v), want notes.txt alone", entries, err)
			case !tc.existing && !errors.Is(err, fs.ErrNotExist):
				t.Errorf("the interrupted run left %s (%v): %v", top, err, entries)
			}
		})
	}
}

// TestOutputFileStopOnSignal interrupts a trace, a denoising measurement,
// a sampling, fid -save-stats, a conversion, a mixture run and a mixture
// bench while they compute, before they write their file: each exits at
// once saying it stopped and that the file was not written, and removes
// the folders it made for the file; a folder that existed keeps what it
// held.
func TestOutputFileStopOnSignal(t *testing.T) {
	data := testImagesDir(t)
	fidDir := t.TempDir()
	inception := writeWeights(t, filepath.Join(fidDir, "stem.safetensors"), 1.3, fid.Params(1))
	// A conversion waits at its input, a pipe that nothing writes to.
	pipe := filepath.Join(fidDir, "checkpoint.pt")
	if err := syscall.Mkfifo(pipe, 0o644); err != nil {
		t.Fatal(err)
	}
	gmmArgs := []string{"--method", "dps", "--dim", "8", "--dim-y", "1", "--samples", "100000", "--steps", "1000", "--projections", "20"}
	benchArgs := []string{"bench", "--dims", "8", "--dims-y", "1", "--problems", "20", "--methods", "dps",
		"--samples", "100000", "--steps", "1000", "--projections", "20"}
	benchCSV := filepath.Join(t.TempDir(), "bench.csv")
	// Enough batches of features, and network calls, to be stopped in
	// the middle of.
	fidImages := writeRandomImages(t, filepath.Join(fidDir, "images"), 200, 1, [2]int{32, 32})
	var timesteps []string
	for k := range 1000 {
		timesteps = append(timesteps, strconv.Itoa(k))
	}
	for _, tc := range []struct {
		name     string
		args     func(out string) []string
		existing bool // the folder above the file's folders exists (holding notes.txt)
		sig      syscall.Signal
	}{
		{"trace, new folders, Ctrl-C", func(out string) []string {
			return []string{"trace", "-data", data, "-count", "10", "-steps", "1000", "-out", out}
		}, false, syscall.SIGINT},
		{"trace, inside an existing folder, SIGTERM", func(out string) []string {
			return []string{"trace", "-data", data, "-count", "10", "-steps", "1000", "-out", out}
		}, true, syscall.SIGTERM},
		{"denoise, new folders, Ctrl-C", func(out string) []string {
			return []string{"denoise", "-data", data, "-count", "10", "-batch", "1", "-t", strings.Join(timesteps, ","), "-csv", out}
		}, false, syscall.SIGINT},
		{"denoise, inside an existing folder, SIGTERM", func(out string) []string {
			return []string{"denoise", "-data", data, "-count", "10", "-batch", "1", "-t", strings.Join(timesteps, ","), "-csv", out}
		}, true, syscall.SIGTERM},
		{"sample, new folders, Ctrl-C", func(out string) []string {
			return []string{"sample", "-n", "4", "-jobs", "1", "-steps", "1000", "-out", strings.TrimSuffix(out, ".csv") + ".png"}
		}, false, syscall.SIGINT},
		{"sample, inside an existing folder, SIGTERM", func(out string) []string {
			return []string{"sample", "-n", "4", "-jobs", "1", "-steps", "1000", "-out", strings.TrimSuffix(out, ".csv") + ".png"}
		}, true, syscall.SIGTERM},
		{"fid -save-stats, new folders, Ctrl-C", func(out string) []string {
			return []string{"fid", "-weights", inception, "-dims", "64", "-batch", "1", "-save-stats", strings.TrimSuffix(out, ".csv") + ".npz", fidImages}
		}, false, syscall.SIGINT},
		{"fid -save-stats, inside an existing folder, SIGTERM", func(out string) []string {
			return []string{"fid", "-weights", inception, "-dims", "64", "-batch", "1", "-save-stats", strings.TrimSuffix(out, ".csv") + ".npz", fidImages}
		}, true, syscall.SIGTERM},
		{"convert, new folders, Ctrl-C", func(out string) []string {
			return []string{"convert", pipe, strings.TrimSuffix(out, ".csv") + ".safetensors"}
		}, false, syscall.SIGINT},
		{"convert, inside an existing folder, SIGTERM", func(out string) []string {
			return []string{"convert", pipe, strings.TrimSuffix(out, ".csv") + ".safetensors"}
		}, true, syscall.SIGTERM},
		{"gmm --out, new folders, Ctrl-C", func(out string) []string {
			return append(append([]string{"gmm"}, gmmArgs...), "--out", strings.TrimSuffix(out, ".csv")+".safetensors")
		}, false, syscall.SIGINT},
		{"gmm --out, inside an existing folder, SIGTERM", func(out string) []string {
			return append(append([]string{"gmm"}, gmmArgs...), "--out", strings.TrimSuffix(out, ".csv")+".safetensors")
		}, true, syscall.SIGTERM},
		{"gmm bench --json, new folders, Ctrl-C", func(out string) []string {
			return append(append([]string{"gmm"}, benchArgs...), "--json", strings.TrimSuffix(out, ".csv")+".json")
		}, false, syscall.SIGINT},
		{"gmm bench --json, inside an existing folder, SIGTERM", func(out string) []string {
			return append(append([]string{"gmm"}, benchArgs...), "--json", strings.TrimSuffix(out, ".csv")+".json")
		}, true, syscall.SIGTERM},
		// The --csv file is continued by --resume, and its folder holds
		// its runs: the stop names it, and what it left of --json too.
		{"gmm bench --csv and --json, new folders, Ctrl-C", func(out string) []string {
			return append(append([]string{"gmm"}, benchArgs...), "--csv", benchCSV, "--json", strings.TrimSuffix(out, ".csv")+".json")
		}, false, syscall.SIGINT},
	} {
		t.Run(tc.name, func(t *testing.T) {
			top := filepath.Join(t.TempDir(), "top")
			if tc.existing {
				if err := os.Mkdir(top, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(top, "notes.txt"), []byte("mine"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			out := filepath.Join(top, "a", "b", "table.csv")
			args := tc.args(out)
			p := startHelper(t, "^TestSignalHelperProcess$", signalEnv+"="+strings.Join(args, "\n"))
			p.waitUntil(t, "computing", func() bool {
				_, err := os.Stat(filepath.Dir(out))
				return err == nil
			})
			err := p.stop(t, tc.sig)
			var exit *exec.ExitError
			file := args[len(args)-1]
			if args[0] == "fid" {
				file = args[len(args)-2]
			}
			name := args[0]
			if args[1] == "bench" {
				name += " bench"
			}
			stopped := "stopped; "
			if slices.Contains(args, "--csv") {
				stopped += benchCSV + " is free again; --resume continues it; "
			}
			if want := "cadps " + name + ": " + tc.sig.String() + ": " + stopped + file + " was not written\n"; !errors.As(err, &exit) || exit.ExitCode() != 128+int(tc.sig) || !strings.Contains(p.log.String(), want) {
				t.Fatalf("after %v: %v, want exit status %d and %q; output:\n%s", tc.sig, err, 128+int(tc.sig), want, p.log.String())
			}
			entries, err := os.ReadDir(top)
			switch {
			case tc.existing && (err != nil || len(entries) != 1 || entries[0].Name() != "notes.txt"):
				t.Errorf("the existing folder holds %v (%v), want notes.txt alone", entries, err)
			case !tc.existing && !errors.Is(err, fs.ErrNotExist):
				t.Errorf("the interrupted run left %s (%v): %v", top, err, entries)
			}
		})
	}
}

// TestRestoreHeldFolder: a restoration into a folder that another one
// holds is refused before it samples, naming the holder, and leaves the
// folder as it was (two at once would write the same staged files, and
// one's record could end beside the other's images); once the holder has
// released it, a restoration writes its files and leaves no claim.
func TestRestoreHeldFolder(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	other := &claim.Claimer{Worker: "the other restoration"}
	held, err := other.Claim(filepath.Join(out, ".restore.claim"))
	if err != nil {
		t.Fatal(err)
	}
	args := []string{smallImages + "/0-tshirt.png", "-task", "inpaint_box:size=12", "-method", "dps", "-steps", "2", "-quiet", "-out", out}
	_, _, err = runCmd(runRestore, args...)
	if err == nil || !strings.Contains(err.Error(), "another restoration is writing "+out) || !strings.Contains(err.Error(), "the other restoration") {
		t.Fatalf("restore into a held folder: error %v, want a refusal naming the holder", err)
	}
	if entries, _ := os.ReadDir(out); len(entries) != 1 {
		t.Errorf("the refused run left %v, want the holder's claim alone", entries)
	}
	if err := held.Release(); err != nil {
		t.Fatal(err)
	}
	if _, stderr, err := runCmd(runRestore, args...); err != nil {
		t.Fatalf("restore into the released folder: %v\n%s", err, stderr)
	}
	if _, err := os.Stat(filepath.Join(out, runs.RestoreRecordFile)); err != nil {
		t.Errorf("no record after the run: %v", err)
	}
	if claims, _ := filepath.Glob(filepath.Join(out, ".restore.claim*")); len(claims) > 0 {
		t.Errorf("claims left after the run: %v", claims)
	}
}

// TestKilledWriterHelperProcess is the writer that
// atomicfiletest.LeaveDeadTemp kills.
func TestKilledWriterHelperProcess(t *testing.T) { atomicfiletest.KilledWriter(t) }

// TestOutputFileRemovesDeadTemps: a command that writes an output file
// removes the temporary file that a run killed with SIGKILL while it
// wrote that file left beside it, where a temporary file's name can name
// its process (process.FullSpace; not on macOS, say).
func TestOutputFileRemovesDeadTemps(t *testing.T) {
	if process.FullSpace() == "" {
		t.Skip("this system cannot name a process's id space, so temporary files name no process and stay")
	}
	in := filepath.Join(t.TempDir(), "in.safetensors")
	sd := checkpoints.NewStateDict(in)
	if err := sd.Add(checkpoints.FromFloat32("w", []int{2}, []float32{1, 2})); err != nil {
		t.Fatal(err)
	}
	if err := checkpoints.SaveSafetensors(in, sd); err != nil {
		t.Fatal(err)
	}
	data := testImagesDir(t)
	for _, tc := range []struct {
		name string
		run  func([]string, io.Writer, io.Writer) error
		file string // the output file, in the folder dir
		args func(dir string) []string
	}{
		{"convert", runConvert, "out.safetensors", func(dir string) []string {
			return []string{in, filepath.Join(dir, "out.safetensors")}
		}},
		{"gmm --out", runGMM, "out.safetensors", func(dir string) []string {
			return []string{"--method", "exact", "--dim", "8", "--dim-y", "1", "--samples", "50", "--projections", "10", "--out", filepath.Join(dir, "out.safetensors")}
		}},
		{"evaluate", runEvaluate, runs.EvalResultsFile, func(dir string) []string {
			return []string{"-data", data, "-count", "1", "-batch", "1", "-steps", "2", "-jobs", "1", "-tasks", "sr:factor=2", "-methods", "dps", "-quiet", "-out", dir}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			temp := atomicfiletest.LeaveDeadTemp(t, filepath.Join(dir, tc.file))
			if _, stderr, err := runCmd(tc.run, tc.args(dir)...); err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			if _, err := os.Stat(temp); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("the killed run's %s is still there (%v)", filepath.Base(temp), err)
			}
			if _, err := os.Stat(filepath.Join(dir, tc.file)); err != nil {
				t.Errorf("the output: %v", err)
			}
		})
	}
}

// TestDocumentedDeadTempRemoval: docs/cli.md names, among the output
// files whose killed runs' temporary files the next run removes, each
// command's files by the names the command writes.
func TestDocumentedDeadTempRemoval(t *testing.T) {
	data, err := os.ReadFile("../../docs/cli.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.Join(strings.Fields(string(data)), " ")
	for _, tc := range []struct {
		command string
		names   string // as the list in docs/cli.md gives them
	}{
		{"evaluate", "`evaluate`'s `" + runs.EvalSettingsFile + "`, `" + runs.EvalResultsFile + "`, `" + runs.EvalTableFile +
			"` and the images under `" + runs.EvalImagesDir + "/`) removes those"},
	} {
		t.Run(tc.command, func(t *testing.T) {
			if !strings.Contains(doc, tc.names) {
				t.Errorf("docs/cli.md does not say %q", tc.names)
			}
		})
	}
}
