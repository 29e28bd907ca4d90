package guidance

import (
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/cadps/toolkit/cadps/diffusion"
)

func testProcess(t *testing.T, cfg diffusion.Config) *diffusion.Process {
	t.Helper()
	if cfg.MeanType == "" {
		cfg.MeanType = diffusion.MeanEpsilon
	}
	cfg.VarType = diffusion.VarLearnedRange
	p, err := diffusion.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// scheduleSigma returns σ_k = √((1−ᾱ_k)/ᾱ_k) of a base schedule.
func scheduleSigma(t *testing.T, schedule string, steps, k int) float32 {
	t.Helper()
	betas, err := diffusion.BetaSchedule(schedule, steps)
	if err != nil {
		t.Fatal(err)
	}
	abar := 1.0
	for _, b := range betas[:k+1] {
		abar *= 1 - b
	}
	return float32(math.Sqrt((1 - abar) / abar))
}

// TestDAPSTimesteps checks the map from DAPS's noise level to the network
// timestep: the reference's VPPrecond map on the linear 1000-step schedule,
// the schedule's own inverse elsewhere (a cosine schedule's σ_k gives k, not
// the linear schedule's timestep), rescaled as the process rescales.
func TestDAPSTimesteps(t *testing.T) {
	linear := testProcess(t, diffusion.Config{Steps: 1000, NoiseSchedule: diffusion.ScheduleLinear, Respacing: "20"})
	at, err := dapsTimesteps(linear)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []float32{0.01, 1, 20, 100} {
		if got, want := at(s), vpNoise(s); got != want {
			t.Errorf("linear schedule, σ = %g: timestep %v, want VPPrecond's %v", s, got, want)
		}
	}
	for _, tc := range []struct {
		name     string
		cfg      diffusion.Config
		k        int
		want     float64 // the network's timestep for σ_k
		schedule string
	}{
		{"cosine", diffusion.Config{Steps: 1000, NoiseSchedule: diffusion.ScheduleCosine, Respacing: "20"}, 495, 495, diffusion.ScheduleCosine},
		{"cosine early", diffusion.Config{Steps: 1000, NoiseSchedule: diffusion.ScheduleCosine, Respacing: "20"}, 3, 3, diffusion.ScheduleCosine},
		{"linear 4000, rescaled", diffusion.Config{Steps: 4000, NoiseSchedule: diffusion.ScheduleLinear, Respacing: "20", RescaleTimesteps: true}, 2000, 500, diffusion.ScheduleLinear},
	} {
		p := testProcess(t, tc.cfg)
		at, err := dapsTimesteps(p)
		if err != nil {
			t.Fatal(err)
		}
		got := float64(at(scheduleSigma(t, tc.schedule, tc.cfg.Steps, tc.k)))
		if math.Abs(got-tc.want) > 1e-2*math.Max(1, tc.want/100) {
			t.Errorf("%s: σ_%d gives timestep %.4f, want %g", tc.name, tc.k, got, tc.want)
		}
	}
}

// TestGridsGivenBetas checks that DDRM's, DiffPIR's and DAPS's time grids
// over a process whose β are given as they are (diffusion.Config.Betas)
// are those over the named schedule with the same β: the methods read the
// process's β, not its schedule's name.
func TestGridsGivenBetas(t *testing.T) {
	for _, schedule := range []string{diffusion.ScheduleLinear, diffusion.ScheduleCosine} {
		t.Run(schedule, func(t *testing.T) {
			named := diffusion.Config{Steps: 1000, NoiseSchedule: schedule, Respacing: "20"}
			betas, err := diffusion.BetaSchedule(schedule, named.Steps)
			if err != nil {
				t.Fatal(err)
			}
			given := named
			given.NoiseSchedule, given.Betas = "", betas
			p, q := testProcess(t, named), testProcess(t, given)
			ddrmP, errP := newDDRMGrid(p)
			ddrmQ, errQ := newDDRMGrid(q)
			if errP != nil || errQ != nil || !reflect.DeepEqual(ddrmP, ddrmQ) {
				t.Errorf("ddrm grids differ (errors %v, %v)", errP, errQ)
			}
			pirP, errP := newDiffPIRGrid(p)
			pirQ, errQ := newDiffPIRGrid(q)
			if errP != nil || errQ != nil || !reflect.DeepEqual(pirP, pirQ) {
				t.Errorf("diffpir grids differ (errors %v, %v)", errP, errQ)
			}
			atP, errP := dapsTimesteps(p)
			atQ, errQ := dapsTimesteps(q)
			if errP != nil || errQ != nil {
				t.Fatalf("daps timesteps: %v, %v", errP, errQ)
			}
			for _, s := range []float32{0.01, 1, 20, 100} {
				if atP(s) != atQ(s) {
					t.Errorf("daps, σ = %g: timestep %v for the named schedule, %v for its β", s, atP(s), atQ(s))
				}
			}
		})
	}
}

// TestDDRMGridRescaled checks that DDRM's network sees the rescaled
// timestep when the process rescales timesteps.
func TestDDRMGridRescaled(t *testing.T) {
	p := testProcess(t, diffusion.Config{Steps: 4000, NoiseSchedule: diffusion.ScheduleLinear, Respacing: "20", RescaleTimesteps: true})
	g, err := newDDRMGrid(p)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := g.t[10], float32(10*200*1000/4000); got != want {
		t.Errorf("timestep at index 10: %v, want %v", got, want)
	}
}

// TestCheckProcess checks that the methods reading the network's output as
// ε refuse a network that predicts x0, and that DPS takes it.
func TestCheckProcess(t *testing.T) {
	startX := testProcess(t, diffusion.Config{Steps: 1000, NoiseSchedule: diffusion.ScheduleLinear, Respacing: "20", MeanType: diffusion.MeanStartX})
	for _, name := range Names() {
		m, err := New(name, Options{})
		if err != nil {
			t.Fatal(err)
		}
		err = CheckProcess(m, startX)
		switch name {
		case "ddrm", "diffpir", "daps":
			if err == nil || !strings.Contains(err.Error(), name+" reads the network's output as the noise ε") || !strings.Contains(err.Error(), "start_x") {
				t.Errorf("%s with a start_x network: error %v", name, err)
			}
		default:
			if err != nil {
				t.Errorf("%s with a start_x network: %v", name, err)
			}
		}
	}
}

// TestDDRMGridSpan checks DDRM's grid ⌊iT/K⌋: the reference's i·T/K when K
// divides T, and for other K a grid that still reaches the top of the
// schedule (i⌊T/K⌋ stopped at t = 599 for 600 steps of 1000).
func TestDDRMGridSpan(t *testing.T) {
	for _, tc := range []struct {
		respacing   string
		last, third float32
	}{
		{"20", 950, 100},
		{"600", 998, 3},
		{"400", 997, 5},
		{"30", 966, 66},
	} {
		p := testProcess(t, diffusion.Config{Steps: 1000, NoiseSchedule: diffusion.ScheduleLinear, Respacing: tc.respacing})
		g, err := newDDRMGrid(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := g.t[len(g.t)-1]; got != tc.last || g.t[2] != tc.third {
			t.Errorf("%s steps: timesteps %v at index 2 and %v last, want %v and %v", tc.respacing, g.t[2], got, tc.third, tc.last)
		}
	}
}
