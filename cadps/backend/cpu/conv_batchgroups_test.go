// Part of the toolkit's fork of GoMLX v0.26.0's pure-Go backend (Apache-2.0); see NOTICE.

package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
)

// TestConvBatchGroups checks batch-grouped convolutions, which run on
// upstream's loop, against their groups computed apart, as XLA defines
// them: output channel o belongs to batch group o / (O / groups), which
// reads images [g·N/groups, (g+1)·N/groups). Upstream's loop took the group
// to be o / groups, which reads the wrong images (or past the input, a
// panic) unless O = groups², and read the output's batch size through the
// input's batch axis.
func TestConvBatchGroups(t *testing.T) {
	be := newTestBackend(t)
	r := rand.New(rand.NewPCG(13, 14))
	for _, tc := range []struct {
		n, c, o, groups int
		channelsLast    bool
	}{
		{4, 3, 4, 2, false}, // O = groups²: the one case upstream got right
		{2, 5, 2, 2, false}, // wrong images
		{4, 3, 6, 2, false}, // past the input
		{6, 2, 3, 3, true},
		{4, 3, 8, 2, true},
	} {
		for _, dtype := range []dtypes.DType{dtypes.Float32, dtypes.Float64, dtypes.BFloat16} {
			axes := backends.ConvolveAxesConfig{InputBatch: 0, InputChannels: 1, InputSpatial: []int{2, 3},
				KernelOutputChannels: 0, KernelInputChannels: 1, KernelSpatial: []int{2, 3},
				OutputBatch: 0, OutputChannels: 1, OutputSpatial: []int{2, 3}}
			xDims := []int{tc.n, tc.c, 5, 4}
			if tc.channelsLast {
				axes.InputChannels, axes.InputSpatial = 3, []int{1, 2}
				axes.OutputChannels, axes.OutputSpatial = 3, []int{1, 2}
				xDims = []int{tc.n, 5, 4, tc.c}
			}
			kDims := []int{tc.o, tc.c, 2, 3}
			pads := [][2]int{{0, 1}, {1, 1}}
			name := fmt.Sprintf("%s x%v k%v groups %d", dtype, xDims, kDims, tc.groups)
			exec, err := graph.NewExec(be, func(x, k *graph.Node) (*graph.Node, *graph.Node) {
				grouped := graph.ConvGeneral(x, k, axes, nil, pads, nil, nil, 1, tc.groups)
				nb, ob := tc.n/tc.groups, tc.o/tc.groups
				parts := make([]*graph.Node, tc.groups)
				for g := range parts {
					xg := graph.SliceAxis(x, axes.InputBatch, graph.AxisRange(g*nb, (g+1)*nb))
					kg := graph.SliceAxis(k, axes.KernelOutputChannels, graph.AxisRange(g*ob, (g+1)*ob))
					parts[g] = graph.ConvGeneral(xg, kg, axes, nil, pads, nil, nil, 1, 1)
				}
				return grouped, graph.Concatenate(parts, axes.OutputChannels)
			})
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			outs, err := exec.Exec(tensorOf(dtype, randValues(r, prod(xDims)), xDims...), tensorOf(dtype, randValues(r, prod(kDims)), kDims...))
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			got, want := flat64(t, outs[0]), flat64(t, outs[1])
			tol := map[dtypes.DType]float64{dtypes.Float32: 1e-5, dtypes.Float64: 1e-12, dtypes.BFloat16: 1e-2}[dtype]
			for i := range want {
				if math.Abs(got[i]-want[i]) > tol*math.Max(1, math.Abs(want[i])) {
					t.Fatalf("%s: element %d = %g, want %g (the groups computed apart)", name, i, got[i], want[i])
				}
			}
		}
	}
}
