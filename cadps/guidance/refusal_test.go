package guidance_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/ops"
)

// TestOperatorRefusals runs every method against every task the command
// line offers and checks which pairs are refused, and that each refusal
// reads alike for a command-line user: "METHOD cannot run on OPERATOR:
// why", then the methods that do run on the operator (each answering for
// itself), and the Go interface last, after ErrOperator's words.
func TestOperatorRefusals(t *testing.T) {
	tasks := []string{"super_resolution:factor=2", "gaussian_blur", "motion_blur", "inpaint_box", "phase_retrieval"}
	operators := map[string]ops.Operator{}
	for _, spec := range tasks {
		op, err := ops.Parse(spec, []int{1, 3, 32, 32}, 1)
		if err != nil {
			t.Fatal(err)
		}
		operators[spec] = op
	}
	for _, c := range []struct {
		method  string
		refused []string // the tasks it refuses
		goName  string   // the Go interface its refusal names
	}{
		{"dps", nil, ""},
		{"cadps", nil, ""},
		{"daps", nil, ""},
		{"unconditional", nil, ""},
		{"ddrm", []string{"motion_blur", "phase_retrieval"}, "ops.Decomposer"},
		{"diffpir", []string{"motion_blur", "phase_retrieval"}, "ops.Proximal"},
		{"mcg", []string{"gaussian_blur", "motion_blur", "phase_retrieval"}, "ops.PseudoInverter"},
		{"projection", []string{"gaussian_blur", "motion_blur", "phase_retrieval"}, "ops.PseudoInverter"},
		{"pigdm", []string{"phase_retrieval"}, "ops.Linear"},
		{"tmpd", []string{"phase_retrieval"}, "ops.Linear"},
		{"mmps", []string{"phase_retrieval"}, "ops.Linear"},
		{"cadps-gauss", []string{"phase_retrieval"}, "ops.Linear"},
	} {
		m, err := guidance.New(c.method, guidance.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, spec := range tasks {
			t.Run(c.method+"/"+spec, func(t *testing.T) {
				op := operators[spec]
				err := guidance.CheckOperator(m, op)
				runs := guidance.RunsOn(op)
				if !slices.Contains(c.refused, op.Name()) {
					if err != nil {
						t.Fatalf("CheckOperator: %v", err)
					}
					if guidance.UsesMeasurement(m) && !slices.Contains(runs, c.method) {
						t.Errorf("RunsOn(%s) = %v, without %s", op.Name(), runs, c.method)
					}
					return
				}
				var refusal *guidance.OperatorError
				if !errors.Is(err, guidance.ErrOperator) || !errors.As(err, &refusal) {
					t.Fatalf("CheckOperator = %v, want an OperatorError wrapping ErrOperator", err)
				}
				if slices.Contains(runs, c.method) || len(runs) == 0 || !slices.Equal(refusal.Runs, runs) {
					t.Errorf("methods that run on %s: %v (RunsOn %v)", op.Name(), refusal.Runs, runs)
				}
				msg := err.Error()
				user := c.method + " cannot run on " + op.Name() + ": "
				list := "; methods that run on " + op.Name() + ": " + strings.Join(runs, ", ") + " (" + guidance.ErrOperator.Error() + "; in Go, "
				if !strings.HasPrefix(msg, user) || !strings.Contains(msg, list) || !strings.HasSuffix(msg, ")") {
					t.Errorf("refusal %q, want it to start %q and go on %q", msg, user, list)
				}
				if i := strings.Index(msg, c.goName); i < strings.Index(msg, list) {
					t.Errorf("refusal %q names %s before the methods that run, or not at all", msg, c.goName)
				}
			})
		}
	}
}
