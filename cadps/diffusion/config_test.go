package diffusion

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// dpsConfig returns the DPS diffusion configuration as a YAML decoder gives
// it, with timestep_respacing set to r (deleted when r is nil).
func dpsConfig(r any) map[string]any {
	m := map[string]any{
		"sampler":            "ddpm",
		"steps":              1000,
		"noise_schedule":     "linear",
		"model_mean_type":    "epsilon",
		"model_var_type":     "learned_range",
		"dynamic_threshold":  false,
		"clip_denoised":      true,
		"rescale_timesteps":  false,
		"timestep_respacing": r,
	}
	if r == nil {
		delete(m, "timestep_respacing")
	}
	return m
}

func TestParseConfig(t *testing.T) {
	cases := []struct {
		name      string
		m         map[string]any
		respacing string
		numSteps  int
	}{
		{"int respacing (YAML)", dpsConfig(50), "50", 50},
		{"float respacing (JSON)", dpsConfig(float64(20)), "20", 20},
		{"string respacing", dpsConfig("ddim50"), "ddim50", 50},
		{"section list", dpsConfig([]any{10, 20}), "10,20", 30},
		{"absent respacing keeps all", dpsConfig(nil), "", 1000},
		{"empty string keeps all", dpsConfig(""), "", 1000},
		{"zero keeps all", dpsConfig(0), "", 1000},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := ParseConfig(c.m)
			if err != nil {
				t.Fatal(err)
			}
			want := Config{Sampler: SamplerDDPM, Steps: 1000, NoiseSchedule: ScheduleLinear, Respacing: c.respacing,
				MeanType: MeanEpsilon, VarType: VarLearnedRange, ClipDenoised: true}
			if !reflect.DeepEqual(cfg, want) {
				t.Errorf("ParseConfig = %+v, want %+v", cfg, want)
			}
			p, err := FromConfig(c.m)
			if err != nil {
				t.Fatal(err)
			}
			if p.NumSteps() != c.numSteps || p.OriginalSteps() != 1000 {
				t.Errorf("%d respaced of %d steps, want %d of 1000", p.NumSteps(), p.OriginalSteps(), c.numSteps)
			}
		})
	}
}

// TestParseConfigBetas checks the betas key as YAML and JSON decoders give
// it: it stands for noise_schedule, builds the process of those β, and
// with the linear schedule's 1000 β builds the named schedule's process.
// Given with noise_schedule, New refuses the pair.
func TestParseConfigBetas(t *testing.T) {
	given := func(betas any) map[string]any {
		m := dpsConfig(nil)
		delete(m, "noise_schedule")
		m["betas"] = betas
		return m
	}
	linear := make([]any, 1000)
	for k, b := range linear1000(t) {
		linear[k] = b
	}
	for _, c := range []struct {
		name  string
		m     map[string]any
		steps int
		want  []float64
	}{
		{"YAML list", given([]any{0.01, 0.02, 0.05, 0.1}), 4, []float64{0.01, 0.02, 0.05, 0.1}},
		{"YAML list with a quoted number", given([]any{0.01, "0.02", 0.05, 0.1}), 4, []float64{0.01, 0.02, 0.05, 0.1}},
		{"linear's β", given(linear), 1000, linear1000(t)},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.m["steps"] = c.steps
			cfg, err := ParseConfig(c.m)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(cfg.Betas, c.want) || cfg.NoiseSchedule != "" {
				t.Errorf("ParseConfig: betas %v, schedule %q; want %v and none", cfg.Betas, cfg.NoiseSchedule, c.want)
			}
			p, err := FromConfig(c.m)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(p.Betas(), c.want) {
				t.Errorf("Betas() = %v, want %v", p.Betas(), c.want)
			}
		})
	}
	named, err := FromConfig(dpsConfig(nil))
	if err != nil {
		t.Fatal(err)
	}
	fromBetas, err := FromConfig(given(linear))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(named.Schedule(), fromBetas.Schedule()) {
		t.Error("the linear schedule's β give another process than noise_schedule: linear")
	}
	both := given(linear)
	both["noise_schedule"] = "linear"
	if _, err := FromConfig(both); err == nil || !strings.Contains(err.Error(), "give one of them") {
		t.Errorf("noise_schedule and betas: error %v, want one saying to give one of them", err)
	}
}

