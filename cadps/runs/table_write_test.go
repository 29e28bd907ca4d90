package runs

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cadps/toolkit/cadps/runs/claim"
)

// TestMergeWaitsForTablesLock merges into a folder whose tables a worker
// is writing: the merge waits for the worker's claim on them and writes
// only once it is released, from the records then present. A merge wrote
// at once, and could replace the worker's newer tables with older ones.
func TestMergeWaitsForTablesLock(t *testing.T) {
	dir := t.TempDir()
	writeItem(t, dir, Record{Task: "sr", Method: "dps", Index: 0, Status: StatusOK, PSNR: 20, SSIM: 0.5, ImageBase: "x.png"})
	held, err := (&claim.Claimer{Worker: "shard 0/2"}).Claim(filepath.Join(dir, TableFile+".claim"))
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release()
	log := &waitLog{waiting: make(chan struct{})}
	type result struct {
		tab *Table
		err error
	}
	merged := make(chan result, 1)
	go func() {
		tab, err := (&Merging{Dirs: []string{dir}, Out: dir, Log: log}).Run()
		merged <- result{tab, err}
	}()
	select {
	case <-log.waiting:
	case r := <-merged:
		t.Fatalf("the merge ended (%v) while a worker held the tables' claim, want it to wait", r.err)
	case <-time.After(10 * time.Second):
		t.Fatal("the merge does not say it waits for the tables' claim")
	}
	if _, err := os.Stat(filepath.Join(dir, CSVFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s while the worker holds the claim: %v, want no file", CSVFile, err)
	}
	// The worker's last record, written before it releases the claim.
	writeItem(t, dir, Record{Task: "sr", Method: "dps", Index: 1, Status: StatusOK, PSNR: 21, SSIM: 0.6, ImageBase: "y.png"})
	held.Release()
	r := <-merged
	if r.err != nil {
		t.Fatal(r.err)
	}
	if len(r.tab.Records) != 2 || csvRows(t, dir) != 2 {
		t.Errorf("merge tabulated %d records and wrote %d rows, want 2 and 2", len(r.tab.Records), csvRows(t, dir))
	}
}

// csvRows returns the number of rows of out's metrics CSV (-1: no file).
func csvRows(t *testing.T, out string) int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(out, CSVFile))
	if errors.Is(err, fs.ErrNotExist) {
		return -1
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(data), "\n") - 1
}

// TestMergePrepareWithoutLock checks that Merging.Prepare runs before the
// tables' lock is taken (workers waiting for the lock would wait for what
// it loads), once, after a reading that passed Check, and not at all for
// a merge that Check refuses.
func TestMergePrepareWithoutLock(t *testing.T) {
	dir := t.TempDir()
	writeItem(t, dir, Record{Task: "sr", Method: "dps", Index: 0, Status: StatusOK, PSNR: 20, SSIM: 0.5, ImageBase: "x.png"})
	for _, refuse := range []bool{false, true} {
		prepared, checked := 0, 0
		m := &Merging{Dirs: []string{dir}, Out: dir,
			Check: func(*Table) error {
				checked++
				if refuse {
					return errors.New("refused")
				}
				return nil
			},
			Prepare: func() error {
				prepared++
				if locks, _ := filepath.Glob(filepath.Join(dir, TableFile+".claim.*")); len(locks) > 0 {
					t.Errorf("Prepare ran while the tables' lock was held: %v", locks)
				}
				if checked == 0 {
					t.Error("Prepare ran before Check")
				}
				return nil
			}}
		_, err := m.Run()
		switch {
		case refuse && (err == nil || err.Error() != "refused"):
			t.Errorf("refused merge: error %v, want Check's", err)
		case !refuse && err != nil:
			t.Errorf("merge: %v", err)
		}
		want := 1
		if refuse {
			want = 0
		}
		if prepared != want {
			t.Errorf("refuse %v: Prepare ran %d times, want %d", refuse, prepared, want)
		}
	}
}

// TestTablesAfterWriterDiedMidway: a writer of another host died while it
// wrote the tables, after summary.md and before metrics.csv, which an
// earlier writer wrote with this worker's record. The worker waits for
// the dead writer's claim to go stale and then writes the tables again,
// so that they are of one reading of the records, whatever the files'
// times say: summary.md is newer than metrics.csv, of the same second
// (file times of a second), or older (the dead writer's clock behind the
// earlier one's). Tables of one reading with summary.md the newer (a
// folder copied) are left as they are. The worker left the dead writer's
// summary.md beside the earlier metrics.csv since the CSV held its
// record, and then where summary.md was not newer than the CSV.
func TestTablesAfterWriterDiedMidway(t *testing.T) {
	for _, tc := range []struct {
		name string
		// died: a writer died after summary.md; mdAfter: summary.md's time
		// after metrics.csv's.
		died    bool
		mdAfter time.Duration
	}{
		{"summary.md newer", true, time.Second},
		{"summary.md of the same second", true, 0},
		{"summary.md older", true, -time.Second},
		{"one reading, summary.md newer", false, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			rec := Record{Task: "sr", Method: "dps", Index: 0, Status: StatusOK, PSNR: 20, SSIM: 0.5, ImageBase: "x.png"}
			writeItem(t, out, rec)
			earlier, err := readTable([]string{out}, &claim.Claimer{})
			if err != nil {
				t.Fatal(err)
			}
			if err := earlier.Write(out, 0); err != nil {
				t.Fatal(err)
			}
			summary, metrics := filepath.Join(out, TableFile), filepath.Join(out, CSVFile)
			if tc.died { // its reading holds a record added since
				writeItem(t, out, Record{Task: "sr", Method: "dps", Index: 1, Status: StatusOK, PSNR: 30, SSIM: 0.9, ImageBase: "y.png"})
				dead, err := readTable([]string{out}, &claim.Claimer{})
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(summary, []byte(dead.Markdown()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			csvTime := time.Now().Add(-time.Hour).Truncate(time.Second)
			for path, at := range map[string]time.Time{metrics: csvTime, summary: csvTime.Add(tc.mdAfter)} {
				if err := os.Chtimes(path, at, at); err != nil {
					t.Fatal(err)
				}
			}
			before := folderTables(t, out)
			deadHolder, err := json.Marshal(claim.Holder{Host: "elsewhere", PID: 1, Worker: "shard 1/2", Lease: 1, Claimed: "2026-01-01T00:00:00Z", Token: "dead"})
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(out, TableFile+".claim.0"), deadHolder, 0o644); err != nil {
				t.Fatal(err)
			}
			mine := map[string]string{Item{Task: rec.Task, Method: rec.Method, Index: rec.Index}.String(): rec.Status}
			tw := &tableWriter{dirs: []string{out}, out: out, claims: &claim.Claimer{Lease: time.Second}, waits: true, mine: mine}
			tab, wrote, err := tw.write()
			if err != nil {
				t.Fatal(err)
			}
			after := folderTables(t, out)
			if want := [2]string{string(recordsCSV(tab.Records)), tab.Markdown()}; after != want {
				t.Errorf("tables after the worker:\n%s\n%s\nwant those of the records present:\n%s\n%s", after[0], after[1], want[0], want[1])
			}
			if wrote != tc.died {
				t.Errorf("the worker wrote the tables: %v, want %v (tables before it: %q)", wrote, tc.died, before)
			}
		})
	}
}

// folderTables returns the contents of out's metrics.csv and summary.md.
func folderTables(t *testing.T, out string) [2]string {
	t.Helper()
	var tables [2]string
	for k, name := range []string{CSVFile, TableFile} {
		data, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		tables[k] = string(data)
	}
	return tables
}
