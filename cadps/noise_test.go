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

// TestNoiseSourcesRefuseBadCounts checks that the noise sources, and the
// in-graph draws' inspection, return an error naming the problem for a
// negative number of values (and a nil backend or a dimension that is not
// positive) instead of panicking.
func TestNoiseSourcesRefuseBadCounts(t *testing.T) {
	g := NewGraphNoise(1)
	for _, tc := range []struct {
		name string
		draw func() error
		want string
	}{
		{"seeded", func() error { _, err := NewSeededNoise(1).Normal(NoiseSample, 3, -1); return err },
			"seeded noise: draw of kind NoiseSample at index 3 asks for -1 values"},
		{"graph x_T", func() error { _, err := g.Normal(NoiseInit, -1, -4); return err },
			"graph noise: draw of kind NoiseInit at index -1 asks for -4 values"},
		{"recorded, zy not recorded", func() error { _, err := (&RecordedNoise{}).Normal(NoiseMeasurement, 0, -1); return err },
			"recorded noise: draw of kind NoiseMeasurement at index 0 asks for -1 values"},
		{"graph draws without a backend", func() error { _, err := g.Normals(nil, 1, 2); return err },
			"no backend"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Fatalf("panicked: %v", p)
					}
				}()
				err = tc.draw()
			}()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
