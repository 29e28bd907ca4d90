package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/cadps/toolkit/cadps/runs"
)

// smallImages is the shipped prior's test image folder.
const smallImages = "../../cadps/prior/small/testimages"

// smallArgs are the arguments of a toy reproduction with the shipped
// prior: the first n test images × box inpainting × dps and cadps, two
// steps.
func smallArgs(out string, n int, extra ...string) []string {
	return append([]string{smallImages, "-limit", strconv.Itoa(n), "-task", "inpaint_box:size=12", "-methods", "dps,cadps",
		"-steps", "2", "-seed", "1", "-grid-rows", "2", "-out", out}, extra...)
}

var runNow = regexp.MustCompile(`(\d+) run now \((\d+) failed\), (\d+) finished before(?:, (\d+) by other workers)?`)

// counts parses reproduce's summary line: items run, finished before,
// finished by other workers.
func counts(t *testing.T, stdout string) (done, before, others int) {
	t.Helper()
	m := runNow.FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("no summary line in:\n%s", stdout)
	}
	done, _ = strconv.Atoi(m[1])
	before, _ = strconv.Atoi(m[3])
	others, _ = strconv.Atoi(m[4])
	return done, before, others
}

// csvWithoutSeconds returns a metrics CSV's rows without the seconds
// column, which differs between runs.
func csvWithoutSeconds(t *testing.T, path string) [][]string {
	t.Helper()
	rows := readCSV(t, path)
	for i := range rows {
		rows[i] = slices.Delete(rows[i], 7, 8)
	}
	return rows
}

// TestReproduceConcurrentWorkers starts three workers at once on one
// folder (as two identical job arrays, or a worker added later, would):
// every item is computed by exactly one of them, and the result equals
// one worker's run.
func TestReproduceConcurrentWorkers(t *testing.T) {
	t.Parallel() // with the package's other long, self-contained tests, on the second core
	root := t.TempDir()
	shared := filepath.Join(root, "shared")
	const workers, items = 3, 6
	outs := make([]string, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stdout, stderr, err := runCmd(runReproduce, smallArgs(shared, 3, "-quiet=false")...)
			if err != nil {
				t.Errorf("worker %d: %v\n%s", w, err, stderr)
			}
			outs[w] = stdout
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	total := 0
	for w, out := range outs {
		done, before, others := counts(t, out)
		if done+before+others != items {
			t.Errorf("worker %d accounts for %d run + %d before + %d by others, want %d items:\n%s", w, done, before, others, items, out)
		}
		total += done
	}
	if total != items {
		t.Errorf("the workers computed %d items between them, want each of the %d once:\n%s", total, items, strings.Join(outs, "\n"))
	}
	claims, _ := filepath.Glob(filepath.Join(shared, "*", "*", runs.ClaimDir, "*"))
	if len(claims) > 0 {
		t.Errorf("claims left after every worker ended: %v", claims)
	}
	alone := filepath.Join(root, "alone")
	if _, stderr, err := runCmd(runReproduce, smallArgs(alone, 3)...); err != nil {
		t.Fatalf("one worker: %v\n%s", err, stderr)
	}
	if got, want := csvWithoutSeconds(t, filepath.Join(shared, runs.CSVFile)), csvWithoutSeconds(t, filepath.Join(alone, runs.CSVFile)); !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("concurrent workers' CSV:\n%v\none worker's:\n%v", got, want)
	}
}

// TestReproduceResubmittedArrayTask runs a 3-task Slurm array (as its
// environment describes it) without task 1, as if it was cancelled, then
// resubmits task 1 alone (--array=1, an array of one): the resubmission is
// still shard 1 of 3, and merge, which refused the incomplete folder
// naming the missing items, then equals an unsharded run.
func TestReproduceResubmittedArrayTask(t *testing.T) {
	root := t.TempDir()
	out := filepath.Join(root, "array")
	slurm := func(id, lo, hi int) {
		t.Setenv("SLURM_ARRAY_TASK_ID", strconv.Itoa(id))
		t.Setenv("SLURM_ARRAY_TASK_MIN", strconv.Itoa(lo))
		t.Setenv("SLURM_ARRAY_TASK_MAX", strconv.Itoa(hi))
		t.Setenv("SLURM_ARRAY_TASK_COUNT", strconv.Itoa(hi-lo+1))
		stdout, stderr, err := runCmd(runReproduce, smallArgs(out, 3)...)
		if err != nil {
			t.Fatalf("array task %d: %v\n%s", id, err, stderr)
		}
		if want := fmt.Sprintf("shard %d/3:", id); !strings.Contains(stdout, want) {
			t.Fatalf("array task %d of --array=%d-%d: stdout lacks %q:\n%s", id, lo, hi, want, stdout)
		}
	}
	slurm(0, 0, 2)
	slurm(2, 0, 2)
	if n, err := runs.RecordedShards(out); err != nil || n != 3 {
		t.Fatalf("recorded shard count %d, %v; want 3", n, err)
	}
	_, _, err := runCmd(runMerge, out)
	if err == nil || !strings.Contains(err.Error(), "2 of 6 items have no record: inpaint_box_size=12/cadps/00001, inpaint_box_size=12/dps/00001") {
		t.Fatalf("merge of an incomplete run: error %v, want the missing items named", err)
	}
	if _, stderr, err := runCmd(runMerge, "-partial", "-quiet", out); err != nil || !strings.Contains(stderr, "2 of 6 items have no record") {
		t.Fatalf("merge -partial: %v\n%s", err, stderr)
	}
	slurm(1, 1, 1)
	whole := filepath.Join(root, "whole")
	stdout, stderr, err := runCmd(runReproduce, smallArgs(whole, 3, "-shard", "0/1")...)
	if err != nil {
		t.Fatalf("unsharded run: %v\n%s", err, stderr)
	}
	if want := "\nwrote metrics.csv, summary.md and grid_inpaint_box_size=12.png in " + whole + "\n"; !strings.Contains(stdout, want) {
		t.Errorf("the unsharded run does not say what it wrote (%q):\n%s", want, stdout)
	}
	merged := filepath.Join(root, "merged")
	if _, stderr, err := runCmd(runMerge, "-out", merged, out); err != nil {
		t.Fatalf("merge: %v\n%s", err, stderr)
	}
	if got, want := csvWithoutSeconds(t, filepath.Join(merged, runs.CSVFile)), csvWithoutSeconds(t, filepath.Join(whole, runs.CSVFile)); !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("merged CSV:\n%v\nunsharded run's:\n%v", got, want)
	}
	// A fourth index is not a shard of this folder.
	t.Setenv("SLURM_ARRAY_TASK_ID", "3")
	t.Setenv("SLURM_ARRAY_TASK_MAX", "3")
	if _, _, err := runCmd(runReproduce, smallArgs(out, 3)...); err == nil || !strings.Contains(err.Error(), "Slurm array task 3 is not a shard of 3") {
		t.Errorf("array task 3: error %v", err)
	}
}

