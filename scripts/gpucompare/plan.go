package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Planned is one part of a comparison as scripts/gpu/compare.sh plans it,
// a line of the -plan file: the measurements What × Batches, made by Impl at
// Precision with Options. Skipped says why a measurement of the part has
// no result if one has none (the part was not started, was stopped at its
// share of the time, or ended without it).
type Planned struct {
	Impl      string   `json:"impl"`
	Precision string   `json:"precision"`
	Options   string   `json:"options"`
	What      []string `json:"what"`
	Batches   []int    `json:"batches"`
	Skipped   string   `json:"skipped"`
}

// knownWhat is every measurement the comparison plans.
var knownWhat = []string{"forward", "dps-step", "cadps-step", "cadps-run"}

// ParsePlan reads a plan, one Planned object per line (blank lines are
// passed over). An unknown field, impl or what, a batch below 1 and a part
// without a reason to give are errors naming the line.
func ParsePlan(r io.Reader) ([]Planned, error) {
	var out []Planned
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		var p Planned
		if err := dec.Decode(&p); err != nil {
			return nil, fmt.Errorf("plan line %d: %w", n, err)
		}
		if err := p.validate(); err != nil {
			return nil, fmt.Errorf("plan line %d: %w", n, err)
		}
		out = append(out, p)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	return out, nil
}

func (p Planned) validate() error {
	if p.Impl != "torch" && p.Impl != "cadps" {
		return fmt.Errorf("impl %q: want torch or cadps", p.Impl)
	}
	if p.Precision == "" {
		return errors.New("no precision")
	}
	if p.Skipped == "" {
		return errors.New("no reason in skipped")
	}
	if len(p.What) == 0 || len(p.Batches) == 0 {
		return errors.New("no what or no batches")
	}
	for _, w := range p.What {
		if !slices.Contains(knownWhat, w) {
			return fmt.Errorf("what %q: want one of %s", w, strings.Join(knownWhat, ", "))
		}
	}
	for _, b := range p.Batches {
		if b < 1 {
			return fmt.Errorf("batch %d: want 1 or more", b)
		}
	}
	return nil
}

// Unmeasured returns a result without a time, Skipped set to its part's
// reason, for each measurement of plan that rs holds no line for (matched
// on impl, what, batch, precision and options), with device as its device,
// in the plan's order: so that a measurement a part left out reads as
// skipped rather than as never planned.
func Unmeasured(plan []Planned, rs []Result, device string) []Result {
	type key struct{ impl, what, precision, options string }
	have := map[key][]int{}
	for _, r := range rs {
		k := key{r.Impl, r.What, r.Precision, r.Options}
		have[k] = append(have[k], r.Batch)
	}
	var out []Result
	for _, p := range plan {
		for _, w := range p.What {
			k := key{p.Impl, w, p.Precision, p.Options}
			for _, b := range p.Batches {
				if slices.Contains(have[k], b) {
					continue
				}
				have[k] = append(have[k], b)
				out = append(out, Result{Impl: p.Impl, What: w, Batch: b, Precision: p.Precision, Options: p.Options,
					Device: device, Skipped: p.Skipped})
			}
		}
	}
	return out
}
