package runs

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/cadps/toolkit/cadps/runs/claim"
	"github.com/cadps/toolkit/internal/atomicfile"
)

// mixtureColumns is the header of a mixture bench's CSV file.
var mixtureColumns = []string{"dim", "dim_y", "problem", "seed", "sigma_y", "method", "samples", "steps", "scale",
	"sliced_wasserstein", "energy_distance", "weight_tv", "seconds", "error", "method_revision",
	"projections", "schedule", "var", "backend", "backend_config", "toolkit"}

// settingsMixtureColumns is the header of bench CSV files written before
// the backend and build that made each run were recorded.
var settingsMixtureColumns = slices.Clip(mixtureColumns[:18])

// revisionMixtureColumns is the header of bench CSV files written before
// the projections, schedule and variance were recorded.
var revisionMixtureColumns = slices.Clip(mixtureColumns[:15])

// legacyMixtureColumns is the header of bench CSV files written before the
// method's revision was recorded.
var legacyMixtureColumns = slices.Clip(mixtureColumns[:14])

// mixtureCSV is the CSV file of a running bench. Rows go to PATH.partial
// as they are measured, so that an interrupted bench keeps them, and
// PATH.partial replaces PATH when the bench ends. A claim ([claim.Claimer], files
// PATH.claim.N) keeps two benches from writing one file at once. A nil
// *mixtureCSV is a bench without a CSV file.
type mixtureCSV struct {
	path  string
	f     *os.File
	w     *csv.Writer
	claim *claim.Claim
	kept  map[mixtureKey]MixtureRow // the runs a resumed bench keeps
}

// mixtureKey names one run of a bench.
type mixtureKey struct {
	dim, dimY, problem int
	method             string
}

// key returns the name of the run r.
func (r MixtureRow) key() mixtureKey { return mixtureKey{r.Dim, r.DimY, r.Problem, r.Method} }

