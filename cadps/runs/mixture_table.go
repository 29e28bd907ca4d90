package runs

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/cadps/toolkit/internal/num"
)

// MixtureCell is the summary of one (d, m, method) cell of a mixture bench
// over its problems: the mean and sample standard deviation of each
// distance over the runs that succeeded (NaN when none did, null in its
// JSON).
type MixtureCell struct {
	Dim    int    `json:"dim"`
	DimY   int    `json:"dim_y"`
	Method string `json:"method"`
	// Runs counts the cell's runs, Failures those with an error.
	Runs     int `json:"runs"`
	Failures int `json:"failures"`
	// SWMean ± SWStd is SW₂, EMean ± EStd the energy distance, TVMean ±
	// TVStd the weight error (see MixtureReport).
	SWMean float64 `json:"sw_mean"`
	SWStd  float64 `json:"sw_std"`
	EMean  float64 `json:"energy_mean"`
	EStd   float64 `json:"energy_std"`
	TVMean float64 `json:"weight_tv_mean"`
	TVStd  float64 `json:"weight_tv_std"`
	// Seconds is the mean sampling wall time of a run, in seconds.
	Seconds float64 `json:"seconds_mean"`
}

// mixtureCellJSON is MixtureCell as JSON holds it: its means, standard
// deviations and seconds null where they are NaN (a cell none of whose
// runs succeeded), for which JSON has no number.
type mixtureCellJSON struct {
	Dim      int      `json:"dim"`
	DimY     int      `json:"dim_y"`
	Method   string   `json:"method"`
	Runs     int      `json:"runs"`
	Failures int      `json:"failures"`
	SWMean   *float64 `json:"sw_mean"`
	SWStd    *float64 `json:"sw_std"`
	EMean    *float64 `json:"energy_mean"`
	EStd     *float64 `json:"energy_std"`
	TVMean   *float64 `json:"weight_tv_mean"`
	TVStd    *float64 `json:"weight_tv_std"`
	Seconds  *float64 `json:"seconds_mean"`
}

// MarshalJSON writes the cell's fields, with null for a NaN mean, standard
// deviation or time (a cell none of whose runs succeeded).
func (c MixtureCell) MarshalJSON() ([]byte, error) {
	null := func(v float64) *float64 {
		if math.IsNaN(v) {
			return nil
		}
		return &v
	}
	return json.Marshal(mixtureCellJSON{
		Dim: c.Dim, DimY: c.DimY, Method: c.Method, Runs: c.Runs, Failures: c.Failures,
		SWMean: null(c.SWMean), SWStd: null(c.SWStd), EMean: null(c.EMean), EStd: null(c.EStd),
		TVMean: null(c.TVMean), TVStd: null(c.TVStd), Seconds: null(c.Seconds),
	})
}

// UnmarshalJSON reads a cell as MarshalJSON writes it, null as NaN.
func (c *MixtureCell) UnmarshalJSON(data []byte) error {
	var v mixtureCellJSON
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	nan := func(p *float64) float64 {
		if p == nil {
			return math.NaN()
		}
		return *p
	}
	*c = MixtureCell{
		Dim: v.Dim, DimY: v.DimY, Method: v.Method, Runs: v.Runs, Failures: v.Failures,
		SWMean: nan(v.SWMean), SWStd: nan(v.SWStd), EMean: nan(v.EMean), EStd: nan(v.EStd),
		TVMean: nan(v.TVMean), TVStd: nan(v.TVStd), Seconds: nan(v.Seconds),
	}
	return nil
}

