package guidance

import "testing"

// TestNetworkCost checks that every method says what its step costs, and
// the counts of specs whose cost follows their options.
func TestNetworkCost(t *testing.T) {
	x, y := []int{2, 1, 4, 4}, []int{2, 1, 2, 2}
	for _, name := range Names() {
		m, err := New(name, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := m.(NetworkCoster); !ok {
			t.Errorf("%s does not implement NetworkCoster", name)
		}
	}
	for _, tc := range []struct {
		spec               string
		forwards, products int
	}{
		{"dps", 1, 1},
		{"cadps", 2, 1},
		{"cadps:batched=true", 2, 1},
		{"ddrm", 1, 0},
		{"diffpir", 1, 0},
		{"projection", 1, 0},
		{"pigdm", 1, 1},
		{"mcg", 1, 1},
		{"mmps", 1, DefaultMMPSIterations + 1},
		{"mmps:cg=7", 1, 8},
		{"mmps:cg=10", 1, 9}, // capped at twice the 4 measurements
		{"tmpd", 1, 2},
		{"tmpd:diagonal=hutchinson,probes=4", 1, 5},
		{"tmpd:diagonal=exact", 1, 5},               // the 4 measurements
		{"tmpd:diagonal=exact,space=pixels", 1, 17}, // the 16 pixels
		{"cadps-gauss", 2, 1},
		{"cadps-gauss:diagonal=hutchinson,probes=3", 4, 1},
		{"daps", 5, 0},
		{"daps:ode_steps=2", 2, 0},
	} {
		m, err := ParseSpec(tc.spec, Options{})
		if err != nil {
			t.Fatalf("%s: %v", tc.spec, err)
		}
		f, p := m.(NetworkCoster).NetworkCost(x, y)
		if f != tc.forwards || p != tc.products {
			t.Errorf("%s: %d forwards and %d products, want %d and %d", tc.spec, f, p, tc.forwards, tc.products)
		}
	}
}