func TestParseConfigErrors(t *testing.T) {
	with := func(key string, v any) map[string]any {
		m := dpsConfig(50)
		if v == nil {
			delete(m, key)
		} else {
			m[key] = v
		}
		return m
	}
	cases := []struct {
		name    string
		m       map[string]any
		wantErr string
	}{
		{"unknown key", with("noise_scedule", "linear"), "unknown diffusion config key"},
		{"missing steps", with("steps", nil), `lacks "steps"`},
		{"missing mean type", with("model_mean_type", nil), `lacks "model_mean_type"`},
		{"fractional steps", with("steps", 10.5), "not an integer"},
		{"steps as bool", with("steps", true), "not an integer"},
		{"clip as string", with("clip_denoised", "yes"), "want a boolean"},
		{"schedule as int", with("noise_schedule", 3), "want a string"},
		{"dynamic threshold", with("dynamic_threshold", true), "not supported"},
		{"bad respacing type", with("timestep_respacing", 2.5), "timestep_respacing"},
		{"bad section", with("timestep_respacing", []any{10, "x"}), "section 1"},
		{"missing schedule", with("noise_schedule", nil), `lacks "noise_schedule"`},
		{"betas as a string", with("betas", "0.01,0.02"), "betas: want a list of numbers"},
		{"betas holding a word", with("betas", []any{0.01, "x"}), `betas[1]: "x" is not a number`},
		{"betas holding a bool", with("betas", []any{0.01, true}), "betas[1]: true (bool) is not a number"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseConfig(c.m)
			if err == nil {
				t.Fatal("want an error")
			}
			if !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("error %q does not mention %q", err, c.wantErr)
			}
		})
	}
}