// openMixtureCSV claims mb.CSV for claimer and opens its partial file: a
// new one (an existing PATH or PATH.partial is refused), or with
// mb.Resume one that holds the runs PATH.partial or else PATH already has
// (a row cut short by an interruption is dropped and run again).
func openMixtureCSV(mb *MixtureBench, claimer *claim.Claimer) (*mixtureCSV, error) {
	cl, err := claimer.Claim(mb.CSV + ".claim")
	if errors.Is(err, claim.ErrHeld) {
		return nil, fmt.Errorf("%s: another bench is writing it: %w", mb.CSV, err)
	}
	if err != nil {
		return nil, fmt.Errorf("bench CSV: %w", err)
	}
	c := &mixtureCSV{path: mb.CSV, claim: cl}
	if err := c.open(mb); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

// open reads what a resumed bench keeps and (re)writes the partial file
// with it, ready to append to.
func (c *mixtureCSV) open(mb *MixtureBench) error {
	partial := c.path + ".partial"
	kept, err := os.ReadFile(partial)
	switch {
	case err == nil && !mb.Resume:
		return fmt.Errorf("%s exists: a bench into %s stopped before it ended; resume it, or move it away or remove it", partial, c.path)
	case errors.Is(err, fs.ErrNotExist) && mb.Resume:
		if kept, err = os.ReadFile(c.path); errors.Is(err, fs.ErrNotExist) {
			kept, err = nil, nil
		}
	case errors.Is(err, fs.ErrNotExist):
		if _, err = os.Stat(c.path); err == nil {
			return fmt.Errorf("%s exists: resume the bench to extend it (with its settings), or remove it or choose another file", c.path)
		}
		if errors.Is(err, fs.ErrNotExist) {
			kept, err = nil, nil
		}
	}
	if err != nil {
		return fmt.Errorf("bench CSV: %w", err)
	}
	kept = kept[:bytes.LastIndexByte(kept, '\n')+1] // only whole rows
	var b bytes.Buffer
	cw := csv.NewWriter(&b)
	_ = cw.Write(mixtureColumns)
	c.kept = map[mixtureKey]MixtureRow{}
	if len(kept) > 0 {
		rows, err := parseMixtureCSV(c.path, kept)
		if err != nil {
			return err
		}
		if err := mb.checkKept(rows); err != nil {
			return fmt.Errorf("resuming %s: %w", c.path, err)
		}
		for _, r := range rows {
			c.kept[r.key()] = r
			_ = cw.Write(mixtureRecord(r))
		}
	}
	cw.Flush()
	if err := atomicfile.WriteBytes(partial, b.Bytes()); err != nil {
		return fmt.Errorf("bench CSV: %w", err)
	}
	if c.f, err = os.OpenFile(partial, os.O_WRONLY|os.O_APPEND, 0); err != nil {
		return fmt.Errorf("bench CSV: %w", err)
	}
	c.w = csv.NewWriter(c.f)
	return nil
}

// checkKept rejects kept runs that this bench would not have made: other
// settings, another seed, another revision of a method, a run twice.
func (mb *MixtureBench) checkKept(rows []MixtureRow) error {
	if err := CheckMixtureRows(rows); err != nil {
		return err
	}
	r := mb.Settings
	for _, row := range rows {
		switch {
		case row.Samples != r.Samples || row.Steps != r.Steps || row.Scale != r.Scale:
			return fmt.Errorf("its runs have %d samples, %d steps and scale %g, this bench %d, %d and %g",
				row.Samples, row.Steps, row.Scale, r.Samples, r.Steps, r.Scale)
		case row.Schedule != "" && (row.Projections != r.Projections || row.Schedule != r.Schedule || row.VarType != r.VarType):
			return fmt.Errorf("its runs have %d projections, the %s schedule and the %s variance, this bench %d, %s and %s",
				row.Projections, row.Schedule, row.VarType, r.Projections, r.Schedule, r.VarType)
		case row.Seed != MixtureSeed(r.Seed, row.Dim, row.DimY, row.Problem):
			return fmt.Errorf("run d=%d m=%d problem %d has seed %d, which is not this bench's seed", row.Dim, row.DimY, row.Problem, row.Seed)
		case slices.Contains(mb.Methods, row.Method) && row.Revision != methodRevision(row.Method, nil):
			return fmt.Errorf("its %s runs were made by %s of the method, this build runs %s", row.Method,
				showRevision(row.Revision), showRevision(methodRevision(row.Method, nil)))
		}
	}
	return nil
}

// done returns the kept run of method name on problem p of cell (d, m).
func (c *mixtureCSV) done(d, m, p int, name string) (MixtureRow, bool) {
	if c == nil {
		return MixtureRow{}, false
	}
	r, ok := c.kept[mixtureKey{d, m, p, name}]
	return r, ok
}

// write appends one run and flushes it to the file, unless the bench has
// lost its claim.
func (c *mixtureCSV) write(r MixtureRow) error {
	if c == nil {
		return nil
	}
	if err := c.checkClaim(); err != nil {
		return err
	}
	_ = c.w.Write(mixtureRecord(r))
	c.w.Flush()
	if err := c.w.Error(); err != nil {
		return fmt.Errorf("writing %s: %w", c.f.Name(), err)
	}
	return nil
}

// finish syncs the partial file and renames it to the CSV's path, unless
// the bench has lost its claim.
func (c *mixtureCSV) finish() error {
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
		return fmt.Errorf("bench CSV: %w", err)
	}
	return nil
}

// checkClaim returns an error when another bench has taken the CSV file
// over (this one was stopped, say by Slurm's suspend, for longer than the
// lease): this bench must then write nothing more.
func (c *mixtureCSV) checkClaim() error {
	if c.claim.Lost() {
		if err := c.claim.Err(); err != nil {
			return fmt.Errorf("%s: this bench lost its claim on it (%w); stopping without writing", c.path, err)
		}
		return fmt.Errorf("%s: another bench took it over while this one was stopped (its claim lapsed); stopping without writing", c.path)
	}
	return nil
}

// close closes the partial file if it is still open and releases the
// claim.
func (c *mixtureCSV) close() {
	if c.f != nil {
		c.f.Close()
	}
	c.claim.Release()
}

// mixtureRecord is a run as a CSV record in mixtureColumns order.
func mixtureRecord(r MixtureRow) []string {
	return []string{strconv.Itoa(r.Dim), strconv.Itoa(r.DimY), strconv.Itoa(r.Problem), strconv.FormatUint(r.Seed, 10),
		formatFloat(r.SigmaY), r.Method, strconv.Itoa(r.Samples), strconv.Itoa(r.Steps), formatFloat(r.Scale),
		formatFloat(r.SlicedWasserstein), formatFloat(r.Energy), formatFloat(r.WeightTV), formatFloat(r.Seconds), r.Error,
		strconv.Itoa(r.Revision), strconv.Itoa(r.Projections), r.Schedule, r.VarType, r.Backend, r.BackendConfig, r.Toolkit}
}

