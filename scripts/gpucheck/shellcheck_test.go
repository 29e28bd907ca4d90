package main

import (
	"io/fs"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestShellScripts runs ShellCheck (warnings and errors; `make setup`
// installs it) over every shell script of the repository: the GPU scripts,
// which run where no one can watch them, the setup and cluster scripts, the
// documented Slurm and Kubernetes wrappers and CI's entry point. Files a
// script sources are followed (.shellcheckrc). Without ShellCheck on the
// PATH the test is skipped.
func TestShellScripts(t *testing.T) {
	sc, err := exec.LookPath("shellcheck")
	if err != nil {
		t.Skip("no shellcheck on the PATH (make setup installs it)")
	}
	root := filepath.Join("..", "..")
	scripts := []string{filepath.Join(".ci", "run")}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() && p != root && (strings.HasPrefix(name, ".") || name == "build" || name == "out" || name == "node_modules") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(name, ".sh") {
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return err
			}
			scripts = append(scripts, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(scripts) < 10 {
		t.Fatalf("found only %d shell scripts: %v", len(scripts), scripts)
	}
	cmd := exec.Command(sc, append([]string{"-x", "-S", "warning"}, scripts...)...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("shellcheck -x -S warning (%d scripts): %v\n%s", len(scripts), err, out)
	}
}
