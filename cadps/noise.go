package cadps

import (
	"fmt"
	"math/rand/v2"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// NoiseKind names what a random draw is for.
type NoiseKind int

// The draws a run makes, in the order it makes them at each step.
const (
	// NoiseInit is x_T (index −1).
	NoiseInit NoiseKind = iota
	// NoiseSample is the ancestral sample's z, shaped like x.
	NoiseSample
	// NoiseMeasurement is q_sample's draw on the measurement, shaped like y.
	NoiseMeasurement
	// NoiseDraws is every draw of one step of a method with its own draws
	// (guidance.Drawer), concatenated in the order the method lists them.
	NoiseDraws
)

// String returns the kind's name, as errors name it.
func (k NoiseKind) String() string {
	switch k {
	case NoiseInit:
		return "NoiseInit"
	case NoiseSample:
		return "NoiseSample"
	case NoiseMeasurement:
		return "NoiseMeasurement"
	case NoiseDraws:
		return "NoiseDraws"
	}
	return fmt.Sprintf("NoiseKind(%d)", int(k))
}

// NoiseSource supplies every standard normal draw of a run, so that a run
// can be seeded or replayed from recorded noise.
type NoiseSource interface {
	// Normal returns n standard normal values for the given kind at respaced
	// index i.
	Normal(kind NoiseKind, i, n int) ([]float32, error)
}

// SeededNoise draws from a PCG generator seeded explicitly: the same seed
// gives the same run.
type SeededNoise struct {
	r *rand.Rand
}

// NewSeededNoise returns a seeded noise source.
func NewSeededNoise(seed uint64) *SeededNoise {
	return &SeededNoise{r: rand.New(rand.NewPCG(seed, 0x5eed_cad5))}
}

// Normal implements NoiseSource. A negative n is an error.
func (s *SeededNoise) Normal(kind NoiseKind, i, n int) ([]float32, error) {
	if err := checkDrawCount(kind, i, n); err != nil {
		return nil, fmt.Errorf("cadps: seeded noise: %w", err)
	}
	v := make([]float32, n)
	for k := range v {
		v[k] = float32(s.r.NormFloat64())
	}
	return v, nil
}

// RecordedNoise replays draws recorded by a reference run: Init is x_T and
// Sample[i], Measurement[i] the draws at respaced index i; Draws[i] holds
// the concatenated draws of a method with its own (guidance.Drawer). A
// missing Measurement[i] gives zeros (a method that ignores q_sample's draw
// need not record it); any other missing draw, or one of another length
// than asked for, is an error naming its kind and index.
type RecordedNoise struct {
	Init        []float32
	Sample      map[int][]float32
	Measurement map[int][]float32
	Draws       map[int][]float32
}

// Normal implements NoiseSource. A recorded draw with a NaN or infinite
// value is an error naming it, and so is a negative n.
func (r *RecordedNoise) Normal(kind NoiseKind, i, n int) ([]float32, error) {
	if err := checkDrawCount(kind, i, n); err != nil {
		return nil, fmt.Errorf("cadps: recorded noise: %w", err)
	}
	var v []float32
	var ok bool
	switch kind {
	case NoiseInit:
		v, ok = r.Init, r.Init != nil
	case NoiseSample:
		v, ok = r.Sample[i]
	case NoiseDraws:
		v, ok = r.Draws[i]
	case NoiseMeasurement:
		v, ok = r.Measurement[i]
		if !ok { // methods that ignore q_sample's draw need not record it
			return make([]float32, n), nil
		}
	}
	if !ok {
		return nil, fmt.Errorf("no recorded noise of kind %v at index %d", kind, i)
	}
	if len(v) != n {
		return nil, fmt.Errorf("recorded noise of kind %v at index %d has %d values, want %d", kind, i, len(v), n)
	}
	if k := firstNonFinite(v); k >= 0 {
		return nil, fmt.Errorf("recorded noise of kind %v at index %d: value %d of %d is %v: draws must be finite", kind, i, k, n, v[k])
	}
	return v, nil
}

// checkDrawCount returns an error naming the draw unless n, the number of
// values asked of a noise source, is not negative.
func checkDrawCount(kind NoiseKind, i, n int) error {
	if n < 0 {
		return fmt.Errorf("draw of kind %v at index %d asks for %d values, want at least 0", kind, i, n)
	}
	return nil
}

// shapeOf returns the shape of dtype dt and dimensions dims.
func shapeOf(dt dtypes.DType, dims ...int) shapes.Shape { return shapes.Make(dt, dims...) }
