package guidance

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestParseSpec checks method specs: names alone, options that reach the
// method's fields, and errors that name the problem.
func TestParseSpec(t *testing.T) {
	cases := []struct {
		spec string
		want Method
		err  string // substring of the error; "" for success
	}{
		{"dps", DPS{}, ""},
		{" tmpd ", TMPD{}, ""},
		{"tmpd:diagonal=hutchinson,probes=8,probe_seed=3", TMPD{Diagonal: Diagonal{Estimator: Hutchinson, Probes: 8, Seed: 3}}, ""},
		{"cadps-gauss:diagonal=exact,fd_step=0.02,cg=40", CADPSGauss{FDStep: 0.02, CGIterations: 40, Diagonal: Diagonal{Estimator: ExactDiagonal}}, ""},
		{"tmpd:space=pixels,negative=clamp", TMPD{PixelSpace: true, Diagonal: Diagonal{Negative: NegativeClamp}}, ""},
		{"tmpd:space=measurements", TMPD{}, ""},
		{"tmpd:space=y", nil, `unknown space "y"`},
		{"cadps-gauss:space=pixels", nil, `cadps-gauss does not take option "space"`},
		{"mmps:cg=10", MMPS{CGIterations: 10}, ""},
		{"cadps:batched=true", CADPS{Batched: true}, ""},
		{"mmps:solver=gcr,cg=3", MMPS{Solver: SolverGCR, CGIterations: 3}, ""},
		{"mmps:solver=lu", nil, `unknown solver "lu"`},
		{"pigdm:x0=tweedie,cg=4", PiGDM{CGIterations: 4, X0: X0Tweedie}, ""},
		{"cadps-gauss:x0=clamped", CADPSGauss{}, ""},
		{"tmpd:x0=raw", nil, `unknown x0 "raw" (known: clamped, tweedie)`},
		{"dps:x0=tweedie", nil, `dps does not take option "x0"`},
		{"dsp", nil, `unknown method "dsp"`},
		{"tmpd:diagonal=diag", nil, `unknown diagonal estimator "diag"`},
		{"tmpd:probes=0", nil, "want a value in [1, 1000]"},
		{"tmpd:probes=1000", TMPD{Diagonal: Diagonal{Probes: 1000}}, ""},
		{"tmpd:probes=1001", nil, "1001: want a value in [1, 1000]"},
		{"cadps-gauss:probes=1000000000", nil, "1000000000: want a value in [1, 1000]"},
		{"mmps:cg=1e6", nil, "1e6: want a value in [1, 1000]"},
		{"pigdm:cg=-2", nil, "-2: want a value in [1, 1000]"},
		{"tmpd:cg=2.5", nil, "2.5: want an integer"},
		{"cadps-gauss:cg=1000", CADPSGauss{CGIterations: 1000}, ""},
		{"tmpd:probes", nil, "not key=value"},
		{"tmpd:speed=3", nil, `unknown option "speed" (tmpd takes cg, diagonal, probes, probe_seed, negative, space, x0)`},
		{"dps:speed=3", nil, `unknown option "speed" (dps takes no options)`},
		{"dps:cg=3", nil, `dps does not take option "cg"`},
		{"cadps-gauss:fd_step=-1", nil, "want a value in (0, +Inf)"},
		{"cadps-gauss:fd_step=inf", nil, "inf: want a finite number"},
		{"cadps-gauss:fd_step=nan", nil, "nan: want a number"},
		{"ddrm", DDRM{Eta: 0.85, EtaB: 1}, ""},
		{"ddrm:eta=0.5,eta_b=0.9", DDRM{Eta: 0.5, EtaB: 0.9}, ""},
		{"ddrm:eta=1.5", nil, "want a value in [0, 1]"},
		{"ddrm:lambda=2", nil, `ddrm does not take option "lambda" (it is read by diffpir)`},
		{"diffpir", DiffPIR{Zeta: -1, Guidance: 1}, ""},
		{"diffpir:lambda=7,zeta=0.3,eta=0.1,guidance=0.5", DiffPIR{Lambda: 7, Zeta: 0.3, Eta: 0.1, Guidance: 0.5}, ""},
		{"diffpir:lambda=0", nil, "want a value in (0, +Inf)"},
		{"diffpir:lambda=inf", nil, "inf: want a finite number"},
		{"diffpir:guidance=+Inf", nil, "+Inf: want a finite number"},
		{"diffpir:zeta=x", nil, "x: want a number"},
		{"daps", DefaultDAPS(), ""},
		{"daps:langevin_steps=20,ode_steps=3,lr=5e-5,tau=0.05,sigma_max=80,sigma_min=0.2,ode_sigma_min=0.02,lr_min_ratio=0.1",
			DAPS{SigmaMax: 80, SigmaMin: 0.2, ODESteps: 3, ODESigmaMin: 0.02, LangevinSteps: 20, LR: 5e-5, LRMinRatio: 0.1, Tau: 0.05}, ""},
		{"daps:langevin_steps=2.5", nil, "want an integer"},
		{"daps:ode_steps=0", nil, "want a value in [1, 1000]"},
		{"daps:tau=-1", nil, "want a value in (0, +Inf)"},
		{"daps:sigma_max=inf", nil, "inf: want a finite number"},
		{"daps:lr=1e400", nil, "1e400: want"},
		{"daps:lr_min_ratio=infinity", nil, "infinity: want a finite number"},
		{"ddrm:eta=-inf", nil, "-inf: want a finite number"},
		{"daps:sigma_min=200", nil, "want sigma_max > sigma_min > 0"},
		{"daps:eta=0.5", nil, `daps does not take option "eta" (it is read by ddrm,diffpir)`},
		{"cadps:batched=true,batched=false", nil, `option "batched" of cadps is given twice`},
		{"ddrm:eta=0.5, eta =0.9", nil, `option "eta" of ddrm is given twice`},
		{"tmpd:probes=2,diagonal=hutchinson,probes=2", nil, `option "probes" of tmpd is given twice`},
	}
	for _, c := range cases {
		t.Run(c.spec, func(t *testing.T) {
			got, err := ParseSpec(c.spec, Options{})
			if err != nil || c.err != "" {
				if c.err == "" || err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("ParseSpec(%q): error %v, want %q", c.spec, err, c.err)
				}
				return
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %#v, want %#v", got, c.want)
			}
		})
	}
}

