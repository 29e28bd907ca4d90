package runs

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cadps/toolkit/cadps/restore"
	"github.com/cadps/toolkit/cadps/runs/claim"
	"github.com/cadps/toolkit/internal/atomicfile"
)

// TestRunShardWithoutItems runs the shards of a one-image reproduction
// into one folder, the one that owns no item first: it succeeds with
// nothing done and no table written, and the other shard then does the
// item and writes the table.
func TestRunShardWithoutItems(t *testing.T) {
	out := t.TempDir()
	for _, tc := range []struct {
		shard              Shard
		owned, done, found int
	}{
		{Shard{Index: 1, Count: 2}, 0, 0, 0},
		{Shard{Index: 0, Count: 2}, 1, 1, 1},
		{Shard{Index: 1, Count: 2}, 0, 0, 1},
	} {
		rep := srReproduction(t, out, 1)
		rep.Shard = tc.shard
		sum, err := rep.Run()
		if err != nil {
			t.Fatalf("shard %s: %v", tc.shard, err)
		}
		if sum.Items != 1 || sum.Owned != tc.owned || sum.Done != tc.done || len(sum.Table.Records) != tc.found {
			t.Errorf("shard %s: %d of %d items owned, %d done, %d records; want %d of 1, %d and %d",
				tc.shard, sum.Owned, sum.Items, sum.Done, len(sum.Table.Records), tc.owned, tc.done, tc.found)
		}
		if want := 1 - tc.found; len(sum.Table.Missing) != want || sum.Table.Expected != 1 {
			t.Errorf("shard %s: %d of %d items missing, want %d of 1", tc.shard, len(sum.Table.Missing), sum.Table.Expected, want)
		}
		if _, err := os.Stat(filepath.Join(out, CSVFile)); (tc.found > 0) != (err == nil) || err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("shard %s with %d records: %s: %v", tc.shard, tc.found, CSVFile, err)
		}
	}
}

// TestPollLease: a reproduction looks again at the items other workers
// hold every quarter of its claims' lease, at most every 5 s; a lease
// too short for a heartbeat counts as claim.MinLease, and none as
// claim.DefaultLease.
func TestPollLease(t *testing.T) {
	for _, tc := range []struct {
		lease, want time.Duration
	}{
		{0, claim.DefaultLease},
		{-time.Second, claim.DefaultLease},
		{1, claim.MinLease},
		{3 * time.Nanosecond, claim.MinLease},
		{claim.MinLease / 4, claim.MinLease},
		{3 * time.Second, 3 * time.Second},
	} {
		t.Run(tc.lease.String(), func(t *testing.T) {
			r := &Reproduction{Claims: &claim.Claimer{Lease: tc.lease}}
			if got, want := r.poll(), min(tc.want/4, 5*time.Second); got != want {
				t.Errorf("poll %v, want %v", got, want)
			}
		})
	}
}

// deadPID returns the process ID of a process of this host that has
// ended (and been reaped), skipping the test where no process can be run.
func deadPID(t *testing.T) int {
	t.Helper()
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Skip("no process to reap:", err)
	}
	return dead.Process.Pid
}

// TestRunSweepsDeadClaims: a worker killed between writing an item's
// record and releasing its claim leaves the claim behind; a rerun finds
// the item finished and removes the claim, but leaves a live worker's.
func TestRunSweepsDeadClaims(t *testing.T) {
	out := t.TempDir()
	rep := srReproduction(t, out, 1)
	if _, err := rep.Run(); err != nil {
		t.Fatal(err)
	}
	items := rep.Items()
	stem := filepath.Join(out, items[0].Task, items[0].Method, ClaimDir, items[0].Name())
	dead := deadPID(t)
	host, _ := os.Hostname()
	for _, tc := range []struct {
		name  string
		pid   int
		swept bool
	}{
		{"dead holder", dead, true},
		{"live holder", os.Getppid(), false},
	} {
		data, err := json.Marshal(claim.Holder{Host: host, PID: tc.pid})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(stem+".0", data, 0o644); err != nil {
			t.Fatal(err)
		}
		sum, err := rep.Run()
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if sum.Skipped != 1 || sum.Done != 0 {
			t.Errorf("%s: %d skipped, %d done; want the finished item skipped", tc.name, sum.Skipped, sum.Done)
		}
		if _, err := os.Stat(stem + ".0"); tc.swept != errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: want swept %v, the claim file: %v", tc.name, tc.swept, err)
		}
	}
}

