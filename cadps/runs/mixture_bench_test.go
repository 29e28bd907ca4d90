package runs

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/gmm"
	"github.com/cadps/toolkit/cadps/runs/claim"
	"github.com/gomlx/gomlx/backends"
)

// testBench is a small bench of exact and unconditional runs on problems
// 0 … problems−1 of d = 8, m = 1, into csvPath, with the command's default
// settings but few samples, steps and projections.
func testBench(csvPath string, problems int) MixtureBench {
	return MixtureBench{Dims: []int{8}, DimYs: []int{1}, Problems: problems, Methods: []string{ExactMethod, "unconditional"},
		Settings: MixtureRun{Samples: 40, Steps: 5, Scale: 1, Projections: 20, Schedule: "linear", VarType: "fixed_small"},
		CSV:      csvPath}
}

// newBackend returns the default backend.
func newBackend(t *testing.T) backends.Backend {
	t.Helper()
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// readCSVRecords returns the records of the CSV file at path, header first.
func readCSVRecords(t *testing.T, path string) [][]string {
	t.Helper()
	recs, err := csv.NewReader(strings.NewReader(readText(t, path))).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return recs
}

// TestMixtureBenchResume checks Resume: an interrupted bench continues its
// partial file (a row cut short is run again, whole rows are kept as they
// are), a finished one grows by the problems it lacks, and a file of other
// settings, another seed, another method revision, a repeated run or one
// another bench holds is refused without being changed.
func TestMixtureBenchResume(t *testing.T) {
	dir := t.TempDir()
	b := newBackend(t)
	// withoutSeconds drops the timing column, the one thing a rerun changes.
	withoutSeconds := func(recs [][]string) [][]string {
		out := make([][]string, len(recs))
		for i, r := range recs {
			out[i] = slices.Delete(slices.Clone(r), 12, 13)
		}
		return out
	}
	full := filepath.Join(dir, "full.csv")
	mb := testBench(full, 3)
	rows, err := mb.Run(b)
	if err != nil {
		t.Fatal(err)
	}
	want := readCSVRecords(t, full)
	if len(want) != 1+3*2 || len(rows) != 3*2 {
		t.Fatalf("full bench: %d records and %d rows, want 7 and 6", len(want), len(rows))
	}

	// An interrupted bench: two whole rows and half of the third.
	lines := strings.SplitAfter(readText(t, full), "\n")
	cut := filepath.Join(dir, "cut.csv")
	interrupted := strings.Join(lines[:3], "") + lines[3][:len(lines[3])/2]
	if err := os.WriteFile(cut+".partial", []byte(interrupted), 0o644); err != nil {
		t.Fatal(err)
	}
	mb = testBench(cut, 3)
	if _, err := mb.Run(b); err == nil || !strings.Contains(err.Error(), "stopped before it ended; resume it") {
		t.Errorf("bench beside a partial file without Resume: error %v, want one suggesting to resume it", err)
	}
	var log bytes.Buffer
	mb.Resume, mb.Log = true, &log
	if rows, err = mb.Run(b); err != nil {
		t.Fatal(err)
	}
	got := readCSVRecords(t, cut)
	if !slices.EqualFunc(withoutSeconds(got), withoutSeconds(want), slices.Equal) {
		t.Errorf("resumed bench:\n%v\nwant (timings aside)\n%v", got, want)
	}
	if !slices.Equal(got[1], want[1]) || !slices.Equal(got[2], want[2]) {
		t.Error("the resumed bench did not keep the interrupted bench's whole rows as they were")
	}
	if n := strings.Count(log.String(), "\n"); n != 4 || len(rows) != 6 {
		t.Errorf("the resumed bench logged %d runs and returned %d rows, want the 4 it ran and all 6:\n%s", n, len(rows), log.String())
	}
	if _, err := os.Stat(cut + ".partial"); !os.IsNotExist(err) {
		t.Errorf("%s.partial is still there (%v)", cut, err)
	}

	// A finished bench grows: problems 0–1, then Resume over 0–2.
	grown := filepath.Join(dir, "grown.csv")
	mb = testBench(grown, 2)
	if _, err := mb.Run(b); err != nil {
		t.Fatal(err)
	}
	first := readCSVRecords(t, grown)
	mb = testBench(grown, 3)
	mb.Resume = true
	if _, err := mb.Run(b); err != nil {
		t.Fatal(err)
	}
	got = readCSVRecords(t, grown)
	if !slices.EqualFunc(got[:len(first)], first, slices.Equal) || !slices.EqualFunc(withoutSeconds(got), withoutSeconds(want), slices.Equal) {
		t.Errorf("grown bench:\n%v\nwant its first rows kept and the full bench's rows (timings aside)", got)
	}

	// Refusals, of the grown file or of a copy edited by file.
	grownText := readText(t, grown)
	header, exactRow := lines[0], lines[1]
	refused := []struct {
		name string
		file string // the CSV's content ("": the grown bench's)
		edit func(*MixtureBench)
		want string
	}{
		{"other samples", "", func(mb *MixtureBench) { mb.Settings.Samples = 50 }, "its runs have 40 samples, 5 steps and scale 1, this bench 50, 5 and 1"},
		{"other seed", "", func(mb *MixtureBench) { mb.Settings.Seed = 1 }, "which is not this bench's seed"},
		{"other variance", "", func(mb *MixtureBench) { mb.Settings.VarType = "fixed_large" },
			"its runs have 20 projections, the linear schedule and the fixed_small variance, this bench 20, linear and fixed_large"},
		{"other projections", "", func(mb *MixtureBench) { mb.Settings.Projections = 1000 }, "this bench 1000, linear and fixed_small"},
		{"other revision", header + strings.Replace(exactRow, ",0,20,linear,fixed_small,", ",7,20,linear,fixed_small,", 1), func(*MixtureBench) {},
			"its exact runs were made by revision 7 of the method, this build runs revision 0"},
		{"repeated run", header + exactRow + exactRow, func(*MixtureBench) {}, "appears twice"},
		{"foreign file", "a,b\n1,2\n", func(*MixtureBench) {}, "not a `cadps gmm bench --csv` file"},
	}
	for _, c := range refused {
		path := grown
		if c.file != "" {
			path = filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-")+".csv")
			if err := os.WriteFile(path, []byte(c.file), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		before := readText(t, path)
		mb := testBench(path, 3)
		mb.Resume = true
		c.edit(&mb)
		if _, err := mb.Run(b); err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %v, want one naming %s and %q", c.name, err, path, c.want)
		}
		if f := cliFlag.FindString(fmt.Sprint(err)); f != "" && c.name != "foreign file" {
			t.Errorf("%s: error %v names a command-line flag (%q)", c.name, err, f)
		}
		if readText(t, path) != before {
			t.Errorf("%s: a refused bench changed the CSV", c.name)
		}
		if m, _ := filepath.Glob(path + ".*"); len(m) > 0 {
			t.Errorf("%s: files left beside the CSV: %v", c.name, m)
		}
	}
	if readText(t, grown) != grownText {
		t.Fatal("the refusals changed the grown bench")
	}

	// A live claim: another bench writes the file.
	if err := os.WriteFile(grown+".claim.0", []byte(`{"host":"elsewhere","pid":1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	mb = testBench(grown, 3)
	mb.Resume = true
	if _, err := mb.Run(b); !errors.Is(err, claim.ErrHeld) || !strings.Contains(err.Error(), grown+": another bench is writing it") {
		t.Errorf("bench into a claimed file: error %v", err)
	}
}

// TestMixtureBenchProvenance: every new run records the backend (with
// the CPU backend's matrix kernel), its configuration and the build; a
// resumed file of runs made elsewhere, or before these were recorded,
// keeps its runs as they are, and the table of the whole file says that
// its rows come from more than one source.
func TestMixtureBenchProvenance(t *testing.T) {
	b := newBackend(t)
	path := filepath.Join(t.TempDir(), "bench.csv")
	mb := testBench(path, 1)
	mb.Toolkit = "build-a"
	rows, err := mb.Run(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.Backend != backend.Identity(b) || r.Toolkit != "build-a" || r.BackendConfig != os.Getenv(backend.EnvVar) {
			t.Errorf("%s run: backend %q, configuration %q, build %q; want %q, $%s and build-a", r.Method, r.Backend, r.BackendConfig, r.Toolkit, backend.Identity(b), backend.EnvVar)
		}
	}
	if !strings.HasPrefix(backend.Identity(b), "cadps/") {
		t.Errorf("the CPU backend's identity %q does not name its matrix kernel", backend.Identity(b))
	}
	if note := MixtureProvenance(rows); note != "" {
		t.Errorf("one bench's rows: provenance note %q, want none", note)
	}
	// The same file as a bench that did not record its sources wrote it.
	var old strings.Builder
	for _, rec := range readCSVRecords(t, path) {
		old.WriteString(strings.Join(rec[:18], ",") + "\n")
	}
	if err := os.WriteFile(path, []byte(old.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	mb = testBench(path, 2)
	mb.Toolkit, mb.Resume = "build-b", true
	if rows, err = mb.Run(b); err != nil {
		t.Fatal(err)
	}
	var sources []string
	for _, r := range rows {
		sources = append(sources, r.Toolkit)
	}
	if !slices.Equal(sources, []string{"", "", "build-b", "build-b"}) {
		t.Errorf("resumed bench's builds %q, want the kept runs' unrecorded and build-b for the new ones", sources)
	}
	table, err := ReadMixtureTable(path)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("Rows from 2 backends or builds (the CSV's backend, backend_config and toolkit): not recorded: 2 rows; `%s`, build `build-b`: 2 rows.", backend.Identity(b))
	if os.Getenv(backend.EnvVar) != "" {
		want = "Rows from 2 backends or builds"
	}
	if note := MixtureProvenance(table.Rows); !strings.Contains(note, want) {
		t.Errorf("provenance note %q, want %q", note, want)
	}
}

// TestMixtureBenchExistingCSV: a bench without Resume refuses a CSV file
// that exists, saying how to go on, and leaves it as it was.
func TestMixtureBenchExistingCSV(t *testing.T) {
	b := newBackend(t)
	csvPath := filepath.Join(t.TempDir(), "runs.csv")
	mb := testBench(csvPath, 1)
	mb.Methods = []string{ExactMethod}
	if _, err := mb.Run(b); err != nil {
		t.Fatal(err)
	}
	before := readText(t, csvPath)
	if _, err := mb.Run(b); err == nil || !strings.Contains(err.Error(), csvPath+" exists: resume the bench to extend it") {
		t.Errorf("error %v, want one saying %s exists", err, csvPath)
	}
	if readText(t, csvPath) != before {
		t.Error("a refused bench changed the CSV")
	}
	if m, _ := filepath.Glob(csvPath + ".*"); len(m) > 0 {
		t.Errorf("files left beside the CSV: %v", m)
	}
}

// TestMixtureBenchCheck: a bench without cells, problems or methods, with
// a cell m > d, or resuming without a file is refused before it writes.
func TestMixtureBenchCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*MixtureBench)
		want string
	}{
		{"no dims", func(mb *MixtureBench) { mb.Dims = nil }, "needs dimensions"},
		{"no methods", func(mb *MixtureBench) { mb.Methods = nil }, "needs dimensions, measurement counts and methods"},
		{"m > d", func(mb *MixtureBench) { mb.Dims, mb.DimYs = []int{16, 4}, []int{2, 8} }, "every cell needs 1 ≤ m ≤ d"},
		{"m = 0", func(mb *MixtureBench) { mb.DimYs = []int{0} }, "every cell needs 1 ≤ m ≤ d"},
		{"no problems", func(mb *MixtureBench) { mb.Problems = 0 }, "want at least 1"},
		{"negative first", func(mb *MixtureBench) { mb.First = -1 }, "from problem -1"},
		{"resume without a file", func(mb *MixtureBench) { mb.CSV, mb.Resume = "", true }, "resumes its CSV file"},
		{"no schedule", func(mb *MixtureBench) { mb.Settings.Schedule = "" }, `schedule "": want "linear" or "cosine"`},
		{"unknown variance", func(mb *MixtureBench) { mb.Settings.VarType = "learned" }, `variance "learned": want "fixed_small" or "fixed_large"`},
		{"no projections", func(mb *MixtureBench) { mb.Settings.Projections = 0 }, "projections 0: want at least 1"},
		{"one sample", func(mb *MixtureBench) { mb.Settings.Samples = 1 }, "samples 1: want at least 2"},
		{"no steps", func(mb *MixtureBench) { mb.Settings.Steps = 0 }, "steps 0: want 2 … 1000"},
		{"one step", func(mb *MixtureBench) { mb.Settings.Steps = 1 }, "steps 1: want 2 … 1000"},
		{"NaN scale", func(mb *MixtureBench) { mb.Settings.Scale = math.NaN() }, "step size ζ = NaN"},
		{"problems sharing a seed", func(mb *MixtureBench) { mb.Dims, mb.DimYs, mb.First, mb.Problems = []int{8}, []int{1, 2}, 0, 102 },
			"problem 101 of (d 8, m 1) and problem 0 of (d 8, m 2) would be the same problem"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			mb := testBench(filepath.Join(dir, "x.csv"), 1)
			tc.edit(&mb)
			if _, err := mb.Run(nil); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
			if m, _ := filepath.Glob(filepath.Join(dir, "*")); len(m) > 0 {
				t.Errorf("the refused bench wrote %v", m)
			}
		})
	}
}

// takeOverClaim does to a claim on stem, fresh and of the default lease,
// what happens to a bench stopped (say by Slurm's suspend) for longer than
// the lease: its claim file (STEM.0) ages past the lease, and another
// worker claims stem. Its holder's heartbeat, every quarter of the lease,
// does not fire within the test. It returns the successor's claim.
func takeOverClaim(t *testing.T, stem string) *claim.Claim {
	t.Helper()
	past := time.Now().Add(-2 * claim.DefaultLease)
	if err := os.Chtimes(stem+".0", past, past); err != nil {
		t.Fatal(err)
	}
	successor, err := (&claim.Claimer{Worker: "the successor"}).Claim(stem)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { successor.Release() })
	return successor
}

// TestMixtureBenchLostClaim takes a bench's CSV over, as a bench started
// while this one was suspended past its lease does: this bench's next row
// and its final rename are refused with an error naming the file, neither
// the partial file nor the CSV changes, and the successor keeps its claim.
func TestMixtureBenchLostClaim(t *testing.T) {
	for _, tc := range []struct {
		name string
		do   func(*mixtureCSV) error
	}{
		{"write a row", func(c *mixtureCSV) error {
			return c.write(MixtureRow{Problem: 0, MixtureReport: MixtureReport{Method: ExactMethod, Dim: 8, DimY: 1}})
		}},
		{"finish", func(c *mixtureCSV) error { return c.finish() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			csvPath := filepath.Join(t.TempDir(), "runs.csv")
			mb := testBench(csvPath, 1)
			c, err := openMixtureCSV(&mb, &claim.Claimer{Worker: "the suspended bench"})
			if err != nil {
				t.Fatal(err)
			}
			before := readText(t, csvPath+".partial")
			successor := takeOverClaim(t, csvPath+".claim")
			defer c.close()
			err = tc.do(c)
			if err == nil || !strings.Contains(err.Error(), csvPath+": another bench took it over") {
				t.Fatalf("error %v, want one saying another bench took %s over", err, csvPath)
			}
			if readText(t, csvPath+".partial") != before {
				t.Error("the bench wrote to the partial file after losing its claim")
			}
			if _, err := os.Stat(csvPath); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the bench wrote %s after losing its claim (%v)", csvPath, err)
			}
			if successor.Lost() {
				t.Error("the successor lost its claim")
			}
		})
	}
}

// TestMixtureSampleUnconditional checks the network and the process
// together: unconditional sampling with the exact ε reproduces the prior
// within the sampling error of exact prior draws.
func TestMixtureSampleUnconditional(t *testing.T) {
	p, err := gmm.Standard(8, 1, 11)
	if err != nil {
		t.Fatal(err)
	}
	post, err := p.Posterior()
	if err != nil {
		t.Fatal(err)
	}
	const n = 500
	got, err := MixtureRun{Method: "unconditional", Samples: n, Steps: 100, Seed: 1, Schedule: "linear", VarType: "fixed_small"}.Sample(newBackend(t), p, post)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	ref, other := p.Prior.Sample(n, r), p.Prior.Sample(n, r)
	sw, err := gmm.SlicedWasserstein(got, ref, 500, 3)
	if err != nil {
		t.Fatal(err)
	}
	floor, err := gmm.SlicedWasserstein(other, ref, 500, 3)
	if err != nil {
		t.Fatal(err)
	}
	// A wrong ε (sign, scale or timestep) puts samples off the grid of means
	// and gives SW₂ of several units.
	if sw > 2*floor+0.2 {
		t.Errorf("unconditional samples: SW₂ to the prior %g, two prior sets %g", sw, floor)
	}
	// Component weights of the prior recovered by assignment.
	w := p.Prior.Weights()
	counts := make([]float64, len(w))
	for _, x := range got {
		best, arg := 1e300, 0
		for k := range w {
			mu := p.Prior.Mean(k)
			dist := 0.0
			for j := range x {
				dist += (x[j] - mu[j]) * (x[j] - mu[j])
			}
			if dist < best {
				best, arg = dist, k
			}
		}
		counts[arg]++
	}
	tv := 0.0
	for k := range w {
		d := counts[k]/n - w[k]
		if d < 0 {
			d = -d
		}
		tv += d / 2
	}
	if tv > 0.12 {
		t.Errorf("unconditional samples: prior weight TV %g", tv)
	}
}

// TestMixtureBenchRowsAsRecorded: the rows a bench returns hold its runs'
// numbers as its CSV file does, with a file or without and whether a
// resumed bench read them back or made them, so that the bench's table
// (--json), a resumed bench's and `cadps gmm table`'s on the file agree.
func TestMixtureBenchRowsAsRecorded(t *testing.T) {
	dir := t.TempDir()
	b := newBackend(t)
	full := filepath.Join(dir, "full.csv")
	mb := testBench(full, 2)
	fullRows, err := mb.Run(b)
	if err != nil {
		t.Fatal(err)
	}
	recorded, err := ReadMixtureTable(full)
	if err != nil {
		t.Fatal(err)
	}
	// untimed drops what the CSV does not hold (the components) and, for
	// the benches that ran again, the one thing a rerun changes (the
	// timing).
	untimed := func(rows []MixtureRow, timed bool) []MixtureRow {
		out := slices.Clone(rows)
		for i := range out {
			out[i].Components = 0
			if !timed {
				out[i].Seconds = 0
			}
		}
		return out
	}
	untimedCells := func(cells []MixtureCell, timed bool) []MixtureCell {
		out := slices.Clone(cells)
		for i := range out {
			if !timed {
				out[i].Seconds = 0
			}
		}
		return out
	}
	lines := strings.SplitAfter(readText(t, full), "\n")
	cut := filepath.Join(dir, "cut.csv")
	if err := os.WriteFile(cut+".partial", []byte(strings.Join(lines[:3], "")), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		rows  func() ([]MixtureRow, error)
		timed bool // the rows are the file's runs, timings and all
	}{
		{"with a CSV file", func() ([]MixtureRow, error) { return fullRows, nil }, true},
		{"without a CSV file", func() ([]MixtureRow, error) {
			mb := testBench("", 2)
			return mb.Run(b)
		}, false},
		{"resumed", func() ([]MixtureRow, error) {
			mb := testBench(cut, 2)
			mb.Resume = true
			return mb.Run(b)
		}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rows, err := tc.rows()
			if err != nil {
				t.Fatal(err)
			}
			if got, want := untimed(rows, tc.timed), untimed(recorded.Rows, tc.timed); !slices.Equal(got, want) {
				t.Errorf("rows\n%v\nwant those of the CSV file\n%v", got, want)
			}
			cells := SummariseMixture(rows, mb.Dims, mb.DimYs, mb.Methods)
			if got, want := untimedCells(cells, tc.timed), untimedCells(recorded.Cells, tc.timed); !slices.Equal(got, want) {
				t.Errorf("table\n%v\nwant that of the CSV file\n%v", got, want)
			}
		})
	}
}

// TestMixtureBenchResumeAfterMultiLineError: a run whose error holds line
// breaks (errors.Join's) is written on one line, so that a bench killed
// while it wrote that row leaves a partial file that a resumed bench
// takes, keeping the whole rows before it and running that run again,
// wherever the row was cut.
func TestMixtureBenchResumeAfterMultiLineError(t *testing.T) {
	dir := t.TempDir()
	b := newBackend(t)
	full := testBench(filepath.Join(dir, "full.csv"), 1)
	rows, err := full.Run(b)
	if err != nil {
		t.Fatal(err)
	}
	failed := rows[1]
	failed.Error = "sampling diverged\nat step 3\r\nand again"
	failed = failed.asRecorded()
	if want := "sampling diverged; at step 3; and again"; failed.Error != want {
		t.Errorf("the error as recorded is %q, want %q", failed.Error, want)
	}
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	_ = cw.Write(mixtureColumns)
	_ = cw.Write(mixtureRecord(rows[0]))
	cw.Flush()
	whole := buf.Len() // the header and the first run
	_ = cw.Write(mixtureRecord(failed))
	cw.Flush()
	row := buf.String()[whole:]
	at := strings.Index(row, "at step")
	for _, tc := range []struct {
		name string
		cut  int // the bytes of the failed run's row written
	}{
		{"cut in the error's first line", at - 4},
		{"cut in the error's second line", at + 3},
		{"cut after the error", len(row) - 2},
		{"cut before the line break", len(row) - 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "cut.csv")
			if err := os.WriteFile(path+".partial", []byte(buf.String()[:whole+tc.cut]), 0o644); err != nil {
				t.Fatal(err)
			}
			mb := testBench(path, 1)
			mb.Resume = true
			var log bytes.Buffer
			mb.Log = &log
			if _, err := mb.Run(b); err != nil {
				t.Fatal(err)
			}
			got := readCSVRecords(t, path)
			if len(got) != 3 || !slices.Equal(got[1], mixtureRecord(rows[0])) {
				t.Errorf("the resumed bench wrote\n%v\nwant the first run kept as it was and the second run again", got)
			}
			if n := strings.Count(log.String(), "\n"); n != 1 {
				t.Errorf("the resumed bench logged %d runs, want the one cut short:\n%s", n, log.String())
			}
		})
	}
}
