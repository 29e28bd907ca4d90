package main

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"

	"github.com/cadps/toolkit/cadps/runs"
	"github.com/cadps/toolkit/internal/atomicfile"
)

// benchCSV is the CSV file of a running bench. Rows go to PATH.partial as
// they are measured, so that an interrupted bench keeps them, and
// PATH.partial replaces PATH when the bench ends. A claim (runs.Claimer,
// files PATH.claim.N) keeps two benches from writing one file at once. A
// nil *benchCSV is a bench without a CSV file.
type benchCSV struct {
	path  string
	f     *os.File
	w     *csv.Writer
	claim *runs.Claim
	kept  map[benchKey]benchRow // the runs a resumed bench keeps
}

// benchKey names one run of a bench.
type benchKey struct {
	dim, dimY, problem int
	method             string
}

// openBenchCSV claims cfg.csvPath for claimer and opens its partial file:
// a new one (an existing PATH or PATH.partial is refused), or with
// --resume one that holds the runs PATH.partial or else PATH already has
// (a row cut short by an interruption is dropped and run again).
func openBenchCSV(cfg benchConfig, claimer *runs.Claimer) (*benchCSV, error) {
	cl, err := claimer.Claim(cfg.csvPath + ".claim")
	if errors.Is(err, runs.ErrHeld) {
		return nil, fmt.Errorf("--csv %s: another bench is writing it: %w", cfg.csvPath, err)
	}
	if err != nil {
		return nil, fmt.Errorf("--csv: %w", err)
	}
	c := &benchCSV{path: cfg.csvPath, claim: cl}
	if err := c.open(cfg); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

// open reads what a resumed bench keeps and (re)writes the partial file
// with it, ready to append to.
func (c *benchCSV) open(cfg benchConfig) error {
	partial := c.path + ".partial"
	kept, err := os.ReadFile(partial)
	switch {
	case err == nil && !cfg.resume:
		return fmt.Errorf("%s exists: a bench into %s stopped before it ended; continue it with --resume, or move it away or remove it", partial, c.path)
	case errors.Is(err, fs.ErrNotExist) && cfg.resume:
		if kept, err = os.ReadFile(c.path); errors.Is(err, fs.ErrNotExist) {
			kept, err = nil, nil
		}
	case errors.Is(err, fs.ErrNotExist):
		if _, err = os.Stat(c.path); err == nil {
			return fmt.Errorf("--csv %s exists: pass --resume to extend it (with its settings), or remove it or choose another file", c.path)
		}
		if errors.Is(err, fs.ErrNotExist) {
			kept, err = nil, nil
		}
	}
	if err != nil {
		return fmt.Errorf("--csv: %w", err)
	}
	kept = kept[:bytes.LastIndexByte(kept, '\n')+1] // only whole rows
	var b bytes.Buffer
	cw := csv.NewWriter(&b)
	_ = cw.Write(benchColumns)
	c.kept = map[benchKey]benchRow{}
	if len(kept) > 0 {
		rows, err := parseBenchCSV(c.path, kept)
		if err != nil {
			return err
		}
		if err := cfg.checkKept(rows); err != nil {
			return fmt.Errorf("--resume %s: %w", c.path, err)
		}
		for _, r := range rows {
			c.kept[benchKey{r.Dim, r.DimY, r.Problem, r.Method}] = r
			_ = cw.Write(benchRecord(r))
		}
	}
	cw.Flush()
	if err := atomicfile.WriteBytes(partial, b.Bytes()); err != nil {
		return fmt.Errorf("--csv: %w", err)
	}
	if c.f, err = os.OpenFile(partial, os.O_WRONLY|os.O_APPEND, 0); err != nil {
		return fmt.Errorf("--csv: %w", err)
	}
	c.w = csv.NewWriter(c.f)
	return nil
}

// checkKept rejects kept runs that this bench would not have made: other
// settings, another --seed, another revision of a method, a run twice.
func (cfg benchConfig) checkKept(rows []benchRow) error {
	if err := checkBenchRows(rows); err != nil {
		return err
	}
	r := cfg.run
	for _, row := range rows {
		switch {
		case row.Samples != r.Samples || row.Steps != r.Steps || row.Scale != r.Scale:
			return fmt.Errorf("its runs have %d samples, %d steps and scale %g, this bench %d, %d and %g",
				row.Samples, row.Steps, row.Scale, r.Samples, r.Steps, r.Scale)
		case row.Seed != benchSeed(r.Seed, row.Dim, row.DimY, row.Problem):
			return fmt.Errorf("run d=%d m=%d problem %d has seed %d, which is not this bench's --seed", row.Dim, row.DimY, row.Problem, row.Seed)
		case slices.Contains(cfg.names, row.Method) && row.Revision != methodRevision(row.Method):
			return fmt.Errorf("its %s runs come from %s of the method, this build's is %s", row.Method,
				showRevision(row.Revision), showRevision(methodRevision(row.Method)))
		}
	}
	return nil
}

// done returns the kept run of method name on problem p of cell (d, m).
func (c *benchCSV) done(d, m, p int, name string) (benchRow, bool) {
	if c == nil {
		return benchRow{}, false
	}
	r, ok := c.kept[benchKey{d, m, p, name}]
	return r, ok
}

// write appends one run and flushes it to the file, unless the bench has
// lost its claim.
func (c *benchCSV) write(r benchRow) error {
	if c == nil {
		return nil
	}
	if err := c.checkClaim(); err != nil {
		return err
	}
	_ = c.w.Write(benchRecord(r))
	c.w.Flush()
	if err := c.w.Error(); err != nil {
		return fmt.Errorf("writing %s: %w", c.f.Name(), err)
	}
	return nil
}

// finish syncs the partial file and renames it to the CSV's path, unless
// the bench has lost its claim.
func (c *benchCSV) finish() error {
	if c == nil {
		return nil
	}
	if err := c.checkClaim(); err != nil {
		return err
	}
	name := c.f.Name()
	err := c.f.Sync()
	if cerr := c.f.Close(); err == nil {
		err = cerr
	}
	c.f = nil
	if err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if err := os.Rename(name, c.path); err != nil {
		return fmt.Errorf("--csv: %w", err)
	}
	return nil
}

// checkClaim returns an error when another bench has taken the CSV file
// over (this one was stopped, say by Slurm's suspend, for longer than the
// lease): this bench must then write nothing more.
func (c *benchCSV) checkClaim() error {
	if c.claim.Lost() {
		return fmt.Errorf("--csv %s: another bench took it over while this one was stopped (its claim lapsed); stopping without writing", c.path)
	}
	return nil
}

// close closes the partial file if it is still open and releases the
// claim.
func (c *benchCSV) close() {
	if c.f != nil {
		c.f.Close()
	}
	c.claim.Release()
}

// benchRecord is a run as a CSV record in benchColumns order.
func benchRecord(r benchRow) []string {
	return []string{strconv.Itoa(r.Dim), strconv.Itoa(r.DimY), strconv.Itoa(r.Problem), strconv.FormatUint(r.Seed, 10),
		fmtF(r.SigmaY), r.Method, strconv.Itoa(r.Samples), strconv.Itoa(r.Steps), fmtF(r.Scale),
		fmtF(r.SlicedWasserstein), fmtF(r.Energy), fmtF(r.WeightTV), fmtF(r.Seconds), r.Error,
		strconv.Itoa(r.Revision)}
}
