package cadps

import (
	"slices"
	"strings"
	"testing"
)

// TestRecordedNoise checks what a RecordedNoise replays: each kind's
// recorded values, zeros for a measurement draw not recorded, and errors
// naming the kind by name (they gave its number) and the index of a draw
// that is missing or of another length than asked for.
func TestRecordedNoise(t *testing.T) {
	rec := &RecordedNoise{
		Init:        []float32{1, 2},
		Sample:      map[int][]float32{3: {4, 5}},
		Measurement: map[int][]float32{3: {6}},
		Draws:       map[int][]float32{3: {7, 8, 9}},
	}
	for _, tc := range []struct {
		name string
		kind NoiseKind
		i, n int
		want []float32
		err  string
	}{
		{"x_T", NoiseInit, -1, 2, []float32{1, 2}, ""},
		{"z", NoiseSample, 3, 2, []float32{4, 5}, ""},
		{"zy", NoiseMeasurement, 3, 1, []float32{6}, ""},
		{"zy not recorded", NoiseMeasurement, 2, 3, []float32{0, 0, 0}, ""},
		{"a method's draws", NoiseDraws, 3, 3, []float32{7, 8, 9}, ""},
		{"z not recorded", NoiseSample, 2, 2, nil, "no recorded noise of kind NoiseSample at index 2"},
		{"draws not recorded", NoiseDraws, 0, 3, nil, "no recorded noise of kind NoiseDraws at index 0"},
		{"z too short", NoiseSample, 3, 4, nil, "recorded noise of kind NoiseSample at index 3 has 2 values, want 4"},
		{"x_T too long", NoiseInit, -1, 1, nil, "recorded noise of kind NoiseInit at index -1 has 2 values, want 1"},
		{"an unknown kind", NoiseKind(9), 3, 1, nil, "no recorded noise of kind NoiseKind(9) at index 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := rec.Normal(tc.kind, tc.i, tc.n)
			switch {
			case tc.err == "" && err != nil:
				t.Fatal(err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("error %v, want one containing %q", err, tc.err)
			case !slices.Equal(got, tc.want):
				t.Errorf("values %v, want %v", got, tc.want)
			}
		})
	}
	if _, err := (&RecordedNoise{}).Normal(NoiseInit, -1, 1); err == nil || !strings.Contains(err.Error(), "no recorded noise of kind NoiseInit") {
		t.Errorf("no x_T recorded: error %v, want one naming NoiseInit", err)
	}
}
