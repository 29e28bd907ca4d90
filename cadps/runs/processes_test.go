//go:build unix

package runs

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cadps/toolkit/cadps/imageio"
	"github.com/cadps/toolkit/cadps/restore"
	"github.com/cadps/toolkit/cadps/runs/claim"
	"github.com/cadps/toolkit/internal/atomicfile/atomicfiletest"
	"github.com/cadps/toolkit/internal/process"
)

// Environment of TestRunWorkerHelperProcess, the worker that
// TestRunWorkerProcesses starts as a process of its own.
const (
	// workerOutEnv is the reproduction's folder; unset, the helper test
	// does nothing.
	workerOutEnv = "CADPS_RUNS_TEST_WORKER_OUT"
	// workerDieEnv, when set to K, makes the worker kill itself (SIGKILL)
	// in the middle of the K-th item it samples (from 1).
	workerDieEnv = "CADPS_RUNS_TEST_WORKER_DIE"
	// workerStopEnv, when set to K, makes the worker stop as `cadps
	// reproduce` does on SIGTERM (its claims released, status 0 here) as
	// it starts sampling its (K+1)-th item: it finishes K items at most.
	workerStopEnv = "CADPS_RUNS_TEST_WORKER_STOP"
)

// workerImages is the number of images of the reproduction that the
// worker processes share, each run by two methods.
const workerImages = 5

// workerReproduction is the reproduction that the worker processes of
// TestRunWorkerProcesses run into out: every worker runs every item
// (no shards), under the shortest lease, looking again at held items
// often.
func workerReproduction(t *testing.T, out string) *Reproduction {
	t.Helper()
	rep := srReproduction(t, out, workerImages)
	rep.Methods, rep.Options.Steps = []string{"dps", "mcg"}, 3
	rep.Claims = &claim.Claimer{Lease: claim.MinLease, Worker: "pid " + strconv.Itoa(os.Getpid())}
	rep.Poll = 20 * time.Millisecond
	return rep
}

// TestRunWorkerHelperProcess is one worker of TestRunWorkerProcesses: it
// runs the reproduction in $CADPS_RUNS_TEST_WORKER_OUT, its log on
// stdout, and kills itself in the middle of an item, or stops, when
// $CADPS_RUNS_TEST_WORKER_DIE or $CADPS_RUNS_TEST_WORKER_STOP says so.
func TestRunWorkerHelperProcess(t *testing.T) {
	out := os.Getenv(workerOutEnv)
	if out == "" {
		t.Skip("a helper process of TestRunWorkerProcesses")
	}
	rep := workerReproduction(t, out)
	rep.Log = os.Stdout
	die, stop := envInt(t, workerDieEnv), envInt(t, workerStopEnv)
	started := map[string]bool{}
	rep.OnStep = func(it Item, p restore.Progress) {
		started[it.String()] = true
		switch {
		case len(started) == die && p.Step == 2:
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
		case stop > 0 && len(started) > stop:
			rep.Claims.ReleaseAll()
			os.Exit(0)
		}
	}
	if _, err := rep.Run(); err != nil {
		t.Fatal(err)
	}
}

// envInt returns the whole number in the environment variable name, 0
// when it is unset.
func envInt(t *testing.T, name string) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return 0
	}
	k, err := strconv.Atoi(v)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return k
}

// workerDone matches a worker's log line for an item it finished (written
// after its record).
var workerDone = regexp.MustCompile(`^\[\d+/\d+\] (\S+): `)

