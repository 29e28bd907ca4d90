//go:build linux

package process

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

// TestAlive checks that this process counts as alive, and that a
// child that has exited counts as dead both before its parent reaps it (a
// zombie) and after.
func TestAlive(t *testing.T) {
	if !Alive(os.Getpid()) {
		t.Fatal("this process counts as dead")
	}
	child := exec.Command("true")
	if err := child.Start(); err != nil {
		t.Skip("no child process:", err)
	}
	pid := child.Process.Pid
	deadline := time.Now().Add(5 * time.Second)
	for Alive(pid) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if Alive(pid) {
		t.Errorf("an exited, unreaped child (pid %d) counts as alive", pid)
	}
	if err := child.Wait(); err != nil {
		t.Fatal(err)
	}
	if Alive(pid) {
		t.Errorf("a reaped child (pid %d) counts as alive", pid)
	}
}
