package diffusion

import (
	"math"
	"slices"
	"strings"
	"testing"
)

func rangeStep(start, stop, step int) []int {
	var out []int
	for t := start; t < stop; t += step {
		out = append(out, t)
	}
	return out
}

func TestSpaceTimesteps(t *testing.T) {
	cases := []struct {
		name      string
		steps     int
		respacing string
		want      []int
	}{
		{"empty keeps all", 5, "", []int{0, 1, 2, 3, 4}},
		{"full count keeps all", 1000, "1000", rangeStep(0, 1000, 1)},
		{"ddim50 is stride 20", 1000, "ddim50", rangeStep(0, 1000, 20)},
		{"ddim250 is stride 4", 1000, "ddim250", rangeStep(0, 1000, 4)},
		{"250 from 1000", 1000, "250", nil}, // length only, below
		{"50 from 1000", 1000, "50", []int{0, 20, 41, 61, 82, 102, 122, 143, 163, 183, 204, 224, 245, 265, 285,
			306, 326, 347, 367, 387, 408, 428, 449, 469, 489, 510, 530, 550, 571, 591, 612, 632, 652, 673, 693,
			714, 734, 754, 775, 795, 816, 836, 856, 877, 897, 917, 938, 958, 979, 999}},
		{"20 from 1000", 1000, "20", []int{0, 53, 105, 158, 210, 263, 315, 368, 421, 473, 526, 578, 631, 684,
			736, 789, 841, 894, 946, 999}},
		// guided-diffusion's docstring example: 300 steps, sections [10,15,20].
		{"sections 10,15,20 of 300", 300, "10,15,20", []int{0, 11, 22, 33, 44, 55, 66, 77, 88, 99,
			100, 107, 114, 121, 128, 135, 142, 149, 157, 164, 171, 178, 185, 192, 199,
			200, 205, 210, 216, 221, 226, 231, 236, 242, 247, 252, 257, 263, 268, 273, 278, 283, 289, 294, 299}},
		{"uneven sections get the extra step first", 100, "3,3,3", []int{0, 16, 33, 34, 50, 66, 67, 83, 99}},
		{"spaces around counts", 300, " 10 , 15,20 ", nil},
		// Python's round is half to even: positions 0, 2.5, 5 -> 0, 2, 5.
		{"round half to even", 6, "3", []int{0, 2, 5}},
		{"round half to even (1.5 -> 2)", 4, "3", []int{0, 2, 3}},
		{"one step per section", 10, "1", []int{0}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := SpaceTimesteps(c.steps, c.respacing)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.IsSorted(got) {
				t.Errorf("not increasing: %v", got)
			}
			switch {
			case c.want != nil:
				if !slices.Equal(got, c.want) {
					t.Errorf("SpaceTimesteps(%d, %q) = %v, want %v", c.steps, c.respacing, got, c.want)
				}
			case c.respacing == "250":
				if len(got) != 250 || got[0] != 0 || got[249] != 999 {
					t.Errorf("SpaceTimesteps(1000, 250): %d steps from %d to %d", len(got), got[0], got[len(got)-1])
				}
			default:
				want, err := SpaceTimesteps(c.steps, strings.ReplaceAll(c.respacing, " ", ""))
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, want) {
					t.Errorf("got %v, want %v", got, want)
				}
			}
		})
	}
}

func TestSpaceTimestepsErrors(t *testing.T) {
	cases := []struct {
		name      string
		steps     int
		respacing string
		wantErr   string
	}{
		{"more than the steps", 1000, "1001", "cannot divide"},
		{"section exceeds its size", 300, "10,101,10", "cannot divide"},
		{"not a number", 1000, "fifty", "section 0"},
		{"zero count", 1000, "0", "not positive"},
		{"negative count", 1000, "50,-3", "not positive"},
		{"ddim without a count", 1000, "ddim", "DDIM step count"},
		{"ddim with no exact stride", 1000, "ddim999", "no integer stride"},
		{"ddim zero", 1000, "ddim0", "must be positive"},
		{"more sections than steps", 2, "1,1,1", "sections"},
		{"no steps", 0, "10", "at least 1 step"},
		{"empty section", 1000, "50,,10", "section 1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := SpaceTimesteps(c.steps, c.respacing)
			if err == nil {
				t.Fatalf("SpaceTimesteps(%d, %q) = %v, want an error", c.steps, c.respacing, got)
			}
			if !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("error %q does not mention %q", err, c.wantErr)
			}
		})
	}
}