// TestRunRecordsShards: a worker chose its shard by the count another
// worker recorded, and that worker then gave the run up and removed the
// record (ChooseShard's created): the run records the count again, so
// that a later worker with another count is refused. A count that differs
// from the one recorded when the run starts is refused.
func TestRunRecordsShards(t *testing.T) {
	for _, tc := range []struct {
		name string
		// before prepares the folder after this worker chose shard 1/4.
		before  func(t *testing.T, out string)
		wantErr string
	}{
		{"record removed by the worker that made it", func(t *testing.T, out string) {
			if err := os.Remove(filepath.Join(out, ShardFile)); err != nil {
				t.Fatal(err)
			}
		}, ""},
		{"another count recorded meanwhile", func(t *testing.T, out string) {
			if err := os.WriteFile(filepath.Join(out, ShardFile), []byte(`{"count":2}`), 0o644); err != nil {
				t.Fatal(err)
			}
		}, "was started with 2 shards (shards.json), this worker is shard 1/4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			if _, created, err := ChooseShard(out, "0/4", 0, env()); err != nil || !created {
				t.Fatalf("the first worker: created %v, %v", created, err)
			}
			s, _, err := ChooseShard(out, "1/4", 0, env())
			if err != nil {
				t.Fatal(err)
			}
			tc.before(t, out)
			rep := srReproduction(t, out, 1)
			rep.Shard = s
			_, err = rep.Run()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if n, err := RecordedShards(out); err != nil || n != 4 {
				t.Errorf("recorded shard count %d, %v after the run of shard 1/4; want 4", n, err)
			}
			if _, _, err := ChooseShard(out, "0/2", 0, env()); err == nil {
				t.Error("a worker of 2 shards was let into the folder of a run of 4")
			}
		})
	}
}

