package guidance_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/cadps/toolkit/cadps/guidance"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// TestDDRMCases checks one DDRM step against the released code's three
// cases, fresh noise included, evaluated here in float64, on a diagonal
// operator A = diag(2, 0.5, 0.1, 10⁻⁵) of 2×2 images: its last singular
// value is below DDRMZero of the largest and counts as zero, and its
// spectral components are the pixels. With σ_y = 0.05 a step whose σ'
// lies between σ_y/0.5 and σ_y/0.1 takes the first two from η_B ŷ/s +
// (1−η_B) v₀ + √(σ'² − η_B²σ_y²/s²) z_B (s σ' > σ_y) and moves the others
// by σ'√(1−η²)(ŷ − s v₀)/σ_y + ησ' z_A (s σ' < σ_y, the zero one
// included); with σ_y = 0 the first three take η_B ŷ/s + (1−η_B) v₀ + σ'
// z_B and the zero one is null space, v₀ + σ'√(1−η²) Vᵀε + ησ' z_C. At the
// last step (σ' = 0) every case gives x̂0. η_B is not 1, the released
// value and the fixture ddrm-sr2's, so that its share of z_B's weight
// shows.
func TestDDRMCases(t *testing.T) {
	in := []int{1, 1, 2, 2}
	sv := []float64{2, 0.5, 0.1, 1e-5}
	a := zeros(4, 4)
	for k, s := range sv {
		a[k][k] = s
	}
	op := denseOperator(t, "diagonal", a, in, []int{1, 4})
	m := guidance.DDRM{Eta: 0.85, EtaB: 0.7}
	x := uniformValues(11, 4, -1.5, 1.5)
	y := uniformValues(12, 4, -1, 1)
	for _, sigmaY := range []float64{0.05, 0} {
		s, p := toySampler(t, m, op, 20, sigmaY)
		ts, as, aNexts, err := guidance.DDRMGrid(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range []int{2, 0} {
			t.Run(fmt.Sprintf("sigma_y=%g/index=%d", sigmaY, i), func(t *testing.T) {
				at, an := float64(as[i]), float64(aNexts[i])
				sn := math.Sqrt(1-an) / math.Sqrt(an)
				if i == 2 && !(0.5*sn > 0.05 && 0.1*sn < 0.05) {
					t.Fatalf("σ' = %g at index %d does not separate the cases", sn, i)
				}
				var draws []*tensors.Tensor
				var z [][]float32 // z_C, z_A, z_B
				for k, d := range guidance.DrawShapes(m, in, []int{1, 4}) {
					z = append(z, uniformValues(uint64(20+k), 4, -2, 2))
					draws = append(draws, tensors.FromFlatDataAndDimensions(z[k], d...))
				}
				info, err := s.StepDraws(tensors.FromFlatDataAndDimensions(x, in...), i, draws,
					tensors.FromFlatDataAndDimensions(y, 1, 4))
				if err != nil {
					t.Fatal(err)
				}
				got := float64s(info.X)
				st, std := sn*math.Sqrt(1-m.Eta*m.Eta), sn*m.Eta
				for k, sk := range sv {
					xk, yk := float64(x[k]), float64(y[k])
					eps := math.Tanh(xk) * (0.3 + 0.0003*float64(ts[i]))
					x0 := (xk - math.Sqrt(1-at)*eps) / math.Sqrt(at)
					if sk < guidance.DDRMZero*sv[0] {
						sk = 0
					}
					var v float64
					switch {
					case sk*sn < sigmaY:
						v = x0 + st*(yk-sk*x0)/sigmaY + std*float64(z[1][k])
					case sk*sn > sigmaY:
						noise := math.Sqrt(sn*sn - m.EtaB*m.EtaB*sigmaY*sigmaY/(sk*sk))
						v = m.EtaB*yk/sk + (1-m.EtaB)*x0 + noise*float64(z[2][k])
					default:
						v = x0 + st*eps + std*float64(z[0][k])
					}
					want := math.Sqrt(an) * v
					if math.Abs(got[k]-want) > 1e-5*max(1, math.Abs(want)) {
						t.Errorf("pixel %d (s = %g, s σ' = %.4g, σ_y = %g): got %.6g, want %.6g", k, sk, sk*sn, sigmaY, got[k], want)
					}
				}
			})
		}
	}
}
