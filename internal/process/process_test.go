//go:build linux

package process

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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

// TestAliveUnderProcOfAnotherNamespace: a /proc whose entries are those
// of another pid namespace (its self is not this process's id) is not
// believed, so that a live process whose id names a zombie there still
// counts as alive; this namespace's /proc is.
func TestAliveUnderProcOfAnotherNamespace(t *testing.T) {
	pid := strconv.Itoa(os.Getpid())
	for _, tc := range []struct {
		name  string
		self  string // proc/self's target, "" for none
		alive bool
	}{
		{"this namespace's /proc, where this process is a zombie", pid, false},
		{"another namespace's /proc, where this id is a zombie", "1", true},
		{"a /proc without self", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			proc := t.TempDir()
			if tc.self != "" {
				if err := os.Symlink(tc.self, filepath.Join(proc, "self")); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Mkdir(filepath.Join(proc, pid), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(proc, pid, "stat"), []byte(pid+" (cadps) Z 1 2 3\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if got := alive(os.Getpid(), proc); got != tc.alive {
				t.Errorf("alive = %v, want %v", got, tc.alive)
			}
		})
	}
}

// TestSpace: the space is whole (FullSpace) only where both the boot id
// and the pid namespace are read, since either alone repeats: the first
// namespace's id on every machine, the boot id in every container of a
// machine; Space, for claims, takes what it can read.
func TestSpace(t *testing.T) {
	const boot, ns = "6f1d3e8a-5c0b-4b9e-9a47-2f6f0c8d1e23\n", "pid:[4026531836]"
	for _, tc := range []struct {
		name      string
		boot, ns  string // "" for a missing one
		emptyBoot bool   // a boot id file that is empty
		space     bool   // Space is not ""
		full      bool
	}{
		{"both", boot, ns, false, true, true},
		{"no boot id", "", ns, false, true, false},
		{"an empty boot id", "", ns, true, true, false},
		{"no namespace", boot, "", false, true, false},
		{"neither", "", "", false, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			bootFile, nsLink := filepath.Join(dir, "boot_id"), filepath.Join(dir, "pid")
			if tc.boot != "" || tc.emptyBoot {
				if err := os.WriteFile(bootFile, []byte(tc.boot), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if tc.ns != "" {
				if err := os.Symlink(tc.ns, nsLink); err != nil {
					t.Fatal(err)
				}
			}
			s, full := space(bootFile, nsLink)
			if (s != "") != tc.space || full != tc.full {
				t.Errorf("space %q, full %v; want a space %v, full %v", s, full, tc.space, tc.full)
			}
		})
	}
}