// TestRunWorkerProcesses runs several worker processes into one folder at
// once, under a 1 s lease on a machine they overload: two kill themselves
// (SIGKILL) in the middle of an item, one is killed from outside as soon
// as the first records are there, and the others stop (as on SIGTERM)
// after two items, so that at most 7 of the 10 items are finished.
// Afterwards no item was published by two workers, every file the workers
// left is whole (the images decode, the records parse), and a rerun
// finishes exactly the items that no worker finished, leaving whole
// tables that list every item, and no claim and no temporary file,
// beside the items or the tables.
func TestRunWorkerProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts several processes")
	}
	out := t.TempDir()
	workers := []struct {
		name      string
		die, stop int // workerDieEnv and workerStopEnv (0: unset)
	}{
		{"dies in its first item", 1, 0},
		{"dies in its second item", 2, 0},
		{"killed from outside, else stops after two items", 0, 2},
		{"stops after two items", 0, 2},
		{"stops after two items too", 0, 2},
	}
	most := 0 // the items the workers may finish
	for _, w := range workers {
		most += max(w.die-1, 0) + w.stop
	}
	type proc struct {
		cmd    *exec.Cmd
		log    strings.Builder
		killed bool
	}
	procs := make([]*proc, len(workers))
	var wg sync.WaitGroup
	for k, w := range workers {
		p := &proc{cmd: exec.Command(os.Args[0], "-test.run=^TestRunWorkerHelperProcess$")}
		p.cmd.Env = append(os.Environ(), workerOutEnv+"="+out, workerDieEnv+"="+strconv.Itoa(w.die), workerStopEnv+"="+strconv.Itoa(w.stop))
		p.cmd.Stdout, p.cmd.Stderr = &p.log, &p.log
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs[k] = p
	}
	exits := make([]error, len(procs))
	for k, p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			exits[k] = p.cmd.Wait()
		}()
	}
	// Killed once two records are there, wherever it is then.
	outside := procs[2]
	deadline := time.Now().Add(2 * time.Minute)
	for {
		recs, _ := filepath.Glob(filepath.Join(out, "*", "*", RecordDir, "*.json"))
		if len(recs) >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	outside.cmd.Process.Signal(syscall.SIGKILL)
	outside.killed = true
	wg.Wait()

	published := map[string]int{} // item → how many workers logged it done
	died := 0
	for k, p := range procs {
		var exit *exec.ExitError
		switch err := exits[k]; {
		case err == nil:
			// A worker that stopped (the one killed from outside too,
			// when it stopped first), or one meant to die that found no
			// item left to sample.
		case asExit(err, &exit) && exit.Sys().(syscall.WaitStatus).Signal() == syscall.SIGKILL && (workers[k].die > 0 || p.killed):
			died++
		default:
			t.Errorf("worker %q: %v:\n%s", workers[k].name, err, p.log.String())
		}
		sc := bufio.NewScanner(strings.NewReader(p.log.String()))
		for sc.Scan() {
			if m := workerDone.FindStringSubmatch(sc.Text()); m != nil {
				published[m[1]]++
			}
		}
	}
	t.Logf("%d of %d workers killed, %d items published", died, len(procs), len(published))
	for it, n := range published {
		if n > 1 {
			t.Errorf("%s was published by %d workers, want one", it, n)
		}
	}
	checkWholeFiles(t, out)
	if t.Failed() {
		return
	}

	// A rerun finishes what is left: the items without a record.
	rep := workerReproduction(t, out)
	items := rep.Items()
	missing := 0
	for _, it := range items {
		if _, err := os.Stat(it.Path(out, RecordDir)); err != nil {
			missing++
		}
	}
	if missing < len(items)-most {
		t.Errorf("the workers left %d of %d items, want at least %d: they finish %d at most", missing, len(items), len(items)-most, most)
	}
	sum, err := rep.Run()
	if err != nil {
		t.Fatal(err)
	}
	if sum.Done != missing || sum.Skipped != len(items)-missing || sum.Failed != 0 || len(sum.Table.Records) != len(items) {
		t.Errorf("rerun: %d done, %d skipped, %d failed, %d records; want %d done, %d skipped, none failed, %d records",
			sum.Done, sum.Skipped, sum.Failed, len(sum.Table.Records), missing, len(items)-missing, len(items))
	}
	checkWholeFiles(t, out)
	for _, it := range items {
		for _, d := range []string{InputDir, ReconDir, ProgressDir, LabelDir, RecordDir} {
			if _, err := os.Stat(it.Path(out, d)); err != nil {
				t.Errorf("after the rerun: %v", err)
			}
		}
	}
	left, err := filepath.Glob(filepath.Join(out, "*", "*", "*", "*"))
	if err != nil {
		t.Fatal(err)
	}
	top, err := filepath.Glob(filepath.Join(out, "*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range append(left, top...) {
		name := filepath.Base(f)
		if rel, _ := filepath.Rel(out, f); strings.HasPrefix(name, ".") || filepath.Base(filepath.Dir(f)) == ClaimDir || strings.Contains(name, ".claim.") {
			t.Errorf("after the rerun: %s is left", rel)
		}
	}
}

// asExit reports whether err is an *exec.ExitError, setting *exit.
func asExit(err error, exit **exec.ExitError) bool {
	e, ok := err.(*exec.ExitError)
	*exit = e
	return ok
}

// checkWholeFiles checks that every file the workers left in out that
// readers look at is whole: each image decodes, each record parses, and
// the tables, when there, parse and list only items whose records are
// there.
func checkWholeFiles(t *testing.T, out string) {
	t.Helper()
	for _, d := range []string{InputDir, ReconDir, ProgressDir, LabelDir} {
		pngs, _ := filepath.Glob(filepath.Join(out, "*", "*", d, "*.png"))
		for _, p := range pngs {
			if _, err := imageio.Load(p); err != nil {
				t.Errorf("%s: %v", p, err)
			}
		}
	}
	recs, _ := filepath.Glob(filepath.Join(out, "*", "*", RecordDir, "*.json"))
	for _, p := range recs {
		if _, err := ReadRecord(p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	for _, name := range []string{SettingsFile, ShardFile} {
		data, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			if name == SettingsFile {
				t.Error(err)
			}
			continue
		}
		var v map[string]any
		if err := json.Unmarshal(data, &v); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	data, err := os.ReadFile(filepath.Join(out, CSVFile))
	if err != nil {
		return // no worker wrote the tables yet
	}
	rows, err := csv.NewReader(strings.NewReader(string(data))).ReadAll()
	if err != nil || len(rows) == 0 {
		t.Fatalf("%s: %v (%d rows)", CSVFile, err, len(rows))
	}
	col := map[string]int{}
	for k, name := range rows[0] {
		col[name] = k
	}
	for _, row := range rows[1:] {
		i, err := strconv.Atoi(row[col["index"]])
		if err != nil {
			t.Errorf("%s: %v", CSVFile, err)
			continue
		}
		it := Item{Task: row[col["task"]], Method: row[col["method"]], Index: i}
		if _, err := os.Stat(it.Path(out, RecordDir)); err != nil {
			t.Errorf("%s lists %s: %v", CSVFile, it, err)
		}
	}
	if _, err := os.Stat(filepath.Join(out, TableFile)); err != nil {
		t.Errorf("%s without %s: %v", CSVFile, TableFile, err)
	}
}

// TestKilledWriterHelperProcess is the writer that
// atomicfiletest.LeaveDeadTemp kills.
func TestKilledWriterHelperProcess(t *testing.T) { atomicfiletest.KilledWriter(t) }

// TestTablesRemoveDeadTemps: the temporary file that a worker or a merge
// killed (SIGKILL) while it wrote one of the tables or the settings
// (reproduce.json, shards.json) left beside it is removed by the next run
// or merge that writes the tables, where a temporary file's name can name
// its process (process.FullSpace).
func TestTablesRemoveDeadTemps(t *testing.T) {
	if process.FullSpace() == "" {
		t.Skip("this system cannot name a process's id space, so temporary files name no process and stay")
	}
	rerun := func(rep *Reproduction) error { _, err := rep.Run(); return err }
	merge := func(rep *Reproduction) error { _, err := Merge([]string{rep.Out}, rep.Out, rep.GridRows); return err }
	table := func(string) string { return TableFile }
	settings := func(string) string { return SettingsFile }
	shards := func(string) string { return ShardFile }
	for _, tc := range []struct {
		name  string
		file  func(task string) string
		write func(*Reproduction) error
	}{
		{"rerun", table, rerun},
		{"rerun", func(string) string { return CSVFile }, rerun},
		{"rerun", GridFile, rerun},
		{"rerun", settings, rerun},
		{"rerun", shards, rerun},
		{"merge", table, merge},
		{"merge", GridFile, merge},
		{"merge", settings, merge},
		{"merge", shards, merge},
	} {
		out := t.TempDir()
		rep := srReproduction(t, out, 1)
		rep.GridRows = 8
		rep.Shard = Shard{Index: 0, Count: 2} // so that it writes shards.json
		file := filepath.Join(out, tc.file(rep.Items()[0].Task))
		t.Run(tc.name+" "+filepath.Base(file), func(t *testing.T) {
			if _, err := rep.Run(); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(file); err != nil {
				t.Fatal(err)
			}
			temp := atomicfiletest.LeaveDeadTemp(t, file)
			if err := tc.write(rep); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(temp); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("the killed writer's %s is still there (%v)", filepath.Base(temp), err)
			}
		})
	}
}

// TestEvaluationRemovesDeadTemps: the temporary file that an evaluation
// killed (SIGKILL) while it wrote a kept image or a grid left beside it
// is removed by the next evaluation into the folder, where a temporary
// file's name can name its process (process.FullSpace).
func TestEvaluationRemovesDeadTemps(t *testing.T) {
	if process.FullSpace() == "" {
		t.Skip("this system cannot name a process's id space, so temporary files name no process and stay")
	}
	_, prior := shippedPrior(t)
	digest, noise := evalSetup(t, prior)
	images := testSetImages(t, "../prior/small/testimages", 1, prior.ImageShape())
	const task = "sr:factor=2"
	for _, tc := range []struct {
		name string
		file string // under images/
	}{
		{"grid", EvalLabel(task) + ".png"},
		{"kept image", filepath.Join(EvalLabel(task), "truth-00000.png")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			ev := func() *Evaluation {
				return &Evaluation{
					Out: out, Noise: noise, Prior: prior, PriorSpec: restore.ModelSpec{Name: restore.SmallPriorName}, Jobs: 1, Images: images,
					Settings: EvalSettings{Data: "cadps/prior/small/testimages", Count: 1, Batch: 1, Tasks: []string{task},
						Methods: []string{"dps"}, Steps: 2, Noise: "gaussian:sigma=0.05", Model: "small", Digest: digest, Keep: 1},
				}
			}
			if _, err := ev().Run(); err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(out, EvalImagesDir, tc.file)
			if _, err := os.Stat(file); err != nil {
				t.Fatal(err)
			}
			temp := atomicfiletest.LeaveDeadTemp(t, file)
			if _, err := ev().Run(); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(temp); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("the killed evaluation's %s is still there (%v)", filepath.Base(temp), err)
			}
		})
	}
}