// SummariseMixture returns a cell for every (d, m, method) of dims ×
// dimYs × methods, in that order, cells without runs included (Runs 0).
func SummariseMixture(rows []MixtureRow, dims, dimYs []int, methods []string) []MixtureCell {
	var cells []MixtureCell
	for _, d := range dims {
		for _, m := range dimYs {
			for _, name := range methods {
				c := MixtureCell{Dim: d, DimY: m, Method: name}
				var sw, e, tv, secs []float64
				for _, r := range rows {
					if r.Dim != d || r.DimY != m || r.Method != name {
						continue
					}
					c.Runs++
					if r.Error != "" {
						c.Failures++
						continue
					}
					sw, e, tv, secs = append(sw, r.SlicedWasserstein), append(e, r.Energy), append(tv, r.WeightTV), append(secs, r.Seconds)
				}
				c.SWMean, c.SWStd = num.MeanStd(sw)
				c.EMean, c.EStd = num.MeanStd(e)
				c.TVMean, c.TVStd = num.MeanStd(tv)
				c.Seconds, _ = num.MeanStd(secs)
				cells = append(cells, c)
			}
		}
	}
	return cells
}

// CheckMixtureRows rejects runs of different settings (samples, steps,
// scale, and where recorded the projections, schedule and variance), of
// benches of different seeds, of two revisions of one method,
// and repeated runs: a table of them would average things that are not
// comparable, pair runs on different problems under one problem index, or
// count a problem twice. It rejects no runs at all too.
func CheckMixtureRows(rows []MixtureRow) error {
	seen := map[mixtureKey]bool{}
	revision := map[string]int{}
	var recorded *MixtureRow // the first run whose projections, schedule and variance are recorded
	for _, r := range rows {
		if r.Schedule != "" {
			if recorded == nil {
				recorded = &r
			} else if r.Projections != recorded.Projections || r.Schedule != recorded.Schedule || r.VarType != recorded.VarType {
				return fmt.Errorf("runs with different settings: %d projections, the %s schedule and the %s variance and %d, %s and %s",
					recorded.Projections, recorded.Schedule, recorded.VarType, r.Projections, r.Schedule, r.VarType)
			}
		}
		if r.benchSeedTerm() != rows[0].benchSeedTerm() {
			return fmt.Errorf("runs of benches with different seeds: d=%d m=%d problem %d %s has seed %d, d=%d m=%d problem %d %s seed %d, so one problem index names different problems; table them apart",
				rows[0].Dim, rows[0].DimY, rows[0].Problem, rows[0].Method, rows[0].Seed, r.Dim, r.DimY, r.Problem, r.Method, r.Seed)
		}
		if was, ok := revision[r.Method]; !ok {
			revision[r.Method] = r.Revision
		} else if was != r.Revision {
			return fmt.Errorf("the %s runs come from two revisions of the method (%s and %s), whose results differ (guidance.Revision); table them apart",
				r.Method, showRevision(was), showRevision(r.Revision))
		}
		if r.Samples != rows[0].Samples || r.Steps != rows[0].Steps || r.Scale != rows[0].Scale {
			return fmt.Errorf("runs with different settings: %d samples, %d steps, scale %g and %d, %d, %g",
				rows[0].Samples, rows[0].Steps, rows[0].Scale, r.Samples, r.Steps, r.Scale)
		}
		if seen[r.key()] {
			return fmt.Errorf("run d=%d m=%d problem %d %s appears twice", r.Dim, r.DimY, r.Problem, r.Method)
		}
		seen[r.key()] = true
	}
	if len(rows) == 0 {
		return errors.New("no runs in the CSV files")
	}
	return nil
}

// benchSeedTerm returns what the bench's seed adds to the seed of r's
// problem (MixtureSeed(base, d, m, p) − MixtureSeed(0, d, m, p), modulo
// 2⁶⁴): the same for every run of benches with one --seed.
func (r MixtureRow) benchSeedTerm() uint64 {
	return r.Seed - MixtureSeed(0, r.Dim, r.DimY, r.Problem)
}

// MixtureTable is the summary table of the runs of one or more bench CSV
// files (`cadps gmm table`): of a bench split into parts, or resumed.
type MixtureTable struct {
	// Rows are the runs, file by file in the order read.
	Rows []MixtureRow
	// Dims and DimYs are the cells' d and m in increasing order, Methods
	// the methods in their first order of appearance.
	Dims, DimYs []int
	Methods     []string
	// Cells are the (d, m, method) cells that have runs, in the order of
	// Dims, DimYs and Methods.
	Cells []MixtureCell
}