// linear1000 returns the β of the linear schedule over 1000 steps.
func linear1000(t *testing.T) []float64 {
	t.Helper()
	betas, err := BetaSchedule(ScheduleLinear, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return betas
}

// withBeta returns betas with β_k set to b.
func withBeta(betas []float64, k int, b float64) []float64 {
	betas[k] = b
	return betas
}

// TestGivenBetas checks that a process built from the β of a named
// schedule (Config.Betas) is the named schedule's process, respaced alike,
// that it keeps its own copy of them, and that β need not increase.
func TestGivenBetas(t *testing.T) {
	for _, c := range []struct{ schedule, respacing string }{
		{ScheduleLinear, ""},
		{ScheduleLinear, "50"},
		{ScheduleCosine, "ddim25"},
	} {
		t.Run(c.schedule+"/"+c.respacing, func(t *testing.T) {
			named := Config{Steps: 1000, NoiseSchedule: c.schedule, Respacing: c.respacing, MeanType: MeanEpsilon, VarType: VarLearnedRange}
			betas, err := BetaSchedule(c.schedule, named.Steps)
			if err != nil {
				t.Fatal(err)
			}
			given := named
			given.NoiseSchedule, given.Betas = "", slices.Clone(betas)
			p, err := New(named)
			if err != nil {
				t.Fatal(err)
			}
			q, err := New(given)
			if err != nil {
				t.Fatal(err)
			}
			given.Betas[0] = 0.5 // the process keeps its own copy
			switch {
			case !reflect.DeepEqual(p.Schedule(), q.Schedule()):
				t.Error("the respaced schedules differ")
			case !slices.Equal(p.TimestepMap(), q.TimestepMap()) || !slices.Equal(p.ModelTimesteps(), q.ModelTimesteps()):
				t.Errorf("timesteps %v and %v differ", p.TimestepMap(), q.TimestepMap())
			case !slices.Equal(p.Betas(), betas) || !slices.Equal(q.Betas(), betas):
				t.Error("Betas is not the base schedule")
			case !slices.Equal(q.Config().Betas, betas) || p.Config().Betas != nil:
				t.Errorf("Config().Betas: %d given, %d named, want %d and none", len(q.Config().Betas), len(p.Config().Betas), len(betas))
			}
		})
	}
	reversed := linear1000(t)
	slices.Reverse(reversed)
	if _, err := New(Config{Steps: 1000, Betas: reversed, MeanType: MeanEpsilon, VarType: VarFixedLarge}); err != nil {
		t.Errorf("decreasing β: %v", err)
	}
}

func TestNewErrors(t *testing.T) {
	ok := Config{Steps: 1000, NoiseSchedule: ScheduleLinear, Respacing: "50", MeanType: MeanEpsilon, VarType: VarLearnedRange}
	cases := []struct {
		name    string
		edit    func(c *Config)
		wantErr string
	}{
		{"unknown schedule", func(c *Config) { c.NoiseSchedule = "sigmoid" }, "unknown noise schedule"},
		{"empty schedule", func(c *Config) { c.NoiseSchedule = "" }, "unknown noise schedule"},
		{"unknown mean type", func(c *Config) { c.MeanType = "noise" }, "unknown model mean type"},
		{"unknown var type", func(c *Config) { c.VarType = "learnt" }, "unknown model variance type"},
		{"unknown sampler", func(c *Config) { c.Sampler = "euler" }, "unknown sampler"},
		{"no steps", func(c *Config) { c.Steps = 0 }, "at least 2"},
		{"steps past the bound", func(c *Config) { c.Steps = 1e15 }, "at most 1048576, got 1000000000000000"},
		{"one step past the bound", func(c *Config) { c.Steps, c.Respacing = 1<<20+1, "" }, "at most 1048576, got 1048577"},
		{"respacing exceeds steps", func(c *Config) { c.Respacing = "1001" }, "cannot divide"},
		{"respacing not dividing", func(c *Config) { c.Respacing = "ddim999" }, "no integer stride"},
		{"respacing to one step", func(c *Config) { c.Respacing = "1" }, "at least 2"},
		{"respacing garbage", func(c *Config) { c.Respacing = "fifty" }, "respacing"},
		// linspace(50·1e-4, 50·0.02, 20) ends at β = 1: ᾱ_19 = 0.
		{"linear over 20 steps reaches β = 1", func(c *Config) { c.Steps, c.Respacing = 20, "" }, "has β_19 = 1:"},
		{"linear over 10 steps exceeds 1", func(c *Config) { c.Steps, c.Respacing = 10, "" }, "has β_5 = 1.1155"},
		{"betas and a schedule", func(c *Config) { c.Betas = linear1000(t) }, `both the noise schedule "linear" and 1000 betas`},
		{"too few betas", func(c *Config) { c.NoiseSchedule, c.Betas = "", linear1000(t)[:999] }, "999 betas for 1000 steps"},
		{"too many betas", func(c *Config) { c.NoiseSchedule, c.Betas = "", append(linear1000(t), 0.02) }, "1001 betas for 1000 steps"},
		{"β of 0", func(c *Config) { c.NoiseSchedule, c.Betas = "", withBeta(linear1000(t), 0, 0) }, "β_0 = 0, want a value in (0, 1)"},
		{"negative β", func(c *Config) { c.NoiseSchedule, c.Betas = "", withBeta(linear1000(t), 7, -1e-4) }, "β_7 = -0.0001, want"},
		{"β of 1", func(c *Config) { c.NoiseSchedule, c.Betas = "", withBeta(linear1000(t), 999, 1) }, "β_999 = 1, want"},
		{"β above 1", func(c *Config) { c.NoiseSchedule, c.Betas = "", withBeta(linear1000(t), 500, 1.5) }, "β_500 = 1.5, want"},
		{"NaN β", func(c *Config) { c.NoiseSchedule, c.Betas = "", withBeta(linear1000(t), 3, math.NaN()) }, "β_3 = NaN, want"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := ok
			c.edit(&cfg)
			_, err := New(cfg)
			if err == nil {
				t.Fatal("want an error")
			}
			if !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("error %q does not mention %q", err, c.wantErr)
			}
		})
	}
	if _, err := New(ok); err != nil {
		t.Fatalf("the base config fails: %v", err)
	}
}

