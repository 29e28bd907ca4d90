package main

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestSignalStopWaitsForAStopUnderWay checks that a run returning while a
// signal's stop is under way (the handler holds mu until it exits the
// process) waits in stop instead of ending the process first with its
// own error: a bench that found its claim released by that stop exited
// with status 1 and a misleading message instead of 130 and "stopped".
func TestSignalStopWaitsForAStopUnderWay(t *testing.T) {
	s := &signalStop{sigs: make(chan os.Signal, 1), done: make(chan struct{})}
	s.mu.Lock() // the handler, stopping the run
	returned := make(chan struct{})
	go func() {
		s.stop()
		close(returned)
	}()
	select {
	case <-returned:
		t.Fatal("stop returned while a stop was under way")
	case <-time.After(100 * time.Millisecond):
	}
	s.mu.Unlock()
	select {
	case <-returned:
	case <-time.After(10 * time.Second):
		t.Fatal("stop did not return once no stop was under way")
	}
	if !s.finished {
		t.Error("after stop a signal would still stop the run")
	}
}

// TestStopSaysWhatItLeft checks what a stopped run says of its outputs,
// as they were when it started listening and as the stop leaves them: "is
// as it was" only for one that was there and is unchanged; a file never
// written, or a folder the run made and the stop removed again, is named
// as such.
func TestStopSaysWhatItLeft(t *testing.T) {
	write := func(t *testing.T, path string) {
		t.Helper()
		if err := os.WriteFile(path, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		name   string
		folder bool
		before func(t *testing.T, path string) // the path before the run
		run    func(t *testing.T, s *signalStop, path string)
		want   string // after the path
	}{
		{"file there before, untouched", false, write, nil, " is as it was"},
		{"file there before, replaced", false, write, func(t *testing.T, _ *signalStop, path string) {
			write(t, path+".new")
			if err := os.Rename(path+".new", path); err != nil {
				t.Fatal(err)
			}
		}, " was replaced"},
		{"file never written", false, nil, nil, " was not written"},
		{"file written before the stop", false, nil, func(t *testing.T, _ *signalStop, path string) { write(t, path) }, " was written"},
		{"folder there before", true, func(t *testing.T, path string) {
			if err := os.Mkdir(path, 0o755); err != nil {
				t.Fatal(err)
			}
		}, func(t *testing.T, s *signalStop, path string) {
			if _, err := s.makeOutputDir(path); err != nil {
				t.Fatal(err)
			}
		}, " is as it was"},
		{"folder made, removed by the stop", true, nil, func(t *testing.T, s *signalStop, path string) {
			if _, err := s.makeOutputDir(path); err != nil {
				t.Fatal(err)
			}
		}, ", which it made, is removed again"},
		{"folder made, kept by the stop", true, nil, func(t *testing.T, s *signalStop, path string) {
			if _, err := s.makeOutputDir(path); err != nil {
				t.Fatal(err)
			}
			write(t, filepath.Join(path, "other.txt"))
		}, ", which it made, is kept: it is not empty"},
		{"folder not made yet", true, nil, nil, " was not made"},
		{"folder another process made meanwhile", true, nil, func(t *testing.T, s *signalStop, path string) {
			if err := os.Mkdir(path, 0o755); err != nil { // before the run gets to it
				t.Fatal(err)
			}
			if _, err := s.makeOutputDir(path); err != nil {
				t.Fatal(err)
			}
		}, ", which another process made while it ran, is kept"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "out")
			if c.before != nil {
				c.before(t, path)
			}
			o := outputFile(path)
			if c.folder {
				o = outputFolder(path)
			}
			s := &signalStop{outputs: []output{o}}
			if c.run != nil {
				c.run(t, s, path)
			}
			stopped := errors.New("interrupt")
			for _, d := range s.dirs { // as the stop undoes them
				d.undo(&stopped)
			}
			if got := s.left(); got != path+c.want {
				t.Errorf("the stop says %q, want %q", got, path+c.want)
			}
		})
	}
	if got := (&signalStop{}).left(); got != "nothing was written" {
		t.Errorf("a run without outputs: the stop says %q", got)
	}
}
