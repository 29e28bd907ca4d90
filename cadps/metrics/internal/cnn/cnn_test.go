package cnn

import "testing"

// TestPoolSize compares with the output sizes of PyTorch 1.13's
// max_pool2d (0 where it refuses the input as too small).
func TestPoolSize(t *testing.T) {
	tests := []struct {
		n, k, stride, pad int
		ceil              bool
		want              int
	}{
		{2, 3, 2, 0, true, 1},
		{1, 3, 2, 0, true, 0},
		{5, 3, 2, 0, true, 2},
		{6, 3, 2, 0, true, 3},
		{7, 3, 2, 0, false, 3},
		{7, 3, 2, 0, true, 3},
		{4, 2, 2, 0, true, 2},
		{5, 2, 2, 0, true, 3},
		{147, 3, 2, 0, false, 73},
		{35, 3, 1, 1, false, 35},
		{3, 3, 2, 1, true, 2},
		{2, 3, 2, 0, false, 0},
	}
	for _, tc := range tests {
		if got := max(0, PoolSize(tc.n, tc.k, tc.stride, tc.pad, tc.ceil)); got != tc.want {
			t.Errorf("PoolSize(%d, k %d, stride %d, pad %d, ceil %v) = %d, want %d", tc.n, tc.k, tc.stride, tc.pad, tc.ceil, got, tc.want)
		}
	}
}