// TestRunTablesOfWorkersEndingAtOnce: the worker writing the tables, when
// a record is added while it writes them (another worker's last item),
// writes them again, so that the tables end with every record.
func TestRunTablesOfWorkersEndingAtOnce(t *testing.T) {
	out := t.TempDir()
	rep := srReproduction(t, out, 2)
	rep.Shard = Shard{Index: 0, Count: 2}
	items := rep.Items()
	calls := 0
	rep.afterTables = func() {
		calls++
		// A worker that finds the claim held waits, and writes the tables
		// only when they lack its records: the holder's recount must come
		// after its release, or such a record could be left out.
		if claims, _ := filepath.Glob(filepath.Join(out, TableFile+".claim*")); len(claims) != 0 {
			t.Errorf("the records are counted again while the tables' claim is still held: %v", claims)
		}
		if calls > 1 {
			return
		}
		// The other shard's record, as its worker writes it.
		data, err := os.ReadFile(items[0].Path(out, RecordDir))
		if err != nil {
			t.Fatal(err)
		}
		var rec map[string]any
		if err := json.Unmarshal(data, &rec); err != nil {
			t.Fatal(err)
		}
		rec["index"], rec["shard"] = items[1].Index, "1/2"
		if data, err = json.Marshal(rec); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(items[1].Path(out, RecordDir), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sum, err := rep.Run()
	if err != nil {
		t.Fatal(err)
	}
	if sum.Done != 1 || !sum.Wrote || calls != 2 {
		t.Fatalf("summary %+v, tables written %d times; want this worker's item done and the tables written twice", sum, calls)
	}
	if rows := csvRows(t, out); rows != 2 {
		t.Errorf("%s holds %d rows, want 2", CSVFile, rows)
	}
}

// TestRunWaitsForTablesLock: a worker that finds another writing the
// tables waits until the claim is released or goes stale, and then writes
// the tables unless they hold its record already. A worker left them to
// the holder at once, and when the holder had died (a lost node) nobody
// wrote its records into them. A worker that wrote no record of its own
// leaves them to the holder.
func TestRunWaitsForTablesLock(t *testing.T) {
	for _, tc := range []struct {
		name string
		// holder takes the tables' claim: it returns what the holder does
		// once this worker waits for it (nil: nothing, it died).
		holder func(t *testing.T, out string) func()
		// earlier: another shard's run finished the item before, and this
		// worker writes no record.
		earlier bool
		// wrote: the worker writes the tables; rows: the CSV's rows then.
		wrote bool
		rows  int
	}{
		{"holder on another host died", deadTablesHolder, false, true, 1},
		{"live holder tabulates this worker's record", liveTablesHolder(true), false, false, 1},
		{"live holder writes without it", liveTablesHolder(false), false, true, 1},
		{"this worker wrote no record", liveTablesHolder(false), true, false, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			rep := srReproduction(t, out, 1)
			rep.Claims = &claim.Claimer{Lease: time.Second}
			if tc.earlier {
				if _, err := srReproduction(t, out, 1).Run(); err != nil {
					t.Fatal(err)
				}
				for _, f := range []string{CSVFile, TableFile} {
					if err := os.Remove(filepath.Join(out, f)); err != nil {
						t.Fatal(err)
					}
				}
			}
			release := tc.holder(t, out)
			if tc.earlier {
				release = nil // it holds the claim until the test ends
			}
			log := &waitLog{waiting: make(chan struct{})}
			rep.Log = log
			done := make(chan struct{})
			go func() {
				defer close(done)
				if release == nil {
					return
				}
				// Once this worker says it waits for the tables (it wrote
				// its record before), the holder is done.
				select {
				case <-log.waiting:
					release()
				case <-time.After(10 * time.Second): // it never waits: the test fails
				}
			}()
			sum, err := rep.Run()
			<-done
			if err != nil {
				t.Fatal(err)
			}
			if sum.Wrote != tc.wrote || csvRows(t, out) != tc.rows || len(sum.Table.Records) != 1 {
				t.Errorf("the worker wrote the tables: %v, %s holds %d rows (-1: none), %d records tabulated; want %v, %d rows and 1 record",
					sum.Wrote, CSVFile, csvRows(t, out), len(sum.Table.Records), tc.wrote, tc.rows)
			}
		})
	}
}

// deadTablesHolder makes the tables' claim of a worker of another host,
// with a lease of a second, that died as it took it: the claim goes stale
// after the lease.
func deadTablesHolder(t *testing.T, out string) func() {
	t.Helper()
	data, err := json.Marshal(claim.Holder{Host: "elsewhere", PID: 1, Worker: "shard 1/2", Lease: 1, Claimed: "2026-01-01T00:00:00Z", Token: "dead"})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, TableFile+".claim.0"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return nil
}

// liveTablesHolder returns a holder that takes the tables' claim and,
// when released, writes the tables first from the records then present
// when tabulate is true.
func liveTablesHolder(tabulate bool) func(t *testing.T, out string) func() {
	return func(t *testing.T, out string) func() {
		t.Helper()
		held, err := (&claim.Claimer{Worker: "shard 1/2"}).Claim(filepath.Join(out, TableFile+".claim"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { held.Release() })
		return func() {
			if tabulate {
				tab, err := readTable([]string{out}, &claim.Claimer{})
				if err == nil {
					err = tab.Write(out, 0)
				}
				if err != nil {
					t.Error(err)
				}
			}
			held.Release()
		}
	}
}

// TestRunItemTakenOverWritesNothing checks that a worker whose item was
// taken over while it sampled (it stalled past the lease) writes none of
// the item's images or its record: the new holder's would be replaced by
// a result its record does not describe.
func TestRunItemTakenOverWritesNothing(t *testing.T) {
	out := t.TempDir()
	rep := srReproduction(t, out, 1)
	it := rep.Items()[0]
	rs, err := rep.restorers()
	if err != nil {
		t.Fatal(err)
	}
	cl, stem := claimItem(t, out, it, "")
	defer cl.Release()
	rep.OnStep = func(_ Item, p restore.Progress) {
		if p.Step != 1 {
			return
		}
		// Another worker takes the item over, as it links the next
		// generation of its claim.
		h, err := json.Marshal(claim.Holder{Host: "elsewhere", PID: 1, Worker: "shard 0/1", Claimed: "2026-01-01T00:00:00Z", Token: "other"})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(stem+".1", h, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := rep.runItem(it, rs[[2]string{it.Task, it.Method}], cl, ""); !errors.Is(err, errClaimLost) {
		t.Fatalf("runItem of an item taken over: %v, want errClaimLost", err)
	}
	for _, d := range []string{ReconDir, ProgressDir, InputDir, RecordDir} {
		if _, err := os.Stat(it.Path(out, d)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: %v, want no file: the item was taken over", it.Path(out, d), err)
		}
	}
}

// TestRunItemWriteFailsAfterTakeOver: a worker whose item was taken over
// while it wrote the item's files (the new holder removes its temporary
// files, and its renames fail) gives the item up (errClaimLost) rather
// than stop its shard with the write's error; a write that fails while
// the worker still holds the item is an error.
func TestRunItemWriteFailsAfterTakeOver(t *testing.T) {
	for _, tc := range []struct {
		name string
		lost bool
	}{
		{"claim lost", true},
		{"claim held", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			rep := srReproduction(t, out, 1)
			it := rep.Items()[0]
			rs, err := rep.restorers()
			if err != nil {
				t.Fatal(err)
			}
			cl, stem := claimItem(t, out, it, "")
			defer cl.Release()
			if tc.lost { // another worker has linked the next generation
				h, err := json.Marshal(claim.Holder{Host: "elsewhere", PID: 1, Worker: "shard 0/1", Claimed: "2026-01-01T00:00:00Z", Token: "other"})
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(stem+".1", h, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			// The first file the item writes, its clean image, cannot be
			// renamed into place.
			blocker := filepath.Join(it.Path(out, LabelDir), "x")
			if err := os.MkdirAll(blocker, 0o755); err != nil {
				t.Fatal(err)
			}
			_, err = rep.runItem(it, rs[[2]string{it.Task, it.Method}], cl, "")
			if err == nil || errors.Is(err, errClaimLost) != tc.lost {
				t.Fatalf("runItem whose write fails: %v; want errClaimLost: %v", err, tc.lost)
			}
		})
	}
}

// TestRunReportsWaitingOnce checks that a worker waiting for an item
// another worker holds says so once, not at every look: a shard of a long
// run would otherwise fill its log with one line per poll.
func TestRunReportsWaitingOnce(t *testing.T) {
	out := t.TempDir()
	log := &waitLog{waiting: make(chan struct{})}
	rep := srReproduction(t, out, 1)
	rep.Poll, rep.Log = time.Millisecond, log
	it := rep.Items()[0]
	held, _ := claimItem(t, out, it, "another worker")
	go func() {
		// Released once the worker says it waits (however long it takes to
		// get there), and then looks about 100 times more.
		select {
		case <-log.waiting:
			time.Sleep(100 * time.Millisecond)
		case <-time.After(time.Minute): // it never says so: the test fails
		}
		held.Release()
	}()
	sum, err := rep.Run()
	if err != nil {
		t.Fatal(err)
	}
	if sum.Done != 1 {
		t.Fatalf("summary %+v, want the item done once released", sum)
	}
	if n := strings.Count(log.String(), "waiting for"); n != 1 {
		t.Errorf("the log says it waits %d times, want once:\n%s", n, log.String())
	}
}

// waitLog is a Reproduction's Log that tells when the worker first says
// it waits for an item (closes waiting).
type waitLog struct {
	strings.Builder
	waiting chan struct{}
	once    sync.Once
}

// Write keeps p and closes waiting at the first line saying it waits.
func (w *waitLog) Write(p []byte) (int, error) {
	if strings.Contains(string(p), "waiting for") {
		w.once.Do(func() { close(w.waiting) })
	}
	return w.Builder.Write(p)
}

// TestRemoveTempsInPatternFolder checks that the temporary files a killed
// run left are found in a folder whose name holds glob characters (a
// folder "out[1]" was read as a pattern, and nothing was removed).
func TestRemoveTempsInPatternFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out[1]")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * time.Hour)
	for _, name := range []string{".00003.png.tmp1", ".metrics.csv.tmp2"} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	removeStaleTemps(dir, "00003")
	removeOldTemps(dir, time.Hour)
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("left in %s: %v", dir, left)
	}
}

// TestRunInPatternFolder checks that a reproduction in a folder whose
// name holds glob characters tabulates its records (they were looked for
// with the folder's name read as a pattern, and none was found).
func TestRunInPatternFolder(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run[1]")
	rep := srReproduction(t, out, 1)
	sum, err := rep.Run()
	if err != nil {
		t.Fatal(err)
	}
	if !sum.Wrote || sum.Table == nil || len(sum.Table.Records) != 1 {
		t.Fatalf("summary %+v, want the item's record tabulated", sum)
	}
	tab, err := ReadTable([]string{out})
	if err != nil {
		t.Fatal(err)
	}
	if len(tab.Records) != 1 || len(tab.Missing) != 0 {
		t.Fatalf("ReadTable: %d records, missing %v; want 1 record", len(tab.Records), tab.Missing)
	}
}

// srReproduction returns a reproduction into out of the first n shipped
// test images by ×2 super-resolution with dps in 2 steps on the shipped
// prior: the smallest run that exercises a run's bookkeeping.
func srReproduction(t *testing.T, out string, n int) *Reproduction {
	t.Helper()
	b, prior := shippedPrior(t)
	images, err := filepath.Glob("../prior/small/testimages/*.png")
	if err != nil || len(images) < n {
		t.Fatalf("test images: %v, %v", images, err)
	}
	return &Reproduction{
		Out: out, Backend: b, Prior: prior, Options: restore.Options{Steps: 2},
		Tasks: []TaskSetup{{Task: restore.SpecTask("sr:factor=2")}}, Methods: []string{"dps"}, Images: images[:n], GridRows: -1,
	}
}

// TestReadTableHeld checks that ReadTable tells the missing items a live
// worker is computing from those nobody is.
func TestReadTableHeld(t *testing.T) {
	out := t.TempDir()
	rep := srReproduction(t, out, 2)
	rep.Shard = Shard{Index: 0, Count: 2}
	if _, err := rep.Run(); err != nil {
		t.Fatal(err)
	}
	other := rep.Items()[1]
	stem := filepath.Join(out, other.Task, other.Method, ClaimDir, other.Name())
	if err := os.MkdirAll(filepath.Dir(stem), 0o755); err != nil {
		t.Fatal(err)
	}
	cl, err := (&claim.Claimer{Worker: "shard 1/2"}).Claim(stem)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		held []string
	}{
		{"claimed", []string{other.String()}},
		{"released", nil},
	} {
		if c.held == nil {
			cl.Release()
		}
		tab, err := ReadTable([]string{out})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(tab.Missing, []string{other.String()}) || !slices.Equal(tab.Held, c.held) {
			t.Errorf("%s: missing %v, held %v; want missing [%s], held %v", c.name, tab.Missing, tab.Held, other, c.held)
		}
	}
}

// TestHeldByLease leaves, on an item no record holds, the claim of a
// worker on another host that has not been heard of for 3 s: a merge and
// a reproduction's own tables under a 1 s lease report the item missing,
// not held (its worker died: its shard is to be rerun), and under the
// default lease held. The items' claims were judged by the default lease
// whatever the lease the workers took them with.
func TestHeldByLease(t *testing.T) {
	out := t.TempDir()
	rep := srReproduction(t, out, 2)
	rep.Shard = Shard{Index: 0, Count: 2}
	if _, err := rep.Run(); err != nil {
		t.Fatal(err)
	}
	other := rep.Items()[1]
	claimFile := filepath.Join(out, other.Task, other.Method, ClaimDir, other.Name()) + ".0"
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
		name  string
		lease time.Duration
		held  []string
	}{
		{"1s lease", time.Second, nil},
		{"default lease", 0, []string{other.String()}},
	} {
		claims := &claim.Claimer{Lease: c.lease, Worker: "test"}
		merged, err := (&Merging{Dirs: []string{out}, Out: out, Claims: claims}).Run()
		if err != nil {
			t.Fatalf("%s: merge: %v", c.name, err)
		}
		rep.Claims = claims
		sum, err := rep.Run()
		if err != nil {
			t.Fatalf("%s: reproduction: %v", c.name, err)
		}
		for _, got := range []struct {
			by  string
			tab *Table
		}{{"merge", merged}, {"reproduction", sum.Table}} {
			if got.tab == nil {
				t.Errorf("%s: the %s gave no table", c.name, got.by)
				continue
			}
			if !slices.Equal(got.tab.Missing, []string{other.String()}) || !slices.Equal(got.tab.Held, c.held) {
				t.Errorf("%s: the %s's table: missing %v, held %v; want missing [%s], held %v", c.name, got.by, got.tab.Missing, got.tab.Held, other, c.held)
			}
		}
	}
}

// TestRunRefusesLabelsOutsideItsFolder checks that a task label or a
// method that is not a single folder name is refused before anything is
// written: the item's files would land outside its <task>/<method>
// folder, or outside the output folder.
func TestRunRefusesLabelsOutsideItsFolder(t *testing.T) {
	for _, tc := range []struct {
		label, method, want string
	}{
		{"../x", "dps", `task label "../x"`},
		{"..", "dps", `task label ".."`},
		{".", "dps", `task label "."`},
		{"sr/x", "dps", `task label "sr/x"`},
		{"sr", "../dps", `method "../dps"`},
	} {
		t.Run(tc.label+" "+tc.method, func(t *testing.T) {
			root := t.TempDir()
			rep := srReproduction(t, filepath.Join(root, "a", "out"), 1)
			rep.Tasks[0].Task.Label = tc.label
			rep.Methods = []string{tc.method}
			if _, err := rep.Run(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("run: error %v, want one naming %s", err, tc.want)
			}
			if left, _ := os.ReadDir(root); len(left) > 0 {
				t.Errorf("a refused run wrote %s", left[0].Name())
			}
		})
	}
}

// TestRunRefusesMisplacedRecord puts a record naming another item in the
// place of a reproduction's first item: the run refuses it, naming the
// file, before it does or skips any item. Counted as the first item's
// record, it made the run skip that item, which the merge then refused.
func TestRunRefusesMisplacedRecord(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Record)
	}{
		{"other index", func(r *Record) { r.Index = 1 }},
		{"other method", func(r *Record) { r.Method = "cadps" }},
		{"other task", func(r *Record) { r.Task = "sr_factor=4" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			rep := srReproduction(t, out, 2)
			first := rep.Items()[0]
			rec := Record{Task: first.Task, Method: first.Method, Index: first.Index, Status: StatusOK}
			tc.edit(&rec)
			path := first.Path(out, RecordDir)
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			data, err := json.Marshal(rec)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			sum, err := rep.Run()
			if err == nil || !strings.Contains(err.Error(), path) {
				t.Fatalf("run: error %v, want one naming %s", err, path)
			}
			if sum.Skipped != 0 || sum.Done != 0 {
				t.Errorf("run skipped %d and did %d items before the refusal, want none", sum.Skipped, sum.Done)
			}
		})
	}
}

