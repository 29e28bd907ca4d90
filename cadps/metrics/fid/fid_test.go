package fid_test

import (
	"math"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps/backend"
	"github.com/cadps/toolkit/cadps/metrics/fid"
	"github.com/cadps/toolkit/checkpoints"
	"github.com/cadps/toolkit/internal/randweights"
)

func stem(t *testing.T, extra ...*checkpoints.Tensor) *checkpoints.StateDict {
	t.Helper()
	sd, err := randweights.StateDict("inception.pth", 3, 1.3, fid.Params(1))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range extra {
		if err := sd.Add(e); err != nil {
			t.Fatal(err)
		}
	}
	return sd
}

func TestNewErrors(t *testing.T) {
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		sd     *checkpoints.StateDict
		blocks []int
		want   string
	}{
		{"torchvision's Inception", stem(t, checkpoints.FromFloat32("AuxLogits.fc.weight", []int{1}, []float32{0})), []int{1}, "torchvision's ImageNet Inception-v3"},
		{"1000 classes", stem(t, checkpoints.FromFloat32("fc.weight", []int{1000, 1}, make([]float32, 1000))), []int{1}, "torchvision's ImageNet Inception-v3"},
		{"missing block 2", stem(t), []int{2}, `no tensor "Mixed_5b.branch1x1.conv.weight"`},
		{"unknown key", stem(t, checkpoints.FromFloat32("head.weight", []int{1}, []float32{0})), []int{0}, "does not have: head.weight"},
		{"bad block", stem(t), []int{4}, "each must be 0, 1, 2 or 3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := fid.New(b, tc.sd, tc.blocks...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	// fc.* (1008 classes) and num_batches_tracked are ignored.
	nbt := &checkpoints.Tensor{Name: "Conv2d_1a_3x3.bn.num_batches_tracked", DType: checkpoints.I64, Data: make([]byte, 8)}
	m, err := fid.New(b, stem(t, checkpoints.FromFloat32("fc.bias", []int{1008}, make([]float32, 1008)), nbt), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Ignored()) != 2+len(fid.Params(1))-len(fid.Params(0)) {
		t.Errorf("ignored %v", m.Ignored())
	}
	feats, err := m.Features(make([]float32, 2*3*5*7), 2, 5, 7)
	if err != nil {
		t.Fatal(err)
	}
	if len(feats) != 1 || len(feats[0]) != 2 || len(feats[0][1]) != fid.BlockDims()[0] {
		t.Errorf("features of shape %d×%d×%d", len(feats), len(feats[0]), len(feats[0][0]))
	}
}

func TestFrechetProperties(t *testing.T) {
	a, err := fid.Statistics([][]float32{{1, 0, 2}, {0, 1, 1}, {2, 2, 0}, {1, 3, 1}})
	if err != nil {
		t.Fatal(err)
	}
	d, err := fid.FrechetDistance(a, a)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(d.FD) > 1e-12 || d.Offset {
		t.Errorf("FD(a, a) = %g (offset %v), want 0", d.FD, d.Offset)
	}
	// Shifting every vector by c adds |c|² and nothing else.
	b, _ := fid.Statistics([][]float32{{2, 0, 2}, {1, 1, 1}, {3, 2, 0}, {2, 3, 1}})
	d, _ = fid.FrechetDistance(a, b)
	if math.Abs(d.FD-1) > 1e-12 {
		t.Errorf("FD of a shift by (1,0,0) = %.15g, want 1", d.FD)
	}
	c, _ := fid.Statistics([][]float32{{1, 0}, {0, 1}, {2, 2}})
	if _, err := fid.FrechetDistance(a, c); err == nil || !strings.Contains(err.Error(), "different dimensions (3 and 2)") {
		t.Errorf("mismatched dimensions: error %v", err)
	}
	if _, err := fid.Statistics([][]float32{{1, 2}}); err == nil || !strings.Contains(err.Error(), "at least 2") {
		t.Errorf("one vector: error %v", err)
	}
	// A constant feature takes pytorch-fid's offset path.
	e, _ := fid.Statistics([][]float32{{1, 0, 5}, {0, 1, 5}, {2, 2, 5}})
	if d, _ := fid.FrechetDistance(a, e); !d.Offset {
		t.Errorf("constant feature: no offset")
	}
}
