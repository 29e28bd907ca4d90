package runs

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/cadps/toolkit/cadps/runs/claim"
	"github.com/cadps/toolkit/internal/atomicfile"
)

// Merging is a merge of the records of reproductions into tables: the
// metrics CSV, the Markdown table and the comparison grids (Table.Write).
// It writes them as a reproduction's workers do (see tableWriter): under
// the tables' lock in Out, so that a merge into a folder whose workers
// still run never replaces their tables with older ones, nor they its.
type Merging struct {
	// Dirs are the reproductions' folders (see ReadTable).
	Dirs []string
	// Out is the folder the tables are written in.
	Out string
	// GridRows bounds the rows of each comparison grid (0 or less: no
	// grids).
	GridRows int
	// Claims locks the tables in Out while the merge reads the records and
	// writes them (nil: a [claim.Claimer] of the merge's own). Its lease
	// also tells the live claims on items from those of workers that died
	// (Table.Held). Keep it to release the lock when the merge is asked to
	// stop ([claim.Claimer.ReleaseAll]).
	Claims *claim.Claimer
	// Log, when not nil, is told whom the merge waits for when another
	// worker is writing the tables.
	Log io.Writer
	// Check, when not nil, is called with each table read, once the
	// records and Out have been checked (Out holds no other reproduction),
	// before anything is written: an error stops the merge. It is called
	// first with a reading taken without the lock (so that a merge it
	// refuses neither waits for the lock nor runs Prepare), then with the
	// table read under the lock, and again for each new reading when
	// records are added while the merge writes the tables.
	Check func(*Table) error
	// Prepare, when not nil, is called once, after the reading taken
	// without the lock has passed the checks and before the lock is
	// taken: it loads what only a table to write needs (such as the FID
	// network), so that workers waiting for the lock do not wait for it
	// too. An error stops the merge before anything is written.
	Prepare func() error
}

// Run reads the records and writes the tables, and returns the table
// written. Folders without any record are refused, and so is a table that
// Check refuses; a refused merge leaves Out as it was (and removes it when
// it made it).
func (m *Merging) Run() (*Table, error) {
	if err := CheckOutputFolder(m.Out, CommandMerge); err != nil {
		return nil, err
	}
	_, statErr := os.Stat(m.Out)
	made := errors.Is(statErr, os.ErrNotExist)
	if err := atomicfile.CheckWritable(m.Out); err != nil {
		return nil, err
	}
	tw := &tableWriter{dirs: m.Dirs, out: m.Out, rows: m.GridRows, claims: orDefault(m.Claims, "merge"), log: m.Log, waits: true,
		check: func(t *Table) error {
			if len(t.Records) == 0 {
				return fmt.Errorf("runs: merge: no item records under %s", strings.Join(m.Dirs, ", "))
			}
			if m.Check != nil {
				return m.Check(t)
			}
			return nil
		}}
	_, err := tw.read() // without the lock: see Check and Prepare
	if err == nil && m.Prepare != nil {
		err = m.Prepare()
	}
	var t *Table
	if err == nil {
		t, _, err = tw.write()
	}
	if err != nil {
		if made {
			os.Remove(m.Out) // only when empty: nothing was written
		}
		return nil, err
	}
	return t, nil
}

// Merge reads the records of the reproductions in dirs (the shards of one
// reproduction, in one shared folder or in several; see ReadTable) and
// writes, in out, the metrics CSV, the Markdown table and the comparison
// grids (see Table.Write), as Merging does. It writes whatever is there:
// a run in progress gives a partial table, whose Missing lists what is
// still to come.
func Merge(dirs []string, out string, gridRows int) (*Table, error) {
	return (&Merging{Dirs: dirs, Out: out, GridRows: gridRows}).Run()
}

// tableWriter writes the tables of the records in dirs into out, under a
// claim on them (files summary.md.claim.N in out), which every worker of a
// reproduction and every merge into its folder takes: so the tables are
// written by one at a time, each from the records it read under the
// claim. A holder counts the record files before it reads them and again
// once it has released the claim, and writes the tables anew when the
// count changed. A writer that finds the claim held waits for it (waits;
// see waitClaim: a holder that died is taken over once its claim is
// stale), and then, when mine is not empty, writes unless the tables are
// those of the records present then and hold those of mine (tabulated):
// a live holder has included them. So workers
// ending at once neither write a mix of two readings nor each rewrite the
// tables, and the last tables written hold every record, also when a
// holder died while it wrote them.
type tableWriter struct {
	dirs []string
	out  string
	rows int
	// claims takes the claim on the tables, and its lease tells live
	// claims on items from stale ones (Table.Held).
	claims *claim.Claimer
	log    io.Writer
	// waits is whether the writer waits for a claim another holds; one
	// that does not leaves the tables to the holder.
	waits bool
	// mine are the records the writer must see tabulated, by item
	// (task/method/NNNNN), with their status.
	mine map[string]string
	// check, when not nil, is called with the table read under the claim,
	// once out has been found to hold no other reproduction, before it is
	// written: an error stops the writing.
	check func(*Table) error
	// afterTables, when not nil, is called once the tables are written,
	// before the records are counted again (a test's hook).
	afterTables func()
}

