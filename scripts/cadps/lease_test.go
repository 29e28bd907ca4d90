package main

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cadps/toolkit/cadps/runs"
)

// leaseCommand is a command that takes claims, for the -lease tests.
type leaseCommand struct {
	name string
	run  func([]string, io.Writer, io.Writer) error
	// args returns the command line of a quick run whose output is in
	// dir, and the stem of the claim it takes there.
	args func(t *testing.T, dir string) (args []string, stem string)
	// waits is whether the command waits for a claim another worker holds
	// (up to two leases) rather than refusing it.
	waits bool
}

// leaseCommands are the commands that take claims, other than reproduce,
// whose items' claims its own tests take over.
func leaseCommands() []leaseCommand {
	return []leaseCommand{
		{"restore", runRestore, func(t *testing.T, dir string) ([]string, string) {
			image := filepath.Join(t.TempDir(), "img.png")
			writeTestImage(t, image, 16, 0)
			return append([]string{image, "-task", "sr:factor=2", "-method", "dps", "-steps", "2", "-quiet", "-out", dir}, fixtureModel(t, "fixed")...),
				filepath.Join(dir, restoreClaim)
		}, false},
		{"evaluate", runEvaluate, func(t *testing.T, dir string) ([]string, string) {
			return []string{"-data", testImagesDir(t), "-count", "1", "-batch", "1", "-steps", "2", "-jobs", "1",
				"-tasks", "sr:factor=2", "-methods", "dps", "-keep", "0", "-quiet", "-out", dir}, filepath.Join(dir, runs.EvalClaimFile)
		}, false},
		{"train", runTrain, func(t *testing.T, dir string) ([]string, string) {
			return append(tinyTrainArgs(writeTinyIDX(t, 3), dir), "--steps", "1"), filepath.Join(dir, trainClaim)
		}, false},
		{"gmm bench", gmmCommand().run, func(t *testing.T, dir string) ([]string, string) {
			csv := filepath.Join(dir, "runs.csv")
			return []string{"bench", "--dims", "8", "--dims-y", "1", "--methods", "exact", "--problems", "1", "--samples", "40",
				"--steps", "5", "--projections", "20", "--csv", csv}, csv + ".claim"
		}, false},
		{"merge", runMerge, func(t *testing.T, dir string) ([]string, string) {
			if err := os.CopyFS(dir, os.DirFS("testdata/reproduce-v1")); err != nil {
				t.Fatal(err)
			}
			return []string{"-quiet", dir}, filepath.Join(dir, runs.TableFile+".claim")
		}, true},
	}
}

// TestLeaseRefused checks that every command that takes claims refuses a
// -lease shorter than a second, naming the flag, before it does anything.
func TestLeaseRefused(t *testing.T) {
	for _, c := range append(leaseCommands(), leaseCommand{name: "reproduce", run: runReproduce,
		args: func(t *testing.T, dir string) ([]string, string) {
			return []string{smallImages, "-task", "sr:factor=2", "-methods", "dps", "-out", dir}, ""
		}}) {
		for _, lease := range []string{"999ms", "3ns", "-1s"} {
			t.Run(c.name+" "+lease, func(t *testing.T) {
				dir := filepath.Join(t.TempDir(), "out")
				args, _ := c.args(t, dir)
				_, _, err := runCmd(c.run, append(args, "-lease", lease)...)
				want := "-lease " + lease + " is too short: want at least 1s"
				if err == nil || !strings.Contains(err.Error(), want) || !errors.As(err, new(usageError)) {
					t.Errorf("error %v, want a usage error containing %q", err, want)
				}
			})
		}
	}
}

// TestLeaseTakesOver leaves, where each command that takes claims claims
// its output, the claim of a worker on another host that has not been
// heard of for 3 s: under the default lease it is live (a command that
// does not wait is refused), and with -lease 1s the command takes it over,
// runs, and leaves no claim behind.
func TestLeaseTakesOver(t *testing.T) {
	for _, c := range leaseCommands() {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "out")
			args, stem := c.args(t, dir)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			stale := time.Now().Add(-3 * time.Second)
			holder := `{"host":"elsewhere","pid":1,"worker":"the other run","lease_seconds":1,"claimed":"2026-01-01T00:00:00Z"}`
			if err := os.WriteFile(stem+".0", []byte(holder), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(stem+".0", stale, stale); err != nil {
				t.Fatal(err)
			}
			if !c.waits {
				if _, _, err := runCmd(c.run, args...); err == nil || !strings.Contains(err.Error(), "the other run") {
					t.Fatalf("default lease: error %v, want the claim refused, naming its holder", err)
				}
			}
			if _, stderr, err := runCmd(c.run, append(args, "-lease", "1s")...); err != nil {
				t.Fatalf("-lease 1s: %v\n%s", err, stderr)
			}
			if m, _ := filepath.Glob(stem + ".*"); len(m) > 0 {
				t.Errorf("claims left after the run: %v", m)
			}
		})
	}
}