func TestLinearSchedule(t *testing.T) {
	cases := []struct {
		steps       int
		first, last float64
	}{
		{1000, 1e-4, 0.02},
		{250, 4e-4, 0.08},
		{4000, 0.25e-4, 0.005},
	}
	for _, c := range cases {
		betas, err := BetaSchedule(ScheduleLinear, c.steps)
		if err != nil {
			t.Fatal(err)
		}
		if len(betas) != c.steps {
			t.Fatalf("%d betas, want %d", len(betas), c.steps)
		}
		if math.Abs(betas[0]-c.first) > 1e-15 || betas[c.steps-1] != 1000/float64(c.steps)*0.02 {
			t.Errorf("T=%d: β from %v to %v, want %v to %v", c.steps, betas[0], betas[c.steps-1], c.first, c.last)
		}
		step := (c.last - c.first) / float64(c.steps-1)
		for k := 1; k < c.steps; k++ {
			if d := betas[k] - betas[k-1]; math.Abs(d-step) > 1e-12 {
				t.Fatalf("T=%d: β[%d]−β[%d] = %v, want %v", c.steps, k, k-1, d, step)
			}
		}
	}
}

func TestCosineSchedule(t *testing.T) {
	f := func(u float64) float64 { c := math.Cos((u + 0.008) / 1.008 * math.Pi / 2); return c * c }
	for _, steps := range []int{1000, 4000, 50} {
		betas, err := BetaSchedule(ScheduleCosine, steps)
		if err != nil {
			t.Fatal(err)
		}
		if len(betas) != steps {
			t.Fatalf("%d betas, want %d", len(betas), steps)
		}
		prod := 1.0
		for k, b := range betas {
			if !(b > 0 && b <= cosineMaxBeta) {
				t.Fatalf("T=%d: β[%d] = %v outside (0, 0.999]", steps, k, b)
			}
			if k > 0 && b < betas[k-1] {
				t.Fatalf("T=%d: β decreases at %d: %v < %v", steps, k, b, betas[k-1])
			}
			prod *= 1 - b
			// Where no β was capped, ᾱ_t is the continuous ᾱ((t+1)/T)/ᾱ(0).
			if b < cosineMaxBeta {
				want := f(float64(k+1)/float64(steps)) / f(0)
				if math.Abs(prod-want) > 1e-9*math.Max(want, 1e-3) {
					t.Fatalf("T=%d: ᾱ[%d] = %v, want %v", steps, k, prod, want)
				}
			}
		}
		if betas[steps-1] != cosineMaxBeta {
			t.Errorf("T=%d: last β = %v, want the cap %v", steps, betas[steps-1], cosineMaxBeta)
		}
		if prod > 1e-3 {
			t.Errorf("T=%d: ᾱ_T = %v, want ≈ 0", steps, prod)
		}
	}
	if b, _ := BetaSchedule(ScheduleCosine, 1000); math.Abs(b[0]-4.1e-5) > 0.2e-5 {
		t.Errorf("cosine β_0 = %v, want ≈ 4.1e-5", b[0])
	}
}

func TestBetaScheduleErrors(t *testing.T) {
	for _, c := range []struct {
		name  string
		steps int
	}{{"quadratic", 1000}, {"", 1000}, {ScheduleLinear, 0}, {ScheduleCosine, -1}} {
		if _, err := BetaSchedule(c.name, c.steps); err == nil {
			t.Errorf("BetaSchedule(%q, %d): want an error", c.name, c.steps)
		}
	}
}

