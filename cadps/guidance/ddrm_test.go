package guidance_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps"
	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/cadps/toolkit/ops"
)

// zeroSingulars is a decomposition whose singular values are all zero.
type zeroSingulars struct{ ops.Decomposition }

// Singulars implements ops.Decomposition.
func (z zeroSingulars) Singulars() []float64 {
	return make([]float64, len(z.Decomposition.Singulars()))
}

// keepsNothing is an operator of one's own that says whether it keeps
// nothing of the image.
type keepsNothing struct {
	ops.Operator
	nothing bool
}

// KeepsNothing implements ops.ZeroReporter.
func (k keepsNothing) KeepsNothing() bool { return k.nothing }

// SVD implements ops.Decomposer through the wrapped operator.
func (k keepsNothing) SVD(in []int) (ops.Decomposition, error) {
	return k.Operator.(ops.Decomposer).SVD(in)
}

// ownSVD is an operator of one's own whose SVD is d, which
// ops.NewSVDOperator might refuse (a decomposition without singular
// values): the wrapped operator answers the rest.
type ownSVD struct {
	ops.Operator
	d ops.Decomposition
}

// SVD implements ops.Decomposer.
func (o ownSVD) SVD([]int) (ops.Decomposition, error) { return o.d, nil }

// TestDDRMNoSingularValue checks that DDRM refuses an operator that keeps
// nothing of the image, with an error naming it: before sampling
// (CheckOperator) an inpainting mask that hides every pixel and an
// operator of one's own that says it keeps nothing (ops.ZeroReporter), and
// operators of one's own whose decomposition has no singular value or
// only zeros when the run builds its steps (the block average, with
// positive ones, runs). ops.NewSVDOperator refuses a decomposition without
// singular values, so that one is an operator's own SVD.
func TestDDRMNoSingularValue(t *testing.T) {
	m := guidance.DDRM{Eta: 0.85, EtaB: 1}
	in := []int{1, 2, 4, 4}

	hidden, err := ops.NewInpainting(make([]float32, 16), 4, 4)
	if err != nil {
		t.Fatal(err)
	}
	observed, err := ops.NewInpainting(append(make([]float32, 15), 1), 4, 4)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		op   ops.Operator
		ok   bool
	}{
		{"mask hiding every pixel", hidden, false},
		{"mask observing one pixel", observed, true},
		{"own operator keeping nothing", keepsNothing{observed, true}, false},
		{"own operator keeping something", keepsNothing{observed, false}, true},
	} {
		err := guidance.CheckOperator(m, c.op)
		switch {
		case c.ok && err != nil:
			t.Errorf("CheckOperator(ddrm, %s) = %v, want nil", c.name, err)
		case !c.ok && (!errors.Is(err, guidance.ErrOperator) || !strings.Contains(err.Error(), "inpainting keeps nothing")):
			t.Errorf("CheckOperator(ddrm, %s) = %v, want an ErrOperator saying inpainting keeps nothing", c.name, err)
		}
	}

	none, err := ops.NewMaskSVD(make([]float32, 16), in)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ops.BlockAverageSVD(2, in)
	if err != nil {
		t.Fatal(err)
	}
	zero := zeroSingulars{block}
	for _, c := range []struct {
		name string
		d    ops.Decomposition
		own  ops.Decomposition // the operator's own SVD in place of d's; nil: d's
		out  []int
		ok   bool
	}{
		{"no_singular_value", block, none, []int{1, 2, 2, 2}, false},
		{"zero_singular_values", zero, nil, []int{1, 2, 2, 2}, false},
		{"block_average", block, nil, []int{1, 2, 2, 2}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			svd, err := ops.NewSVDOperator(c.name, c.d, in, c.out)
			if err != nil {
				t.Fatal(err)
			}
			var op ops.Operator = svd
			if c.own != nil {
				op = ownSVD{svd, c.own}
			}
			s, _ := toySampler(t, m, op, 4, 0.05)
			defer func() {
				if p := recover(); p != nil {
					t.Fatalf("the run panicked: %v", p)
				}
			}()
			_, err = s.Run(nil, in, uniformTensor(1, c.out, -1, 1), cadps.NewSeededNoise(1), nil)
			t.Logf("run: %v", err)
			switch {
			case c.ok && err != nil:
				t.Fatalf("run: %v", err)
			case !c.ok && (!errors.Is(err, guidance.ErrOperator) || !strings.Contains(err.Error(), c.name)):
				t.Fatalf("run = %v, want an ErrOperator naming %s", err, c.name)
			}
		})
	}
}