// TestMergeChecksSettings: folders of reproductions with other settings
// are refused, naming the setting, and the merged result does not depend
// on the order of the folders; merge names the files it wrote, grids
// included.
func TestMergeChecksSettings(t *testing.T) {
	root := t.TempDir()
	a, b, c := filepath.Join(root, "a"), filepath.Join(root, "b"), filepath.Join(root, "c")
	for _, run := range [][]string{smallArgs(a, 2, "-shard", "0/2"), smallArgs(b, 2, "-shard", "1/2"), smallArgs(b, 2, "-shard", "0/2"), smallArgs(c, 2, "-steps", "3")} {
		if _, stderr, err := runCmd(runReproduce, run...); err != nil {
			t.Fatalf("%v: %v\n%s", run, err, stderr)
		}
	}
	for _, order := range [][]string{{a, c}, {c, a}} {
		_, _, err := runCmd(runMerge, order...)
		if err == nil || !strings.Contains(err.Error(), "other settings (runs[0].respacing: was ") {
			t.Errorf("merge %v: error %v, want a refusal naming the setting", order, err)
		}
	}
	// b holds every item, a half of them: the duplicates count once.
	var tables []string
	for k, order := range [][]string{{a, b}, {b, a}} {
		out := filepath.Join(root, fmt.Sprint("merged", k))
		stdout, stderr, err := runCmd(runMerge, append([]string{"-out", out}, order...)...)
		if err != nil || !strings.Contains(stdout, "(2 duplicates ignored)") {
			t.Fatalf("merge %v: %v\n%s%s", order, err, stdout, stderr)
		}
		if want := "; wrote metrics.csv, summary.md and grid_inpaint_box_size=12.png in " + out + "\n"; !strings.Contains(stdout, want) {
			t.Errorf("merge %v does not say what it wrote (%q):\n%s", order, want, stdout)
		}
		tables = append(tables, readFile(t, filepath.Join(out, runs.CSVFile)))
	}
	if tables[0] != tables[1] {
		t.Errorf("the merged CSV depends on the folders' order:\n%s\n%s", tables[0], tables[1])
	}
}

// TestReproduceResumesOlderFolders resumes a folder written before claims
// and recorded shard counts existed (testdata/reproduce-v1, whose
// reproduce.json names the model "fmnist32.safetensors)"): the missing
// item is run, the others kept, and the settings file is repaired.
func TestReproduceResumesOlderFolders(t *testing.T) {
	out := filepath.Join(t.TempDir(), "v1")
	if err := os.CopyFS(out, os.DirFS("testdata/reproduce-v1")); err != nil {
		t.Fatal(err)
	}
	rec := filepath.Join(out, "inpaint_box_size=12", "dps", runs.RecordDir, "00001.json")
	kept := readFile(t, filepath.Join(out, "inpaint_box_size=12", "cadps", runs.RecordDir, "00000.json"))
	if err := os.Remove(rec); err != nil {
		t.Fatal(err)
	}
	args := append(smallArgs(out, 2), "-model", "small", "-weights", "../../cadps/prior/small/fmnist32.safetensors")
	stdout, stderr, err := runCmd(runReproduce, args...)
	if err != nil {
		t.Fatalf("resume: %v\n%s", err, stderr)
	}
	if done, before, _ := counts(t, stdout); done != 1 || before != 3 {
		t.Errorf("resume ran %d and kept %d items, want 1 and 3:\n%s", done, before, stdout)
	}
	if readFile(t, filepath.Join(out, "inpaint_box_size=12", "cadps", runs.RecordDir, "00000.json")) != kept {
		t.Error("a finished item was redone")
	}
	var doc struct{ Model, Weights string }
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(out, runs.SettingsFile))), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Model != "small" || doc.Weights != "fmnist32.safetensors" {
		t.Errorf("reproduce.json records model %q, weights %q; want small and fmnist32.safetensors", doc.Model, doc.Weights)
	}
	if _, _, err := runCmd(runMerge, "-quiet", out); err != nil {
		t.Errorf("merge of the resumed folder: %v", err)
	}
}
