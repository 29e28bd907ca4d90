package main

import (
	"encoding/json"
	"runtime"
	"strings"
	"testing"
)

// TestVersion checks what `cadps version` prints: the Go and GoMLX versions
// of the binary and GOMLX_BACKEND, as text and as JSON; arguments are
// refused.
func TestVersion(t *testing.T) {
	for _, tc := range []struct {
		name, env, wantLine string
	}{
		{"unset", "", "GOMLX_BACKEND unset: the toolkit's CPU backend"},
		{"set", "cadps:ops_sequential", "GOMLX_BACKEND=cadps:ops_sequential"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("GOMLX_BACKEND", tc.env)
			out, _, err := runCmd(runVersion)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{runtime.Version() + ", GoMLX v0.26.0", tc.wantLine} {
				if !strings.Contains(out, want) {
					t.Errorf("output %q does not say %q", out, want)
				}
			}
			js, _, err := runCmd(runVersion, "-json")
			if err != nil {
				t.Fatal(err)
			}
			var v versionInfo
			if err := json.Unmarshal([]byte(js), &v); err != nil {
				t.Fatalf("%q: %v", js, err)
			}
			if v.Go != runtime.Version() || v.GoMLX != "v0.26.0" || v.BackendConfig != tc.env {
				t.Errorf("JSON %+v, want go %s, gomlx v0.26.0, backend_config %q", v, runtime.Version(), tc.env)
			}
		})
	}
	if _, _, err := runCmd(runVersion, "extra"); err == nil || !strings.Contains(err.Error(), "no arguments") {
		t.Errorf("an argument: error %v, want one saying version takes no arguments", err)
	}
}
