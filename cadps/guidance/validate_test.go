package guidance

import (
	"math"
	"strings"
	"testing"
)

// TestValidate checks that DDRM, DiffPIR, DAPS and CA-DPS's Gaussian form refuse field values set
// in Go outside the ranges their spec options take (NewSampler and
// restore.New run Validate), naming the field and its value, and accept
// their zero values and their defaults.
func TestValidate(t *testing.T) {
	daps := func(set func(*DAPS)) DAPS {
		m := DefaultDAPS()
		set(&m)
		return m
	}
	nan, inf := math.NaN(), math.Inf(1)
	cases := []struct {
		name string
		m    Method
		err  string // substring of the error; "" for none
	}{
		{"ddrm_zero", DDRM{}, ""},
		{"ddrm_default", DDRM{Eta: 0.85, EtaB: 1}, ""},
		{"ddrm_eta_above_1", DDRM{Eta: 1.5, EtaB: 1}, "ddrm: eta = 1.5, want a value in [0, 1]"},
		{"ddrm_eta_negative", DDRM{Eta: -0.5, EtaB: 1}, "eta = -0.5"},
		{"ddrm_eta_nan", DDRM{Eta: nan, EtaB: 1}, "eta = NaN"},
		{"ddrm_eta_b_above_1", DDRM{Eta: 0.85, EtaB: 2}, "ddrm: eta_b = 2, want a value in [0, 1]"},
		{"diffpir_zero", DiffPIR{}, ""},
		{"diffpir_default", DiffPIR{Zeta: -1, Guidance: 1}, ""},
		{"diffpir_set", DiffPIR{Lambda: 7, Zeta: 1, Eta: 1, Guidance: 2}, ""},
		{"diffpir_lambda_negative", DiffPIR{Lambda: -1, Zeta: -1, Guidance: 1}, "diffpir: lambda = -1"},
		{"diffpir_lambda_inf", DiffPIR{Lambda: inf, Zeta: -1, Guidance: 1}, "lambda = +Inf"},
		{"diffpir_zeta_above_1", DiffPIR{Zeta: 1.5, Guidance: 1}, "diffpir: zeta = 1.5"},
		{"diffpir_zeta_nan", DiffPIR{Zeta: nan, Guidance: 1}, "zeta = NaN"},
		{"diffpir_eta_above_1", DiffPIR{Zeta: -1, Eta: 2, Guidance: 1}, "diffpir: eta = 2"},
		{"diffpir_guidance_negative", DiffPIR{Zeta: -1, Guidance: -1}, "diffpir: guidance = -1"},
		{"cadps_gauss_zero", CADPSGauss{}, ""},
		{"cadps_gauss_fd_step_inf", CADPSGauss{FDStep: inf}, "cadps-gauss: fd_step = +Inf, want a finite number"},
		{"cadps_gauss_fd_step_nan", CADPSGauss{FDStep: nan}, "fd_step = NaN"},
		{"daps_default", DefaultDAPS(), ""},
		{"daps_sigma_max_inf", daps(func(m *DAPS) { m.SigmaMax = inf }), "daps: sigma_max = +Inf, want a finite number"},
		{"daps_lr_inf", daps(func(m *DAPS) { m.LR = inf }), "daps: lr = +Inf"},
		{"daps_lr_min_ratio_nan", daps(func(m *DAPS) { m.LRMinRatio = nan }), "daps: lr_min_ratio = NaN"},
		{"daps_tau_negative", daps(func(m *DAPS) { m.Tau = -1 }), "got 0.01, -1, 0 and 0.01"},
		{"daps_sigma_min_above_max", daps(func(m *DAPS) { m.SigmaMin = 200 }), "want sigma_max > sigma_min > 0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Validate(c.m)
			switch {
			case c.err == "" && err != nil:
				t.Errorf("Validate(%#v) = %v, want nil", c.m, err)
			case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
				t.Errorf("Validate(%#v) = %v, want an error containing %q", c.m, err, c.err)
			}
		})
	}
}
