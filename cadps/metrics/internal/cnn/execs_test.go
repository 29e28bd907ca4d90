package cnn

import (
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// TestExecsShapes runs more distinct shapes than graph.Exec's default
// cache of 32 holds, through caches of several sizes, coming back to
// shapes whose graphs were dropped: every call must give the right sums,
// and no more than max graphs are kept.
func TestExecsShapes(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	// sums: x [n] plus the scalar y, summed.
	sums := func(in []*Node) []*Node { return []*Node{graph.ReduceAllSum(graph.Add(in[0], in[1]))} }
	tests := []struct {
		name   string
		max    int
		shapes []int // the lengths of x, in call order
	}{
		{"40 shapes, default bound", 0, seq(1, 40)},
		{"bound 3, shapes revisited", 3, append(seq(1, 6), 1, 2, 6, 5, 1, 7)},
		{"bound 1", 1, []int{4, 4, 5, 4}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := NewExecs(b, sums, tc.max)
			defer e.Finalize()
			limit := tc.max
			if limit < 1 {
				limit = MaxGraphs
			}
			for _, n := range tc.shapes {
				x := make([]float32, n)
				for i := range x {
					x[i] = float32(i)
				}
				out, err := e.Exec(tensors.FromFlatDataAndDimensions(x, n), tensors.FromScalar(float32(2)))
				if err != nil {
					t.Fatalf("length %d: %v", n, err)
				}
				got := tensors.MustCopyFlatData[float32](out[0])[0]
				out[0].FinalizeAll()
				if want := float32(n*(n-1)/2 + 2*n); got != want {
					t.Errorf("length %d: sum %g, want %g", n, got, want)
				}
				if e.Len() > limit {
					t.Fatalf("%d graphs kept, want at most %d", e.Len(), limit)
				}
			}
		})
	}
	if _, err := NewExecs(b, sums, 0).Exec([]float32{1}); err == nil || !strings.Contains(err.Error(), "not a tensor") {
		t.Errorf("a slice argument: error %v, want one saying it is not a tensor", err)
	}
}

// seq returns lo, lo+1, ..., hi.
func seq(lo, hi int) []int {
	var s []int
	for i := lo; i <= hi; i++ {
		s = append(s, i)
	}
	return s
}
