package main

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps/runs"
)

// TestGMMBenchResume checks --resume: an interrupted bench continues its
// partial file (a row cut short is run again, whole rows are kept as they
// are), a finished one grows by the problems it lacks, and a file of other
// settings, another seed or one another bench holds is refused.
func TestGMMBenchResume(t *testing.T) {
	dir := t.TempDir()
	bench := func(csvPath string, extra ...string) error {
		args := append([]string{"bench", "--dims", "8", "--dims-y", "1", "--methods", "exact,unconditional",
			"--samples", "40", "--steps", "5", "--projections", "20", "--csv", csvPath}, extra...)
		return gmmCommand().run(args, io.Discard, io.Discard)
	}
	// withoutSeconds drops the timing column, the one thing a rerun changes.
	withoutSeconds := func(recs [][]string) [][]string {
		out := make([][]string, len(recs))
		for i, r := range recs {
			out[i] = slices.Delete(slices.Clone(r), 12, 13)
		}
		return out
	}
	full := filepath.Join(dir, "full.csv")
	if err := bench(full, "--problems", "3"); err != nil {
		t.Fatal(err)
	}
	want := readCSV(t, full)
	if len(want) != 1+3*2 {
		t.Fatalf("full bench: %d records, want 7", len(want))
	}

	// An interrupted bench: two whole rows and half of the third.
	lines := strings.SplitAfter(readFile(t, full), "\n")
	cut := filepath.Join(dir, "cut.csv")
	interrupted := strings.Join(lines[:3], "") + lines[3][:len(lines[3])/2]
	if err := os.WriteFile(cut+".partial", []byte(interrupted), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := bench(cut, "--problems", "3"); err == nil || !strings.Contains(err.Error(), "--resume") {
		t.Errorf("bench beside a partial file without --resume: error %v, want one suggesting --resume", err)
	}
	if err := bench(cut, "--problems", "3", "--resume"); err != nil {
		t.Fatal(err)
	}
	got := readCSV(t, cut)
	if !slices.EqualFunc(withoutSeconds(got), withoutSeconds(want), slices.Equal) {
		t.Errorf("resumed bench:\n%v\nwant (timings aside)\n%v", got, want)
	}
	if !slices.Equal(got[1], want[1]) || !slices.Equal(got[2], want[2]) {
		t.Error("the resumed bench did not keep the interrupted bench's whole rows as they were")
	}
	if _, err := os.Stat(cut + ".partial"); !os.IsNotExist(err) {
		t.Errorf("%s.partial is still there (%v)", cut, err)
	}

	// A finished bench grows: problems 0–1, then --resume over 0–2.
	grown := filepath.Join(dir, "grown.csv")
	if err := bench(grown, "--problems", "2"); err != nil {
		t.Fatal(err)
	}
	first := readCSV(t, grown)
	if err := bench(grown, "--problems", "3", "--resume"); err != nil {
		t.Fatal(err)
	}
	got = readCSV(t, grown)
	if !slices.EqualFunc(got[:len(first)], first, slices.Equal) || !slices.EqualFunc(withoutSeconds(got), withoutSeconds(want), slices.Equal) {
		t.Errorf("grown bench:\n%v\nwant its first rows kept and the full bench's rows (timings aside)", got)
	}

	refused := []struct {
		name string
		args []string
		want string
	}{
		{"other samples", []string{"--problems", "3", "--resume", "--samples", "50"}, "40 samples"},
		{"other seed", []string{"--problems", "3", "--resume", "--seed", "1"}, "not this bench's --seed"},
	}
	for _, c := range refused {
		before := readFile(t, grown)
		if err := bench(grown, c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one naming %q", c.name, err, c.want)
		}
		if readFile(t, grown) != before {
			t.Errorf("%s: a refused bench changed the CSV", c.name)
		}
	}
	if err := gmmCommand().run([]string{"bench", "--resume"}, io.Discard, io.Discard); !errors.As(err, new(usageError)) {
		t.Errorf("--resume without --csv: %v, want a usage error", err)
	}
	// A live claim: another bench writes the file.
	if err := os.WriteFile(grown+".claim.0", []byte(`{"host":"elsewhere","pid":1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := bench(grown, "--problems", "3", "--resume"); err == nil || !strings.Contains(err.Error(), "another bench is writing it") {
		t.Errorf("bench into a claimed file: error %v", err)
	}
}

// TestGMMBenchLostClaim takes a bench's CSV over, as a bench started while
// this one was suspended past its lease does: this bench's next row and
// its final rename are refused with an error naming the file, and neither
// the partial file nor the CSV changes.
func TestGMMBenchLostClaim(t *testing.T) {
	for _, tc := range []struct {
		name string
		do   func(*benchCSV) error
	}{
		{"write a row", func(c *benchCSV) error {
			return c.write(benchRow{Problem: 0, gmmReport: gmmReport{Method: exactMethod, Dim: 8, DimY: 1}})
		}},
		{"finish", func(c *benchCSV) error { return c.finish() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			csvPath := filepath.Join(t.TempDir(), "runs.csv")
			cfg, err := parseBenchFlags([]string{"--dims", "8", "--dims-y", "1", "--methods", "exact", "--csv", csvPath}, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			c, err := openBenchCSV(cfg, &runs.Claimer{Worker: "the suspended bench"})
			if err != nil {
				t.Fatal(err)
			}
			defer c.close()
			before := readFile(t, csvPath+".partial")
			takeOver(t, csvPath+".claim")
			err = tc.do(c)
			if err == nil || !strings.Contains(err.Error(), "--csv "+csvPath+": another bench took it over") {
				t.Fatalf("error %v, want one saying another bench took %s over", err, csvPath)
			}
			if readFile(t, csvPath+".partial") != before {
				t.Error("the bench wrote to the partial file after losing its claim")
			}
			if _, err := os.Stat(csvPath); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the bench wrote %s after losing its claim (%v)", csvPath, err)
			}
		})
	}
}