// ReadMixtureTable reads the runs of the bench CSV files paths
// (ReadMixtureCSV) and tables them (NewMixtureTable).
func ReadMixtureTable(paths ...string) (*MixtureTable, error) {
	var rows []MixtureRow
	for _, p := range paths {
		r, err := ReadMixtureCSV(p)
		if err != nil {
			return nil, err
		}
		rows = append(rows, r...)
	}
	return NewMixtureTable(rows)
}

// NewMixtureTable tables rows after checking them (CheckMixtureRows).
func NewMixtureTable(rows []MixtureRow) (*MixtureTable, error) {
	if err := CheckMixtureRows(rows); err != nil {
		return nil, err
	}
	t := &MixtureTable{Rows: rows}
	for _, r := range rows {
		if !slices.Contains(t.Dims, r.Dim) {
			t.Dims = append(t.Dims, r.Dim)
		}
		if !slices.Contains(t.DimYs, r.DimY) {
			t.DimYs = append(t.DimYs, r.DimY)
		}
		if !slices.Contains(t.Methods, r.Method) {
			t.Methods = append(t.Methods, r.Method)
		}
	}
	slices.Sort(t.Dims)
	slices.Sort(t.DimYs)
	for _, c := range SummariseMixture(rows, t.Dims, t.DimYs, t.Methods) {
		if c.Runs > 0 {
			t.Cells = append(t.Cells, c)
		}
	}
	return t, nil
}

// PairedDifference summarises the per-problem differences other − base of
// one distance in one (d, m) cell.
type PairedDifference struct {
	// Mean is the mean difference, StdErr its standard error (the sample
	// standard deviation over √Problems; NaN for one problem).
	Mean, StdErr float64
	// Closer counts the problems where other is closer (its distance the
	// smaller), of the Problems where both ran without error.
	Closer, Problems int
}

// String formats the difference as "mean ± standard error
// (closer/problems)", the standard error to its first two significant
// digits and the mean to the same decimal place (FormatDifference).
func (d PairedDifference) String() string {
	return fmt.Sprintf("%s (%d/%d)", FormatDifference(d.Mean, d.StdErr), d.Closer, d.Problems)
}

// MixturePair is one (d, m) cell of a paired comparison of two methods,
// problem by problem (same problem, same noise seed): the differences are
// far less spread than the per-method means, whose spread is mostly
// between problems.
type MixturePair struct {
	Dim, DimY                           int
	SlicedWasserstein, Energy, WeightTV PairedDifference
}

// Paired returns other − base per problem for each (d, m) cell where both
// ran without error on at least one problem, in the order of t.Dims and
// t.DimYs. It refuses a method without a successful run.
func (t *MixtureTable) Paired(base, other string) ([]MixturePair, error) {
	type key struct{ dim, dimY, problem int }
	byMethod := map[string]map[key]MixtureRow{base: {}, other: {}}
	for _, r := range t.Rows {
		if m, ok := byMethod[r.Method]; ok && r.Error == "" {
			m[key{r.Dim, r.DimY, r.Problem}] = r
		}
	}
	for _, name := range []string{base, other} {
		if len(byMethod[name]) == 0 {
			return nil, fmt.Errorf("no successful runs of %q in the CSV files", name)
		}
	}
	maxProblem := 0
	for _, r := range t.Rows {
		maxProblem = max(maxProblem, r.Problem)
	}
	var out []MixturePair
	for _, d := range t.Dims {
		for _, m := range t.DimYs {
			var sw, en, tv differences
			for p := range maxProblem + 1 { // in problem order, for reproducible sums
				k := key{d, m, p}
				b, okB := byMethod[base][k]
				o, okO := byMethod[other][k]
				if !okB || !okO {
					continue
				}
				sw.add(o.SlicedWasserstein-b.SlicedWasserstein, o.SlicedWasserstein < b.SlicedWasserstein)
				en.add(o.Energy-b.Energy, o.Energy < b.Energy)
				tv.add(o.WeightTV-b.WeightTV, o.WeightTV < b.WeightTV)
			}
			if len(sw.diffs) > 0 {
				out = append(out, MixturePair{d, m, sw.summary(), en.summary(), tv.summary()})
			}
		}
	}
	return out, nil
}

