package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/cadps/toolkit/cadps/runs"
)

// stopOnSignal releases the claims and exits when the process is asked to
// stop (SIGTERM from scancel, Kubernetes or kill; SIGINT from Ctrl-C), so
// that a worker started after it need not wait for the lease (the work it
// was doing is redone then); it prints "cadps NAME: SIGNAL: stopped;
// FREED". The returned function stops listening.
func stopOnSignal(claims *runs.Claimer, name, freed string, stderr io.Writer) (stop func()) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-sigs:
			claims.ReleaseAll()
			fmt.Fprintf(stderr, "cadps %s: %v: stopped; %s\n", name, sig, freed)
			os.Exit(128 + int(sig.(syscall.Signal)))
		case <-done:
		}
	}()
	return func() {
		signal.Stop(sigs)
		close(done)
	}
}
