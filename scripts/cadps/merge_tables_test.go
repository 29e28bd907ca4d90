package main

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cadps/toolkit/cadps/metrics/fid"
	"github.com/cadps/toolkit/cadps/runs"
	"github.com/gomlx/gomlx/backends"
)

// TestMergeTables merges the folders of two shards with -fid and
// -paper-table: the FID and papers' tables it prints are the ones the same
// reproduction run whole prints, and a bad -fid-dims is refused.
func TestMergeTables(t *testing.T) {
	dir := t.TempDir()
	stem := writeWeights(t, filepath.Join(dir, "stem.safetensors"), 1.3, fid.Params(0))
	tables := []string{"-fid", stem, "-fid-dims", "64", "-paper-table"}
	reproduce := func(out string, extra ...string) string {
		args := append([]string{smallImages, "-limit", "3", "-task", "inpaint_box:size=12", "-methods", "cadps,dps",
			"-steps", "2", "-seed", "1", "-grid-rows", "0", "-quiet", "-out", filepath.Join(dir, out)}, extra...)
		stdout, stderr, err := runCmd(runReproduce, args...)
		if err != nil {
			t.Fatalf("reproduce %v: %v\n%s", extra, err, stderr)
		}
		return stdout
	}
	whole := reproduce("whole", tables...)
	reproduce("a", "-shard", "0/2")
	reproduce("b", "-shard", "1/2")
	merged, stderr, err := runCmd(runMerge, append([]string{"-quiet", filepath.Join(dir, "a"), filepath.Join(dir, "b")}, tables...)...)
	if err != nil {
		t.Fatalf("merge: %v\n%s", err, stderr)
	}
	for _, want := range []string{"FID (64-d)", "| inpaint_box_size=12 | dps | 3 |", "cadps LPIPS ↓", "| inpaint_box_size=12 | 3 | – |"} {
		if !strings.Contains(merged, want) {
			t.Errorf("merge printed no %q:\n%s", want, merged)
		}
	}
	if merged != whole {
		t.Errorf("merge printed\n%s\nthe whole run\n%s", merged, whole)
	}
	_, _, err = runCmd(runMerge, "-fid", stem, "-fid-dims", "100", filepath.Join(dir, "a"))
	if err == nil || !strings.Contains(err.Error(), "-fid-dims 100") {
		t.Errorf("-fid-dims 100: error %v", err)
	}
}