// TestCanonicalSpec checks that spellings of one method share a canonical
// form that parses to the same method, and that distinct methods do not.
func TestCanonicalSpec(t *testing.T) {
	cases := []struct {
		spec, want, err string
	}{
		{"dps", "dps", ""},
		{" tmpd ", "tmpd", ""},
		{"tmpd: probes=8 ,diagonal=hutchinson", "tmpd:diagonal=hutchinson,probes=8", ""},
		{"tmpd:probes=2,diagonal=hutchinson,probes=8", "", `option "probes" of tmpd is given twice`},
		{"cadps-gauss:fd_step=0.02,cg=40", "cadps-gauss:cg=40,fd_step=0.02", ""},
		{"cadps: batched=true", "cadps:batched=true", ""}, // records keep execution options
		{"tmpd:speed=3", "", `unknown option "speed"`},
		{"dsp", "", `unknown method "dsp"`},
	}
	for _, c := range cases {
		t.Run(c.spec, func(t *testing.T) {
			got, err := CanonicalSpec(c.spec)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("CanonicalSpec(%q): error %v, want %q", c.spec, err, c.err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("CanonicalSpec(%q) = %q, %v; want %q", c.spec, got, err, c.want)
			}
			m1, err1 := ParseSpec(c.spec, Options{})
			m2, err2 := ParseSpec(got, Options{})
			if err1 != nil || err2 != nil || !reflect.DeepEqual(m1, m2) {
				t.Errorf("%q and its canonical form build %#v and %#v (%v, %v)", c.spec, m1, m2, err1, err2)
			}
		})
	}
}

