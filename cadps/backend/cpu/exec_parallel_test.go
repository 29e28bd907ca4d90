// Part of the toolkit's fork of GoMLX v0.26.0's pure-Go backend (Apache-2.0); see NOTICE.

package cpu

import (
	"math"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// TestParallelOpsShareAnInput runs, with ops executed in parallel, a graph
// in which many ops read one intermediate result, the last of them taking
// its buffer over as its output. Whether an op may take an input's buffer
// depends on how many of its readers have finished; under the race
// detector (go test -race) this test fails when that count is read without
// the lock its readers update it under. It also checks the values, which
// an op overwriting an input that another still reads would change.
func TestParallelOpsShareAnInput(t *testing.T) {
	be, err := New("ops_parallel,parallelism=-1")
	if err != nil {
		t.Fatal(err)
	}
	defer be.Finalize()
	const readers = 16
	exec, err := graph.NewExec(be, func(x *graph.Node) *graph.Node {
		y := graph.MulScalar(x, 2) // an intermediate result the execution owns
		var sum *graph.Node
		for k := range readers {
			r := graph.AddScalar(graph.Sin(graph.AddScalar(y, float64(k))), 1)
			if sum == nil {
				sum = r
			} else {
				sum = graph.Add(sum, r)
			}
		}
		return sum
	})
	if err != nil {
		t.Fatal(err)
	}
	defer exec.Finalize()
	x := make([]float32, 64)
	want := make([]float64, len(x))
	for i := range x {
		x[i] = float32(i) / 64
		for k := range readers {
			want[i] += math.Sin(2*float64(x[i])+float64(k)) + 1
		}
	}
	for range 200 {
		outs, err := exec.Exec(tensors.FromValue(x))
		if err != nil {
			t.Fatal(err)
		}
		got := outs[0].Value().([]float32)
		for i, v := range got {
			if math.Abs(float64(v)-want[i]) > 1e-4*readers {
				t.Fatalf("element %d = %g, want %g", i, v, want[i])
			}
		}
	}
}
