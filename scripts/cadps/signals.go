package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/cadps/toolkit/cadps/runs/claim"
)

// signalExit is the error of a run that a signal stopped after it saved
// what it had done (train): run prints "cadps NAME: SIGNAL: MSG" and
// exits with the status stopOnSignal gives, 128 plus the signal's number.
type signalExit struct {
	sig os.Signal
	msg string
}

func (e signalExit) Error() string { return fmt.Sprintf("%v: %s", e.sig, e.msg) }

// status is the process's exit status: 130 for SIGINT, 143 for SIGTERM.
func (e signalExit) status() int {
	if s, ok := e.sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 1
}

// signalStop is a run's handling of SIGINT and SIGTERM (stopOnSignal).
type signalStop struct {
	sigs chan os.Signal
	done chan struct{}
	once sync.Once
	// mu is held while the run writes its outputs (finish); the handler
	// takes it before stopping the run, so a stop never cuts that short.
	mu sync.Mutex
	// finished is set once finish or stop has run: a signal then no
	// longer stops the run, which ends on its own a moment later.
	finished bool
	// dirs are the output folders a stop undoes.
	dirs []*outputDir
	// freed says what the stop leaves, once the folders are undone.
	freed func() string
	// outputs are the paths a stop says what it left of
	// (stopOnSignalOutputs).
	outputs []output
}

// output is a path a run writes, a file or a folder, as it was when the
// run started listening for signals: a stop says what it left of it.
type output struct {
	path   string
	folder bool
	// before is the path's state when the run started; nil when nothing
	// was there.
	before os.FileInfo
	// continued, when not empty, is what a stop says of a file that a
	// later run continues (outputContinued).
	continued string
}

// outputFile returns the output file path as it is now.
func outputFile(path string) output {
	before, _ := os.Lstat(path)
	return output{path: path, before: before}
}

// outputContinued returns the output file path that a later run
// continues, as gmm bench --resume continues its --csv file: a stop says
// of it note ("is free again; --resume continues it"), whatever it holds.
func outputContinued(path, note string) output {
	return output{path: path, continued: note}
}

// outputFolder returns the output folder path as it is now.
func outputFolder(path string) output {
	o := outputFile(path)
	o.folder = true
	return o
}

// left says what a stopped run left of o, made (when it is a folder) by
// the run itself when made is true: "is as it was" only where it was there
// before and is unchanged (a file not replaced), otherwise what became of
// it; a folder that was not there before and that the run did not make is
// another process's.
func (o output) left(made bool) string {
	if o.continued != "" {
		return o.path + " " + o.continued
	}
	now, err := os.Lstat(o.path)
	switch {
	case o.before != nil && err == nil && (o.folder || os.SameFile(o.before, now)):
		return o.path + " is as it was"
	case o.before != nil && err == nil:
		return o.path + " was replaced"
	case o.before != nil:
		return o.path + " is gone"
	case err != nil && made:
		return o.path + ", which it made, is removed again"
	case err != nil && o.folder:
		return o.path + " was not made"
	case err != nil:
		return o.path + " was not written"
	case o.folder && made:
		return o.path + ", which it made, is kept: it is not empty"
	case o.folder:
		return o.path + ", which another process made while it ran, is kept"
	}
	return o.path + " was written"
}

// left says what the stop leaves of the run's outputs, after the folders
// it made are undone; "nothing was written" for a run without outputs.
func (s *signalStop) left() string {
	if len(s.outputs) == 0 {
		return "nothing was written"
	}
	parts := make([]string, len(s.outputs))
	for k, o := range s.outputs {
		made := slices.ContainsFunc(s.dirs, func(d *outputDir) bool {
			return slices.ContainsFunc(d.made, func(m string) bool { return filepath.Clean(m) == filepath.Clean(o.path) })
		})
		parts[k] = o.left(made)
	}
	return strings.Join(parts, "; ")
}

