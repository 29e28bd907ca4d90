package fid

import "testing"

// TestSqrtmBlockOf compares sqrtmBlockOf with the blocks scipy 1.10's
// sqrtm splits n rows into (the start and end of each block, as its
// _sqrtm_triu lists them).
func TestSqrtmBlockOf(t *testing.T) {
	tests := []struct {
		n      int
		blocks [][2]int
	}{
		{10, [][2]int{{0, 10}}},
		{127, [][2]int{{0, 127}}},
		{128, [][2]int{{0, 64}, {64, 128}}},
		{130, [][2]int{{0, 65}, {65, 130}}},
		{200, [][2]int{{0, 66}, {66, 133}, {133, 200}}},
	}
	for _, tc := range tests {
		for k, b := range tc.blocks {
			for _, p := range []int{b[0], b[1] - 1} {
				if got := sqrtmBlockOf(p, tc.n); got != k {
					t.Errorf("row %d of %d: block %d, want %d", p, tc.n, got, k)
				}
			}
		}
	}
	if got := sqrtmBlockOf(2047, 2048); got != 31 {
		t.Errorf("row 2047 of 2048: block %d, want 31", got)
	}
}