// TestRevision checks the revisions of the methods whose default changed,
// and that the others report 0.
func TestRevision(t *testing.T) {
	want := map[string]int{"tmpd": 2, "cadps-gauss": 1, "ddrm": 3, "diffpir": 2, "daps": 1}
	for _, name := range Names() {
		m, err := New(name, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if got := Revision(m); got != want[name] {
			t.Errorf("Revision(%s) = %d, want %d", name, got, want[name])
		}
	}
}

// TestSpecKeys checks every option a method declares (SpecReader): it
// parses, and it reaches the method (the method differs from the default).
// A key its WithOption ignores, or declared by a method that ignores it,
// fails here.
func TestSpecKeys(t *testing.T) {
	example := map[string]string{"cg": "3", "fd_step": "0.1", "diagonal": "exact", "probes": "2", "probe_seed": "1",
		"negative": "clamp", "space": "pixels", "batched": "true", "solver": "cg", "x0": "tweedie",
		"eta": "0.5", "eta_b": "0.5", "lambda": "3", "zeta": "0.5", "guidance": "0.5", "sigma_max": "50", "sigma_min": "0.2",
		"ode_sigma_min": "0.02", "ode_steps": "3", "langevin_steps": "7", "lr": "3e-4", "lr_min_ratio": "0.5", "tau": "0.02"}
	for _, k := range optionKeys() {
		if _, ok := example[k]; !ok {
			t.Errorf("option %q has no example value in this test", k)
		}
	}
	for _, name := range Names() {
		base, err := New(name, Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range specKeys(base) {
			spec := name + ":" + k + "=" + example[k]
			m, err := ParseSpec(spec, Options{})
			if err != nil {
				t.Errorf("%s: %v", spec, err)
				continue
			}
			if reflect.DeepEqual(m, base) {
				t.Errorf("%s builds the default %s: the option does not reach it", spec, name)
			}
		}
	}
}

// TestCheckDistinct checks which specs CheckDistinct takes for the same
// method: equal canonical specs, leaving out execution options.
func TestCheckDistinct(t *testing.T) {
	for _, tc := range []struct {
		specs []string
		want  string
	}{
		{[]string{"dps", "cadps", "tmpd:probes=2"}, ""},
		{[]string{"tmpd:probes=2", "tmpd:probes=4"}, ""},
		{[]string{"dps", "cadps", "dps"}, "method dps is given twice"},
		{[]string{"mmps:cg=3,solver=gcr", "mmps: solver=gcr, cg=3"}, "method mmps: solver=gcr, cg=3 is mmps:cg=3,solver=gcr again"},
		// batched is how CA-DPS runs its forwards, not another method.
		{[]string{"cadps", "cadps:batched=false"}, "method cadps:batched=false is cadps again"},
		{[]string{"cadps:batched=true", "cadps"}, "method cadps is cadps:batched=true again"},
		{[]string{"cadps:batched=true", "cadps:batched=false"}, "method cadps:batched=false is cadps:batched=true again"},
		{[]string{"cadps:batched=true", "cadps-gauss"}, ""},
	} {
		err := CheckDistinct(tc.specs)
		if got := fmt.Sprint(err); (tc.want == "" && err != nil) || (tc.want != "" && got != tc.want) {
			t.Errorf("CheckDistinct(%q) = %v, want %q", tc.specs, err, tc.want)
		}
	}
}

// optionKeys returns every option key some method reads, sorted.
func optionKeys() []string {
	var keys []string
	for _, name := range Names() {
		if m, err := New(name, Options{}); err == nil {
			keys = append(keys, specKeys(m)...)
		}
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

// TestCanonicalSpecForms pins CanonicalSpec's output, which stored records
// hold, and the form CheckDistinct compares (without the options that
// only change how a step is computed), for specs spelt in many ways
// (spaces, keys out of order, empty and repeated parts): each gives these
// forms or this error.
func TestCanonicalSpecForms(t *testing.T) {
	for _, c := range []struct{ spec, want, method, err string }{
		{"dps", "dps", "dps", ""},
		{" dps ", "dps", "dps", ""},
		{"dps:", "dps", "dps", ""},
		{"dps: ", "dps", "dps", ""},
		{"dps:foo", "", "", "guidance: method spec \"dps:foo\": option \"foo\" is not key=value"},
		{"dps:foo ", "", "", "guidance: method spec \"dps:foo \": option \"foo\" is not key=value"},
		{"dps:foo=", "", "", "guidance: method spec \"dps:foo=\": option \"foo=\" is not key=value"},
		{"dps:=1", "", "", "guidance: method spec \"dps:=1\": option \"=1\" is not key=value"},
		{"tmpd:probes=2,diagonal=hutchinson", "tmpd:diagonal=hutchinson,probes=2", "tmpd:diagonal=hutchinson,probes=2", ""},
		{" tmpd : diagonal = hutchinson , probes = 2 ", "tmpd:diagonal=hutchinson,probes=2", "tmpd:diagonal=hutchinson,probes=2", ""},
		{"tmpd:probes=2,probes=3", "", "", "guidance: method spec \"tmpd:probes=2,probes=3\": option \"probes\" of tmpd is given twice"},
		{"tmpd:probes=2, probes =3", "", "", "guidance: method spec \"tmpd:probes=2, probes =3\": option \"probes\" of tmpd is given twice"},
		{"tmpd:diagonal=hutchinson,,probes=8", "", "", "guidance: method spec \"tmpd:diagonal=hutchinson,,probes=8\": option \"\" is not key=value"},
		{"tmpd:diagonal=hutchinson,", "", "", "guidance: method spec \"tmpd:diagonal=hutchinson,\": option \"\" is not key=value"},
		{"tmpd:negative=clamp,space=pixels,x0=tweedie", "tmpd:negative=clamp,space=pixels,x0=tweedie", "tmpd:negative=clamp,space=pixels,x0=tweedie", ""},
		{"cadps", "cadps", "cadps", ""},
		{"cadps:batched=true", "cadps:batched=true", "cadps", ""},
		{"cadps:batched=false", "cadps:batched=false", "cadps", ""},
		{" cadps : batched = true ", "cadps:batched=true", "cadps", ""},
		{"mmps:cg=10,solver=gcr", "mmps:cg=10,solver=gcr", "mmps:cg=10,solver=gcr", ""},
		{"mmps:solver=gcr,cg=10", "mmps:cg=10,solver=gcr", "mmps:cg=10,solver=gcr", ""},
		{"mmps:solver=gcr , cg=10 , x0=tweedie", "mmps:cg=10,solver=gcr,x0=tweedie", "mmps:cg=10,solver=gcr,x0=tweedie", ""},
		{"ddrm:eta_b=1,eta=0.85", "ddrm:eta=0.85,eta_b=1", "ddrm:eta=0.85,eta_b=1", ""},
		{"daps:lr=1e-4,tau=0.01,langevin_steps=50", "daps:langevin_steps=50,lr=1e-4,tau=0.01", "daps:langevin_steps=50,lr=1e-4,tau=0.01", ""},
		{"diffpir:zeta=0.3,lambda=7", "diffpir:lambda=7,zeta=0.3", "diffpir:lambda=7,zeta=0.3", ""},
		{"cadps-gauss:fd_step=0.02,diagonal=exact,cg=40", "cadps-gauss:cg=40,diagonal=exact,fd_step=0.02", "cadps-gauss:cg=40,diagonal=exact,fd_step=0.02", ""},
		{"pigdm:x0=tweedie", "pigdm:x0=tweedie", "pigdm:x0=tweedie", ""},
		{"mcg", "mcg", "mcg", ""},
		{"projection", "projection", "projection", ""},
		{"unconditional", "unconditional", "unconditional", ""},
		{"tmpd:probes=abc", "", "", "guidance: method spec \"tmpd:probes=abc\": option probes: abc: want a number"},
		{"ddrm:eta=2", "", "", "guidance: method spec \"ddrm:eta=2\": option eta: 2: want a value in [0, 1]"},
		{"magic", "", "", "guidance: method spec \"magic\": unknown method \"magic\" (known: cadps, cadps-gauss, daps, ddrm, diffpir, dps, mcg, mmps, pigdm, projection, tmpd, unconditional)"},
		{"sr:factor=2", "", "", "guidance: method spec \"sr:factor=2\": unknown method \"sr\" (known: cadps, cadps-gauss, daps, ddrm, diffpir, dps, mcg, mmps, pigdm, projection, tmpd, unconditional)"},
	} {
		got, err := CanonicalSpec(c.spec)
		gotErr, method := "", ""
		if err != nil {
			gotErr = err.Error()
		}
		if m, err := ParseSpec(c.spec, Options{}); err == nil {
			method = canonical(c.spec, m, true)
		}
		if got != c.want || method != c.method || gotErr != c.err {
			t.Errorf("CanonicalSpec(%q) = %q, %q, without execution options %q; want %q, %q, %q", c.spec, got, gotErr, method, c.want, c.err, c.method)
		}
	}
}
