package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/cadps/toolkit/cadps/runs"
)

// stopOnSignal releases the claims and exits when the process is asked to
// stop (SIGTERM from scancel, Kubernetes or kill; SIGINT from Ctrl-C), so
// that a worker started after it need not wait for the lease (the work it
// was doing is redone then); it prints "cadps NAME: SIGNAL: stopped;
// FREED". It then undoes dirs as for a failed run (outputDir.undo), so
// that a run stopped before it wrote anything leaves no folder it made.
// The returned function stops listening (calling it again is harmless).
func stopOnSignal(claims *runs.Claimer, name, freed string, stderr io.Writer, dirs ...*outputDir) (stop func()) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-sigs:
			claims.ReleaseAll()
			stopped := fmt.Errorf("%v", sig)
			for _, d := range dirs {
				d.undo(&stopped)
			}
			fmt.Fprintf(stderr, "cadps %s: %v: stopped; %s\n", name, sig, freed)
			os.Exit(128 + int(sig.(syscall.Signal)))
		case <-done:
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			signal.Stop(sigs)
			close(done)
		})
	}
}
