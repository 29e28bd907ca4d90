package guidance_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/ops"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
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

// TestStepRefusal checks that a step built by hand with an operator its
// method refuses panics with CheckOperator's refusal, the methods that run
// on the operator listed (DDRM's, MCG's and the linear methods' panics
// left the list out, DiffPIR's was a failed type assertion, and both
// panicked with the blur's own error on a motion blur, which implements
// the SVD and the proximal step but has neither), and that DDRM and
// DiffPIR refuse no operator with an error (they dereferenced it).
func TestStepRefusal(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	w := newWorld(t, "diag", "inpaint", measureNoise, 1)
	type refusal struct{ method, task string }
	var cases []refusal
	for _, name := range []string{"ddrm", "diffpir", "mcg", "projection", "pigdm", "tmpd", "mmps", "cadps-gauss"} {
		cases = append(cases, refusal{name, "phase_retrieval"})
	}
	cases = append(cases, refusal{"ddrm", "motion_blur:kernel_size=3"}, refusal{"diffpir", "motion_blur:kernel_size=3"})
	for _, c := range cases {
		t.Run(c.method+"/"+c.task, func(t *testing.T) {
			op, err := ops.Parse(c.task, []int{1, 1, imgH, imgW}, 1)
			if err != nil {
				t.Fatal(err)
			}
			yShape, err := op.OutputShape([]int{1, 1, imgH, imgW})
			if err != nil {
				t.Fatal(err)
			}
			m, err := guidance.New(c.method, guidance.Options{})
			if err != nil {
				t.Fatal(err)
			}
			want := guidance.CheckOperator(m, op)
			if want == nil || !strings.Contains(want.Error(), "; methods that run on "+op.Name()+": ") {
				t.Fatalf("CheckOperator = %v, want a refusal listing the methods that run", want)
			}
			g := graph.NewGraph(b, "refused")
			x := graph.Zeros(g, shapes.Make(dtypes.Float32, 1, 1, imgH, imgW))
			y := graph.Zeros(g, shapes.Make(dtypes.Float32, yShape...))
			s := &guidance.Step{Ctx: context.New(), Net: w.net, Process: w.process, Op: op, X: x, I: graph.Const(g, int32(1)), Y: y, SigmaY: w.sigma}
			if got := panicText(func() { m.Step(s) }); got != want.Error() {
				t.Errorf("Step panicked with %q\nwant %q", got, want)
			}
		})
	}
	for _, m := range []guidance.OperatorChecker{guidance.DDRM{}, guidance.DiffPIR{}} {
		err := m.CheckOperator(nil)
		if want := "cannot run without a measurement operator"; err == nil || !strings.Contains(err.Error(), want) || !errors.Is(err, guidance.ErrOperator) {
			t.Errorf("%T.CheckOperator(nil) = %v, want an ErrOperator saying %q", m, err, want)
		}
	}
}