func TestNewScheduleIdentities(t *testing.T) {
	betas, err := BetaSchedule(ScheduleLinear, 1000)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSchedule(betas)
	if err != nil {
		t.Fatal(err)
	}
	n := len(betas)
	if s.AlphasCumprodPrev[0] != 1 || s.AlphasCumprodNext[n-1] != 0 || s.PosteriorVariance[0] != 0 {
		t.Errorf("edges: ᾱ_prev[0]=%v ᾱ_next[N−1]=%v β̃_0=%v", s.AlphasCumprodPrev[0], s.AlphasCumprodNext[n-1], s.PosteriorVariance[0])
	}
	if s.PosteriorLogVarianceClipped[0] != math.Log(s.PosteriorVariance[1]) || s.FixedLargeVariance[0] != s.PosteriorVariance[1] {
		t.Error("index 0 of the clipped log variance / fixed_large variance is not β̃_1")
	}
	for k := 1; k < n; k++ {
		near := func(name string, got, want float64) {
			if math.Abs(got-want) > 1e-10*math.Max(1, math.Abs(want)) {
				t.Fatalf("%s[%d] = %v, want %v", name, k, got, want)
			}
		}
		near("alphas_cumprod_prev", s.AlphasCumprodPrev[k], s.AlphasCumprod[k-1])
		near("alphas_cumprod_next", s.AlphasCumprodNext[k-1], s.AlphasCumprod[k])
		near("sqrt²+sqrt(1−)²", s.SqrtAlphasCumprod[k]*s.SqrtAlphasCumprod[k]+
			s.SqrtOneMinusAlphasCumprod[k]*s.SqrtOneMinusAlphasCumprod[k], 1)
		near("log_one_minus", math.Exp(s.LogOneMinusAlphasCumprod[k]), 1-s.AlphasCumprod[k])
		near("sqrt_recip", s.SqrtRecipAlphasCumprod[k]*s.SqrtAlphasCumprod[k], 1)
		// The posterior mean of a noise-free x_t = √ᾱ_t·x_0 is √ᾱ_{t−1}·x_0.
		near("posterior mean of a clean x_t", s.PosteriorMeanCoef1[k]+
			s.PosteriorMeanCoef2[k]*s.SqrtAlphasCumprod[k], math.Sqrt(s.AlphasCumprodPrev[k]))
		near("fixed_large", s.FixedLargeVariance[k], betas[k])
	}
	for _, bad := range [][]float64{{0.1}, {0.1, 0}, {0.1, 1.5}, {math.NaN(), 0.1}} {
		if _, err := NewSchedule(bad); err == nil {
			t.Errorf("NewSchedule(%v): want an error", bad)
		}
	}
	if _, ok := s.Array("nope"); ok {
		t.Error(`Array("nope") found something`)
	}
}

// TestStepRespacing checks the respacing of a run of n steps: DDIM's
// striding when a whole-number stride gives n steps, the even spacing
// otherwise and without DDIM.
func TestStepRespacing(t *testing.T) {
	for _, tc := range []struct {
		total, n int
		ddim     bool
		want     string
	}{
		{1000, 100, true, "ddim100"},
		{1000, 100, false, "100"},
		{1000, 60, true, "60"},
		{1000, 1000, true, "ddim1000"},
		{1000, 7, false, "7"},
	} {
		got := StepRespacing(tc.total, tc.n, tc.ddim)
		if got != tc.want {
			t.Errorf("StepRespacing(%d, %d, %v) = %q, want %q", tc.total, tc.n, tc.ddim, got, tc.want)
		}
		if _, err := SpaceTimesteps(tc.total, got); err != nil {
			t.Errorf("StepRespacing(%d, %d, %v) = %q: %v", tc.total, tc.n, tc.ddim, got, err)
		}
	}
}