// write writes the tables unless another writer holds the claim and the
// writer does not wait, or the tables written meanwhile are those of the
// records present and hold its own (tabulated).
// It returns the table read, and whether it wrote it (not for a table
// without records: no worker has finished an item yet).
func (w *tableWriter) write() (t *Table, wrote bool, err error) {
	recounted := false // the records changed while the tables were written
	for {
		lock, waited, err := w.lock()
		if err != nil {
			return nil, wrote, err
		}
		if lock == nil {
			t, err := readTable(w.dirs, w.claims)
			return t, wrote, err
		}
		if waited && !recounted && len(w.mine) > 0 {
			if t, err := readTable(w.dirs, w.claims); err == nil && w.tabulated(t) {
				lock.Release()
				return t, wrote, nil
			}
		}
		before, err := countRecords(w.dirs)
		if err == nil {
			t, err = w.read()
		}
		if err == nil && len(t.Records) > 0 {
			if err = t.Write(w.out, w.rows); err == nil {
				wrote = true
			}
		}
		lock.Release()
		if err != nil || len(t.Records) == 0 {
			return t, wrote, err
		}
		if w.afterTables != nil {
			w.afterTables()
		}
		after, err := countRecords(w.dirs)
		if err != nil || after == before {
			return t, wrote, err
		}
		recounted = true
	}
}

// read reads the records in dirs and checks them: out must hold no other
// reproduction (Table.checkOutput), then check, when not nil, must pass
// the table. A table that fails the checks is returned with the error.
func (w *tableWriter) read() (*Table, error) {
	t, err := readTable(w.dirs, w.claims)
	if err == nil {
		err = t.checkOutput(w.out)
	}
	if err == nil && w.check != nil {
		err = w.check(t)
	}
	return t, err
}

// lock claims the tables. When another writer holds them it returns nil,
// unless the writer waits for them (waited).
func (w *tableWriter) lock() (lock *claim.Claim, waited bool, err error) {
	stem := filepath.Join(w.out, TableFile+".claim")
	lock, err = tryClaim(w.claims, stem)
	if !errors.Is(err, claim.ErrHeld) {
		return lock, false, err
	}
	if !w.waits {
		return nil, false, nil
	}
	lock, err = waitClaim(w.claims, stem, filepath.Join(w.out, TableFile), "write the tables", w.log)
	return lock, true, err
}

// tabulated reports whether the tables in out are those of t, the
// records present now, and hold every record of mine with its status:
// metrics.csv and summary.md are what Table.Write writes for t. A writer
// that died or was stopped while it wrote them, after summary.md and
// before metrics.csv, left the two of different readings, and they are
// not taken as holding anything. The files' contents decide, not their
// times: a folder copied (new times, in any order), file times of a
// second or two, and hosts whose clocks differ by a little neither hide
// such tables nor make tables of one reading look like them.
func (w *tableWriter) tabulated(t *Table) bool {
	csvData, err := os.ReadFile(filepath.Join(w.out, CSVFile))
	if err != nil || !bytes.Equal(csvData, recordsCSV(t.Records)) {
		return false
	}
	md, err := os.ReadFile(filepath.Join(w.out, TableFile))
	if err != nil || string(md) != t.Markdown() {
		return false
	}
	rows, err := csv.NewReader(bytes.NewReader(csvData)).ReadAll()
	if err != nil || len(rows) == 0 {
		return false
	}
	col := map[string]int{}
	for k, name := range rows[0] {
		col[name] = k
	}
	task, okT := col["task"]
	method, okM := col["method"]
	index, okI := col["index"]
	status, okS := col["status"]
	if !okT || !okM || !okI || !okS {
		return false
	}
	found := 0
	for _, row := range rows[1:] {
		i, err := strconv.Atoi(row[index])
		if err != nil {
			return false
		}
		st, ok := w.mine[Item{Task: row[task], Method: row[method], Index: i}.String()]
		switch {
		case !ok:
		case st != row[status]:
			return false
		default:
			found++
		}
	}
	return found == len(w.mine)
}

// countRecords counts the record files in dirs.
func countRecords(dirs []string) (int, error) {
	n := 0
	for _, dir := range dirs {
		recs, err := filepath.Glob(filepath.Join(atomicfile.GlobEscape(dir), "*", "*", RecordDir, "*.json"))
		if err != nil {
			return 0, fmt.Errorf("runs: %w", err)
		}
		n += len(recs)
	}
	return n, nil
}

// tryClaim claims the lock whose files are named STEM.N, once; it returns
// an error wrapping claim.ErrHeld when another worker holds it, or when
// another worker's claim crossed this one's.
func tryClaim(c *claim.Claimer, stem string) (*claim.Claim, error) {
	cl, err := c.Claim(stem)
	if err == nil && cl.Lost() {
		cl.Release()
		err = fmt.Errorf("%s: %w", stem, claim.ErrHeld)
	}
	return cl, err
}

// waitClaim claims the lock whose files are named STEM.N, on file, for
// the moment this worker does what (such as "check the settings"), waiting
// while another worker holds it. A live holder releases it within
// moments, and a dead one's claim is taken over by the claim rules (at
// once on this host, after the lease on another); the wait backs off to a
// poll every second at most, says in log (when not nil) whom it waits for
// after a second, and gives up after two leases, naming the holder.
func waitClaim(c *claim.Claimer, stem, file, what string, log io.Writer) (*claim.Claim, error) {
	start, pause, logged := time.Now(), 5*time.Millisecond, false
	for {
		cl, err := tryClaim(c, stem)
		if !errors.Is(err, claim.ErrHeld) {
			return cl, err
		}
		waited := time.Since(start)
		switch {
		case waited > 2*c.EffectiveLease():
			return nil, fmt.Errorf("runs: %s: waited %v (two leases) for another worker to %s: %w; is it stuck?", file, waited.Round(time.Second), what, err)
		case waited > time.Second && !logged && log != nil:
			fmt.Fprintf(log, "waiting for %s: %v\n", file, err)
			logged = true
		}
		time.Sleep(pause)
		pause = min(2*pause, c.EffectiveLease()/8, time.Second)
	}
}