func TestProcessAccessors(t *testing.T) {
	cases := []struct {
		name    string
		cfg     Config
		wantMap []int
		wantT   []float32
	}{
		{"plain", Config{Steps: 1000, NoiseSchedule: ScheduleLinear, Respacing: "ddim4",
			MeanType: MeanEpsilon, VarType: VarFixedLarge},
			[]int{0, 250, 500, 750}, []float32{0, 250, 500, 750}},
		{"rescaled", Config{Steps: 2000, NoiseSchedule: ScheduleCosine, Respacing: "ddim4", RescaleTimesteps: true,
			MeanType: MeanEpsilon, VarType: VarFixedLarge},
			[]int{0, 500, 1000, 1500}, []float32{0, 250, 500, 750}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := New(c.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.TimestepMap(); !slices.Equal(got, c.wantMap) {
				t.Errorf("TimestepMap = %v, want %v", got, c.wantMap)
			}
			if got := p.ModelTimesteps(); !slices.Equal(got, c.wantT) {
				t.Errorf("ModelTimesteps = %v, want %v", got, c.wantT)
			}
			if p.Config().Sampler != SamplerDDPM {
				t.Errorf("default sampler %q, want %q", p.Config().Sampler, SamplerDDPM)
			}
			// The accessors return copies.
			p.TimestepMap()[0] = 99
			p.Schedule().Betas[0] = 99
			if p.TimestepMap()[0] != c.wantMap[0] || p.Schedule().Betas[0] == 99 {
				t.Error("mutating a returned slice changed the process")
			}
			// Respaced β: 1 − ᾱ_{t_k}/ᾱ_{t_{k−1}} of the base process.
			base, err := BetaSchedule(c.cfg.NoiseSchedule, c.cfg.Steps)
			if err != nil {
				t.Fatal(err)
			}
			bs, err := NewSchedule(base)
			if err != nil {
				t.Fatal(err)
			}
			s := p.Schedule()
			for k, tk := range c.wantMap {
				if d := s.AlphasCumprod[k] - bs.AlphasCumprod[tk]; d > 1e-12 || d < -1e-12 {
					t.Errorf("respaced ᾱ[%d] = %v, base ᾱ[%d] = %v", k, s.AlphasCumprod[k], tk, bs.AlphasCumprod[tk])
				}
			}
		})
	}
}

// TestModelTimestepsRescaled checks the rescaled timesteps against the
// reference's float32 arithmetic, t.float() · (1000/T): float32(t) times
// float32(1000/T), whose exact product (48 significant bits fit a float64)
// is rounded once to float32. For these T the float64 product t·1000/T,
// rounded, differs from it by an ulp at hundreds of timesteps.
func TestModelTimestepsRescaled(t *testing.T) {
	for _, tc := range []struct {
		steps     int
		rescale   bool
		respacing string
	}{
		{3000, true, ""},
		{1500, true, "ddim500"},
		{750, true, "100"},
		{4000, true, ""},
		{3000, false, ""},
	} {
		t.Run(fmt.Sprintf("T=%d,rescale=%v,%q", tc.steps, tc.rescale, tc.respacing), func(t *testing.T) {
			p, err := New(Config{Steps: tc.steps, NoiseSchedule: ScheduleLinear, Respacing: tc.respacing,
				RescaleTimesteps: tc.rescale, MeanType: MeanEpsilon, VarType: VarFixedLarge})
			if err != nil {
				t.Fatal(err)
			}
			got, tm := p.ModelTimesteps(), p.TimestepMap()
			scale := float64(float32(1000 / float64(tc.steps)))
			for k, ti := range tm {
				want := float32(ti)
				if tc.rescale {
					want = float32(float64(float32(ti)) * scale)
				}
				if got[k] != want {
					t.Fatalf("index %d (timestep %d): %v, want %v", k, ti, got[k], want)
				}
				if n := p.NetworkTimestep(float64(ti)); n != float64(want) {
					t.Fatalf("NetworkTimestep(%d) = %v, want ModelTimesteps' %v", ti, n, want)
				}
			}
		})
	}
}
