package main

import (
	"fmt"
	"io"

	"github.com/cadps/toolkit/cadps/restore"
)

// mergeCommand is `cadps merge DIR...`: the CSV, table and grids of a
// sharded reproduction, rebuilt from every shard's records.
func mergeCommand() command {
	return command{
		name:    "merge",
		summary: "build the CSV, Markdown table and grids of a (sharded) reproduction from its records",
		run:     runMerge,
	}
}

func runMerge(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("merge", "DIR...", stderr)
	out := fs.String("out", "", "folder for metrics.csv, summary.md and the grids (default: the first DIR)")
	gridRows := fs.Int("grid-rows", 8, "rows (images) of each comparison grid (0: no grids)")
	quiet := fs.Bool("quiet", false, "do not print the table")
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
	if *out == "" {
		*out = dirs[0]
	}
	t, err := restore.Merge(dirs, *out, *gridRows)
	if err != nil {
		return err
	}
	if !*quiet {
		fmt.Fprintf(stdout, "%d records from %d folder(s)", len(t.Records), len(dirs))
		if t.Duplicates > 0 {
			fmt.Fprintf(stdout, " (%d duplicates ignored)", t.Duplicates)
		}
		fmt.Fprintf(stdout, "; wrote %s and %s in %s\n\n%s", restore.CSVFile, restore.TableFile, *out, t.Markdown())
	}
	return nil
}
