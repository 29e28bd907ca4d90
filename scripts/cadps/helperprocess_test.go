package main

import (
	"bytes"
	"os"
	"os/exec"
	"testing"
	"time"
)

// helperProcess is this test binary running one of its helper tests as a
// subprocess.
type helperProcess struct {
	cmd    *exec.Cmd
	log    bytes.Buffer // its stdout and stderr
	exited chan error
}

// startHelper starts the helper test that the -test.run pattern run
// selects, with env added to the environment.
func startHelper(t *testing.T, run string, env ...string) *helperProcess {
	t.Helper()
	p := &helperProcess{cmd: exec.Command(os.Args[0], "-test.run", run), exited: make(chan error, 1)}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = &p.log, &p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	return p
}

// waitUntil polls ready until it reports true; the test fails (and the
// subprocess is killed) when the subprocess ends without ready reporting
// true, or after two minutes, naming what it waited for.
func (p *helperProcess) waitUntil(t *testing.T, what string, ready func() bool) {
	t.Helper()
	deadline := time.After(2 * time.Minute)
	for !ready() {
		select {
		case err := <-p.exited:
			if ready() { // it got there and ended: leave its exit to the caller
				p.exited <- err
				return
			}
			t.Fatalf("the subprocess ended before it was %s (%v):\n%s", what, err, p.log.String())
		case <-deadline:
			p.cmd.Process.Kill()
			<-p.exited
			t.Fatalf("not %s after 2 minutes; subprocess output:\n%s", what, p.log.String())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// stop sends sig and returns how the subprocess exited; the test fails
// (and the subprocess is killed) when it still runs a minute later.
func (p *helperProcess) stop(t *testing.T, sig os.Signal) error {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.exited:
		return err
	case <-time.After(time.Minute):
		p.cmd.Process.Kill()
		<-p.exited
		t.Fatalf("still running a minute after %v; output:\n%s", sig, p.log.String())
		return nil
	}
}
