package fid

import (
	"github.com/cadps/toolkit/cadps/metrics/internal/cnn"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// BlockMaps returns, for each of m's blocks, the unpooled output map of the
// single image x [1,3,H,W] (values in [0,1]) and the map's shape [1,C,H',W'],
// for the fixtures that record the maps the pooled features are means of.
func BlockMaps(b backends.Backend, m *Model, x []float32, h, w int) ([][]float32, [][]int, error) {
	r, err := Resize(x, 1, h, w)
	if err != nil {
		return nil, nil, err
	}
	exec := cnn.NewExecs(b, m.blockMaps, 1)
	defer exec.Finalize()
	out, err := exec.Exec(m.weights.Args(tensors.FromFlatDataAndDimensions(r, 1, 3, Size, Size))...)
	if err != nil {
		return nil, nil, err
	}
	vals, shapes := make([][]float32, len(out)), make([][]int, len(out))
	for i, t := range out {
		vals[i], shapes[i] = tensors.MustCopyFlatData[float32](t), t.Shape().Dimensions
		t.FinalizeAll()
	}
	return vals, shapes, nil
}