// TestMergeKeepsAnotherReproduction checks that merge refuses an -out
// folder holding another reproduction's settings, leaving its tables as
// they were, and writes into one holding the same settings.
func TestMergeKeepsAnotherReproduction(t *testing.T) {
	dir := t.TempDir()
	src, other, same := filepath.Join(dir, "src"), filepath.Join(dir, "other"), filepath.Join(dir, "same")
	for _, d := range []string{src, other, same} {
		if err := os.CopyFS(d, os.DirFS("testdata/reproduce-v1")); err != nil {
			t.Fatal(err)
		}
	}
	settings := filepath.Join(other, "reproduce.json")
	raw := readFile(t, settings)
	if err := os.WriteFile(settings, []byte(strings.Replace(raw, `"seed": 1,`, `"seed": 2,`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	table := readFile(t, filepath.Join(other, "metrics.csv"))
	_, _, err := runCmd(runMerge, "-quiet", "-out", other, src)
	if err == nil || !strings.Contains(err.Error(), other+" holds a reproduction with other settings (seed: was 2, now 1)") {
		t.Fatalf("merge into another reproduction's folder: error %v", err)
	}
	if got := readFile(t, filepath.Join(other, "metrics.csv")); got != table {
		t.Errorf("the refused merge replaced %s", filepath.Join(other, "metrics.csv"))
	}
	if _, _, err := runCmd(runMerge, "-quiet", "-out", same, src); err != nil {
		t.Errorf("merge into a folder of the same reproduction: %v", err)
	}
}

// recordOnWrite is a merge's stderr that, the first time the merge writes
// to it, moves a record into place, as a worker that finishes an item
// while the merge runs does: a merge that warns while it reads the
// records then finds one more and writes the tables again.
type recordOnWrite struct {
	strings.Builder
	from, to string
	moved    bool
}

func (w *recordOnWrite) Write(p []byte) (int, error) {
	if !w.moved {
		w.moved = true
		if err := os.Rename(w.from, w.to); err != nil {
			return 0, err
		}
	}
	return w.Builder.Write(p)
}

// TestMergeWarnsOnce merges a folder with an item recorded as failed and
// one without a record, whose record appears while the merge runs: each
// warning is printed once.
func TestMergeWarnsOnce(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "run")
	if err := os.CopyFS(out, os.DirFS("testdata/reproduce-v1")); err != nil {
		t.Fatal(err)
	}
	failed := filepath.Join(out, "inpaint_box_size=12", "cadps", "record", "00000.json")
	rec := readFile(t, failed)
	if err := os.WriteFile(failed, []byte(strings.Replace(rec, `"status": "ok",`, `"status": "failed", "error": "sampling diverged",`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	late := filepath.Join(out, "inpaint_box_size=12", "dps", "record", "00001.json")
	stderr := &recordOnWrite{from: filepath.Join(dir, "00001.json"), to: late}
	if err := os.Rename(late, stderr.from); err != nil {
		t.Fatal(err)
	}
	if err := runMerge([]string{"-quiet", "-partial", "-grid-rows", "0", out}, io.Discard, stderr); err != nil {
		t.Fatalf("merge: %v\n%s", err, stderr.String())
	}
	for _, warning := range []string{"recorded as failed", "have no record"} {
		if n := strings.Count(stderr.String(), warning); n > 1 {
			t.Errorf("merge printed %q %d times:\n%s", warning, n, stderr.String())
		}
	}
	if !strings.Contains(stderr.String(), "1 item(s) recorded as failed") {
		t.Errorf("merge did not name the failed item:\n%s", stderr.String())
	}
}

// TestMergeFIDAfterRecords merges with -fid weights that do not exist:
// a folder the merge refuses gives its own error, since the weights are
// loaded only once the records have been read and checked, and a folder
// it accepts gives the weights' error, with its tables left as they were.
func TestMergeFIDAfterRecords(t *testing.T) {
	dir := t.TempDir()
	weights := filepath.Join(dir, "nonexistent.pth")
	fromTestdata := func(t *testing.T, edit func(run string)) string {
		run := filepath.Join(t.TempDir(), "run")
		if err := os.CopyFS(run, os.DirFS("testdata/reproduce-v1")); err != nil {
			t.Fatal(err)
		}
		if edit != nil {
			edit(run)
		}
		return run
	}
	for _, tc := range []struct {
		name string
		args func(t *testing.T) (args []string, out string)
		want string
	}{
		{"no records", func(t *testing.T) ([]string, string) {
			run := fromTestdata(t, func(run string) {
				if err := os.RemoveAll(filepath.Join(run, "inpaint_box_size=12")); err != nil {
					t.Fatal(err)
				}
			})
			return []string{run}, run
		}, "no item records under"},
		{"missing items", func(t *testing.T) ([]string, string) {
			run := fromTestdata(t, func(run string) {
				if err := os.Remove(filepath.Join(run, "inpaint_box_size=12", "dps", "record", "00001.json")); err != nil {
					t.Fatal(err)
				}
			})
			return []string{run}, run
		}, "1 of 4 items have no record"},
		{"other settings", func(t *testing.T) ([]string, string) {
			other := fromTestdata(t, func(run string) {
				settings := filepath.Join(run, "reproduce.json")
				raw := readFile(t, settings)
				if err := os.WriteFile(settings, []byte(strings.Replace(raw, `"seed": 1,`, `"seed": 2,`, 1)), 0o644); err != nil {
					t.Fatal(err)
				}
			})
			return []string{"-out", other, fromTestdata(t, nil)}, other
		}, "holds a reproduction with other settings"},
		{"accepted folder", func(t *testing.T) ([]string, string) {
			run := fromTestdata(t, nil)
			return []string{run}, run
		}, weights},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args, out := tc.args(t)
			before := readFile(t, filepath.Join(out, "metrics.csv"))
			_, _, err := runCmd(runMerge, append(args, "-quiet", "-fid", weights)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if tc.want != weights && strings.Contains(err.Error(), weights) {
				t.Errorf("error %v names the FID weights, not the folder's problem alone", err)
			}
			if got := readFile(t, filepath.Join(out, "metrics.csv")); got != before {
				t.Errorf("the refused merge replaced %s", filepath.Join(out, "metrics.csv"))
			}
		})
	}
}

// TestMergeFIDOutsideLock merges with -fid through a loader that looks
// for the tables' lock in the folder: the weights are loaded once, before
// the lock is taken, so that a worker ending meanwhile does not wait for
// the loading (under a short lease it gave up, its items done). The
// loader's error then stops the merge, the tables left as they were.
func TestMergeFIDOutsideLock(t *testing.T) {
	run := filepath.Join(t.TempDir(), "run")
	if err := os.CopyFS(run, os.DirFS("testdata/reproduce-v1")); err != nil {
		t.Fatal(err)
	}
	before := readFile(t, filepath.Join(run, "metrics.csv"))
	loads := 0
	load := func(backends.Backend, string, ...int) (*fid.Model, error) {
		loads++
		if locks, _ := filepath.Glob(filepath.Join(run, runs.TableFile+".claim.*")); len(locks) > 0 {
			t.Errorf("the FID weights were loaded while the tables' lock was held: %v", locks)
		}
		return nil, errors.New("test loader: no weights")
	}
	merge := func(args []string, stdout, stderr io.Writer) error { return mergeWith(load, args, stdout, stderr) }
	_, _, err := runCmd(merge, "-quiet", "-fid", filepath.Join(run, "weights.pth"), run)
	if err == nil || !strings.Contains(err.Error(), "test loader: no weights") {
		t.Fatalf("error %v, want the loader's", err)
	}
	if loads != 1 {
		t.Errorf("the weights were loaded %d times, want once", loads)
	}
	if got := readFile(t, filepath.Join(run, "metrics.csv")); got != before {
		t.Errorf("the merge replaced %s", filepath.Join(run, "metrics.csv"))
	}
}

// TestMergeStaleClaimByLease merges a folder with an item without a
// record, whose worker on another host has not been heard of for 3 s:
// with -lease 1s it died, and merge says to rerun its shard; under the
// default lease it is computing the item, and merge says to wait.
func TestMergeStaleClaimByLease(t *testing.T) {
	run := filepath.Join(t.TempDir(), "run")
	if err := os.CopyFS(run, os.DirFS("testdata/reproduce-v1")); err != nil {
		t.Fatal(err)
	}
	item := filepath.Join(run, "inpaint_box_size=12", "dps")
	if err := os.Remove(filepath.Join(item, runs.RecordDir, "00001.json")); err != nil {
		t.Fatal(err)
	}
	claimFile := filepath.Join(item, runs.ClaimDir, "00001.0")
	if err := os.MkdirAll(filepath.Dir(claimFile), 0o755); err != nil {
		t.Fatal(err)
	}
	holder := `{"host":"elsewhere","pid":1,"worker":"shard 1/2","lease_seconds":1,"claimed":"2026-01-01T00:00:00Z"}`
	if err := os.WriteFile(claimFile, []byte(holder), 0o644); err != nil {
		t.Fatal(err)
	}
	stale := time.Now().Add(-3 * time.Second)
	if err := os.Chtimes(claimFile, stale, stale); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		lease, want, not string
	}{
		{"1s", "rerun the shards that hold them", "being computed now"},
		{"2m", "being computed now by running workers, or held by a worker killed less than a lease ago", "rerun the shards"},
	} {
		_, _, err := runCmd(runMerge, "-quiet", "-lease", c.lease, run)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), c.not) {
			t.Errorf("-lease %s: error %v, want one saying %q", c.lease, err, c.want)
		}
	}
}
