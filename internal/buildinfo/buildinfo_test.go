package buildinfo

import (
	"runtime/debug"
	"testing"
)

func TestName(t *testing.T) {
	vcs := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	for _, c := range []struct {
		name     string
		version  string
		settings []debug.BuildSetting
		want     string
	}{
		{"commit", "(devel)", vcs("vcs", "git", "vcs.revision", "19aab8f0", "vcs.modified", "false"), "19aab8f0"},
		{"dirty tree", "(devel)", vcs("vcs.revision", "19aab8f0", "vcs.modified", "true"), "19aab8f0+dirty"},
		{"installed module", "v0.3.0", nil, "v0.3.0"},
		{"commit before version", "v0.3.0", vcs("vcs.revision", "abc"), "abc"},
		{"nothing recorded", "(devel)", vcs("-buildmode", "exe"), ""},
		{"test binary", "", nil, ""},
	} {
		bi := &debug.BuildInfo{Main: debug.Module{Path: "github.com/cadps/toolkit", Version: c.version}, Settings: c.settings}
		if got := Name(bi); got != c.want {
			t.Errorf("%s: Name %q, want %q", c.name, got, c.want)
		}
	}
}