// TestRunRefusesCorruptRecord puts a record that does not parse, or has
// an unknown status, in the place of a reproduction's first item: the run
// refuses it, naming the file, before it does or skips any item, and
// leaves it as it was. Records are written atomically, so such a file is
// corrupt or was edited; the run redid the item and overwrote it unseen.
func TestRunRefusesCorruptRecord(t *testing.T) {
	for _, tc := range []struct {
		name, data string
	}{
		{"empty", ""},
		{"truncated", `{"task": "sr_factor=2", "method": "dps", "ind`},
		{"unknown status", `{"task": "sr_factor=2", "method": "dps", "index": 0, "status": "done"}`},
		{"no status", `{"task": "sr_factor=2", "method": "dps", "index": 0}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			rep := srReproduction(t, out, 2)
			path := rep.Items()[0].Path(out, RecordDir)
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(tc.data), 0o644); err != nil {
				t.Fatal(err)
			}
			sum, err := rep.Run()
			if err == nil || !strings.Contains(err.Error(), path) {
				t.Fatalf("run: error %v, want one naming %s", err, path)
			}
			if sum.Skipped != 0 || sum.Done != 0 {
				t.Errorf("run skipped %d and did %d items before the refusal, want none", sum.Skipped, sum.Done)
			}
			if got := readText(t, path); got != tc.data {
				t.Errorf("the refused run rewrote %s:\n%s", path, got)
			}
		})
	}
}

// TestRunRecordsBuild checks that each item's record names the backend's
// configuration and the build that computed it, and that neither is a
// setting: a rerun with another configuration resumes the folder, its new
// item records its own, and reproduce.json names neither.
func TestRunRecordsBuild(t *testing.T) {
	out := t.TempDir()
	rep := srReproduction(t, out, 2)
	rep.Images = rep.Images[:1]
	rep.BackendConfig, rep.Toolkit = "cadps:ops_sequential", "0123abcd"
	if _, err := rep.Run(); err != nil {
		t.Fatal(err)
	}
	rerun := srReproduction(t, out, 2)
	rerun.BackendConfig, rerun.Toolkit = "cadps", "4567ef01+dirty"
	sum, err := rerun.Run()
	if err != nil {
		t.Fatalf("a rerun with another backend configuration and build: %v", err)
	}
	if sum.Skipped != 1 || sum.Done != 1 {
		t.Errorf("rerun kept %d items and did %d, want 1 and 1", sum.Skipped, sum.Done)
	}
	items := rerun.Items()
	for _, c := range []struct {
		item                 Item
		backendConfig, build string
	}{
		{items[0], "cadps:ops_sequential", "0123abcd"},
		{items[1], "cadps", "4567ef01+dirty"},
	} {
		rec, err := ReadRecord(c.item.Path(out, RecordDir))
		if err != nil {
			t.Fatal(err)
		}
		if rec.BackendConfig != c.backendConfig || rec.Toolkit != c.build {
			t.Errorf("%s: record names backend configuration %q and build %q, want %q and %q",
				c.item, rec.BackendConfig, rec.Toolkit, c.backendConfig, c.build)
		}
	}
	settings := readText(t, filepath.Join(out, SettingsFile))
	for _, key := range []string{"backend_config", "toolkit"} {
		if strings.Contains(settings, key) {
			t.Errorf("%s records %s:\n%s", SettingsFile, key, settings)
		}
	}
}

// claimItem claims the item it of the reproduction in out as worker would
// (its claim file under the item's ClaimDir), for a test that plays
// another worker, and returns the claim and its file's stem.
func claimItem(t *testing.T, out string, it Item, worker string) (*claim.Claim, string) {
	t.Helper()
	stem := filepath.Join(out, it.Task, it.Method, ClaimDir, it.Name())
	if err := os.MkdirAll(filepath.Dir(stem), 0o755); err != nil {
		t.Fatal(err)
	}
	cl, err := (&claim.Claimer{Worker: worker}).Claim(stem)
	if err != nil {
		t.Fatal(err)
	}
	return cl, stem
}

// TestRunItemLinesCountFinishedItems: the per-item lines number each item
// among the shard's items, those finished before counted too, so that a
// resumed run ends at [N/N] as an uninterrupted one does.
func TestRunItemLinesCountFinishedItems(t *testing.T) {
	for _, tc := range []struct {
		name    string
		removed []int    // the items whose records are removed before the rerun
		want    []string // the rerun's per-item lines, up to the item's name
	}{
		{"every item missing", []int{0, 1, 2}, []string{"[1/3] sr_factor=2/dps/00000", "[2/3] sr_factor=2/dps/00001", "[3/3] sr_factor=2/dps/00002"}},
		{"the last item missing", []int{2}, []string{"[3/3] sr_factor=2/dps/00002"}},
		{"the first item missing", []int{0}, []string{"[1/3] sr_factor=2/dps/00000"}},
		{"the middle item missing", []int{1}, []string{"[2/3] sr_factor=2/dps/00001"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			rep := srReproduction(t, out, 3)
			if _, err := rep.Run(); err != nil {
				t.Fatal(err)
			}
			items := rep.Items()
			for _, k := range tc.removed {
				if err := os.Remove(items[k].Path(out, RecordDir)); err != nil {
					t.Fatal(err)
				}
			}
			var log strings.Builder
			rep = srReproduction(t, out, 3)
			rep.Log = &log
			if _, err := rep.Run(); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, line := range strings.Split(log.String(), "\n") {
				if strings.HasPrefix(line, "[") {
					got = append(got, strings.SplitN(line, ":", 2)[0])
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("per-item lines %q, want %q\nlog:\n%s", got, tc.want, log.String())
			}
		})
	}
}

// TestRunRetryFailedOnce: a worker given RetryFailed that finds a failed
// item held by another worker, also retrying it, leaves the item to that
// worker's record, failed again or not: it retries only the failed record
// it found, not one another worker wrote while it waited, so that workers
// started twice with -retry-failed do not each redo the item in turn.
// When the holder ends without a record, the worker retries the item.
func TestRunRetryFailedOnce(t *testing.T) {
	for _, tc := range []struct {
		name     string
		status   string // the holder's new record's status ("": none)
		done, by int    // the worker's Done and ByOthers
	}{
		{"failed again by the holder", StatusFailed, 0, 1},
		{"done by the holder", StatusOK, 0, 1},
		{"holder ended without a record", "", 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			rep := srReproduction(t, out, 1)
			if _, err := rep.Run(); err != nil {
				t.Fatal(err)
			}
			it := rep.Items()[0]
			path := it.Path(out, RecordDir)
			rec, err := ReadRecord(path)
			if err != nil {
				t.Fatal(err)
			}
			rec.Status, rec.Error = StatusFailed, "diverged"
			writeRecord(t, path, rec)
			held, _ := claimItem(t, out, it, "another worker")
			log := &waitLog{waiting: make(chan struct{})}
			rep.RetryFailed, rep.Poll, rep.Log = true, time.Millisecond, log
			var holder *Record
			wrote := make(chan struct{})
			go func() {
				defer close(wrote)
				select {
				case <-log.waiting:
				case <-time.After(time.Minute): // it never waits: the test fails
				}
				if tc.status != "" {
					again := *rec
					again.Status, again.Seconds, again.Shard = tc.status, rec.Seconds+1, "the holder"
					writeRecord(t, path, &again)
					holder = &again
				}
				held.Release()
			}()
			sum, err := rep.Run()
			<-wrote
			if err != nil {
				t.Fatal(err)
			}
			if sum.Done != tc.done || sum.ByOthers != tc.by {
				t.Errorf("%d done, %d by others; want %d and %d", sum.Done, sum.ByOthers, tc.done, tc.by)
			}
			got, err := ReadRecord(path)
			if err != nil {
				t.Fatal(err)
			}
			if holder != nil && got.Shard != holder.Shard {
				t.Errorf("the record is shard %q's, want the holder's", got.Shard)
			}
		})
	}
}

// writeRecord writes rec to path, atomically as a worker does: a worker
// may be reading it.
func writeRecord(t *testing.T, path string, rec *Record) {
	t.Helper()
	if err := atomicfile.WriteJSON(path, rec); err != nil {
		t.Error(err)
	}
}
