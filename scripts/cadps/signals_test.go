package main

import (
	"os"
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
