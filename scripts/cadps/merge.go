package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/cadps/toolkit/cadps/metrics/fid"
	"github.com/cadps/toolkit/cadps/runs"
)

// mergeCommand is `cadps merge DIR...`: the CSV, table and grids of a
// sharded reproduction, rebuilt from every shard's records, and the FID
// and papers' tables that `cadps reproduce` prints.
func mergeCommand() command {
	return command{
		name:    "merge",
		summary: "build the CSV, Markdown table and grids of a (sharded) reproduction from its records",
		run:     runMerge,
	}
}

// tablesWritten names the files t.Write(out, gridRows) writes, and out:
// "metrics.csv, summary.md and grid_sr.png in out".
func tablesWritten(t *runs.Table, out string, gridRows int) string {
	files := t.Files(gridRows)
	last := len(files) - 1
	return fmt.Sprintf("%s and %s in %s", strings.Join(files[:last], ", "), files[last], out)
}

// listed names the first few of items, and how many more there are.
func listed(items []string) string {
	const show = 5
	if len(items) <= show {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:show], ", "), len(items)-show)
}

func runMerge(args []string, stdout, stderr io.Writer) error {
	return mergeWith(fid.Load, args, stdout, stderr)
}

// mergeWith is runMerge with the FID network loaded by loadFID.
func mergeWith(loadFID fidLoader, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("merge", "DIR...", stderr)
	out := fs.String("out", "", "folder for metrics.csv, summary.md and the grids (default: the first DIR)")
	gridRows := fs.Int("grid-rows", 8, "rows (images) of each comparison grid (0: no grids)")
	partial := fs.Bool("partial", false, "write the tables even when items are missing (exit status 0)")
	quiet := fs.Bool("quiet", false, "do not print the line naming what was written, nor the table (the -fid and -paper-table tables still are)")
	tables := addTableFlags(fs)
	lease := addLeaseFlag(fs)
	dirs, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(dirs) == 0 {
		return usagef("want at least one reproduction folder (cadps merge DIR...)")
	}
	if *gridRows < 0 {
		return usagef("-grid-rows %d is negative", *gridRows)
	}
	if err := lease.check(); err != nil {
		return err
	}
	if err := tables.check(fs); err != nil {
		return err
	}
	if err := checkFolders(dirs); err != nil {
		return err
	}
	if *out == "" {
		*out = dirs[0]
	}
	// The tables are written under the lock the workers take, so that a
	// merge into a folder whose workers still run waits for the one
	// writing them and then tabulates every record there. The FID network
	// is loaded once the records have been read and checked, so that a
	// refused folder does not wait for it, before the lock is taken, so
	// that workers waiting for the lock do not wait for the loading too,
	// and before the tables are written, so that bad weights leave them
	// as they were (runs.Merging.Prepare).
	claims := lease.claimer("merge")
	defer stopOnSignal(claims, "merge", "the tables' lock is free again", stderr).stop()
	var fidModel *fid.Model
	m := &runs.Merging{Dirs: dirs, Out: *out, GridRows: *gridRows, Claims: claims, Log: stderr,
		Check: func(t *runs.Table) error { return checkMerged(t, *partial, stderr) },
		Prepare: func() (err error) {
			fidModel, err = tables.load(loadFID)
			return err
		}}
	t, err := m.Run()
	if err != nil {
		return err
	}
	reportMerged(t, stderr)
	if !*quiet {
		fmt.Fprintf(stdout, "%d records from %d folder(s)", len(t.Records), len(dirs))
		if t.Duplicates > 0 {
			fmt.Fprintf(stdout, " (%d duplicates ignored)", t.Duplicates)
		}
		fmt.Fprintf(stdout, "; wrote %s\n\n%s", tablesWritten(t, *out, *gridRows), t.Markdown())
	}
	return tables.print(stdout, t, fidModel, nil, nil)
}

// checkFolders refuses a reproduction folder to merge that is missing or
// not a folder, naming it, before anything is written (a missing first
// folder, the default -out, would otherwise be made and found empty).
func checkFolders(dirs []string) error {
	for _, dir := range dirs {
		st, err := os.Stat(dir)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("reproduction folder %s does not exist", dir)
		case err != nil:
			return fmt.Errorf("reproduction folder: %w", err)
		case !st.IsDir():
			return fmt.Errorf("reproduction folder %s is not a folder", dir)
		}
	}
	return nil
}

// checkMerged is the merge's check of each reading of the records (see
// runs.Merging.Check: once without the tables' lock, then under it, and
// again when records were added while the tables were written): it
// refuses, unless partial, a table t
// with items that have no record, naming first on stderr the items
// recorded as failed. A table it lets through is reported once, when the
// merge has ended (reportMerged).
func checkMerged(t *runs.Table, partial bool, stderr io.Writer) error {
	if len(t.Missing) == 0 || partial {
		return nil
	}
	warnFailed(t, stderr)
	todo := "rerun the shards that hold them"
	switch {
	case len(t.Held) == len(t.Missing):
		todo = "wait for the workers to finish them (a killed worker's claim goes stale after the lease, and the merge then says to rerun its shard)"
	case len(t.Held) > 0:
		todo = "wait for those, and rerun the shards that hold the others"
	}
	return fmt.Errorf("%s; %s (or pass -partial to tabulate what is there)", missingItems(t), todo)
}

// reportMerged names on stderr the items of the table written, t, that
// are recorded as failed, and those without a record (tabulated without
// them: -partial).
func reportMerged(t *runs.Table, stderr io.Writer) {
	warnFailed(t, stderr)
	if len(t.Missing) > 0 {
		fmt.Fprintf(stderr, "cadps merge: %s (tabulated without them: -partial)\n", missingItems(t))
	}
}

// warnFailed names on stderr the items of t recorded as failed.
func warnFailed(t *runs.Table, stderr io.Writer) {
	if failed := t.FailedItems(); len(failed) > 0 {
		fmt.Fprintf(stderr, "cadps merge: %d item(s) recorded as failed (sampling diverged; counted in the table, rerun with reproduce -retry-failed): %s\n", len(failed), listed(failed))
	}
}

// missingItems says which items of t have no record, and which of them
// workers hold by a fresh claim: running workers, or one killed less than
// a lease ago, whose claim another machine cannot tell from a live one
// until it goes stale.
func missingItems(t *runs.Table) string {
	msg := fmt.Sprintf("%d of %d items have no record: %s", len(t.Missing), t.Expected, listed(t.Missing))
	if len(t.Held) > 0 {
		msg += fmt.Sprintf(" (%d of them being computed now by running workers, or held by a worker killed less than a lease ago: %s)", len(t.Held), listed(t.Held))
	}
	return msg
}