// differences gathers the paired differences of one quantity, counting
// those where the first side is the better.
type differences struct {
	diffs []float64
	wins  int
}

// add records the difference diff, a win for the first side where win.
func (d *differences) add(diff float64, win bool) {
	d.diffs = append(d.diffs, diff)
	if win {
		d.wins++
	}
}

// meanStdErr returns the differences' mean and its standard error (the
// sample standard deviation over √n): NaN and NaN for none, the value and
// NaN for one.
func (d *differences) meanStdErr() (mean, stdErr float64) {
	mean, std := num.MeanStd(d.diffs)
	if len(d.diffs) < 2 {
		return mean, math.NaN()
	}
	return mean, std / math.Sqrt(float64(len(d.diffs)))
}

// summary returns the differences' mean and standard error.
func (d *differences) summary() PairedDifference {
	mean, se := d.meanStdErr()
	return PairedDifference{Mean: mean, StdErr: se, Closer: d.wins, Problems: len(d.diffs)}
}

// MixtureMarkdown renders cells as a Markdown table: per cell mean ± std
// of each distance (three significant digits; "—" without a successful
// run), the mean seconds per run and the failed runs of all.
func MixtureMarkdown(cells []MixtureCell) string {
	var b strings.Builder
	b.WriteString("| d | m | method | SW₂ | energy | weight TV | s/run | failed |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|\n")
	for _, c := range cells {
		fmt.Fprintf(&b, "| %d | %d | %s | %s | %s | %s | %.2f | %d/%d |\n", c.Dim, c.DimY, c.Method,
			plusMinus(c.SWMean, c.SWStd, 3), plusMinus(c.EMean, c.EStd, 3), plusMinus(c.TVMean, c.TVStd, 3), c.Seconds, c.Failures, c.Runs)
	}
	return b.String()
}

// MixtureProvenance is the line below a table of rows that come from more
// than one backend, backend configuration or build (MixtureRow.Backend,
// BackendConfig, Toolkit), counting the rows of each; "" when they all
// agree, as in a bench run at once.
func MixtureProvenance(rows []MixtureRow) string {
	sources := make([]source, len(rows))
	for i, r := range rows {
		sources[i] = source{r.Backend, r.BackendConfig, r.Toolkit}
	}
	return provenanceNote(sources, "the CSV's backend, backend_config and toolkit")
}

// PairedMixtureMarkdown renders a paired comparison of other against base
// (MixtureTable.Paired) as a line naming it and a Markdown table.
func PairedMixtureMarkdown(base, other string, pairs []MixturePair) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s − %s per problem (mean ± standard error; problems where %s is closer / problems compared):\n\n", other, base, other)
	b.WriteString("| d | m | Δ SW₂ | Δ energy | Δ weight TV |\n")
	b.WriteString("|---|---|---|---|---|\n")
	for _, p := range pairs {
		fmt.Fprintf(&b, "| %d | %d | %s | %s | %s |\n", p.Dim, p.DimY, p.SlicedWasserstein, p.Energy, p.WeightTV)
	}
	return b.String()
}

// plusMinus formats mean ± std with the given significant digits of the
// mean (two of the std), or "—" for a NaN mean.
func plusMinus(mean, std float64, digits int) string {
	if math.IsNaN(mean) {
		return "—"
	}
	return fmt.Sprintf("%.*g ± %.*g", digits, mean, 2, std)
}
