// Package atomicfiletest leaves, for tests, the temporary file that a
// writer killed (SIGKILL) in the middle of an atomicfile.Write leaves
// beside the file it wrote: the test binary runs again as that writer, and
// is killed once its temporary file exists.
//
// A package that uses LeaveDeadTemp declares the writer as a test of its
// own, which the test binary runs when it is started as one:
//
//	func TestKilledWriterHelperProcess(t *testing.T) { atomicfiletest.KilledWriter(t) }
package atomicfiletest

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cadps/toolkit/internal/atomicfile"
)

// env names the environment variable that makes KilledWriter write the
// file it names.
const env = "CADPS_TEST_KILLED_WRITER"

// KilledWriter is the body of the test TestKilledWriterHelperProcess: when
// the test binary runs as the writer LeaveDeadTemp starts, it writes the
// file it was given and never ends the write; else it skips.
func KilledWriter(t *testing.T) {
	path := os.Getenv(env)
	if path == "" {
		t.Skip("the writer that atomicfiletest.LeaveDeadTemp kills")
	}
	_ = atomicfile.Write(path, func(w io.Writer) error {
		if _, err := io.WriteString(w, "partial"); err != nil {
			return err
		}
		time.Sleep(time.Hour) // killed here
		return nil
	})
}

// LeaveDeadTemp runs the test binary as a writer of path
// (TestKilledWriterHelperProcess), kills it with SIGKILL once its
// temporary file exists, and returns that file's path.
func LeaveDeadTemp(t *testing.T, path string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKilledWriterHelperProcess$")
	cmd.Env = append(os.Environ(), env+"="+path)
	var log strings.Builder
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		temps, err := atomicfile.Temps(filepath.Dir(path), atomicfile.GlobEscape(filepath.Base(path)))
		if err != nil {
			t.Fatal(err)
		}
		if len(temps) > 0 {
			return temps[0]
		}
	}
	t.Fatalf("the writer of %s made no temporary file in a minute:\n%s", path, log.String())
	return ""
}
