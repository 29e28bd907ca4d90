package guidance

import (
	"reflect"
	"testing"
)

// FuzzParseSpec feeds arbitrary method specs to ParseSpec and
// CanonicalSpec: neither may panic, a spec CanonicalSpec accepts has a
// canonical form that is its own canonical form and that builds the same
// method.
func FuzzParseSpec(f *testing.F) {
	for _, s := range []string{
		"dps", " tmpd ", "tmpd:diagonal=hutchinson,probes=8,probe_seed=3",
		"cadps-gauss:diagonal=exact,fd_step=0.02,cg=40", "tmpd:negative=clamp",
		"mmps:cg=10", "mmps:solver=gcr,cg=3", "cadps:batched=true", "ddrm:eta=0.85,eta_b=1",
		"diffpir:lambda=7,zeta=0.3", "daps:langevin_steps=50,lr=1e-4,tau=0.01",
		"daps:sigma_max=1,sigma_min=2", "tmpd:probes=2,probes=3", "dps:", "dps:,", ":", "",
		"tmpd:probes=1e300", "ddrm:eta=NaN", "mmps:cg=-1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		m, err := ParseSpec(spec, Options{})
		c, cerr := CanonicalSpec(spec)
		if (err == nil) != (cerr == nil) {
			t.Fatalf("ParseSpec(%q) error %v, CanonicalSpec error %v", spec, err, cerr)
		}
		if err != nil {
			return
		}
		m2, err := ParseSpec(c, Options{})
		if err != nil {
			t.Fatalf("canonical spec %q of %q: %v", c, spec, err)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("spec %q builds %#v, its canonical form %q builds %#v", spec, m, c, m2)
		}
		if c2, err := CanonicalSpec(c); err != nil || c2 != c {
			t.Fatalf("CanonicalSpec(%q) = %q, %v; want itself", c, c2, err)
		}
	})
}
