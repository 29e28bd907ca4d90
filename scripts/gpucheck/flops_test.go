package main

import "testing"

// TestStepFLOPs checks the FLOPs of a step per image against the network
// passes of each method: a product through the network counts as two
// forwards.
func TestStepFLOPs(t *testing.T) {
	image, y := []int{1, 3, 8, 8}, []int{1, 3, 4, 4}
	for _, tc := range []struct {
		method   string
		forwards float64
	}{
		{"dps", 3},
		{"cadps", 4},
		{"ddrm", 1},
		{"mmps:cg=10", 23}, // 10 of at most 96 iterations
		{"daps:ode_steps=2", 2},
	} {
		got, err := stepFLOPs(tc.method, image, y, 10)
		if err != nil {
			t.Fatalf("%s: %v", tc.method, err)
		}
		if want := tc.forwards * 10; got != want {
			t.Errorf("%s: %v FLOPs, want %v", tc.method, got, want)
		}
	}
}
