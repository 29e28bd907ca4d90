package guidance_test

import (
	"errors"
	"fmt"
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

// wrappingDDRM is a method of a caller's own that runs DDRM and wraps its
// refusal of an operator with wrap.
type wrappingDDRM struct {
	guidance.DDRM
	wrap func(error) error
}

// CheckOperator implements guidance.OperatorChecker.
func (w wrappingDDRM) CheckOperator(op ops.Operator) error {
	if err := w.DDRM.CheckOperator(op); err != nil {
		return w.wrap(err)
	}
	return nil
}

// plainError is an error whose message does not hold the one it wraps.
type plainError struct{ err error }

func (e plainError) Error() string { return "my method refuses the operator" }
func (e plainError) Unwrap() error { return e.err }

// TestOperatorRefusalWrapped checks that CheckOperator lists the methods
// that run on the operator in a refusal whose OperatorError a method
// wraps, as in one it returns as it is (the list was left out), keeping
// the wrapping's words and what errors.Is and errors.As find in it.
func TestOperatorRefusalWrapped(t *testing.T) {
	op, err := ops.Parse("motion_blur", []int{1, 3, 32, 32}, 1)
	if err != nil {
		t.Fatal(err)
	}
	runs := guidance.RunsOn(op)
	refusal := guidance.CheckOperator(guidance.DDRM{}, op)
	if refusal == nil || !strings.Contains(refusal.Error(), "; methods that run on motion_blur: "+strings.Join(runs, ", ")) {
		t.Fatalf("DDRM's refusal %v, want one listing %v", refusal, runs)
	}
	sentinel := errors.New("sentinel")
	for _, tc := range []struct {
		name string
		wrap func(error) error
		want string
	}{
		{"as it is", func(err error) error { return err }, refusal.Error()},
		{"wrapped", func(err error) error { return fmt.Errorf("mine: %w", err) }, "mine: " + refusal.Error()},
		{"wrapped twice", func(err error) error { return fmt.Errorf("outer: %w", fmt.Errorf("inner: %w", err)) }, "outer: inner: " + refusal.Error()},
		{"joined", func(err error) error { return errors.Join(sentinel, err) }, "sentinel\n" + refusal.Error()},
		{"message of its own", func(err error) error { return plainError{err} },
			"my method refuses the operator (methods that run on motion_blur: " + strings.Join(runs, ", ") + ")"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := guidance.CheckOperator(wrappingDDRM{wrap: tc.wrap}, op)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("CheckOperator = %v\nwant %s", err, tc.want)
			}
			var e *guidance.OperatorError
			if !errors.Is(err, guidance.ErrOperator) || !errors.As(err, &e) || !slices.Equal(e.Runs, runs) || e.Method != "ddrm" {
				t.Fatalf("errors.Is(ErrOperator) %v, errors.As gives %+v; want the refusal listing %v", errors.Is(err, guidance.ErrOperator), e, runs)
			}
			if tc.name == "joined" && !errors.Is(err, sentinel) {
				t.Errorf("errors.Is(%v, sentinel) = false", err)
			}
		})
	}
}