// stopOnSignal releases the claims (none when claims is nil) and exits
// when the process is asked to stop (SIGTERM from scancel, Kubernetes or
// kill; SIGINT from Ctrl-C), so that a worker started after it need not
// wait for the lease (the work it was doing is redone then); it prints
// "cadps NAME: SIGNAL: stopped; FREED". It then undoes dirs as for a
// failed run (outputDir.undo), so that a run stopped before it wrote
// anything leaves no folder it made (dirs, and those made with the
// makeOutputDir method). Call stop to stop listening (calling it again is
// harmless); a run that writes its outputs in one go wraps that in
// finish.
func stopOnSignal(claims *claim.Claimer, name, freed string, stderr io.Writer, dirs ...*outputDir) *signalStop {
	s := &signalStop{sigs: make(chan os.Signal, 1), done: make(chan struct{}), dirs: dirs}
	s.freed = func() string { return freed }
	return s.listen(claims, name, stderr)
}

// stopOnSignalOutputs is stopOnSignal for a run whose outputs are the
// files or folders outputs (outputFile, outputFolder, outputContinued,
// taken right before the call): a stop says of each, once the folders made for them are
// undone, what it left (output.left), or that nothing was written for a
// run without outputs.
func stopOnSignalOutputs(claims *claim.Claimer, name string, stderr io.Writer, outputs ...output) *signalStop {
	s := &signalStop{sigs: make(chan os.Signal, 1), done: make(chan struct{}), outputs: outputs}
	s.freed = s.left
	return s.listen(claims, name, stderr)
}

// listen starts s's handler of SIGINT and SIGTERM (stopOnSignal).
func (s *signalStop) listen(claims *claim.Claimer, name string, stderr io.Writer) *signalStop {
	signal.Notify(s.sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		select {
		case sig := <-s.sigs:
			s.mu.Lock()
			if s.finished {
				s.mu.Unlock()
				return
			}
			if claims != nil {
				claims.ReleaseAll()
			}
			stopped := fmt.Errorf("%v", sig)
			for _, d := range s.dirs {
				d.undo(&stopped)
			}
			fmt.Fprintf(stderr, "cadps %s: %v: stopped; %s\n", name, sig, s.freed())
			os.Exit(128 + int(sig.(syscall.Signal)))
		case <-s.done:
		}
	}()
	return s
}

// stop stops listening for the signals. While a signal's stop is under
// way it waits for it, and so never returns (the stop exits the process):
// a run that meets the effects of that stop (its claims released) and
// returns an error must not exit first with that error instead of the
// signal's status and message.
func (s *signalStop) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.finished = true // a signal from now on leaves the run to end
	s.once.Do(func() {
		signal.Stop(s.sigs)
		close(s.done)
	})
}

// makeOutputDir is makeOutputDir for a run that listens already: a
// signal that comes while the folder is made waits for it, and a stop
// then undoes it too.
func (s *signalStop) makeOutputDir(dir string) (*outputDir, error) {
	return s.undoOnStop(func() (*outputDir, error) { return makeOutputDir(dir) })
}

// makeOutputFileDir is makeOutputFileDir for a run that listens already,
// as makeOutputDir is.
func (s *signalStop) makeOutputFileDir(path string) (*outputDir, error) {
	return s.undoOnStop(func() (*outputDir, error) { return makeOutputFileDir(path) })
}

// undoOnStop runs mkdir, which makes an output folder, with signals held
// off, and adds the folder it made to those a stop undoes.
func (s *signalStop) undoOnStop(mkdir func() (*outputDir, error)) (*outputDir, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, err := mkdir()
	if err == nil {
		s.dirs = append(s.dirs, d)
	}
	return d, err
}

// claim is claims.Claim(stem) for a run that listens already: a signal
// that comes while the claim is made waits for it, so that the stop
// releases it (claims must be the Claimer the stop releases) before it
// undoes the folders.
func (s *signalStop) claim(claims *claim.Claimer, stem string) (*claim.Claim, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return claims.Claim(stem)
}

// hold runs write, a step that puts one of a run's outputs in place
// before the run goes on, and returns its error. A signal that comes while
// it runs waits for it, and then stops the run, so that a stop never
// leaves that output half-written.
func (s *signalStop) hold(write func() error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return write()
}

// finish runs write, the step that puts a run's outputs in place, and
// returns its error. A signal that comes while it runs waits for it, and
// is then ignored: once write has begun, the run ends as write leaves it
// (its outputs all in place, or, when write fails, its error).
func (s *signalStop) finish(write func() error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.finished = true
	return write()
}
