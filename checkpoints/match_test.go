package checkpoints_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/cadps/toolkit/checkpoints"
)

// fakeStateDict makes a state dict of the given specs (no data: Match only
// looks at names, shapes and dtypes).
func fakeStateDict(source string, specs []checkpoints.Spec, rename func(string) string) *checkpoints.StateDict {
	sd := checkpoints.NewStateDict(source)
	for _, s := range specs {
		name := s.Name
		if rename != nil {
			name = rename(name)
		}
		sd.Add(&checkpoints.Tensor{Name: name, DType: checkpoints.F32, Shape: s.Shape})
	}
	return sd
}

func TestMatch(t *testing.T) {
	small := []checkpoints.Spec{{"a.weight", []int{4, 3}}, {"a.bias", []int{4}}, {"b.weight", []int{2, 4}}}
	var many []checkpoints.Spec
	for k := range 25 {
		many = append(many, checkpoints.Spec{Name: fmt.Sprintf("layer%d.weight", k), Shape: []int{2}})
	}
	hint := func(sd *checkpoints.StateDict, m checkpoints.Mismatch) []string {
		return []string{fmt.Sprintf("%d of %d wanted tensors missing", len(m.Missing), len(m.Want))}
	}
	tests := []struct {
		name   string
		sd     *checkpoints.StateDict
		want   []checkpoints.Spec
		hints  []checkpoints.Hint
		substr []string // nil: a match
	}{
		{name: "exact", sd: fakeStateDict("ok.pt", many, nil), want: many},
		{name: "half precision is fine", sd: func() *checkpoints.StateDict {
			sd := fakeStateDict("h.pt", small, nil)
			sd.Tensors["a.bias"].DType = checkpoints.F16
			return sd
		}(), want: small},
		{name: "every category", sd: func() *checkpoints.StateDict {
			sd := fakeStateDict("x.pt", small[1:], nil)
			sd.Tensors["b.weight"].Shape = []int{4, 2}
			sd.Tensors["a.bias"].DType = checkpoints.I64
			sd.Add(&checkpoints.Tensor{Name: "c.extra", DType: checkpoints.F32, Shape: []int{1}})
			return sd
		}(), want: small, substr: []string{
			"x.pt does not match config tiny", "1 missing, 1 unexpected, 1 with the wrong shape, 1 not floating-point",
			"missing (1):\n    a.weight", "unexpected (1):\n    c.extra",
			"wrong shape (1):\n    b.weight: file [4 2], wanted [2 4]", "not floating-point (1):\n    a.bias (I64)",
		}},
		{name: "DataParallel prefix", sd: fakeStateDict("dp.pt", many, func(s string) string { return "module." + s }), want: many, substr: []string{
			"25 missing, 25 unexpected", "... and 5 more", "keys start with 'module.'", "without it, 25 of 25 keys match",
		}},
		{name: "the model's hints", sd: fakeStateDict("x.pt", small[1:], nil), want: small, hints: []checkpoints.Hint{hint}, substr: []string{
			"1 missing", "hint: 1 of 3 wanted tensors missing",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := checkpoints.Match(tc.sd, tc.want, "tiny", tc.hints...)
			if tc.substr == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			for _, s := range tc.substr {
				if !strings.Contains(msg, s) {
					t.Errorf("error does not contain %q:\n%s", s, msg)
				}
			}
			if n := strings.Count(msg, "\n"); n > 4*20+12 {
				t.Errorf("error of %d lines:\n%s", n, msg)
			}
		})
	}
}

// ExampleMatch shows the error for a state dict saved from DataParallel.
func ExampleMatch() {
	sd := checkpoints.NewStateDict("model.pt")
	sd.Add(checkpoints.FromFloat32("module.out.weight", []int{2}, []float32{1, 2}))
	err := checkpoints.Match(sd, []checkpoints.Spec{{Name: "out.weight", Shape: []int{2}}}, "demo")
	fmt.Println(err)
	// Output:
	// checkpoints: model.pt does not match config demo (1 tensors in the file, 1 expected): 1 missing, 1 unexpected
	//   hint: keys start with 'module.': the checkpoint was saved from a DataParallel/DistributedDataParallel model (save model.module.state_dict(), or strip the prefix: StateDict.TrimPrefix, or cadps convert -strip-prefix module.); every key of the file starts with "module."; without it, 1 of 1 keys match
	//   missing (1):
	//     out.weight
	//   unexpected (1):
	//     module.out.weight
}

// TestMatchSummary checks the one-line form of a mismatch: the first line,
// the hints, and the first tensors of each category, wrong shapes with the
// file's and the wanted shape, without repeating the configuration.
func TestMatchSummary(t *testing.T) {
	var want []checkpoints.Spec
	for k := range 6 {
		want = append(want, checkpoints.Spec{Name: fmt.Sprintf("l%d.weight", k), Shape: []int{2, 3}})
	}
	wrongShapes := fakeStateDict("w.pt", want, nil)
	for _, n := range wrongShapes.Names[:5] {
		wrongShapes.Tensors[n].Shape = []int{4, 3}
	}
	tests := []struct {
		name string
		sd   *checkpoints.StateDict
		n    int
		want string
	}{
		{"wrong shapes", wrongShapes, 2, `checkpoints: w.pt does not match config {"a":1} (6 tensors in the file, 6 expected): 5 with the wrong shape; ` +
			`wrong shape: l0.weight (file [4 3], wanted [2 3]), l1.weight (file [4 3], wanted [2 3]) and 3 more`},
		{"missing and unexpected", fakeStateDict("m.pt", want[:4], func(s string) string {
			if s == "l3.weight" {
				return "extra.weight"
			}
			return s
		}), 3, `checkpoints: m.pt does not match config {"a":1} (4 tensors in the file, 6 expected): 3 missing, 1 unexpected; ` +
			`missing: l3.weight, l4.weight, l5.weight; unexpected: extra.weight`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := checkpoints.Match(tc.sd, want, `{"a":1}`)
			var me *checkpoints.MatchError
			if !errors.As(err, &me) {
				t.Fatalf("error %v is not a *MatchError", err)
			}
			if got := me.Summary(tc.n); got != tc.want {
				t.Errorf("summary\n%s\nwant\n%s", got, tc.want)
			}
			if strings.Count(err.Error(), `{"a":1}`) != 1 {
				t.Errorf("the configuration is repeated:\n%s", err)
			}
			one := me.OneLine()
			if got := one.Error(); got != me.Summary(3) {
				t.Errorf("one line\n%s\nwant the summary with 3 tensors a category\n%s", got, me.Summary(3))
			}
			if again := (*checkpoints.MatchError)(nil); !errors.As(fmt.Errorf("loading: %w", one), &again) || again != me {
				t.Errorf("the one-line error does not wrap the MatchError")
			}
		})
	}
}