// asRecorded returns r as its CSV record holds it: its numbers rounded
// (formatFloat) and its error on one line, each line break written "; "
// (errors.Join joins with newlines). A bench's new runs are made so, CSV
// file or not, so that its table is the one a resumed bench, which reads
// its kept runs back from the file, and `cadps gmm table` on the file
// make; and each row of the file is one line, so that a resumed bench,
// which keeps the partial file up to its last line break, drops a row
// that an interruption cut short, rather than keep half of an error's
// quoted text and refuse the file as malformed.
func (r MixtureRow) asRecorded() MixtureRow {
	for _, p := range []*float64{&r.SigmaY, &r.Scale, &r.SlicedWasserstein, &r.Energy, &r.WeightTV, &r.Seconds} {
		if v, err := strconv.ParseFloat(formatFloat(*p), 64); err == nil {
			*p = v
		}
	}
	r.Error = strings.NewReplacer("\r\n", "; ", "\n", "; ", "\r", "; ").Replace(r.Error)
	return r
}

// formatFloat formats a float for the CSV (six significant digits).
func formatFloat(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }

// ReadMixtureCSV reads the runs of a mixture bench's CSV file (one row per
// run: dim, dim_y, problem, seed, sigma_y, method, samples, steps, scale,
// sliced_wasserstein, energy_distance, weight_tv, seconds, error,
// method_revision, projections, schedule, var, backend, backend_config,
// toolkit; a file written before the last three were recorded lacks them,
// and its rows have them ""; one written before the settings after the
// revision were recorded lacks those too, and its rows have Projections 0
// and Schedule and VarType ""; one written before the revision was
// recorded lacks method_revision too, and its rows have Revision −1).
func ReadMixtureCSV(path string) ([]MixtureRow, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseMixtureCSV(path, data)
}

// parseMixtureCSV parses the runs of the bench CSV file path holding data.
func parseMixtureCSV(path string, data []byte) ([]MixtureRow, error) {
	recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if len(recs) == 0 || !slices.Equal(recs[0], mixtureColumns) && !slices.Equal(recs[0], settingsMixtureColumns) &&
		!slices.Equal(recs[0], revisionMixtureColumns) &&
		!slices.Equal(recs[0], legacyMixtureColumns) {
		return nil, fmt.Errorf("%s: not a `cadps gmm bench --csv` file (want the header %s)", path, strings.Join(mixtureColumns, ","))
	}
	rows := make([]MixtureRow, 0, len(recs)-1)
	for i, rec := range recs[1:] {
		r, err := parseMixtureRecord(rec)
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, i+2, err)
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// parseMixtureRecord parses one CSV record in mixtureColumns order.
func parseMixtureRecord(rec []string) (MixtureRow, error) {
	var r MixtureRow
	ints := []*int{&r.Dim, &r.DimY, &r.Problem}
	for i, p := range ints {
		v, err := strconv.Atoi(rec[i])
		if err != nil {
			return r, fmt.Errorf("column %s: %w", mixtureColumns[i], err)
		}
		*p = v
	}
	seed, err := strconv.ParseUint(rec[3], 10, 64)
	if err != nil {
		return r, fmt.Errorf("column seed: %w", err)
	}
	r.Seed = seed
	r.Method = rec[5]
	if r.Samples, err = strconv.Atoi(rec[6]); err != nil {
		return r, fmt.Errorf("column samples: %w", err)
	}
	if r.Steps, err = strconv.Atoi(rec[7]); err != nil {
		return r, fmt.Errorf("column steps: %w", err)
	}
	floats := map[int]*float64{4: &r.SigmaY, 8: &r.Scale, 9: &r.SlicedWasserstein, 10: &r.Energy, 11: &r.WeightTV, 12: &r.Seconds}
	for i, p := range floats {
		v, err := strconv.ParseFloat(rec[i], 64)
		if err != nil {
			return r, fmt.Errorf("column %s: %w", mixtureColumns[i], err)
		}
		*p = v
	}
	r.Error = rec[13]
	r.Revision = -1
	if len(rec) > 14 {
		if r.Revision, err = strconv.Atoi(rec[14]); err != nil {
			return r, fmt.Errorf("column method_revision: %w", err)
		}
	}
	if len(rec) > 15 {
		if r.Projections, err = strconv.Atoi(rec[15]); err != nil {
			return r, fmt.Errorf("column projections: %w", err)
		}
		r.Schedule, r.VarType = rec[16], rec[17]
	}
	if len(rec) > 18 {
		r.Backend, r.BackendConfig, r.Toolkit = rec[18], rec[19], rec[20]
	}
	return r, nil
}

// showRevision formats a method revision of a bench row.
func showRevision(r int) string {
	if r < 0 {
		return "an unrecorded revision"
	}
	return "revision " + strconv.Itoa(r)
}
