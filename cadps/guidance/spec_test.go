package guidance

import (
	"reflect"
	"strings"
	"testing"
)

// TestParseSpec checks method specs: names alone, options that reach the
// method's fields, and errors that name the problem.
func TestParseSpec(t *testing.T) {
	cases := []struct {
		spec string
		want Method
		err  string // substring of the error; "" for success
	}{
		{"dps", DPS{}, ""},
		{" tmpd ", TMPD{}, ""},
		{"tmpd:diagonal=hutchinson,probes=8,probe_seed=3", TMPD{Diagonal: Diagonal{Estimator: Hutchinson, Probes: 8, Seed: 3}}, ""},
		{"cadps-gauss:diagonal=exact,fd_step=0.02,cg=40", CADPSGauss{FDStep: 0.02, CGIterations: 40, Diagonal: Diagonal{Estimator: ExactDiagonal}}, ""},
		{"tmpd:space=pixels,negative=clamp", TMPD{PixelSpace: true, Diagonal: Diagonal{Negative: NegativeClamp}}, ""},
		{"tmpd:space=measurements", TMPD{}, ""},
		{"tmpd:space=y", nil, `unknown space "y"`},
		{"cadps-gauss:space=pixels", nil, `cadps-gauss does not take option "space"`},
		{"mmps:cg=10", MMPS{CGIterations: 10}, ""},
		{"cadps:batched=true", CADPS{Batched: true}, ""},
		{"mmps:solver=gcr,cg=3", MMPS{Solver: SolverGCR, CGIterations: 3}, ""},
		{"mmps:solver=lu", nil, `unknown solver "lu"`},
		{"dsp", nil, `unknown method "dsp"`},
		{"tmpd:diagonal=diag", nil, `unknown diagonal estimator "diag"`},
		{"tmpd:probes=0", nil, "want at least 1"},
		{"tmpd:probes", nil, "not key=value"},
		{"tmpd:speed=3", nil, `unknown option "speed"`},
		{"dps:cg=3", nil, `dps does not take option "cg"`},
		{"cadps-gauss:fd_step=-1", nil, "want a positive number"},
	}
	for _, c := range cases {
		t.Run(c.spec, func(t *testing.T) {
			got, err := ParseSpec(c.spec, Options{})
			if err != nil || c.err != "" {
				if c.err == "" || err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("ParseSpec(%q): error %v, want %q", c.spec, err, c.err)
				}
				return
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %#v, want %#v", got, c.want)
			}
		})
	}
}
