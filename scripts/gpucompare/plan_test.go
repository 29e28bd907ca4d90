package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParsePlan(t *testing.T) {
	good := `{"impl":"torch","precision":"tf32","options":"","what":["forward"],"batches":[16,1],"skipped":"why"}`
	for _, c := range []struct {
		name, in, wantErr string
	}{
		{"good", good + "\n\n" + good, ""},
		{"unknown field", `{"impl":"torch","precision":"tf32","what":["forward"],"batches":[1],"skipped":"why","extra":1}`, `plan line 1: json: unknown field "extra"`},
		{"unknown impl", strings.Replace(good, `"torch"`, `"jax"`, 1), `plan line 1: impl "jax"`},
		{"unknown what", strings.Replace(good, `"forward"`, `"backward"`, 1), `plan line 1: what "backward"`},
		{"no reason", strings.Replace(good, `"why"`, `""`, 1), "plan line 1: no reason in skipped"},
		{"batch 0", strings.Replace(good, `16,1`, `16,0`, 1), "plan line 1: batch 0"},
		{"no batches", strings.Replace(good, `16,1`, ``, 1), "plan line 1: no what or no batches"},
		{"not JSON", good + "\nforward 16", "plan line 2:"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := ParsePlan(strings.NewReader(c.in))
			switch {
			case c.wantErr == "" && (err != nil || len(p) != 2):
				t.Errorf("%d parts, error %v; want 2 parts", len(p), err)
			case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
				t.Errorf("error %v, want one containing %q", err, c.wantErr)
			}
		})
	}
}

// TestUnmeasured checks that every planned measurement without a result
// gets one line, skipped with its part's reason and without a time, and
// that one with a result (measured, failed or skipped by gpucheck) or
// planned twice gets none.
func TestUnmeasured(t *testing.T) {
	ms := 1.0
	have := []Result{
		{Impl: "torch", What: "forward", Batch: 16, Precision: "default", MS: &ms},
		{Impl: "torch", What: "dps-step", Batch: 16, Precision: "default", Error: "out of memory"},
		{Impl: "cadps", What: "forward", Batch: 16, Precision: "tf32", Skipped: "the 2m0s budget is spent"},
	}
	plan := []Planned{
		{Impl: "torch", Precision: "default", What: []string{"forward", "dps-step"}, Batches: []int{16, 1}, Skipped: "stopped"},
		{Impl: "torch", Precision: "default", Options: "compile", What: []string{"forward"}, Batches: []int{16}, Skipped: "not run"},
		{Impl: "cadps", Precision: "tf32", What: []string{"forward"}, Batches: []int{16, 1}, Skipped: "ended"},
		{Impl: "cadps", Precision: "tf32", What: []string{"forward"}, Batches: []int{1}, Skipped: "again"},
	}
	want := []Result{
		{What: "forward", Batch: 1, Precision: "default", Skipped: "stopped"},
		{What: "dps-step", Batch: 1, Precision: "default", Skipped: "stopped"},
		{What: "forward", Batch: 16, Precision: "default", Options: "compile", Skipped: "not run"},
		{What: "forward", Batch: 1, Precision: "tf32", Skipped: "ended"},
	}
	got := Unmeasured(plan, have, "card")
	if len(got) != len(want) {
		t.Fatalf("%d results, want %d:\n%s", len(got), len(want), dump(got))
	}
	for i, w := range want {
		g := got[i]
		if g.What != w.What || g.Batch != w.Batch || g.Precision != w.Precision || g.Options != w.Options ||
			g.Skipped != w.Skipped || g.MS != nil || g.Device != "card" || (i < 3) != (g.Impl == "torch") {
			t.Errorf("result %d: got %s, want %s", i, dump([]Result{g}), dump([]Result{w}))
		}
	}
}

// TestRunPlan runs gpucompare on the captured outputs with the plan of
// testdata: each planned measurement missing from them is written as a
// line with skipped and "ms": null, and the others as before.
func TestRunPlan(t *testing.T) {
	out := filepath.Join(t.TempDir(), "x.jsonl")
	args := []string{"-device", "NVIDIA H200", "-torch", filepath.Join("testdata", "torch-cpu.jsonl"),
		"-cadps", "tf32=" + filepath.Join("testdata", "gpucheck-h200.log"), "-out", out}
	count := func(extra ...string) (lines int, skipped []string) {
		t.Helper()
		if err := run(append(args, extra...), os.Stderr); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			lines++
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Fatal(err)
			}
			if s, ok := m["skipped"]; ok {
				if ms, ok := m["ms"]; !ok || ms != nil {
					t.Errorf("a skipped line with ms %v: %s", ms, sc.Bytes())
				}
				options, _ := m["options"].(string) // omitted when empty
				skipped = append(skipped, fmt.Sprintf("%v %v %v %s: %v", m["impl"], m["what"], m["precision"], options, s))
			}
		}
		return lines, skipped
	}
	before, none := count()
	if len(none) != 0 {
		t.Fatalf("skipped lines without a plan: %q", none)
	}
	after, skipped := count("-plan", filepath.Join("testdata", "plan.jsonl"))
	want := []string{
		"torch dps-step tf32 : not measured: the part ended within its 30 s without it (see the torch log)",
		"torch cadps-step tf32 : not measured: the part ended within its 30 s without it (see the torch log)",
		"torch forward default compile,channels-last,cudnn-benchmark: part not run: 12 s left of its share or of the whole (it needs 20)",
		"torch dps-step default compile,channels-last,cudnn-benchmark: part not run: 12 s left of its share or of the whole (it needs 20)",
		"torch cadps-step default compile,channels-last,cudnn-benchmark: part not run: 12 s left of its share or of the whole (it needs 20)",
		"cadps cadps-step bf16 : not measured: the part was stopped at its 230 s (exit status 124)",
	}
	if after != before+len(want) || strings.Join(skipped, "\n") != strings.Join(want, "\n") {
		t.Errorf("%d lines (%d without the plan), skipped:\n%s\nwant %d more, skipped:\n%s", after, before, strings.Join(skipped, "\n"),
			len(want), strings.Join(want, "\n"))
	}
}
